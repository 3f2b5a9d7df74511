#include "endpoint/relay_api.hpp"

#include <algorithm>
#include <set>

#include "bundler/bundle_reader.hpp"
#include "bundler/inventory.hpp"
#include "bundler/manifest.hpp"
#include "common/encoding.hpp"
#include "crypto/trust_root.hpp"

namespace ferry::endpoint {
namespace {

constexpr size_t kMaxHostname = 253;
// Answers that are a few small fields; the certificate is the largest part of an enrolment.
constexpr uint64_t kMaxSmallAnswer = 256 * 1024;
// 100,000 patch summaries of a few hundred bytes each stay well below this.
constexpr uint64_t kMaxCheckinAnswer = 64u << 20;
constexpr size_t kMaxOfferedPatches = 100000;
constexpr size_t kMaxErrorShown = 300;

// The relay's {"error": "..."} text, shortened and reduced to printable ASCII for one log line.
std::string ErrorText(const HttpsResponse& response) {
  std::string text;
  auto parsed =
      json::Parse(response.body, json::ParseLimits{.max_bytes = 64 * 1024, .max_depth = 4});
  if (parsed.ok() && parsed->is_object()) {
    const auto& object = parsed->as_object();
    if (const auto it = object.find("error"); it != object.end() && it->second.is_string()) {
      text = it->second.as_string();
    }
  }
  if (text.size() > kMaxErrorShown) {
    text.resize(kMaxErrorShown);
    text += "...";
  }
  for (char& c : text) {
    if (c < 0x20 || c > 0x7e) {
      c = '?';
    }
  }
  return text;
}

// Any answer but 200: 5xx means the relay is unwell (kIo, retried later), the rest means the
// relay refused what the agent asked (kInvalid).
Error StatusError(const std::string& what, const HttpsResponse& response) {
  std::string message = what + ": HTTP " + std::to_string(response.status);
  if (const std::string text = ErrorText(response); !text.empty()) {
    message += ": " + text;
  }
  return response.status >= 500 ? IoError(message) : InvalidError(message);
}

Result<json::Value> ParseAnswer(std::string_view body, const std::string& what,
                                uint64_t max_bytes) {
  auto value = json::Parse(body, json::ParseLimits{.max_bytes = max_bytes, .max_depth = 8});
  if (!value.ok()) {
    return std::move(value).error().Context(what);
  }
  return std::move(*value);
}

Result<crypto::Sha256Digest> DigestField(json::ObjectReader& reader, const std::string& key) {
  FERRY_ASSIGN_OR_RETURN(const std::string hex, reader.String(key));
  if (!IsLowerHex(hex, 64)) {
    return InvalidError(reader.PathOf(key) + ": not 64 lower-case hex digits");
  }
  return crypto::ParseDigestHex(hex);
}

Result<std::string> IdentifierField(json::ObjectReader& reader, const std::string& key) {
  FERRY_ASSIGN_OR_RETURN(std::string value, reader.String(key));
  if (!bundler::IsSafeIdentifier(value)) {
    return InvalidError(reader.PathOf(key) + ": not a valid identifier");
  }
  return value;
}

Result<OfferedPatch> ParseOfferedPatch(const json::Value& value, const std::string& path) {
  FERRY_ASSIGN_OR_RETURN(json::ObjectReader reader, json::ObjectReader::Open(value, path));
  OfferedPatch patch;
  FERRY_ASSIGN_OR_RETURN(patch.id, IdentifierField(reader, "id"));
  FERRY_ASSIGN_OR_RETURN(patch.kind, reader.String("kind"));
  if (patch.kind != "deb" && patch.kind != "script" && patch.kind != "file") {
    return InvalidError(reader.PathOf("kind") + ": unknown kind \"" + patch.kind + "\"");
  }
  FERRY_ASSIGN_OR_RETURN(patch.package, IdentifierField(reader, "package"));
  FERRY_ASSIGN_OR_RETURN(patch.version, IdentifierField(reader, "version"));
  FERRY_ASSIGN_OR_RETURN(patch.architecture, IdentifierField(reader, "architecture"));
  FERRY_ASSIGN_OR_RETURN(patch.severity, reader.String("severity"));
  if (!bundler::IsKnownSeverity(patch.severity)) {
    return InvalidError(reader.PathOf("severity") + ": unknown severity");
  }
  FERRY_ASSIGN_OR_RETURN(patch.reboot, reader.Bool("reboot"));
  FERRY_ASSIGN_OR_RETURN(patch.manifest, reader.String("manifest"));
  if (!IsManifestRef(patch.manifest)) {
    return InvalidError(reader.PathOf("manifest") + ": not CHANNEL/SEQUENCE");
  }
  FERRY_ASSIGN_OR_RETURN(patch.payload_sha256, DigestField(reader, "payload_sha256"));
  FERRY_ASSIGN_OR_RETURN(const int64_t size, reader.Int("payload_size"));
  if (size < 0 || static_cast<uint64_t>(size) > bundler::kMaxPayloadSize) {
    return InvalidError(reader.PathOf("payload_size") + ": out of range");
  }
  patch.payload_size = static_cast<uint64_t>(size);
  FERRY_RETURN_IF_ERROR(reader.Finish());
  return patch;
}

Result<std::string> ToJson(const json::Value& value) {
  FERRY_ASSIGN_OR_RETURN(std::string text, json::Canonical(value));
  return text;
}

}  // namespace

int64_t ClampPollSeconds(int64_t poll_seconds) {
  return std::clamp(poll_seconds, kMinPollSeconds, kMaxPollSeconds);
}

bool IsEndpointId(std::string_view id) {
  return id.starts_with("ep-") && IsLowerHex(id.substr(3), 16);
}

bool IsManifestRef(std::string_view ref) {
  const size_t slash = ref.find('/');
  if (slash == std::string_view::npos || !bundler::IsSafeIdentifier(ref.substr(0, slash))) {
    return false;
  }
  const std::string_view sequence = ref.substr(slash + 1);
  return !sequence.empty() && sequence.size() <= 16 && sequence.front() != '0' &&
         std::all_of(sequence.begin(), sequence.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool IsReportId(std::string_view id) {
  return id.size() >= 8 && id.size() <= 64 && std::all_of(id.begin(), id.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
         });
}

bool IsValidHostname(std::string_view hostname) {
  return !hostname.empty() && hostname.size() <= kMaxHostname &&
         std::all_of(hostname.begin(), hostname.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '-';
         });
}

Result<std::string> EnrollRequestJson(const EnrollRequest& request) {
  return ToJson(json::Object{{"token", request.token},
                             {"csr", request.csr_pem},
                             {"hostname", request.hostname},
                             {"target_os", request.target_os}});
}

Result<EnrollAnswer> ParseEnrollAnswer(std::string_view body) {
  FERRY_ASSIGN_OR_RETURN(const json::Value value,
                         ParseAnswer(body, "enrolment answer", kMaxSmallAnswer));
  FERRY_ASSIGN_OR_RETURN(json::ObjectReader reader,
                         json::ObjectReader::Open(value, "enrolment answer"));
  EnrollAnswer answer;
  FERRY_ASSIGN_OR_RETURN(answer.endpoint_id, reader.String("endpoint_id"));
  if (!IsEndpointId(answer.endpoint_id)) {
    return InvalidError("enrolment answer.endpoint_id: not \"ep-\" and 16 hex digits");
  }
  FERRY_ASSIGN_OR_RETURN(answer.certificate_pem, reader.String("certificate"));
  FERRY_ASSIGN_OR_RETURN(answer.poll_seconds, reader.Int("poll_seconds"));
  FERRY_RETURN_IF_ERROR(reader.Finish());
  return answer;
}

Result<std::string> CheckinRequestJson(const CheckinRequest& request) {
  json::Object object{{"endpoint_id", request.endpoint_id},
                      {"inventory_sha256", request.inventory_sha256},
                      {"target_os", request.target_os},
                      {"agent_version", std::string(kAgentVersion)}};
  if (request.inventory) {
    object["inventory"] = *request.inventory;
  }
  return ToJson(object);
}

Result<CheckinAnswer> ParseCheckinAnswer(std::string_view body) {
  FERRY_ASSIGN_OR_RETURN(const json::Value value,
                         ParseAnswer(body, "check-in answer", kMaxCheckinAnswer));
  CheckinAnswer answer;
  if (value.is_object() && value.as_object().count("need_inventory") != 0) {
    FERRY_ASSIGN_OR_RETURN(json::ObjectReader reader,
                           json::ObjectReader::Open(value, "check-in answer"));
    FERRY_ASSIGN_OR_RETURN(answer.need_inventory, reader.Bool("need_inventory"));
    if (!answer.need_inventory) {
      return InvalidError("check-in answer.need_inventory: false is not a valid answer");
    }
    FERRY_RETURN_IF_ERROR(reader.Finish());
    return answer;
  }
  FERRY_ASSIGN_OR_RETURN(json::ObjectReader reader,
                         json::ObjectReader::Open(value, "check-in answer"));
  FERRY_ASSIGN_OR_RETURN(answer.catalog_version, reader.Int("catalog_version"));
  FERRY_ASSIGN_OR_RETURN(answer.poll_seconds, reader.Int("poll_seconds"));
  FERRY_ASSIGN_OR_RETURN(answer.root_version, reader.Int("root_version"));
  if (answer.root_version < 1) {
    return InvalidError("check-in answer.root_version: must be at least 1");
  }
  FERRY_ASSIGN_OR_RETURN(const json::Array* manifests, reader.ArrayField("manifests"));
  std::set<std::string> refs;
  for (size_t i = 0; i < manifests->size(); ++i) {
    const std::string path = "check-in answer.manifests[" + std::to_string(i) + "]";
    FERRY_ASSIGN_OR_RETURN(json::ObjectReader entry,
                           json::ObjectReader::Open((*manifests)[i], path));
    ManifestRef ref;
    FERRY_ASSIGN_OR_RETURN(ref.ref, entry.String("ref"));
    if (!IsManifestRef(ref.ref) || !refs.insert(ref.ref).second) {
      return InvalidError(path + ".ref: not CHANNEL/SEQUENCE, or listed twice");
    }
    FERRY_ASSIGN_OR_RETURN(ref.sha256, DigestField(entry, "sha256"));
    FERRY_RETURN_IF_ERROR(entry.Finish());
    answer.manifests.push_back(std::move(ref));
  }
  FERRY_ASSIGN_OR_RETURN(const json::Array* patches, reader.ArrayField("patches"));
  if (patches->size() > kMaxOfferedPatches) {
    return InvalidError("check-in answer.patches: more than " + std::to_string(kMaxOfferedPatches) +
                        " entries");
  }
  std::set<std::string> ids;
  for (size_t i = 0; i < patches->size(); ++i) {
    const std::string path = "check-in answer.patches[" + std::to_string(i) + "]";
    FERRY_ASSIGN_OR_RETURN(OfferedPatch patch, ParseOfferedPatch((*patches)[i], path));
    if (!ids.insert(patch.id).second) {
      return InvalidError(path + ".id: \"" + patch.id + "\" listed twice");
    }
    if (refs.count(patch.manifest) == 0) {
      return InvalidError(path + ".manifest: \"" + patch.manifest +
                          "\" is not among the answer's manifests");
    }
    answer.patches.push_back(std::move(patch));
  }
  FERRY_RETURN_IF_ERROR(reader.Finish());
  return answer;
}

json::Value ReportToJson(const Report& report) {
  json::Object object{{"report_id", report.report_id},
                      {"patch_id", report.patch_id},
                      {"result", report.result},
                      {"started", FormatTime(report.started)},
                      {"finished", FormatTime(report.finished)},
                      {"log_excerpt", report.log_excerpt}};
  if (report.exit_code) {
    object["exit_code"] = *report.exit_code;
  }
  return object;
}

Result<Report> ReportFromJson(const json::Value& value, const std::string& what) {
  FERRY_ASSIGN_OR_RETURN(json::ObjectReader reader, json::ObjectReader::Open(value, what));
  Report report;
  FERRY_ASSIGN_OR_RETURN(report.report_id, reader.String("report_id"));
  if (!IsReportId(report.report_id)) {
    return InvalidError(what + ".report_id: not 8 to 64 characters of [a-z0-9-]");
  }
  FERRY_ASSIGN_OR_RETURN(report.patch_id, IdentifierField(reader, "patch_id"));
  FERRY_ASSIGN_OR_RETURN(report.result, reader.String("result"));
  if (report.result != "installed" && report.result != "reboot_required" &&
      report.result != "failed" && report.result != "refused") {
    return InvalidError(what + ".result: unknown result \"" + report.result + "\"");
  }
  FERRY_ASSIGN_OR_RETURN(report.exit_code, reader.OptionalInt("exit_code"));
  FERRY_ASSIGN_OR_RETURN(const std::string started, reader.String("started"));
  FERRY_ASSIGN_OR_RETURN(report.started, ParseTime(started));
  FERRY_ASSIGN_OR_RETURN(const std::string finished, reader.String("finished"));
  FERRY_ASSIGN_OR_RETURN(report.finished, ParseTime(finished));
  FERRY_ASSIGN_OR_RETURN(report.log_excerpt, reader.String("log_excerpt"));
  if (report.log_excerpt.size() > kMaxLogExcerpt) {
    return InvalidError(what + ".log_excerpt: longer than 8 KiB");
  }
  FERRY_RETURN_IF_ERROR(reader.Finish());
  return report;
}

Result<std::string> ReportsRequestJson(const std::string& endpoint_id,
                                       const std::vector<Report>& reports) {
  json::Array array;
  array.reserve(reports.size());
  for (const Report& report : reports) {
    array.push_back(ReportToJson(report));
  }
  return ToJson(json::Object{{"endpoint_id", endpoint_id}, {"reports", std::move(array)}});
}

Result<std::vector<std::string>> ParseReportsAnswer(std::string_view body) {
  FERRY_ASSIGN_OR_RETURN(const json::Value value,
                         ParseAnswer(body, "reports answer", kMaxSmallAnswer));
  FERRY_ASSIGN_OR_RETURN(json::ObjectReader reader,
                         json::ObjectReader::Open(value, "reports answer"));
  FERRY_ASSIGN_OR_RETURN(std::vector<std::string> accepted, reader.StringArray("accepted"));
  FERRY_RETURN_IF_ERROR(reader.Finish());
  return accepted;
}

Result<EnrollAnswer> RelayClient::Enroll(const EnrollRequest& request) {
  FERRY_ASSIGN_OR_RETURN(const std::string body, EnrollRequestJson(request));
  FERRY_ASSIGN_OR_RETURN(const HttpsResponse response,
                         client_.PostJson("/v1/enroll", body, kMaxSmallAnswer));
  if (response.status != 200) {
    return StatusError("enrolment", response);
  }
  return ParseEnrollAnswer(response.body);
}

Result<CheckinAnswer> RelayClient::Checkin(const CheckinRequest& request) {
  FERRY_ASSIGN_OR_RETURN(const std::string body, CheckinRequestJson(request));
  FERRY_ASSIGN_OR_RETURN(const HttpsResponse response,
                         client_.PostJson("/v1/checkin", body, kMaxCheckinAnswer));
  if (response.status != 200) {
    return StatusError("check-in", response);
  }
  return ParseCheckinAnswer(response.body);
}

Result<std::string> RelayClient::FetchRoot(int64_t version) {
  const std::string what = "trust root v" + std::to_string(version);
  FERRY_ASSIGN_OR_RETURN(HttpsResponse response, client_.Get("/v1/roots/" + std::to_string(version),
                                                             crypto::kMaxTrustRootBytes));
  if (response.status != 200) {
    return StatusError(what, response);
  }
  return std::move(response.body);
}

Result<std::string> RelayClient::FetchManifest(const std::string& ref) {
  if (!IsManifestRef(ref)) {
    return InvalidError("manifest ref \"" + ref + "\" is not CHANNEL/SEQUENCE");
  }
  FERRY_ASSIGN_OR_RETURN(HttpsResponse response,
                         client_.Get("/v1/manifests/" + ref, bundler::kMaxManifestSize));
  if (response.status != 200) {
    return StatusError("manifest " + ref, response);
  }
  return std::move(response.body);
}

Result<DownloadReport> RelayClient::DownloadPayload(const crypto::Sha256Digest& sha256,
                                                    const std::string& path, uint64_t size) {
  return client_.Download("/v1/payloads/" + crypto::DigestHex(sha256), path, size);
}

Result<ReportsReply> RelayClient::SendReports(const std::string& endpoint_id,
                                              const std::vector<Report>& reports) {
  FERRY_ASSIGN_OR_RETURN(const std::string body, ReportsRequestJson(endpoint_id, reports));
  FERRY_ASSIGN_OR_RETURN(const HttpsResponse response,
                         client_.PostJson("/v1/reports", body, kMaxSmallAnswer));
  ReportsReply reply;
  if (response.status == 400) {
    reply.refused = true;
    reply.refusal = ErrorText(response);
    return reply;
  }
  if (response.status != 200) {
    return StatusError("reports", response);
  }
  FERRY_ASSIGN_OR_RETURN(reply.accepted, ParseReportsAnswer(response.body));
  return reply;
}

}  // namespace ferry::endpoint
