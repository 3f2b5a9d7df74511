#include "bundler/debian_version.hpp"

#include <climits>

namespace ferry::bundler {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsBlank(char c) { return c == ' ' || c == '\t'; }

std::string_view TrimBlanks(std::string_view s) {
  while (!s.empty() && IsBlank(s.front())) {
    s.remove_prefix(1);
  }
  while (!s.empty() && IsBlank(s.back())) {
    s.remove_suffix(1);
  }
  return s;
}

// The sort weight of one character in a non-digit run: '~' below the end of the string, the end
// below letters, letters below everything else. Digits never reach here except as "end of run".
int Weight(std::string_view s, size_t i) {
  if (i >= s.size()) {
    return 0;
  }
  const char c =
      s[i];  // plain char, as dpkg reads it, so bytes over 0x7f weigh as dpkg weighs them
  if (IsDigit(c)) {
    return 0;
  }
  if (IsAlpha(c)) {
    return c;
  }
  if (c == '~') {
    return -1;
  }
  return c + 256;
}

// dpkg's verrevcmp: alternating runs of non-digits (compared by Weight) and digits (compared as
// numbers of any length, leading zeros ignored).
int CompareFragment(std::string_view a, std::string_view b) {
  size_t i = 0;
  size_t j = 0;
  while (i < a.size() || j < b.size()) {
    while ((i < a.size() && !IsDigit(a[i])) || (j < b.size() && !IsDigit(b[j]))) {
      const int wa = Weight(a, i);
      const int wb = Weight(b, j);
      if (wa != wb) {
        return wa - wb;
      }
      // Equal weights here mean both sides hold a non-digit, so neither index is at the end.
      ++i;
      ++j;
    }
    while (i < a.size() && a[i] == '0') {
      ++i;
    }
    while (j < b.size() && b[j] == '0') {
      ++j;
    }
    int first_difference = 0;
    while (i < a.size() && j < b.size() && IsDigit(a[i]) && IsDigit(b[j])) {
      if (first_difference == 0) {
        first_difference = a[i] - b[j];
      }
      ++i;
      ++j;
    }
    if (i < a.size() && IsDigit(a[i])) {
      return 1;
    }
    if (j < b.size() && IsDigit(b[j])) {
      return -1;
    }
    if (first_difference != 0) {
      return first_difference;
    }
  }
  return 0;
}

// Reads a decimal epoch no larger than dpkg's INT_MAX; false for anything else.
bool ReadEpoch(std::string_view digits, int64_t& epoch) {
  if (digits.empty() || digits.size() > 10) {
    return false;
  }
  epoch = 0;
  for (const char c : digits) {
    if (!IsDigit(c)) {
      return false;
    }
    epoch = epoch * 10 + (c - '0');
  }
  return epoch <= INT_MAX;
}

// Splits like dpkg but validates nothing, for strings ParseDebianVersion refused.
void SplitLenient(std::string_view text, DebianVersion& out) {
  out = DebianVersion{};
  const size_t colon = text.find(':');
  if (colon != std::string_view::npos && ReadEpoch(text.substr(0, colon), out.epoch)) {
    text.remove_prefix(colon + 1);
  }
  const size_t hyphen = text.rfind('-');
  if (hyphen != std::string_view::npos) {
    out.revision.assign(text.substr(hyphen + 1));
    text = text.substr(0, hyphen);
  }
  out.upstream.assign(text);
}

Error Bad(std::string_view text, const std::string& cause) {
  return InvalidError("version \"" + std::string(text) + "\": " + cause);
}

}  // namespace

Result<DebianVersion> ParseDebianVersion(std::string_view text) {
  const std::string_view trimmed = TrimBlanks(text);
  if (trimmed.empty()) {
    return Bad(text, "empty");
  }
  for (const char c : trimmed) {
    if (IsBlank(c)) {
      return Bad(text, "embedded blank");
    }
  }
  DebianVersion version;
  std::string_view rest = trimmed;
  const size_t colon = rest.find(':');
  if (colon != std::string_view::npos) {
    if (colon == 0) {
      return Bad(text, "empty epoch");
    }
    if (!ReadEpoch(rest.substr(0, colon), version.epoch)) {
      return Bad(text, "epoch is not a decimal number up to 2147483647");
    }
    rest.remove_prefix(colon + 1);
    if (rest.empty()) {
      return Bad(text, "nothing after the epoch");
    }
  }
  const size_t hyphen = rest.rfind('-');
  if (hyphen != std::string_view::npos) {
    if (hyphen + 1 == rest.size()) {
      return Bad(text, "empty revision");
    }
    version.revision.assign(rest.substr(hyphen + 1));
    rest = rest.substr(0, hyphen);
  }
  if (rest.empty()) {
    return Bad(text, "empty upstream version");
  }
  if (!IsDigit(rest.front())) {
    return Bad(text, "upstream version does not start with a digit");
  }
  for (const char c : rest) {
    if (!IsDigit(c) && !IsAlpha(c) && c != '.' && c != '+' && c != '~' && c != '-' && c != ':') {
      return Bad(text, "invalid character in upstream version");
    }
  }
  for (const char c : version.revision) {
    if (!IsDigit(c) && !IsAlpha(c) && c != '.' && c != '+' && c != '~') {
      return Bad(text, "invalid character in revision");
    }
  }
  version.upstream.assign(rest);
  return version;
}

int CompareDebianVersions(const DebianVersion& a, const DebianVersion& b) {
  if (a.epoch != b.epoch) {
    return a.epoch < b.epoch ? -1 : 1;
  }
  const int upstream = CompareFragment(a.upstream, b.upstream);
  if (upstream != 0) {
    return upstream;
  }
  return CompareFragment(a.revision, b.revision);
}

int CompareDebianVersions(std::string_view a, std::string_view b) {
  const std::string_view ta = TrimBlanks(a);
  const std::string_view tb = TrimBlanks(b);
  if (ta.empty() || tb.empty()) {
    return (ta.empty() ? 0 : 1) - (tb.empty() ? 0 : 1);
  }
  DebianVersion va;
  DebianVersion vb;
  if (auto parsed = ParseDebianVersion(ta); parsed.ok()) {
    va = std::move(parsed).value();
  } else {
    SplitLenient(ta, va);
  }
  if (auto parsed = ParseDebianVersion(tb); parsed.ok()) {
    vb = std::move(parsed).value();
  } else {
    SplitLenient(tb, vb);
  }
  return CompareDebianVersions(va, vb);
}

std::string FormatDebianVersion(const DebianVersion& version) {
  std::string out;
  if (version.epoch != 0) {
    out = std::to_string(version.epoch) + ":";
  }
  out += version.upstream;
  if (!version.revision.empty()) {
    out += "-" + version.revision;
  }
  return out;
}

}  // namespace ferry::bundler
