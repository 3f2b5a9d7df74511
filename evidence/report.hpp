#pragma once

// The reports of an evidence package, recomputed from its events alone: the relay's export and
// ferry-verify run this same code over the same events and must get the same bytes. Nothing here
// reads the clock; "as of" is the time of the last event covered. Definitions and deadlines are in
// docs/auditor-guide.md.

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/time.hpp"
#include "evidence/event.hpp"

namespace ferry::evidence {

// A severity and the days from the fix's release within which it must be installed; no days: no
// deadline. Critical follows PCI DSS 4.0 requirement 6.3.3 (within one month of release).
struct SeverityDeadline {
  std::string_view severity;
  std::optional<int64_t> days;
};

// Every severity in report order, with its deadline.
std::span<const SeverityDeadline> SeverityDeadlines();

// Where the reports come from, shown at the top of report.html. Derived from the package's
// checkpoint and events, never from the clock.
struct ReportScope {
  std::string origin;    // the checkpoint's origin line
  int64_t first = 0;     // first event covered
  int64_t last = 0;      // last event covered (the tree size)
  std::string root_hex;  // Merkle root over events 1..last
};

// The headline figures, for ferry-verify's summary.
struct ReportFigures {
  UnixTime as_of = 0;
  int64_t endpoints = 0;
  int64_t patches_approved = 0;  // approved as of the last event
  int64_t install_reports = 0;
  int64_t installed = 0;  // endpoint-patch pairs
  int64_t failed = 0;
  int64_t pending = 0;
  int64_t overdue = 0;
  int64_t excepted = 0;
  int64_t late = 0;
  int64_t imports_rejected = 0;  // import.rejected and import.failed events
};

struct ReportFile {
  std::string name;  // member name in the package, e.g. "reports/summary.csv"
  std::string content;
};

struct Reports {
  ReportFigures figures;
  std::vector<ReportFile> files;  // the CSV reports in package order, then report.html
};

// The package member names of the reports, in package order.
std::vector<std::string> ReportMemberNames();

// Accumulates events in sequence order and renders the reports. Memory grows with endpoints,
// patches and their pairs, not with the number of events.
class ReportBuilder {
 public:
  ReportBuilder();
  ~ReportBuilder();
  ReportBuilder(const ReportBuilder&) = delete;
  ReportBuilder& operator=(const ReportBuilder&) = delete;

  // Takes the next event. Types the reports do not use are only counted; a field missing from a
  // known type's details counts as empty rather than stopping the report.
  void Add(const Event& event);

  // Renders every report as of the last event added (at least one must have been).
  Reports Finish(const ReportScope& scope) const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace ferry::evidence
