// report.html: one page a person opens in any browser, offline. Inline CSS and SVG only: no
// script, no external reference, integer geometry so the bytes never depend on the platform.
// Every string that came from an event is escaped: endpoint names and import reasons are hostile
// input as far as this page is concerned.

#include <algorithm>
#include <string>

#include "evidence/report_model.hpp"

namespace ferry::evidence::report_model {
namespace {

constexpr int64_t kDay = 86400;
constexpr size_t kMaxTableRows = 200;

std::string Escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

std::string N(int64_t v) { return std::to_string(v); }
std::string T(const std::optional<UnixTime>& t) { return t ? FormatTime(*t) : ""; }
std::string T(UnixTime t) { return t == kNoTime ? "" : FormatTime(t); }
std::string Date(UnixTime t) { return FormatTime(t).substr(0, 10); }

constexpr const char* kStyle = R"css(
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em auto;max-width:72em;
padding:0 1em;color:#1d2430;background:#fff}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccd}
.scope{color:#445}.scope code{font-size:.85em;word-break:break-all}
.tiles{display:flex;flex-wrap:wrap;gap:.6em;margin:1em 0}
.tile{border:1px solid #ccd;border-radius:6px;padding:.5em .9em;min-width:8em}
.tile b{display:block;font-size:1.5em}.tile.bad b{color:#b3261e}.tile.warn b{color:#a15c00}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}
th,td{border:1px solid #ccd;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#eef0f5}td.n{text-align:right;font-variant-numeric:tabular-nums}
.note{color:#556;font-size:.85em}svg text{font-family:inherit;font-size:12px;fill:#1d2430}
.legend span{display:inline-block;margin-right:1em;font-size:.85em}
.legend i{display:inline-block;width:.9em;height:.9em;margin-right:.3em;vertical-align:-.1em}
)css";

// Colours of the deadline outcomes, used by the bars and their legend.
struct Segment {
  const char* label;
  const char* colour;
};
constexpr Segment kMet{"installed by the deadline", "#2e7d32"};
constexpr Segment kOpen{"not yet due", "#90a4ae"};
constexpr Segment kExcepted{"past due, exception granted", "#f9a825"};
constexpr Segment kLate{"installed late", "#ef6c00"};
constexpr Segment kOverdue{"overdue", "#c62828"};

void Tile(std::string& out, const char* label, int64_t value, const char* kind = "") {
  out += "<div class=\"tile";
  if (*kind && value > 0) out += std::string(" ") + kind;
  out += "\"><b>" + N(value) + "</b>" + label + "</div>\n";
}

void Legend(std::string& out, std::initializer_list<Segment> segments) {
  out += "<p class=\"legend\">";
  for (const Segment& s : segments) {
    out += "<span><i style=\"background:" + std::string(s.colour) + "\"></i>" + s.label + "</span>";
  }
  out += "</p>\n";
}

void SeverityChart(std::string& out, const Model& m) {
  constexpr int64_t kLabel = 110, kBar = 440, kRow = 30, kWidth = 680;
  std::vector<const SeverityRow*> rows;
  for (const SeverityRow& r : m.severities()) {
    if (r.deadline_days) rows.push_back(&r);
  }
  const int64_t height = static_cast<int64_t>(rows.size()) * kRow + 10;
  out += "<svg width=\"" + N(kWidth) + "\" height=\"" + N(height) + "\" viewBox=\"0 0 " +
         N(kWidth) + " " + N(height) + "\" role=\"img\" aria-label=\"compliance per severity\">\n";
  int64_t y = 5;
  for (const SeverityRow* r : rows) {
    out += "<text x=\"0\" y=\"" + N(y + 17) + "\">" + Escape(r->severity) + " (" +
           N(*r->deadline_days) + "d)</text>\n";
    out += "<rect x=\"" + N(kLabel) + "\" y=\"" + N(y) + "\" width=\"" + N(kBar) +
           "\" height=\"22\" fill=\"#eceff1\"/>\n";
    if (r->pairs > 0) {
      const std::pair<int64_t, Segment> parts[] = {{r->met, kMet},
                                                   {r->open, kOpen},
                                                   {r->excepted, kExcepted},
                                                   {r->late, kLate},
                                                   {r->overdue, kOverdue}};
      int64_t done = 0, x = kLabel;
      for (const auto& [count, segment] : parts) {
        if (count == 0) continue;
        done += count;
        // Cumulative rounding: the segments always end exactly at the bar's end.
        const int64_t end = kLabel + done * kBar / r->pairs;
        out += "<rect x=\"" + N(x) + "\" y=\"" + N(y) + "\" width=\"" + N(end - x) +
               "\" height=\"22\" fill=\"" + segment.colour + "\"><title>" + N(count) + " " +
               segment.label + "</title></rect>\n";
        x = end;
      }
    }
    const std::string label = r->compliance_per_mille
                                  ? PerMille(*r->compliance_per_mille) + "% of " + N(r->pairs)
                                  : "no pairs";
    out +=
        "<text x=\"" + N(kLabel + kBar + 8) + "\" y=\"" + N(y + 17) + "\">" + label + "</text>\n";
    y += kRow;
  }
  out += "</svg>\n";
  Legend(out, {kMet, kOpen, kExcepted, kLate, kOverdue});
}

void Timeline(std::string& out, const Model& m) {
  constexpr int64_t kLeft = 40, kPlot = 580, kTop = 10, kHeight = 140, kMaxBins = 60;
  const int64_t first_day = m.ledger().first_time / kDay;
  const int64_t last_day = std::max(first_day, m.figures().as_of / kDay);
  const int64_t days = last_day - first_day + 1;
  const int64_t bin_days = std::max<int64_t>(1, (days + kMaxBins - 1) / kMaxBins);
  const int64_t bins = (days + bin_days - 1) / bin_days;
  std::vector<std::pair<int64_t, int64_t>> counts(static_cast<size_t>(bins));
  for (const auto& [day, results] : m.ledger().results_by_day) {
    if (day < first_day || day > last_day) continue;
    auto& bin = counts[static_cast<size_t>((day - first_day) / bin_days)];
    bin.first += results.first;
    bin.second += results.second;
  }
  int64_t peak = 1;
  for (const auto& [ok, failed] : counts) peak = std::max(peak, ok + failed);
  // At most 40 px a column, so a short log does not draw one wall-sized block.
  const int64_t width = std::clamp<int64_t>(kPlot / bins, 1, 40);
  const int64_t total_width = std::max<int64_t>(kLeft + width * bins + 10, 260);
  const int64_t base = kTop + kHeight;
  out += "<svg width=\"" + N(total_width) + "\" height=\"" + N(base + 30) + "\" viewBox=\"0 0 " +
         N(total_width) + " " + N(base + 30) +
         "\" role=\"img\" aria-label=\"install results over time\">\n";
  out += "<text x=\"0\" y=\"" + N(kTop + 10) + "\">" + N(peak) + "</text>\n";
  out += "<text x=\"0\" y=\"" + N(base) + "\">0</text>\n";
  out += "<line x1=\"" + N(kLeft) + "\" y1=\"" + N(base) + "\" x2=\"" + N(kLeft + width * bins) +
         "\" y2=\"" + N(base) + "\" stroke=\"#556\"/>\n";
  for (int64_t i = 0; i < bins; ++i) {
    const auto& [ok, failed] = counts[static_cast<size_t>(i)];
    const int64_t x = kLeft + i * width;
    const int64_t ok_height = ok * kHeight / peak;
    const int64_t failed_height = failed * kHeight / peak;
    const std::string when = Date((first_day + i * bin_days) * kDay);
    if (ok > 0) {
      out += "<rect x=\"" + N(x) + "\" y=\"" + N(base - ok_height) + "\" width=\"" +
             N(std::max<int64_t>(1, width - 1)) + "\" height=\"" + N(ok_height) + "\" fill=\"" +
             kMet.colour + "\"><title>" + when + ": " + N(ok) + " installed</title></rect>\n";
    }
    if (failed > 0) {
      out += "<rect x=\"" + N(x) + "\" y=\"" + N(base - ok_height - failed_height) + "\" width=\"" +
             N(std::max<int64_t>(1, width - 1)) + "\" height=\"" + N(failed_height) + "\" fill=\"" +
             kOverdue.colour + "\"><title>" + when + ": " + N(failed) + " failed</title></rect>\n";
    }
  }
  // One label for the range: two labels under a narrow plot would overlap.
  out += "<text x=\"" + N(kLeft) + "\" y=\"" + N(base + 20) + "\">" + Date(first_day * kDay) +
         (last_day > first_day ? " to " + Date(last_day * kDay) : std::string()) + "</text>\n";
  out += "</svg>\n";
  out += "<p class=\"note\">Install results reported per " +
         (bin_days == 1 ? std::string("day") : N(bin_days) + " days") + ".</p>\n";
  Legend(out, {Segment{"installed", kMet.colour}, Segment{"failed or refused", kOverdue.colour}});
}

// A table of at most kMaxTableRows rows; `cells` renders row i as escaped <td>s.
template <typename Row, typename CellsFn>
void Table(std::string& out, const std::vector<std::string>& header, const std::vector<Row>& rows,
           const std::string& csv_name, CellsFn cells) {
  if (rows.empty()) {
    out += "<p class=\"note\">None.</p>\n";
    return;
  }
  out += "<table><tr>";
  for (const std::string& h : header) out += "<th>" + h + "</th>";
  out += "</tr>\n";
  for (size_t i = 0; i < rows.size() && i < kMaxTableRows; ++i) {
    out += "<tr>" + cells(rows[i]) + "</tr>\n";
  }
  out += "</table>\n";
  if (rows.size() > kMaxTableRows) {
    out += "<p class=\"note\">The first " + std::to_string(kMaxTableRows) + " of " +
           std::to_string(rows.size()) + " rows; " + csv_name + " holds them all.</p>\n";
  }
}

std::string Td(std::string_view text) { return "<td>" + Escape(text) + "</td>"; }
std::string Tn(int64_t value) { return "<td class=\"n\">" + N(value) + "</td>"; }

}  // namespace

std::string PerMille(int64_t per_mille) {
  return std::to_string(per_mille / 10) + "." + std::to_string(per_mille % 10);
}

std::string RenderHtml(const Model& m) {
  const ReportFigures& f = m.figures();
  const ReportScope& scope = m.scope();
  const Ledger& l = m.ledger();
  std::string out;
  out += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  out += "<title>Patch evidence: " + Escape(scope.origin) + ", events " + N(scope.first) + "-" +
         N(scope.last) + "</title>\n<style>" + kStyle + "</style>\n</head>\n<body>\n";
  out += "<h1>Patch compliance evidence</h1>\n<p class=\"scope\">Relay <b>" + Escape(scope.origin) +
         "</b>" + (l.site_id.empty() ? std::string() : ", site <b>" + Escape(l.site_id) + "</b>") +
         ". Events " + N(scope.first) + " to " + N(scope.last) + " (" + FormatTime(l.first_time) +
         " to " + FormatTime(f.as_of) + "); figures as of <b>" + FormatTime(f.as_of) +
         "</b>, the time of the last event.<br>Merkle root of events 1 to " + N(scope.last) +
         ": <code>" + Escape(scope.root_hex) + "</code></p>\n";
  if (scope.first > 1) {
    out += "<p class=\"note\">This package starts at event " + N(scope.first) +
           ": the figures count only the events it carries.</p>\n";
  }
  out += "<div class=\"tiles\">\n";
  Tile(out, "endpoints", f.endpoints);
  Tile(out, "patches approved", f.patches_approved);
  Tile(out, "installed", f.installed);
  Tile(out, "installed late", f.late, "warn");
  Tile(out, "failed", f.failed, "bad");
  Tile(out, "pending", f.pending);
  Tile(out, "overdue", f.overdue, "bad");
  Tile(out, "excepted", f.excepted, "warn");
  Tile(out, "rejected imports", f.imports_rejected, "warn");
  out += "</div>\n";

  out += "<h2>Compliance by severity</h2>\n";
  SeverityChart(out, m);
  Table(out,
        {"severity", "deadline (days)", "pairs", "installed", "by deadline", "late", "not yet due",
         "overdue", "excepted", "failed", "compliant %", "median days", "max days"},
        m.severities(), "reports/by-severity.csv", [](const SeverityRow& r) {
          return Td(r.severity) + Td(r.deadline_days ? N(*r.deadline_days) : "none") + Tn(r.pairs) +
                 Tn(r.installed) + Tn(r.met) + Tn(r.late) + Tn(r.open) + Tn(r.overdue) +
                 Tn(r.excepted) + Tn(r.failed) +
                 Td(r.compliance_per_mille ? PerMille(*r.compliance_per_mille) : "") +
                 Td(r.median_days ? N(*r.median_days) : "") + Td(r.max_days ? N(*r.max_days) : "");
        });
  out +=
      "<p class=\"note\">A pair is one endpoint and one patch it needs. Deadlines run from the "
      "vendor's release date (else the first approval): critical 30 days (PCI DSS 6.3.3), "
      "high 30, medium 90, low 180, unrated 30. Compliant: installed by the deadline, not yet "
      "due, or past due under an exception.</p>\n";

  out += "<h2>Install results over time</h2>\n";
  Timeline(out, m);

  out +=
      "<h2>Overdue without exception (" + N(static_cast<int64_t>(m.overdue().size())) + ")</h2>\n";
  Table(out, {"endpoint", "hostname", "patch", "severity", "deadline", "days overdue", "state"},
        m.overdue(), "reports/overdue.csv", [&](uint32_t index) {
          const PairFacts& pair = l.pairs[index];
          const PairRow r = m.Derive(pair);
          return Td(l.endpoints[pair.endpoint].id) + Td(m.Hostname(pair.endpoint)) +
                 Td(l.patches[pair.patch].id) + Td(SeverityDeadlines()[r.severity].severity) +
                 Td(FormatTime(*r.deadline)) + Tn((f.as_of - *r.deadline) / kDay) + Td(r.state);
        });

  out += "<h2>Failed installs (" + N(static_cast<int64_t>(l.failures.size())) + ")</h2>\n";
  Table(out, {"event", "time", "endpoint", "hostname", "patch", "result", "exit code"}, l.failures,
        "reports/failures.csv", [&](const FailureRow& r) {
          return Tn(r.seq) + Td(FormatTime(r.time)) + Td(l.endpoints[r.endpoint].id) +
                 Td(m.Hostname(r.endpoint)) + Td(l.patches[r.patch].id) + Td(l.results[r.result]) +
                 Td(r.exit_code ? N(*r.exit_code) : "");
        });

  out += "<h2>Exceptions (" + N(static_cast<int64_t>(m.exceptions().size())) + ")</h2>\n";
  Table(out, {"event", "granted", "by", "patch", "endpoint", "until", "status", "reason"},
        m.exceptions(), "reports/exceptions.csv", [](const ExceptionRow& r) {
          return Tn(r.seq) + Td(FormatTime(r.time)) + Td(r.actor) + Td(r.patch) +
                 Td(r.endpoint.empty() ? "all" : r.endpoint) + Td(T(r.until)) +
                 Td(r.active ? "active" : "expired") + Td(r.reason);
        });

  out += "<h2>Rejected imports (" + N(static_cast<int64_t>(l.imports.size())) + ")</h2>\n";
  Table(out, {"event", "time", "outcome", "subject", "reason"}, l.imports,
        "reports/rejected-imports.csv", [](const ImportRow& r) {
          return Tn(r.seq) + Td(FormatTime(r.time)) + Td(r.outcome) + Td(r.subject) + Td(r.reason);
        });

  out += "<h2>Patches (" + N(static_cast<int64_t>(l.patches.size())) + ")</h2>\n";
  Table(out,
        {"patch", "severity", "released", "approved", "needing", "installed", "failed", "pending",
         "overdue", "excepted"},
        m.patch_order(), "reports/patches.csv", [&](uint32_t index) {
          const PatchFacts& p = l.patches[index];
          const PatchCounts& c = m.patch_counts()[index];
          return Td(p.id) + Td(p.severity.empty() ? c.severity : p.severity) +
                 Td(T(p.released != kNoTime ? p.released : c.released)) +
                 Td(p.approved ? "yes" : "no") + Tn(c.needing) + Tn(c.installed) + Tn(c.failed) +
                 Tn(c.pending) + Tn(c.overdue) + Tn(c.excepted);
        });

  out += "<h2>Endpoints (" + N(static_cast<int64_t>(l.endpoints.size())) + ")</h2>\n";
  Table(out,
        {"endpoint", "hostname", "enrolled", "last needs", "needs", "installed", "failed",
         "pending", "overdue"},
        m.endpoint_order(), "reports/endpoints.csv", [&](uint32_t index) {
          const EndpointFacts& e = l.endpoints[index];
          const EndpointCounts& c = m.endpoint_counts()[index];
          return Td(e.id) + Td(e.hostname) + Td(T(e.enrolled)) + Td(T(e.last_needs)) +
                 Tn(static_cast<int64_t>(e.needs.size())) + Tn(c.installed) + Tn(c.failed) +
                 Tn(c.pending) + Tn(c.overdue);
        });

  out +=
      "<p class=\"note\">Every figure on this page is recomputed by <code>ferry-verify</code> "
      "from the package's events.jsonl; the CSV files under reports/ hold every row.</p>\n";
  out += "</body>\n</html>\n";
  return out;
}

}  // namespace ferry::evidence::report_model
