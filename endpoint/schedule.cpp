#include "endpoint/schedule.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>

#include "crypto/secure.hpp"

namespace ferry::endpoint {

int64_t ConnectionBackoff(int64_t consecutive_failures, int64_t poll_seconds) {
  const int64_t cap = std::max(poll_seconds, kFirstConnectionBackoff);
  int64_t wait = kFirstConnectionBackoff;
  for (int64_t i = 1; i < consecutive_failures && wait < cap; ++i) {
    wait *= 2;
  }
  return std::min(wait, cap);
}

int64_t JitteredPoll(int64_t poll_seconds, double unit) {
  const double spread = 0.2 * static_cast<double>(poll_seconds);
  const double jittered = static_cast<double>(poll_seconds) + (2.0 * unit - 1.0) * spread;
  return std::max<int64_t>(1, std::llround(jittered));
}

double RandomUnit() {
  std::array<uint8_t, 8> bytes{};
  crypto::RandomBytes(bytes);
  uint64_t bits = 0;
  std::memcpy(&bits, bytes.data(), bytes.size());
  // 53 random bits fill a double's mantissa exactly: uniform in [0, 1).
  return static_cast<double>(bits >> 11) * 0x1.0p-53;
}

int64_t PatchRetryDelay(int64_t failures) {
  constexpr int64_t kHour = 3600;
  if (failures <= 1) {
    return kHour;
  }
  if (failures == 2) {
    return 4 * kHour;
  }
  return 24 * kHour;
}

}  // namespace ferry::endpoint
