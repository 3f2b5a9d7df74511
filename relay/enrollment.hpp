#pragma once

// Enrolment: a one-time token and a CSR become an endpoint id and a client certificate signed by
// the relay's CA (docs/relay-api.md, POST /v1/enroll).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/error.hpp"
#include "common/time.hpp"
#include "relay/endpoint_registry.hpp"
#include "relay/sqlite.hpp"
#include "relay/tls_identity.hpp"

namespace ferry::relay {

inline constexpr size_t kMaxEnrollBody = 64 * 1024;

struct EnrollRequest {
  std::string token;
  std::string csr;  // PEM
  std::string hostname;
  std::string target_os;
};

struct Enrolled {
  EndpointRecord endpoint;
  std::string certificate_pem;
};

// Reads the request body strictly: a JSON object of exactly token, csr, hostname (IsHostname)
// and target_os (an identifier). Malformed input is ErrorKind::kInvalid.
Result<EnrollRequest> ParseEnrollRequest(std::string_view body);

// Checks the token, signs the CSR for a new endpoint id and, in one transaction, marks the token
// used, inserts the endpoint and appends endpoint.enrolled. nullopt when the token is unknown,
// used or expired; a refused CSR is ErrorKind::kInvalid; the environment's failures kIo.
Result<std::optional<Enrolled>> Enroll(sql::Database& db, const TlsFiles& tls,
                                       const EnrollRequest& request, UnixTime now);

}  // namespace ferry::relay
