#include "endpoint/outbox.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <set>

#include "common/encoding.hpp"
#include "common/file.hpp"
#include "crypto/secure.hpp"

namespace ferry::endpoint {
namespace {

constexpr std::string_view kSuffix = ".json";
// A report is at most 8 KiB of excerpt (up to six bytes per escaped byte) and a few fields.
constexpr size_t kMaxReportFile = 64 * 1024;
// Room for {"endpoint_id":...,"reports":[...]} around the reports themselves.
constexpr size_t kBatchEnvelope = 1024;

bool IsReportFileName(std::string_view name) {
  return name.ends_with(kSuffix) && IsReportId(name.substr(0, name.size() - kSuffix.size()));
}

size_t EncodedSize(const Report& report) {
  auto text = json::Canonical(ReportToJson(report));
  return text.ok() ? text->size() + 1 : kMaxReportFile;
}

// Splits the reports into batches the relay accepts in one request.
std::deque<std::vector<Report>> MakeBatches(std::vector<Report> reports) {
  std::deque<std::vector<Report>> batches;
  size_t bytes = 0;
  for (Report& report : reports) {
    const size_t size = EncodedSize(report);
    if (batches.empty() || batches.back().size() >= kMaxReportsPerRequest ||
        bytes + size > kMaxReportsBody - kBatchEnvelope) {
      batches.emplace_back();
      bytes = 0;
    }
    bytes += size;
    batches.back().push_back(std::move(report));
  }
  return batches;
}

}  // namespace

std::string NewReportId() {
  std::array<uint8_t, 16> bytes{};
  crypto::RandomBytes(bytes);
  return HexEncode(bytes);
}

std::string Outbox::PathOf(std::string_view report_id) const {
  return fs::JoinPath(dir_, std::string(report_id) + std::string(kSuffix));
}

std::string Outbox::rejected_dir() const { return fs::JoinPath(dir_, "rejected"); }

Status Outbox::Add(const Report& report) const {
  if (!IsReportId(report.report_id)) {
    return UsageError("report id \"" + report.report_id + "\" is not valid");
  }
  FERRY_ASSIGN_OR_RETURN(const std::string text, json::Canonical(ReportToJson(report)));
  return fs::WriteFileAtomic(PathOf(report.report_id), text + "\n", 0600, false);
}

Result<std::vector<Report>> Outbox::Pending(const Logger& log) const {
  FERRY_ASSIGN_OR_RETURN(const std::vector<std::string> names, fs::ListDirectory(dir_));
  std::vector<Report> reports;
  for (const std::string& name : names) {
    if (!IsReportFileName(name)) {
      continue;
    }
    const std::string path = fs::JoinPath(dir_, name);
    auto text = fs::ReadFile(path, kMaxReportFile);
    if (!text.ok()) {
      if (text.error().kind() == ErrorKind::kIo) {
        return std::move(text).error();
      }
      FERRY_RETURN_IF_ERROR(Reject(name, text.error().message(), log));
      continue;
    }
    auto value = json::Parse(*text, json::ParseLimits{.max_bytes = kMaxReportFile, .max_depth = 4});
    Result<Report> report = value.ok() ? ReportFromJson(*value, path)
                                       : Result<Report>(std::move(value).error().Context(path));
    if (report.ok() && report->report_id + std::string(kSuffix) != name) {
      report = InvalidError(path + ": holds report " + report->report_id);
    }
    if (!report.ok()) {
      FERRY_RETURN_IF_ERROR(Reject(name, report.error().message(), log));
      continue;
    }
    reports.push_back(std::move(*report));
  }
  std::stable_sort(reports.begin(), reports.end(),
                   [](const Report& a, const Report& b) { return a.finished < b.finished; });
  return reports;
}

Result<size_t> Outbox::Count() const {
  if (!fs::IsDirectory(dir_)) {
    return size_t{0};
  }
  FERRY_ASSIGN_OR_RETURN(const std::vector<std::string> names, fs::ListDirectory(dir_));
  return static_cast<size_t>(std::count_if(names.begin(), names.end(), IsReportFileName));
}

Result<size_t> Outbox::RejectedCount() const {
  if (!fs::IsDirectory(rejected_dir())) {
    return size_t{0};
  }
  FERRY_ASSIGN_OR_RETURN(const std::vector<std::string> names, fs::ListDirectory(rejected_dir()));
  return static_cast<size_t>(std::count_if(names.begin(), names.end(), IsReportFileName));
}

Status Outbox::Remove(const std::string& report_id) const {
  const std::string path = PathOf(report_id);
  if (std::remove(path.c_str()) != 0 && errno != ENOENT) {
    return IoError(path + ": remove: " + std::strerror(errno));
  }
  return fs::SyncDirectory(dir_);
}

Status Outbox::Reject(const std::string& file_name, const std::string& reason,
                      const Logger& log) const {
  const std::string rejected = rejected_dir();
  if (::mkdir(rejected.c_str(), 0700) != 0 && errno != EEXIST) {
    return IoError(rejected + ": mkdir: " + std::strerror(errno));
  }
  const std::string from = fs::JoinPath(dir_, file_name);
  const std::string to = fs::JoinPath(rejected, file_name);
  if (std::rename(from.c_str(), to.c_str()) != 0) {
    return IoError(from + ": move to " + rejected + ": " + std::strerror(errno));
  }
  FERRY_RETURN_IF_ERROR(fs::SyncDirectory(rejected));
  FERRY_RETURN_IF_ERROR(fs::SyncDirectory(dir_));
  if (log) {
    log("outbox: " + file_name + " moved to outbox/rejected/: " + reason);
  }
  return Ok();
}

Result<FlushSummary> Outbox::Flush(const Sender& send, const Logger& log) const {
  FERRY_ASSIGN_OR_RETURN(std::vector<Report> reports, Pending(log));
  FlushSummary summary;
  std::deque<std::vector<Report>> batches = MakeBatches(std::move(reports));
  while (!batches.empty()) {
    std::vector<Report> batch = std::move(batches.front());
    batches.pop_front();
    FERRY_ASSIGN_OR_RETURN(const ReportsReply reply, send(batch));
    if (reply.refused) {
      if (batch.size() == 1) {
        FERRY_RETURN_IF_ERROR(Reject(
            batch.front().report_id + std::string(kSuffix),
            "the relay refused it (patch " + batch.front().patch_id + "): " + reply.refusal, log));
        ++summary.rejected;
        continue;
      }
      // The relay refuses the whole request for one bad report: halve until it stands alone.
      const auto middle = batch.begin() + static_cast<std::ptrdiff_t>(batch.size() / 2);
      std::vector<Report> second(std::make_move_iterator(middle),
                                 std::make_move_iterator(batch.end()));
      batch.erase(middle, batch.end());
      batches.push_front(std::move(second));
      batches.push_front(std::move(batch));
      continue;
    }
    const std::set<std::string> accepted(reply.accepted.begin(), reply.accepted.end());
    for (const Report& report : batch) {
      if (accepted.count(report.report_id) != 0) {
        FERRY_RETURN_IF_ERROR(Remove(report.report_id));
        ++summary.accepted;
      } else {
        ++summary.remaining;  // not confirmed: kept for the next flush
      }
    }
  }
  return summary;
}

}  // namespace ferry::endpoint
