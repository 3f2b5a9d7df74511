#include "evidence/report.hpp"

#include <algorithm>
#include <array>
#include <utility>

#include "evidence/csv.hpp"
#include "evidence/report_model.hpp"

namespace ferry::evidence {
namespace {

using report_model::EndpointCounts;
using report_model::EndpointFacts;
using report_model::ExceptionRow;
using report_model::FailureRow;
using report_model::ImportRow;
using report_model::kNoTime;
using report_model::Ledger;
using report_model::Model;
using report_model::PairFacts;
using report_model::PairRow;
using report_model::PatchCounts;
using report_model::PatchFacts;
using report_model::SeverityRow;

constexpr int64_t kDay = 86400;

constexpr std::array<SeverityDeadline, 6> kDeadlines = {{
    {"critical", 30},  // PCI DSS 4.0 6.3.3: critical fixes within one month of release
    {"high", 30},
    {"medium", 90},
    {"low", 180},
    {"unknown", 30},  // an unrated fix is held to the strictest deadline
    {"none", std::nullopt},
}};
constexpr size_t kUnknown = 4;

size_t SeverityIndex(std::string_view severity) {
  for (size_t i = 0; i < kDeadlines.size(); ++i) {
    if (kDeadlines[i].severity == severity) return i;
  }
  return kUnknown;
}

std::string DetailString(const json::Object& details, const std::string& key) {
  const auto it = details.find(key);
  return it != details.end() && it->second.is_string() ? it->second.as_string() : std::string();
}

UnixTime DetailTime(const json::Object& details, const std::string& key) {
  const auto it = details.find(key);
  if (it == details.end() || !it->second.is_string()) return kNoTime;
  auto parsed = ParseTime(it->second.as_string());
  return parsed.ok() ? *parsed : kNoTime;
}

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

std::string TimeText(UnixTime t) { return t == kNoTime ? "" : FormatTime(t); }
std::string TimeText(const std::optional<UnixTime>& t) { return t ? FormatTime(*t) : ""; }
std::string IntText(const std::optional<int64_t>& v) { return v ? std::to_string(*v) : ""; }
std::string Count(int64_t v) { return std::to_string(v); }

bool IsSuccess(std::string_view result) {
  return result == "installed" || result == "reboot_required";
}
bool IsFailure(std::string_view result) { return result == "failed" || result == "refused"; }

}  // namespace

std::span<const SeverityDeadline> SeverityDeadlines() { return kDeadlines; }

std::vector<std::string> ReportMemberNames() {
  return {"reports/summary.csv",          "reports/by-severity.csv",
          "reports/patches.csv",          "reports/endpoints.csv",
          "reports/deployments.csv",      "reports/overdue.csv",
          "reports/failures.csv",         "reports/exceptions.csv",
          "reports/rejected-imports.csv", "report.html"};
}

namespace report_model {

uint32_t Ledger::Patch(const std::string& id) {
  const auto [it, inserted] = patch_index.try_emplace(id, static_cast<uint32_t>(patches.size()));
  if (inserted) patches.push_back(PatchFacts{.id = id});
  return it->second;
}

uint32_t Ledger::Endpoint(const std::string& id) {
  const auto [it, inserted] =
      endpoint_index.try_emplace(id, static_cast<uint32_t>(endpoints.size()));
  if (inserted) endpoints.push_back(EndpointFacts{.id = id});
  return it->second;
}

PairFacts& Ledger::Pair(uint32_t endpoint, uint32_t patch, UnixTime time) {
  const uint64_t key = (uint64_t{endpoint} << 32) | patch;
  const auto [it, inserted] = pair_index.try_emplace(key, static_cast<uint32_t>(pairs.size()));
  if (inserted) {
    pairs.push_back(PairFacts{.endpoint = endpoint, .patch = patch, .first_seen = time});
  }
  return pairs[it->second];
}

uint16_t Ledger::Result(const std::string& result) {
  const auto it = result_index.find(result);
  if (it != result_index.end()) return it->second;
  // Results are a handful of words; a log inventing thousands is folded into one bucket.
  if (results.size() >= 1000) return Result("(other)");
  const auto index = static_cast<uint16_t>(results.size());
  results.push_back(result);
  result_index.emplace(result, index);
  return index;
}

void Ledger::Add(const Event& e) {
  if (events == 0) first_time = e.time;
  ++events;
  last_time = e.time;
  ++event_types[e.type];
  if (e.type == "relay.initialised") {
    site_id = DetailString(e.details, "site_id");
  } else if (e.type == "import.accepted") {
    ++imports_accepted;
  } else if (e.type == "import.rejected" || e.type == "import.failed") {
    imports.push_back(ImportRow{e.seq, e.time, e.type == "import.rejected" ? "rejected" : "failed",
                                e.subject, DetailString(e.details, "file"),
                                DetailString(e.details, "reason")});
  } else if (e.type == "patch.approved" || e.type == "patch.revoked") {
    PatchFacts& patch = patches[Patch(e.subject)];
    patch.package = DetailString(e.details, "package");
    patch.version = DetailString(e.details, "version");
    patch.severity = DetailString(e.details, "severity");
    if (const UnixTime released = DetailTime(e.details, "released"); released != kNoTime) {
      patch.released = released;
    }
    patch.approved = e.type == "patch.approved";
    if (patch.approved && patch.first_approved == kNoTime) patch.first_approved = e.time;
  } else if (e.type == "token.created") {
    ++tokens_created;
  } else if (e.type == "endpoint.enrolled") {
    EndpointFacts& endpoint = endpoints[Endpoint(e.subject)];
    endpoint.hostname = DetailString(e.details, "hostname");
    endpoint.target_os = DetailString(e.details, "target_os");
    endpoint.enrolled = e.time;
  } else if (e.type == "endpoint.needs") {
    const uint32_t index = Endpoint(e.subject);
    std::vector<uint32_t> needs;
    if (const auto it = e.details.find("patches"); it != e.details.end() && it->second.is_array()) {
      for (const json::Value& id : it->second.as_array()) {
        if (id.is_string()) needs.push_back(Patch(id.as_string()));
      }
    }
    std::sort(needs.begin(), needs.end());
    needs.erase(std::unique(needs.begin(), needs.end()), needs.end());
    for (const uint32_t old : endpoints[index].needs) {
      if (!std::binary_search(needs.begin(), needs.end(), old)) {
        Pair(index, old, e.time).needed_now = false;
      }
    }
    for (const uint32_t patch : needs) Pair(index, patch, e.time).needed_now = true;
    endpoints[index].needs = std::move(needs);
    endpoints[index].last_needs = e.time;
  } else if (e.type == "endpoint.revoked") {
    // A retired machine needs nothing any more: what it had not installed is dropped.
    const uint32_t index = Endpoint(e.subject);
    for (const uint32_t patch : endpoints[index].needs)
      Pair(index, patch, e.time).needed_now = false;
    endpoints[index].needs.clear();
    endpoints[index].revoked = e.time;
  } else if (e.type == "install.reported") {
    ++install_reports;
    std::string endpoint_id = DetailString(e.details, "endpoint");
    if (endpoint_id.empty() && e.actor.starts_with("endpoint:")) endpoint_id = e.actor.substr(9);
    const std::string result = DetailString(e.details, "result");
    const uint32_t endpoint = Endpoint(endpoint_id);
    const uint32_t patch = Patch(e.subject);
    const uint16_t result_id = Result(result);
    PairFacts& pair = Pair(endpoint, patch, e.time);
    pair.last_result = result_id;
    if (const auto severity = DetailString(e.details, "severity"); !severity.empty()) {
      pair.reported_severity = static_cast<uint8_t>(SeverityIndex(severity));
    }
    if (const UnixTime released = DetailTime(e.details, "released"); released != kNoTime) {
      pair.reported_released = released;
    }
    auto& day = results_by_day[FloorDiv(e.time, kDay)];
    if (IsSuccess(result)) {
      ++day.first;
      if (pair.installed_at == kNoTime) {
        const UnixTime finished = DetailTime(e.details, "finished");
        pair.installed_at = finished == kNoTime ? e.time : finished;
      }
    } else if (IsFailure(result)) {
      ++day.second;
      ++pair.failures;
      FailureRow row;
      row.seq = e.seq;
      row.time = e.time;
      row.endpoint = endpoint;
      row.patch = patch;
      row.result = result_id;
      if (const auto it = e.details.find("exit_code");
          it != e.details.end() && it->second.is_int()) {
        row.exit_code = it->second.as_int();
      }
      row.report_id = DetailString(e.details, "report_id");
      row.finished = DetailString(e.details, "finished");
      failures.push_back(std::move(row));
    }
  } else if (e.type == "exception.granted") {
    ExceptionRow row;
    row.seq = e.seq;
    row.time = e.time;
    row.actor = e.actor;
    row.patch = e.subject;
    row.endpoint = DetailString(e.details, "endpoint");
    if (const UnixTime until = DetailTime(e.details, "until"); until != kNoTime) row.until = until;
    row.reason = DetailString(e.details, "reason");
    exceptions.push_back(std::move(row));
  }
}

Model::Model(const Ledger& ledger, const ReportScope& scope) : ledger_(ledger), scope_(scope) {
  const UnixTime as_of = ledger.last_time;
  figures_.as_of = as_of;
  exceptions_ = ledger.exceptions;
  for (ExceptionRow& row : exceptions_) {
    row.active = row.until && *row.until > as_of;
    if (row.active) active_.emplace(row.patch, &row);
  }

  patch_order_.resize(ledger.patches.size());
  for (uint32_t i = 0; i < patch_order_.size(); ++i) patch_order_[i] = i;
  std::sort(patch_order_.begin(), patch_order_.end(),
            [&](uint32_t a, uint32_t b) { return ledger.patches[a].id < ledger.patches[b].id; });
  endpoint_order_.resize(ledger.endpoints.size());
  for (uint32_t i = 0; i < endpoint_order_.size(); ++i) endpoint_order_[i] = i;
  std::sort(endpoint_order_.begin(), endpoint_order_.end(), [&](uint32_t a, uint32_t b) {
    return ledger.endpoints[a].id < ledger.endpoints[b].id;
  });
  std::vector<uint32_t> patch_rank(patch_order_.size());
  for (uint32_t i = 0; i < patch_order_.size(); ++i) patch_rank[patch_order_[i]] = i;
  std::vector<uint32_t> endpoint_rank(endpoint_order_.size());
  for (uint32_t i = 0; i < endpoint_order_.size(); ++i) endpoint_rank[endpoint_order_[i]] = i;
  pair_order_.resize(ledger.pairs.size());
  for (uint32_t i = 0; i < pair_order_.size(); ++i) pair_order_[i] = i;
  std::sort(pair_order_.begin(), pair_order_.end(), [&](uint32_t a, uint32_t b) {
    const PairFacts& x = ledger.pairs[a];
    const PairFacts& y = ledger.pairs[b];
    return std::make_pair(endpoint_rank[x.endpoint], patch_rank[x.patch]) <
           std::make_pair(endpoint_rank[y.endpoint], patch_rank[y.patch]);
  });

  for (const PatchFacts& patch : ledger.patches) {
    if (patch.approved) ++figures_.patches_approved;
  }
  patch_counts_.resize(ledger.patches.size());
  endpoint_counts_.resize(ledger.endpoints.size());
  severities_.resize(kDeadlines.size());
  for (size_t i = 0; i < kDeadlines.size(); ++i) {
    severities_[i].severity = std::string(kDeadlines[i].severity);
    severities_[i].deadline_days = kDeadlines[i].days;
  }
  std::vector<std::vector<int64_t>> install_days(kDeadlines.size());
  std::vector<bool> patch_seen(ledger.patches.size());
  for (const uint32_t index : pair_order_) {
    const PairFacts& pair = ledger.pairs[index];
    const PairRow row = Derive(pair);
    const std::string_view state = row.state;
    const std::string_view status = row.deadline_status;
    PatchCounts& p = patch_counts_[pair.patch];
    if (!patch_seen[pair.patch]) {
      patch_seen[pair.patch] = true;
      p.severity = std::string(kDeadlines[row.severity].severity);
      if (row.clock_from == std::string_view("released")) p.released = row.start;
    }
    EndpointCounts& e = endpoint_counts_[pair.endpoint];
    SeverityRow& s = severities_[row.severity];
    if (state == "dropped") {
      ++p.dropped;
    } else {
      ++p.needing;
      ++s.pairs;
    }
    if (state == "installed") {
      ++p.installed;
      ++e.installed;
      ++s.installed;
      ++figures_.installed;
      install_days[row.severity].push_back(*row.days_to_install);
    } else if (state == "failed") {
      ++p.failed;
      ++e.failed;
      ++s.failed;
      ++figures_.failed;
    } else if (state == "pending") {
      ++p.pending;
      ++e.pending;
      ++figures_.pending;
    }
    if (status == "met") {
      ++s.met;
    } else if (status == "late") {
      ++s.late;
      ++p.late;
      ++figures_.late;
    } else if (status == "open") {
      ++s.open;
    } else if (status == "overdue") {
      ++s.overdue;
      ++p.overdue;
      ++e.overdue;
      ++figures_.overdue;
      overdue_.push_back(index);
    } else if (status == "excepted") {
      ++s.excepted;
      ++p.excepted;
      ++e.excepted;
      ++figures_.excepted;
    }
  }
  for (size_t i = 0; i < kDeadlines.size(); ++i) {
    SeverityRow& row = severities_[i];
    if (row.deadline_days && row.pairs > 0) {
      row.compliance_per_mille = (row.met + row.open + row.excepted) * 1000 / row.pairs;
    }
    std::vector<int64_t>& days = install_days[i];
    if (!days.empty()) {
      std::sort(days.begin(), days.end());
      row.median_days = days[(days.size() - 1) / 2];
      row.max_days = days.back();
    }
  }
  // Most severe first, then the deadline missed longest ago.
  std::stable_sort(overdue_.begin(), overdue_.end(), [&](uint32_t a, uint32_t b) {
    const PairRow x = Derive(ledger.pairs[a]);
    const PairRow y = Derive(ledger.pairs[b]);
    if (x.severity != y.severity) return x.severity < y.severity;
    return *x.deadline < *y.deadline;
  });
  figures_.endpoints = static_cast<int64_t>(ledger.endpoints.size());
  figures_.install_reports = ledger.install_reports;
  figures_.imports_rejected = static_cast<int64_t>(ledger.imports.size());
}

bool Model::Excepted(uint32_t endpoint, uint32_t patch) const {
  const auto [begin, end] = active_.equal_range(ledger_.patches[patch].id);
  return std::any_of(begin, end, [&](const auto& entry) {
    return entry.second->endpoint.empty() ||
           entry.second->endpoint == ledger_.endpoints[endpoint].id;
  });
}

PairRow Model::Derive(const PairFacts& pair) const {
  const PatchFacts& patch = ledger_.patches[pair.patch];
  PairRow row;
  row.facts = &pair;
  if (!patch.severity.empty()) {
    row.severity = SeverityIndex(patch.severity);
  } else if (pair.reported_severity < kDeadlines.size()) {
    row.severity = pair.reported_severity;
  } else {
    row.severity = kUnknown;
  }
  const UnixTime released = patch.released != kNoTime ? patch.released : pair.reported_released;
  if (released != kNoTime) {
    row.clock_from = "released";
    row.start = released;
  } else if (patch.first_approved != kNoTime) {
    row.clock_from = "approved";
    row.start = patch.first_approved;
  } else {
    row.clock_from = "needed";
    row.start = pair.first_seen;
  }
  if (const auto days = kDeadlines[row.severity].days) row.deadline = row.start + *days * kDay;
  const bool installed = pair.installed_at != kNoTime;
  if (installed) {
    row.state = "installed";
    row.days_to_install = FloorDiv(pair.installed_at - row.start, kDay);
  } else if (pair.needed_now) {
    row.state = IsFailure(ledger_.results[pair.last_result]) ? "failed" : "pending";
  } else {
    row.state = "dropped";
  }
  const UnixTime as_of = figures_.as_of;
  if (!installed && !pair.needed_now) {
    row.deadline_status = "n/a";
  } else if (!row.deadline) {
    row.deadline_status = "none";
  } else if (installed) {
    row.deadline_status = pair.installed_at <= *row.deadline ? "met" : "late";
  } else if (as_of <= *row.deadline) {
    row.deadline_status = "open";
  } else {
    row.deadline_status = Excepted(pair.endpoint, pair.patch) ? "excepted" : "overdue";
  }
  return row;
}

}  // namespace report_model

struct ReportBuilder::State : report_model::Ledger {};

ReportBuilder::ReportBuilder() : state_(std::make_unique<State>()) {}
ReportBuilder::~ReportBuilder() = default;

void ReportBuilder::Add(const Event& event) { state_->Add(event); }

namespace {

std::string SummaryCsv(const Model& m) {
  const Ledger& l = m.ledger();
  const ReportFigures& f = m.figures();
  CsvWriter csv({"figure", "value"});
  csv.Row({"origin", CsvText(m.scope().origin)});
  csv.Row({"site_id", CsvText(l.site_id)});
  csv.Row({"first_event", Count(m.scope().first)});
  csv.Row({"last_event", Count(m.scope().last)});
  csv.Row({"root_sha256", m.scope().root_hex});
  csv.Row({"first_event_time", FormatTime(l.first_time)});
  csv.Row({"as_of", FormatTime(f.as_of)});
  csv.Row({"endpoints", Count(f.endpoints)});
  csv.Row({"patches_approved", Count(f.patches_approved)});
  csv.Row({"imports_accepted", Count(l.imports_accepted)});
  csv.Row({"imports_rejected", Count(f.imports_rejected)});
  csv.Row({"tokens_created", Count(l.tokens_created)});
  csv.Row({"install_reports", Count(f.install_reports)});
  csv.Row({"installed", Count(f.installed)});
  csv.Row({"installed_late", Count(f.late)});
  csv.Row({"failed", Count(f.failed)});
  csv.Row({"pending", Count(f.pending)});
  csv.Row({"overdue", Count(f.overdue)});
  csv.Row({"excepted", Count(f.excepted)});
  for (const auto& [type, count] : l.event_types)
    csv.Row({"events." + CsvText(type), Count(count)});
  return csv.Take();
}

std::string BySeverityCsv(const Model& m) {
  CsvWriter csv({"severity", "deadline_days", "pairs", "installed", "met", "late", "open",
                 "overdue", "excepted", "failed", "compliance_percent", "median_days_to_install",
                 "max_days_to_install"});
  for (const SeverityRow& r : m.severities()) {
    csv.Row({r.severity, IntText(r.deadline_days), Count(r.pairs), Count(r.installed), Count(r.met),
             Count(r.late), Count(r.open), Count(r.overdue), Count(r.excepted), Count(r.failed),
             r.compliance_per_mille ? report_model::PerMille(*r.compliance_per_mille) : "",
             IntText(r.median_days), IntText(r.max_days)});
  }
  return csv.Take();
}

std::string PatchesCsv(const Model& m) {
  CsvWriter csv({"patch", "package", "version", "severity", "released", "first_approved",
                 "approved", "endpoints_needing", "installed", "failed", "pending", "dropped",
                 "overdue", "excepted", "installed_late"});
  for (const uint32_t index : m.patch_order()) {
    const PatchFacts& p = m.ledger().patches[index];
    const PatchCounts& c = m.patch_counts()[index];
    const std::string& severity = p.severity.empty() ? c.severity : p.severity;
    const UnixTime released = p.released != kNoTime ? p.released : c.released;
    csv.Row({CsvText(p.id), CsvText(p.package), CsvText(p.version), CsvText(severity),
             TimeText(released), TimeText(p.first_approved), p.approved ? "yes" : "no",
             Count(c.needing), Count(c.installed), Count(c.failed), Count(c.pending),
             Count(c.dropped), Count(c.overdue), Count(c.excepted), Count(c.late)});
  }
  return csv.Take();
}

std::string EndpointsCsv(const Model& m) {
  CsvWriter csv({"endpoint", "hostname", "target_os", "enrolled", "revoked", "last_needs",
                 "installed", "failed", "pending", "overdue", "excepted", "needs"});
  std::vector<std::string> names;
  for (const uint32_t index : m.endpoint_order()) {
    const EndpointFacts& e = m.ledger().endpoints[index];
    const EndpointCounts& c = m.endpoint_counts()[index];
    names.clear();
    for (const uint32_t patch : e.needs) names.push_back(m.ledger().patches[patch].id);
    std::sort(names.begin(), names.end());
    std::string needs;
    for (const std::string& id : names) needs += (needs.empty() ? "" : " ") + id;
    csv.Row({CsvText(e.id), CsvText(e.hostname), CsvText(e.target_os), TimeText(e.enrolled),
             TimeText(e.revoked), TimeText(e.last_needs), Count(c.installed), Count(c.failed),
             Count(c.pending), Count(c.overdue), Count(c.excepted), CsvText(needs)});
  }
  return csv.Take();
}

std::string DeploymentsCsv(const Model& m) {
  CsvWriter csv({"endpoint", "hostname", "patch", "severity", "clock_from", "clock_start",
                 "deadline", "state", "deadline_status", "installed_at", "days_to_install",
                 "failures", "last_result"});
  const Ledger& l = m.ledger();
  for (const uint32_t index : m.pair_order()) {
    const PairFacts& pair = l.pairs[index];
    const PairRow r = m.Derive(pair);
    csv.Row({CsvText(l.endpoints[pair.endpoint].id), CsvText(m.Hostname(pair.endpoint)),
             CsvText(l.patches[pair.patch].id), std::string(kDeadlines[r.severity].severity),
             r.clock_from, FormatTime(r.start), TimeText(r.deadline), r.state, r.deadline_status,
             TimeText(pair.installed_at), IntText(r.days_to_install), Count(pair.failures),
             CsvText(l.results[pair.last_result])});
  }
  return csv.Take();
}

std::string OverdueCsv(const Model& m) {
  CsvWriter csv({"endpoint", "hostname", "patch", "severity", "clock_start", "deadline",
                 "days_overdue", "state", "failures", "last_result"});
  const Ledger& l = m.ledger();
  for (const uint32_t index : m.overdue()) {
    const PairFacts& pair = l.pairs[index];
    const PairRow r = m.Derive(pair);
    csv.Row({CsvText(l.endpoints[pair.endpoint].id), CsvText(m.Hostname(pair.endpoint)),
             CsvText(l.patches[pair.patch].id), std::string(kDeadlines[r.severity].severity),
             FormatTime(r.start), FormatTime(*r.deadline),
             Count(FloorDiv(m.figures().as_of - *r.deadline, kDay)), r.state, Count(pair.failures),
             CsvText(l.results[pair.last_result])});
  }
  return csv.Take();
}

std::string FailuresCsv(const Model& m) {
  CsvWriter csv({"event", "time", "endpoint", "hostname", "patch", "result", "exit_code",
                 "report_id", "finished"});
  const Ledger& l = m.ledger();
  for (const FailureRow& r : l.failures) {
    csv.Row({Count(r.seq), FormatTime(r.time), CsvText(l.endpoints[r.endpoint].id),
             CsvText(m.Hostname(r.endpoint)), CsvText(l.patches[r.patch].id),
             CsvText(l.results[r.result]), IntText(r.exit_code), CsvText(r.report_id),
             CsvText(r.finished)});
  }
  return csv.Take();
}

std::string ExceptionsCsv(const Model& m) {
  CsvWriter csv(
      {"event", "granted", "granted_by", "patch", "endpoint", "until", "status", "reason"});
  for (const ExceptionRow& r : m.exceptions()) {
    csv.Row({Count(r.seq), FormatTime(r.time), CsvText(r.actor), CsvText(r.patch),
             r.endpoint.empty() ? "*" : CsvText(r.endpoint), TimeText(r.until),
             r.active ? "active" : "expired", CsvText(r.reason)});
  }
  return csv.Take();
}

std::string ImportsCsv(const Model& m) {
  CsvWriter csv({"event", "time", "outcome", "subject", "file", "reason"});
  for (const ImportRow& r : m.ledger().imports) {
    csv.Row({Count(r.seq), FormatTime(r.time), r.outcome, CsvText(r.subject), CsvText(r.file),
             CsvText(r.reason)});
  }
  return csv.Take();
}

}  // namespace

Reports ReportBuilder::Finish(const ReportScope& scope) const {
  const Model model(*state_, scope);
  Reports reports;
  reports.figures = model.figures();
  std::vector<std::string> names = ReportMemberNames();
  using Renderer = std::string (*)(const Model&);
  const Renderer renderers[] = {
      SummaryCsv, BySeverityCsv, PatchesCsv,    EndpointsCsv, DeploymentsCsv,
      OverdueCsv, FailuresCsv,   ExceptionsCsv, ImportsCsv,   report_model::RenderHtml};
  static_assert(std::size(renderers) == 10);
  for (size_t i = 0; i < names.size(); ++i) {
    reports.files.push_back({std::move(names[i]), renderers[i](model)});
  }
  return reports;
}

}  // namespace ferry::evidence
