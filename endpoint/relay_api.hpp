#pragma once

// The agent's side of relay API v1 (docs/relay-api.md): the JSON it sends, the strict reading of
// every answer, and RelayClient, which maps each call onto HTTPS. Nothing a relay answers is
// trusted for *what* to install: patch summaries are hints, checked against signed manifests.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"
#include "common/json.hpp"
#include "common/time.hpp"
#include "crypto/hash.hpp"
#include "endpoint/https_client.hpp"

namespace ferry::endpoint {

inline constexpr std::string_view kAgentVersion = "0.2.0";
// The relay chooses the check-in interval; the agent keeps it within these bounds.
inline constexpr int64_t kMinPollSeconds = 60;
inline constexpr int64_t kMaxPollSeconds = 86400;
// The most reports one POST /v1/reports may carry, and the body cap the relay applies.
inline constexpr size_t kMaxReportsPerRequest = 100;
inline constexpr size_t kMaxReportsBody = 1u << 20;
inline constexpr size_t kMaxLogExcerpt = 8 * 1024;

// poll_seconds clamped to kMinPollSeconds..kMaxPollSeconds.
int64_t ClampPollSeconds(int64_t poll_seconds);

// "ep-" followed by 16 lower-case hex digits, as the relay assigns.
bool IsEndpointId(std::string_view id);
// "<channel>/<sequence>": an identifier, '/', a decimal sequence without leading zeros.
bool IsManifestRef(std::string_view ref);
// 8 to 64 characters of [a-z0-9-].
bool IsReportId(std::string_view id);
// 1 to 253 characters of [A-Za-z0-9.-].
bool IsValidHostname(std::string_view hostname);

struct EnrollRequest {
  std::string token;
  std::string csr_pem;
  std::string hostname;
  std::string target_os;
};

struct EnrollAnswer {
  std::string endpoint_id;
  std::string certificate_pem;
  int64_t poll_seconds = 0;  // as the relay sent it; clamp before use
};

struct CheckinRequest {
  std::string endpoint_id;
  std::string inventory_sha256;
  std::string target_os;
  std::optional<std::string> inventory;  // canonical inventory text, when sent
};

// One patch as the relay summarises it at check-in.
struct OfferedPatch {
  std::string id;
  std::string kind;
  std::string package;
  std::string version;
  std::string architecture;
  std::string severity;
  bool reboot = false;
  std::string manifest;  // the ref of the manifest that carries it
  crypto::Sha256Digest payload_sha256{};
  uint64_t payload_size = 0;
};

struct ManifestRef {
  std::string ref;
  crypto::Sha256Digest sha256{};
};

struct CheckinAnswer {
  bool need_inventory = false;  // when set, nothing else is
  int64_t catalog_version = 0;
  int64_t poll_seconds = 0;
  int64_t root_version = 0;
  std::vector<OfferedPatch> patches;
  std::vector<ManifestRef> manifests;
};

// One install result as the relay records it.
struct Report {
  std::string report_id;
  std::string patch_id;
  std::string result;  // installed, reboot_required, failed or refused
  std::optional<int64_t> exit_code;
  UnixTime started = 0;
  UnixTime finished = 0;
  std::string log_excerpt;
};

// What POST /v1/reports answered: the ids the relay recorded, or a refusal of the whole request.
struct ReportsReply {
  bool refused = false;  // HTTP 400: something in the batch is malformed or unknown
  std::string refusal;   // the relay's one-line reason
  std::vector<std::string> accepted;
};

Result<std::string> EnrollRequestJson(const EnrollRequest& request);
Result<EnrollAnswer> ParseEnrollAnswer(std::string_view body);
Result<std::string> CheckinRequestJson(const CheckinRequest& request);
// Reads a check-in answer strictly: exactly the documented fields, every id and hash well
// formed, every patch naming a manifest that the answer lists.
Result<CheckinAnswer> ParseCheckinAnswer(std::string_view body);

json::Value ReportToJson(const Report& report);
// Reads a report back (outbox files); `what` names it in errors.
Result<Report> ReportFromJson(const json::Value& value, const std::string& what);
Result<std::string> ReportsRequestJson(const std::string& endpoint_id,
                                       const std::vector<Report>& reports);
Result<std::vector<std::string>> ParseReportsAnswer(std::string_view body);

// The relay API over one HTTPS connection.
class RelayClient {
 public:
  explicit RelayClient(HttpsClient client) : client_(std::move(client)) {}

  // POST /v1/enroll; 401 (token refused) and 400 are ErrorKind::kInvalid.
  Result<EnrollAnswer> Enroll(const EnrollRequest& request);
  Result<CheckinAnswer> Checkin(const CheckinRequest& request);
  // GET /v1/roots/<version>: the document's text, at most crypto::kMaxTrustRootBytes.
  Result<std::string> FetchRoot(int64_t version);
  // GET /v1/manifests/<ref>: the signed manifest's bytes, at most the bundle format's cap.
  Result<std::string> FetchManifest(const std::string& ref);
  // GET /v1/payloads/<sha256> into `path`, resuming what the file holds.
  Result<DownloadReport> DownloadPayload(const crypto::Sha256Digest& sha256,
                                         const std::string& path, uint64_t size);
  // POST /v1/reports with 1..kMaxReportsPerRequest reports.
  Result<ReportsReply> SendReports(const std::string& endpoint_id,
                                   const std::vector<Report>& reports);

  void Close() { client_.Close(); }

 private:
  HttpsClient client_;
};

}  // namespace ferry::endpoint
