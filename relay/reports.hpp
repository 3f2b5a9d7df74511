#pragma once

// Install results endpoints report (table `reports`): read strictly from the API's JSON,
// recorded once per (endpoint, report id) with their audit event, and listed back.

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "common/json.hpp"
#include "common/time.hpp"
#include "relay/sqlite.hpp"

namespace ferry::relay {

inline constexpr size_t kMaxReportsPerRequest = 100;
inline constexpr size_t kMaxLogExcerptBytes = 8 * 1024;

struct InstallReport {
  std::string report_id;  // 8..64 of [a-z0-9-], chosen by the agent, stable across resends
  std::string patch_id;
  std::string result;  // "installed", "reboot_required", "failed" or "refused"
  std::optional<int64_t> exit_code;
  UnixTime started = 0;
  UnixTime finished = 0;
  std::string log_excerpt;  // at most kMaxLogExcerptBytes
};

struct StoredReport {
  std::string endpoint_id;
  InstallReport report;
  UnixTime received_at = 0;
};

// Reads one report object: every field of the right type and shape, no unknown field, an
// exit code within 32 bits, finished not before started. `path` names it in errors.
Result<InstallReport> ReportFromJson(const json::Value& value, const std::string& path);

// The API's form of a stored report (the request's fields plus "received").
json::Value StoredReportToJson(const StoredReport& stored);

// Records an endpoint's reports in one transaction: each new (endpoint, report id) gets its row
// and an install.reported event; one already recorded is left as it is, without an event. A
// report naming a patch the catalog does not have refuses the whole list (ErrorKind::kInvalid)
// and changes nothing. Returns how many reports were new.
Result<size_t> RecordReports(sql::Database& db, const std::string& endpoint_id,
                             const std::vector<InstallReport>& reports);

// The endpoint's latest `limit` reports, newest first.
Result<std::vector<StoredReport>> RecentReports(sql::Database& db, const std::string& endpoint_id,
                                                int64_t limit);

// Each endpoint's latest report, by endpoint id.
Result<std::map<std::string, StoredReport>> LatestReportPerEndpoint(sql::Database& db);

}  // namespace ferry::relay
