#include "bundler/cvss.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <optional>

namespace ferry::bundler {
namespace {

struct MetricValue {
  char letter;
  double weight;
};

struct Metric {
  std::string_view name;
  std::string_view allowed;  // the value letters this metric accepts
  bool base;
};

// Every metric a v3 vector may carry. Non-base metrics are checked for shape only.
constexpr std::array<Metric, 22> kMetrics = {{
    {"AV", "NALP", true},   {"AC", "LH", true},     {"PR", "NLH", true},     {"UI", "NR", true},
    {"S", "UC", true},      {"C", "HLN", true},     {"I", "HLN", true},      {"A", "HLN", true},
    {"E", "XUPFH", false},  {"RL", "XOTWU", false}, {"RC", "XURC", false},   {"CR", "XLMH", false},
    {"IR", "XLMH", false},  {"AR", "XLMH", false},  {"MAV", "XNALP", false}, {"MAC", "XLH", false},
    {"MPR", "XNLH", false}, {"MUI", "XNR", false},  {"MS", "XUC", false},    {"MC", "XNLH", false},
    {"MI", "XNLH", false},  {"MA", "XNLH", false},
}};

double Weight(char value, std::initializer_list<MetricValue> table) {
  for (const MetricValue& entry : table) {
    if (entry.letter == value) {
      return entry.weight;
    }
  }
  return 0.0;  // unreachable: values were checked against kMetrics
}

// CVSS v3.1 Appendix A: the smallest one-decimal number >= x, computed on integers so that
// 4.0000000001 (a floating-point artefact of 4.0) does not become 4.1.
double Roundup(double x) {
  const auto scaled = static_cast<int64_t>(std::llround(x * 100000.0));
  if (scaled % 10000 == 0) {
    return static_cast<double>(scaled) / 100000.0;
  }
  return static_cast<double>(scaled / 10000 + 1) / 10.0;
}

}  // namespace

Result<double> CvssV3BaseScore(std::string_view vector) {
  const auto fail = [&](const std::string& cause) {
    return InvalidError("CVSS vector \"" + std::string(vector) + "\": " + cause);
  };
  constexpr std::string_view kPrefix30 = "CVSS:3.0/";
  constexpr std::string_view kPrefix31 = "CVSS:3.1/";
  if (vector.size() > 256) {
    return InvalidError("CVSS vector longer than 256 characters");
  }
  if (vector.substr(0, kPrefix30.size()) != kPrefix30 &&
      vector.substr(0, kPrefix31.size()) != kPrefix31) {
    return fail("does not start with CVSS:3.0/ or CVSS:3.1/");
  }
  std::array<std::optional<char>, kMetrics.size()> values;
  std::string_view rest = vector.substr(kPrefix31.size());
  while (true) {
    const size_t slash = rest.find('/');
    const std::string_view part = rest.substr(0, slash);
    const size_t colon = part.find(':');
    if (colon == std::string_view::npos || colon + 2 != part.size()) {
      return fail("malformed metric \"" + std::string(part) + "\"");
    }
    const std::string_view name = part.substr(0, colon);
    const char value = part[colon + 1];
    const auto it = std::find_if(kMetrics.begin(), kMetrics.end(),
                                 [&](const Metric& m) { return m.name == name; });
    if (it == kMetrics.end()) {
      return fail("unknown metric " + std::string(name));
    }
    if (it->allowed.find(value) == std::string_view::npos) {
      return fail("invalid value for metric " + std::string(part));
    }
    auto& slot = values[static_cast<size_t>(it - kMetrics.begin())];
    if (slot.has_value()) {
      return fail("metric " + std::string(name) + " given twice");
    }
    slot = value;
    if (slash == std::string_view::npos) {
      break;
    }
    rest.remove_prefix(slash + 1);
  }
  for (size_t i = 0; i < kMetrics.size(); ++i) {
    if (kMetrics[i].base && !values[i].has_value()) {
      return fail("missing base metric " + std::string(kMetrics[i].name));
    }
  }
  const char av = *values[0];
  const char ac = *values[1];
  const char pr = *values[2];
  const char ui = *values[3];
  const bool scope_changed = *values[4] == 'C';

  const double attack_vector = Weight(av, {{'N', 0.85}, {'A', 0.62}, {'L', 0.55}, {'P', 0.2}});
  const double attack_complexity = Weight(ac, {{'L', 0.77}, {'H', 0.44}});
  const double privileges = scope_changed ? Weight(pr, {{'N', 0.85}, {'L', 0.68}, {'H', 0.5}})
                                          : Weight(pr, {{'N', 0.85}, {'L', 0.62}, {'H', 0.27}});
  const double user_interaction = Weight(ui, {{'N', 0.85}, {'R', 0.62}});
  const auto cia = [](char v) { return Weight(v, {{'H', 0.56}, {'L', 0.22}, {'N', 0.0}}); };
  const double iss =
      1.0 - (1.0 - cia(*values[5])) * (1.0 - cia(*values[6])) * (1.0 - cia(*values[7]));
  const double impact =
      scope_changed ? 7.52 * (iss - 0.029) - 3.25 * std::pow(iss - 0.02, 15.0) : 6.42 * iss;
  const double exploitability =
      8.22 * attack_vector * attack_complexity * privileges * user_interaction;
  if (impact <= 0.0) {
    return 0.0;
  }
  if (scope_changed) {
    return Roundup(std::min(1.08 * (impact + exploitability), 10.0));
  }
  return Roundup(std::min(impact + exploitability, 10.0));
}

std::string CvssScoreText(double score) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%.1f", score);
  return buf;
}

std::string SeverityForScore(double score) {
  const int64_t tenths = std::llround(score * 10.0);
  if (tenths <= 0) {
    return "none";
  }
  if (tenths < 40) {
    return "low";
  }
  if (tenths < 70) {
    return "medium";
  }
  if (tenths < 90) {
    return "high";
  }
  return "critical";
}

}  // namespace ferry::bundler
