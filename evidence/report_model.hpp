#pragma once

// What the reports are computed from, shared by the CSV and HTML renderers (internal to
// evidence/; the public interface is report.hpp). A log of a million events can name hundreds of
// thousands of endpoint-patch pairs, so names are stored once and pairs hold indices; the derived
// view of a pair (its deadline, state) is computed when a renderer asks for it.

#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "evidence/report.hpp"

namespace ferry::evidence::report_model {

inline constexpr UnixTime kNoTime = std::numeric_limits<int64_t>::min();

struct PatchFacts {
  std::string id;
  std::string package;
  std::string version;
  std::string severity;  // as the approval event said; empty when no approval was seen
  UnixTime released = kNoTime;
  UnixTime first_approved = kNoTime;
  bool approved = false;
};

struct EndpointFacts {
  std::string id;
  std::string hostname;
  std::string target_os;
  UnixTime enrolled = kNoTime;
  UnixTime revoked = kNoTime;
  UnixTime last_needs = kNoTime;
  std::vector<uint32_t> needs;  // patch indices of the last needs set, sorted by index
};

// One endpoint and one patch it needed or reported on.
struct PairFacts {
  uint32_t endpoint = 0;
  uint32_t patch = 0;
  UnixTime first_seen = 0;
  UnixTime installed_at = kNoTime;  // finished time of the first successful report
  UnixTime reported_released = kNoTime;
  uint32_t failures = 0;
  uint16_t last_result = 0;          // index into Ledger::results; 0 is "" (no report)
  uint8_t reported_severity = 0xff;  // index into SeverityDeadlines(); 0xff: none reported
  bool needed_now = false;
};

struct ExceptionRow {
  int64_t seq = 0;
  UnixTime time = 0;
  std::string actor;
  std::string patch;
  std::string endpoint;  // empty: every endpoint
  std::optional<UnixTime> until;
  std::string reason;
  bool active = false;  // at the reference time
};

struct FailureRow {
  int64_t seq = 0;
  UnixTime time = 0;
  uint32_t endpoint = 0;
  uint32_t patch = 0;
  uint16_t result = 0;
  std::optional<int64_t> exit_code;
  std::string report_id;
  std::string finished;
};

struct ImportRow {
  int64_t seq = 0;
  UnixTime time = 0;
  std::string outcome;  // rejected or failed
  std::string subject;
  std::string file;
  std::string reason;
};

// Everything the events said, accumulated in order.
struct Ledger {
  int64_t events = 0;
  UnixTime first_time = 0;
  UnixTime last_time = 0;
  int64_t imports_accepted = 0;
  int64_t tokens_created = 0;
  int64_t install_reports = 0;
  std::string site_id;
  std::map<std::string, int64_t> event_types;
  std::vector<PatchFacts> patches;
  std::unordered_map<std::string, uint32_t> patch_index;
  std::vector<EndpointFacts> endpoints;
  std::unordered_map<std::string, uint32_t> endpoint_index;
  std::vector<PairFacts> pairs;
  std::unordered_map<uint64_t, uint32_t> pair_index;  // endpoint << 32 | patch
  std::vector<std::string> results{""};
  std::unordered_map<std::string, uint16_t> result_index{{"", 0}};
  std::vector<ExceptionRow> exceptions;
  std::vector<FailureRow> failures;
  std::vector<ImportRow> imports;
  std::map<int64_t, std::pair<int64_t, int64_t>> results_by_day;  // day: installed, failed

  uint32_t Patch(const std::string& id);
  uint32_t Endpoint(const std::string& id);
  PairFacts& Pair(uint32_t endpoint, uint32_t patch, UnixTime time);
  uint16_t Result(const std::string& result);
  void Add(const Event& event);
};

// A pair as the reports show it at the reference time.
struct PairRow {
  const PairFacts* facts = nullptr;
  size_t severity = 0;          // index into SeverityDeadlines()
  const char* clock_from = "";  // "released", "approved" or "needed": what started the clock
  UnixTime start = 0;
  std::optional<UnixTime> deadline;
  const char* state = "";            // installed, failed, pending, dropped
  const char* deadline_status = "";  // met, late, open, overdue, excepted, none, n/a
  std::optional<int64_t> days_to_install;
};

struct SeverityRow {
  std::string severity;
  std::optional<int64_t> deadline_days;
  int64_t pairs = 0;  // installed + failed + pending
  int64_t installed = 0;
  int64_t met = 0;
  int64_t late = 0;
  int64_t open = 0;
  int64_t overdue = 0;
  int64_t excepted = 0;
  int64_t failed = 0;
  std::optional<int64_t> compliance_per_mille;  // (met + open + excepted) / pairs, floored
  std::optional<int64_t> median_days;
  std::optional<int64_t> max_days;
};

struct PatchCounts {
  int64_t needing = 0;  // installed + failed + pending
  int64_t installed = 0;
  int64_t failed = 0;
  int64_t pending = 0;
  int64_t dropped = 0;
  int64_t overdue = 0;
  int64_t excepted = 0;
  int64_t late = 0;
  std::string severity;  // the one its pairs are judged by
  UnixTime released = kNoTime;
};

struct EndpointCounts {
  int64_t installed = 0;
  int64_t failed = 0;
  int64_t pending = 0;
  int64_t overdue = 0;
  int64_t excepted = 0;
};

// The reports' content at the reference time (the last event's).
class Model {
 public:
  Model(const Ledger& ledger, const ReportScope& scope);

  PairRow Derive(const PairFacts& pair) const;
  const std::string& Hostname(uint32_t endpoint) const {
    return ledger_.endpoints[endpoint].hostname;
  }

  const Ledger& ledger() const { return ledger_; }
  const ReportScope& scope() const { return scope_; }
  const ReportFigures& figures() const { return figures_; }
  const std::vector<SeverityRow>& severities() const { return severities_; }
  const std::vector<ExceptionRow>& exceptions() const { return exceptions_; }
  // Indices sorted by id, and the counts per index.
  const std::vector<uint32_t>& patch_order() const { return patch_order_; }
  const std::vector<PatchCounts>& patch_counts() const { return patch_counts_; }
  const std::vector<uint32_t>& endpoint_order() const { return endpoint_order_; }
  const std::vector<EndpointCounts>& endpoint_counts() const { return endpoint_counts_; }
  // Pair indices sorted by endpoint id then patch id; the overdue ones, most severe and oldest
  // deadline first.
  const std::vector<uint32_t>& pair_order() const { return pair_order_; }
  const std::vector<uint32_t>& overdue() const { return overdue_; }

 private:
  bool Excepted(uint32_t endpoint, uint32_t patch) const;

  const Ledger& ledger_;
  ReportScope scope_;
  ReportFigures figures_;
  std::vector<ExceptionRow> exceptions_;
  std::multimap<std::string, const ExceptionRow*> active_;  // by patch id
  std::vector<SeverityRow> severities_;
  std::vector<uint32_t> patch_order_;
  std::vector<PatchCounts> patch_counts_;
  std::vector<uint32_t> endpoint_order_;
  std::vector<EndpointCounts> endpoint_counts_;
  std::vector<uint32_t> pair_order_;
  std::vector<uint32_t> overdue_;
};

// report.html for a model: one self-contained page, no script, no external reference.
std::string RenderHtml(const Model& model);

// "93.5" for 935 per mille.
std::string PerMille(int64_t per_mille);

}  // namespace ferry::evidence::report_model
