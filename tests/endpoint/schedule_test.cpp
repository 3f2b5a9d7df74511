// Timing rules: jitter bounds, the back-off while the relay is away, per-patch retry delays.

#include "endpoint/schedule.hpp"

#include <gtest/gtest.h>

namespace ferry::endpoint {
namespace {

TEST(Schedule, ConnectionBackoffDoublesUpToThePollInterval) {
  EXPECT_EQ(ConnectionBackoff(1, 900), 30);
  EXPECT_EQ(ConnectionBackoff(2, 900), 60);
  EXPECT_EQ(ConnectionBackoff(3, 900), 120);
  EXPECT_EQ(ConnectionBackoff(5, 900), 480);
  EXPECT_EQ(ConnectionBackoff(6, 900), 900);
  EXPECT_EQ(ConnectionBackoff(1000, 900), 900);
  EXPECT_EQ(ConnectionBackoff(1000000, 86400), 86400);
  // A poll interval shorter than the first step never makes the wait shorter than it.
  EXPECT_EQ(ConnectionBackoff(1, 10), 30);
}

TEST(Schedule, JitterStaysWithinTwentyPercent) {
  EXPECT_EQ(JitteredPoll(900, 0.5), 900);
  EXPECT_EQ(JitteredPoll(900, 0.0), 720);
  EXPECT_EQ(JitteredPoll(900, 0.999999), 1080);
  int64_t low = 1 << 30;
  int64_t high = 0;
  for (int i = 0; i < 2000; ++i) {
    const double unit = RandomUnit();
    ASSERT_GE(unit, 0.0);
    ASSERT_LT(unit, 1.0);
    const int64_t wait = JitteredPoll(900, unit);
    low = std::min(low, wait);
    high = std::max(high, wait);
  }
  EXPECT_GE(low, 720);
  EXPECT_LE(high, 1080);
  // 2000 draws spread over the whole range, not a constant.
  EXPECT_LT(low, 760);
  EXPECT_GT(high, 1040);
  EXPECT_EQ(JitteredPoll(1, 0.0), 1);
}

TEST(Schedule, FailedPatchesWaitLongerEachTime) {
  EXPECT_EQ(PatchRetryDelay(1), 3600);
  EXPECT_EQ(PatchRetryDelay(2), 4 * 3600);
  EXPECT_EQ(PatchRetryDelay(3), 24 * 3600);
  EXPECT_EQ(PatchRetryDelay(50), 24 * 3600);
}

}  // namespace
}  // namespace ferry::endpoint
