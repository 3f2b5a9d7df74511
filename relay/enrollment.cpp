#include "relay/enrollment.hpp"

#include "bundler/manifest.hpp"
#include "common/json.hpp"
#include "relay/tokens.hpp"

namespace ferry::relay {
namespace {

// Far above a real token; anything longer is refused as malformed before it is hashed.
constexpr size_t kMaxTokenText = 256;
constexpr size_t kMaxCsrText = 16 * 1024;

}  // namespace

Result<EnrollRequest> ParseEnrollRequest(std::string_view body) {
  FERRY_ASSIGN_OR_RETURN(const json::Value value,
                         json::Parse(body, json::ParseLimits{kMaxEnrollBody, 4}));
  FERRY_ASSIGN_OR_RETURN(json::ObjectReader reader, json::ObjectReader::Open(value, "request"));
  EnrollRequest request;
  FERRY_ASSIGN_OR_RETURN(request.token, reader.String("token"));
  FERRY_ASSIGN_OR_RETURN(request.csr, reader.String("csr"));
  FERRY_ASSIGN_OR_RETURN(request.hostname, reader.String("hostname"));
  FERRY_ASSIGN_OR_RETURN(request.target_os, reader.String("target_os"));
  FERRY_RETURN_IF_ERROR(reader.Finish());
  if (request.token.size() > kMaxTokenText) {
    return InvalidError("request.token: longer than " + std::to_string(kMaxTokenText) + " bytes");
  }
  if (request.csr.size() > kMaxCsrText) {
    return InvalidError("request.csr: larger than 16 KiB");
  }
  if (!IsHostname(request.hostname)) {
    return InvalidError("request.hostname: not 1 to 253 characters of [A-Za-z0-9.-]");
  }
  if (!bundler::IsSafeIdentifier(request.target_os)) {
    return InvalidError("request.target_os: not an identifier such as debian-12");
  }
  return request;
}

Result<std::optional<Enrolled>> Enroll(sql::Database& db, const TlsFiles& tls,
                                       const EnrollRequest& request, UnixTime now) {
  // The token is checked before any signing, so requests without one cost a lookup, not an
  // ECDSA signature; it is checked again, and consumed, inside the transaction.
  FERRY_ASSIGN_OR_RETURN(const std::optional<std::string> usable,
                         FindUsableToken(db, request.token, now));
  if (!usable) {
    return std::optional<Enrolled>();
  }
  Enrolled enrolled;
  EndpointRecord& endpoint = enrolled.endpoint;
  // 64 random bits: a collision is unlikely but would only cost another draw.
  for (int attempt = 0;; ++attempt) {
    endpoint.id = NewEndpointId();
    FERRY_ASSIGN_OR_RETURN(const std::optional<EndpointRecord> existing,
                           FindEndpoint(db, endpoint.id));
    if (!existing) {
      break;
    }
    if (attempt == 8) {
      return IoError("could not draw an unused endpoint id");
    }
  }
  FERRY_ASSIGN_OR_RETURN(
      enrolled.certificate_pem,
      SignClientCertificate(tls, request.csr, endpoint.id, now, kDefaultClientLifetime));
  FERRY_ASSIGN_OR_RETURN(endpoint.certificate_sha256,
                         CertificatePemFingerprint(enrolled.certificate_pem));
  endpoint.hostname = request.hostname;
  endpoint.target_os = request.target_os;
  endpoint.enrolled_at = now;

  FERRY_RETURN_IF_ERROR(db.Begin());
  bool token_taken = false;
  const auto body = [&]() -> Status {
    FERRY_ASSIGN_OR_RETURN(const std::optional<std::string> token_id,
                           ConsumeEnrollmentToken(db, request.token, endpoint.id, now));
    if (!token_id) {
      token_taken = true;  // another enrolment used it since the first check
      return Ok();
    }
    FERRY_RETURN_IF_ERROR(RegisterEndpoint(db, endpoint, *token_id));
    return db.Commit();
  };
  Status done = body();
  if (!done.ok() || token_taken) {
    db.Rollback();
  }
  if (!done.ok()) {
    return std::move(done).error().Context("enrolling " + endpoint.id);
  }
  if (token_taken) {
    return std::optional<Enrolled>();
  }
  return std::optional<Enrolled>(std::move(enrolled));
}

}  // namespace ferry::relay
