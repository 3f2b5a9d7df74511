#include "relay/reports.hpp"

#include <limits>

#include "bundler/manifest.hpp"
#include "crypto/hash.hpp"
#include "relay/event_log.hpp"

namespace ferry::relay {
namespace {

constexpr size_t kMinReportId = 8;
constexpr size_t kMaxReportId = 64;

bool IsReportId(std::string_view id) {
  if (id.size() < kMinReportId || id.size() > kMaxReportId) {
    return false;
  }
  for (const char c : id) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
      return false;
    }
  }
  return true;
}

bool IsReportResult(std::string_view result) {
  return result == "installed" || result == "reboot_required" || result == "failed" ||
         result == "refused";
}

constexpr const char* kReportColumns =
    "endpoint_id, report_id, patch_id, result, exit_code, started_at, finished_at, received_at, "
    "log_excerpt";

StoredReport ReportFromRow(const sql::Statement& row) {
  StoredReport stored;
  stored.endpoint_id = row.Text(0);
  stored.report.report_id = row.Text(1);
  stored.report.patch_id = row.Text(2);
  stored.report.result = row.Text(3);
  stored.report.exit_code = row.OptionalInt(4);
  stored.report.started = row.Int(5);
  stored.report.finished = row.Int(6);
  stored.received_at = row.Int(7);
  stored.report.log_excerpt = row.Text(8);
  return stored;
}

struct PatchFacts {
  std::string package;
  std::string version;
  std::string severity;
  std::optional<int64_t> released;
};

Result<std::optional<PatchFacts>> FindPatchFacts(sql::Statement& query, const std::string& id) {
  query.Reset();
  query.Bind(1, id);
  FERRY_ASSIGN_OR_RETURN(const bool row, query.Step());
  if (!row) {
    return std::optional<PatchFacts>();
  }
  PatchFacts facts{query.Text(0), query.Text(1), query.Text(2), query.OptionalInt(3)};
  query.Reset();
  return std::optional<PatchFacts>(std::move(facts));
}

}  // namespace

Result<InstallReport> ReportFromJson(const json::Value& value, const std::string& path) {
  FERRY_ASSIGN_OR_RETURN(json::ObjectReader reader, json::ObjectReader::Open(value, path));
  InstallReport report;
  FERRY_ASSIGN_OR_RETURN(report.report_id, reader.String("report_id"));
  FERRY_ASSIGN_OR_RETURN(report.patch_id, reader.String("patch_id"));
  FERRY_ASSIGN_OR_RETURN(report.result, reader.String("result"));
  FERRY_ASSIGN_OR_RETURN(report.exit_code, reader.OptionalInt("exit_code"));
  FERRY_ASSIGN_OR_RETURN(const std::string started, reader.String("started"));
  FERRY_ASSIGN_OR_RETURN(const std::string finished, reader.String("finished"));
  FERRY_ASSIGN_OR_RETURN(report.log_excerpt, reader.String("log_excerpt"));
  FERRY_RETURN_IF_ERROR(reader.Finish());
  if (!IsReportId(report.report_id)) {
    return InvalidError(reader.PathOf("report_id") + ": not 8 to 64 characters of [a-z0-9-]");
  }
  if (!bundler::IsSafeIdentifier(report.patch_id)) {
    return InvalidError(reader.PathOf("patch_id") + ": not a patch id");
  }
  if (!IsReportResult(report.result)) {
    return InvalidError(reader.PathOf("result") + ": \"" + report.result +
                        "\" is not installed, reboot_required, failed or refused");
  }
  if (report.exit_code && (*report.exit_code < std::numeric_limits<int32_t>::min() ||
                           *report.exit_code > std::numeric_limits<int32_t>::max())) {
    return InvalidError(reader.PathOf("exit_code") + ": outside the 32-bit range");
  }
  auto started_time = ParseTime(started);
  if (!started_time.ok()) {
    return std::move(started_time).error().Context(reader.PathOf("started"));
  }
  auto finished_time = ParseTime(finished);
  if (!finished_time.ok()) {
    return std::move(finished_time).error().Context(reader.PathOf("finished"));
  }
  report.started = *started_time;
  report.finished = *finished_time;
  if (report.finished < report.started) {
    return InvalidError(path + ": finished before it started");
  }
  if (report.log_excerpt.size() > kMaxLogExcerptBytes) {
    return InvalidError(reader.PathOf("log_excerpt") + ": longer than 8 KiB");
  }
  return report;
}

json::Value StoredReportToJson(const StoredReport& stored) {
  json::Object object{{"report_id", stored.report.report_id},
                      {"patch_id", stored.report.patch_id},
                      {"result", stored.report.result},
                      {"started", FormatTime(stored.report.started)},
                      {"finished", FormatTime(stored.report.finished)},
                      {"received", FormatTime(stored.received_at)},
                      {"log_excerpt", stored.report.log_excerpt}};
  if (stored.report.exit_code) {
    object["exit_code"] = *stored.report.exit_code;
  }
  return object;
}

Result<size_t> RecordReports(sql::Database& db, const std::string& endpoint_id,
                             const std::vector<InstallReport>& reports) {
  size_t recorded = 0;
  FERRY_RETURN_IF_ERROR(db.Begin());
  const auto body = [&]() -> Status {
    FERRY_ASSIGN_OR_RETURN(
        sql::Statement patch_query,
        db.Prepare("SELECT package, version, severity, released FROM patches WHERE id = ?"));
    FERRY_ASSIGN_OR_RETURN(
        sql::Statement known,
        db.Prepare("SELECT 1 FROM reports WHERE endpoint_id = ? AND report_id = ?"));
    FERRY_ASSIGN_OR_RETURN(
        sql::Statement insert,
        db.Prepare("INSERT INTO reports (endpoint_id, report_id, patch_id, result, exit_code, "
                   "started_at, finished_at, received_at, log_excerpt) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"));
    const UnixTime now = Now();
    for (const InstallReport& report : reports) {
      FERRY_ASSIGN_OR_RETURN(const std::optional<PatchFacts> patch,
                             FindPatchFacts(patch_query, report.patch_id));
      if (!patch) {
        return InvalidError("report " + report.report_id + ": no patch \"" + report.patch_id +
                            "\" in the catalog");
      }
      known.Reset();
      known.Bind(1, endpoint_id).Bind(2, report.report_id);
      FERRY_ASSIGN_OR_RETURN(const bool already, known.Step());
      known.Reset();
      if (already) {
        continue;
      }
      insert.Bind(1, endpoint_id)
          .Bind(2, report.report_id)
          .Bind(3, report.patch_id)
          .Bind(4, report.result)
          .BindOptional(5, report.exit_code)
          .Bind(6, report.started)
          .Bind(7, report.finished)
          .Bind(8, now)
          .Bind(9, report.log_excerpt);
      FERRY_RETURN_IF_ERROR(insert.Run());
      json::Object details{{"endpoint", endpoint_id},
                           {"report_id", report.report_id},
                           {"result", report.result},
                           {"started", FormatTime(report.started)},
                           {"finished", FormatTime(report.finished)},
                           {"package", patch->package},
                           {"version", patch->version},
                           {"severity", patch->severity},
                           {"log_sha256", crypto::DigestHex(crypto::Sha256Of(report.log_excerpt))}};
      if (report.exit_code) {
        details["exit_code"] = *report.exit_code;
      }
      if (patch->released) {
        details["released"] = FormatTime(*patch->released);
      }
      FERRY_ASSIGN_OR_RETURN(const Event event,
                             AppendEvent(db, "endpoint:" + endpoint_id, "install.reported",
                                         report.patch_id, std::move(details)));
      (void)event;
      ++recorded;
    }
    return db.Commit();
  };
  Status done = body();
  if (!done.ok()) {
    db.Rollback();
    return std::move(done).error();
  }
  return recorded;
}

Result<std::vector<StoredReport>> RecentReports(sql::Database& db, const std::string& endpoint_id,
                                                int64_t limit) {
  FERRY_ASSIGN_OR_RETURN(
      sql::Statement query,
      db.Prepare(std::string("SELECT ") + kReportColumns +
                 " FROM reports WHERE endpoint_id = ? ORDER BY rowid DESC LIMIT ?"));
  query.Bind(1, endpoint_id).Bind(2, limit);
  std::vector<StoredReport> out;
  while (true) {
    FERRY_ASSIGN_OR_RETURN(const bool row, query.Step());
    if (!row) {
      break;
    }
    out.push_back(ReportFromRow(query));
  }
  return out;
}

Result<std::map<std::string, StoredReport>> LatestReportPerEndpoint(sql::Database& db) {
  // rowid grows with every insert, so the highest one per endpoint is its latest report.
  FERRY_ASSIGN_OR_RETURN(
      sql::Statement query,
      db.Prepare(std::string("SELECT ") + kReportColumns +
                 " FROM reports WHERE rowid IN (SELECT MAX(rowid) FROM reports GROUP BY "
                 "endpoint_id)"));
  std::map<std::string, StoredReport> out;
  while (true) {
    FERRY_ASSIGN_OR_RETURN(const bool row, query.Step());
    if (!row) {
      break;
    }
    StoredReport stored = ReportFromRow(query);
    std::string id = stored.endpoint_id;
    out.emplace(std::move(id), std::move(stored));
  }
  return out;
}

}  // namespace ferry::relay
