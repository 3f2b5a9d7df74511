#include "bundler/dpkg_status.hpp"

#include <algorithm>
#include <array>
#include <climits>
#include <cstdint>
#include <map>
#include <utility>

#include "bundler/deb822.hpp"

namespace ferry::bundler {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || IsDigit(c); }
bool IsAlnum(char c) { return IsLowerAlnum(c) || (c >= 'A' && c <= 'Z'); }

// The words dpkg writes in a Status field (dpkg-query(1), "Package states").
constexpr std::array<std::string_view, 5> kWants = {"unknown", "install", "hold", "deinstall",
                                                    "purge"};
constexpr std::array<std::string_view, 2> kFlags = {"ok", "reinstreq"};
constexpr std::array<std::string_view, 8> kStates = {
    "not-installed",   "config-files",     "half-installed",   "unpacked",
    "half-configured", "triggers-awaited", "triggers-pending", "installed"};

template <size_t N>
bool OneOf(const std::array<std::string_view, N>& words, std::string_view word) {
  return std::find(words.begin(), words.end(), word) != words.end();
}

// Splits a Status value into exactly three blank-separated words; false otherwise.
bool SplitStatus(std::string_view value, std::array<std::string_view, 3>& words) {
  size_t count = 0;
  size_t pos = 0;
  while (pos < value.size()) {
    while (pos < value.size() && (value[pos] == ' ' || value[pos] == '\t')) {
      ++pos;
    }
    if (pos == value.size()) {
      break;
    }
    size_t end = pos;
    while (end < value.size() && value[end] != ' ' && value[end] != '\t') {
      ++end;
    }
    if (count == words.size()) {
      return false;
    }
    words[count++] = value.substr(pos, end - pos);
    pos = end;
  }
  return count == words.size();
}

bool IsVersionChar(char c) {
  return IsAlnum(c) || c == '.' || c == '+' || c == '~' || c == ':' || c == '-';
}

std::string Quoted(std::string_view text) {
  // Keeps error messages one line and bounded whatever the input holds.
  std::string out = "\"";
  for (const char c : text.substr(0, 80)) {
    out.push_back(c >= ' ' && c <= '~' ? c : '?');
  }
  if (text.size() > 80) {
    out += "...";
  }
  out.push_back('"');
  return out;
}

}  // namespace

bool IsValidPackageName(std::string_view name) {
  if (name.empty() || name.size() > kMaxPackageNameBytes || !IsAlnum(name.front())) {
    return false;
  }
  return std::all_of(name.begin(), name.end(), [](char c) {
    return IsAlnum(c) || c == '+' || c == '-' || c == '.' || c == '_';
  });
}

bool IsValidArchitecture(std::string_view architecture) {
  if (architecture.empty() || architecture.size() > kMaxArchitectureBytes ||
      architecture.front() == '-' || architecture == "any" || architecture == "source") {
    return false;
  }
  return std::all_of(architecture.begin(), architecture.end(),
                     [](char c) { return IsLowerAlnum(c) || c == '-'; });
}

bool IsValidInstalledVersion(std::string_view version) {
  if (version.empty() || version.size() > kMaxVersionBytes ||
      !std::all_of(version.begin(), version.end(), IsVersionChar)) {
    return false;
  }
  std::string_view rest = version;
  if (const size_t colon = rest.find(':'); colon != std::string_view::npos) {
    const std::string_view epoch = rest.substr(0, colon);
    if (epoch.empty() || epoch.size() > 10 || !std::all_of(epoch.begin(), epoch.end(), IsDigit)) {
      return false;
    }
    int64_t value = 0;
    for (const char c : epoch) {
      value = value * 10 + (c - '0');
    }
    if (value > INT_MAX) {
      return false;
    }
    rest.remove_prefix(colon + 1);
  }
  if (const size_t hyphen = rest.rfind('-'); hyphen != std::string_view::npos) {
    const std::string_view revision = rest.substr(hyphen + 1);
    if (revision.empty() || revision.find(':') != std::string_view::npos) {
      return false;
    }
    rest = rest.substr(0, hyphen);
  }
  return !rest.empty();
}

Status CheckInstalledPackage(const InstalledPackage& package) {
  if (!IsValidPackageName(package.name)) {
    return InvalidError("package name " + Quoted(package.name) + " is not valid");
  }
  if (!IsValidArchitecture(package.architecture)) {
    return InvalidError("package " + package.name + ": architecture " +
                        Quoted(package.architecture) + " is not valid");
  }
  if (!IsValidInstalledVersion(package.version)) {
    return InvalidError("package " + package.name + ": version " + Quoted(package.version) +
                        " is not valid");
  }
  return Ok();
}

Result<std::vector<InstalledPackage>> ParseDpkgStatus(std::string_view text,
                                                      std::string_view origin) {
  const std::string where(origin);
  if (text.size() > kMaxDpkgStatusBytes) {
    return InvalidError(where + ": larger than " + std::to_string(kMaxDpkgStatusBytes) + " bytes");
  }
  bundler::Deb822Limits limits;
  limits.max_bytes = kMaxDpkgStatusBytes;
  std::vector<InstalledPackage> installed;
  // (name, architecture) -> line of the stanza, to name both places of a duplicate.
  std::map<std::pair<std::string, std::string>, size_t> seen;
  size_t stanzas = 0;

  auto visit = [&](bundler::Stanza&& stanza) -> Status {
    auto fail = [&](const std::string& cause) {
      return InvalidError(where + ":" + std::to_string(stanza.line()) + ": " + cause);
    };
    if (++stanzas > kMaxInstalledPackages) {
      return fail("more than " + std::to_string(kMaxInstalledPackages) + " packages");
    }
    const auto package = stanza.Get("Package");
    if (!package.has_value() || package->empty()) {
      return fail("stanza has no Package field");
    }
    const auto status = stanza.Get("Status");
    if (!status.has_value()) {
      return fail("package " + Quoted(*package) + " has no Status field");
    }
    std::array<std::string_view, 3> words;
    if (!SplitStatus(*status, words)) {
      return fail("package " + Quoted(*package) + ": Status " + Quoted(*status) +
                  " is not three words");
    }
    if (!OneOf(kWants, words[0]) || !OneOf(kFlags, words[1]) || !OneOf(kStates, words[2])) {
      return fail("package " + Quoted(*package) + ": Status " + Quoted(*status) +
                  " has an unknown word");
    }
    const bool counts = (words[0] == "install" || words[0] == "hold") && words[1] == "ok" &&
                        words[2] == "installed";
    if (!counts) {
      return Ok();
    }
    InstalledPackage entry;
    entry.name.assign(*package);
    const auto architecture = stanza.Get("Architecture");
    const auto version = stanza.Get("Version");
    if (!architecture.has_value()) {
      return fail("installed package " + Quoted(*package) + " has no Architecture field");
    }
    if (!version.has_value()) {
      return fail("installed package " + Quoted(*package) + " has no Version field");
    }
    entry.architecture.assign(*architecture);
    entry.version.assign(*version);
    if (Status valid = CheckInstalledPackage(entry); !valid.ok()) {
      return fail(valid.error().message());
    }
    const auto [it, inserted] =
        seen.emplace(std::make_pair(entry.name, entry.architecture), stanza.line());
    if (!inserted) {
      return fail("package " + entry.name + ":" + entry.architecture +
                  " is installed twice (also at line " + std::to_string(it->second) + ")");
    }
    installed.push_back(std::move(entry));
    return Ok();
  };
  FERRY_RETURN_IF_ERROR(bundler::ForEachDeb822Stanza(text, origin, visit, limits));
  return installed;
}

}  // namespace ferry::bundler
