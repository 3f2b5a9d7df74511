#pragma once

// Install reports waiting for the relay. Each report is its own fsynced file,
// outbox/<report_id>.json, written before the agent tells anyone about the result, and removed
// only once the relay lists its id in "accepted". A report the relay refuses (HTTP 400) moves to
// outbox/rejected/ with the reason logged, so one bad report never blocks the others or loops.

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"
#include "endpoint/relay_api.hpp"

namespace ferry::endpoint {

// A report id: 32 lower-case hex digits of 16 random bytes.
std::string NewReportId();

struct FlushSummary {
  size_t accepted = 0;   // removed from the outbox
  size_t rejected = 0;   // moved to rejected/
  size_t remaining = 0;  // still waiting
};

class Outbox {
 public:
  using Sender = std::function<Result<ReportsReply>(const std::vector<Report>& batch)>;
  using Logger = std::function<void(const std::string& line)>;

  // `dir` is the state directory's outbox/; rejected/ is made beneath it when first needed.
  explicit Outbox(std::string dir) : dir_(std::move(dir)) {}

  // Stores a report durably (the file and the directory entry are synced).
  Status Add(const Report& report) const;

  // The waiting reports, oldest `finished` first. A file that cannot be read as a report is
  // moved to rejected/ and reported through `log`.
  Result<std::vector<Report>> Pending(const Logger& log) const;

  // How many reports wait, and how many were rejected.
  Result<size_t> Count() const;
  Result<size_t> RejectedCount() const;

  // Sends every waiting report in batches of at most kMaxReportsPerRequest reports and
  // kMaxReportsBody bytes. Accepted reports are removed. A refused batch is split until the
  // refused reports stand alone, and those move to rejected/. An error from `send` (relay away)
  // stops the flush and keeps everything not yet accepted.
  Result<FlushSummary> Flush(const Sender& send, const Logger& log) const;

  const std::string& dir() const { return dir_; }
  std::string rejected_dir() const;

 private:
  std::string PathOf(std::string_view report_id) const;
  Status Remove(const std::string& report_id) const;
  Status Reject(const std::string& file_name, const std::string& reason, const Logger& log) const;

  std::string dir_;
};

}  // namespace ferry::endpoint
