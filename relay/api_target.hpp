#pragma once

// The request targets of API v1, matched exactly: a target is one of the documented shapes, byte
// for byte, or it is no route at all. Nothing is percent-decoded or normalised, so "..", "%2e",
// upper-case hex, a query string or a trailing slash can never reach a handler.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ferry::relay {

enum class ApiRoute {
  kEnroll,    // /v1/enroll
  kCheckin,   // /v1/checkin
  kReports,   // /v1/reports
  kManifest,  // /v1/manifests/<channel>/<sequence>
  kRoot,      // /v1/roots/<version>
  kPayload,   // /v1/payloads/<64 lowercase hex>
  kEndpoint,  // /v1/endpoints/<endpoint id>
};

struct ApiTarget {
  ApiRoute route = ApiRoute::kEnroll;
  std::string name;    // channel, payload hash or endpoint id
  int64_t number = 0;  // sequence or root version
};

// The route a target names, or nullopt. Channels are identifiers (bundler::IsSafeIdentifier),
// numbers are 1 to 18 decimal digits without a leading zero, endpoint ids "ep-" + 16 lowercase
// hex digits. Targets longer than `max_length` match nothing.
std::optional<ApiTarget> ParseApiTarget(std::string_view target, size_t max_length);

// The methods a route answers, as the Allow header lists them.
std::string_view AllowedMethods(ApiRoute route);

// True when `method` is one of AllowedMethods(route).
bool MethodAllowed(ApiRoute route, std::string_view method);

}  // namespace ferry::relay
