#include "relay/api_target.hpp"

#include "bundler/manifest.hpp"
#include "common/encoding.hpp"
#include "relay/endpoint_registry.hpp"

namespace ferry::relay {
namespace {

constexpr size_t kMaxNumberDigits = 18;

std::optional<int64_t> ParseNumber(std::string_view text) {
  if (text.empty() || text.size() > kMaxNumberDigits || (text.size() > 1 && text[0] == '0')) {
    return std::nullopt;
  }
  int64_t value = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    value = value * 10 + (c - '0');
  }
  return value;
}

// The rest of `target` after `prefix`, when it starts with it.
std::optional<std::string_view> After(std::string_view target, std::string_view prefix) {
  if (!target.starts_with(prefix)) {
    return std::nullopt;
  }
  return target.substr(prefix.size());
}

}  // namespace

std::optional<ApiTarget> ParseApiTarget(std::string_view target, size_t max_length) {
  if (target.size() > max_length) {
    return std::nullopt;
  }
  if (target == "/v1/enroll") {
    return ApiTarget{ApiRoute::kEnroll, {}, 0};
  }
  if (target == "/v1/checkin") {
    return ApiTarget{ApiRoute::kCheckin, {}, 0};
  }
  if (target == "/v1/reports") {
    return ApiTarget{ApiRoute::kReports, {}, 0};
  }
  if (const auto rest = After(target, "/v1/manifests/")) {
    const size_t slash = rest->find('/');
    if (slash == std::string_view::npos) {
      return std::nullopt;
    }
    const std::string_view channel = rest->substr(0, slash);
    const std::optional<int64_t> sequence = ParseNumber(rest->substr(slash + 1));
    if (!bundler::IsSafeIdentifier(channel) || !sequence) {
      return std::nullopt;
    }
    return ApiTarget{ApiRoute::kManifest, std::string(channel), *sequence};
  }
  if (const auto rest = After(target, "/v1/roots/")) {
    const std::optional<int64_t> version = ParseNumber(*rest);
    if (!version) {
      return std::nullopt;
    }
    return ApiTarget{ApiRoute::kRoot, {}, *version};
  }
  if (const auto rest = After(target, "/v1/payloads/")) {
    if (!IsLowerHex(*rest, 64)) {
      return std::nullopt;
    }
    return ApiTarget{ApiRoute::kPayload, std::string(*rest), 0};
  }
  if (const auto rest = After(target, "/v1/endpoints/")) {
    if (!IsEndpointIdShape(*rest)) {
      return std::nullopt;
    }
    return ApiTarget{ApiRoute::kEndpoint, std::string(*rest), 0};
  }
  return std::nullopt;
}

std::string_view AllowedMethods(ApiRoute route) {
  switch (route) {
    case ApiRoute::kEnroll:
    case ApiRoute::kCheckin:
    case ApiRoute::kReports:
      return "POST";
    case ApiRoute::kManifest:
    case ApiRoute::kRoot:
    case ApiRoute::kPayload:
    case ApiRoute::kEndpoint:
      return "GET, HEAD";
  }
  return "";
}

bool MethodAllowed(ApiRoute route, std::string_view method) {
  if (AllowedMethods(route) == "POST") {
    return method == "POST";
  }
  return method == "GET" || method == "HEAD";
}

}  // namespace ferry::relay
