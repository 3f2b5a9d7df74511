#pragma once

// Debian package versions ([epoch:]upstream[-revision]) and their ordering, exactly as dpkg
// orders them (deb-version(7)).

#include <cstdint>
#include <string>
#include <string_view>

#include "common/error.hpp"

namespace ferry::bundler {

struct DebianVersion {
  int64_t epoch = 0;
  std::string upstream;
  std::string revision;  // empty when the version has no '-'
};

// Parses and validates a version as dpkg does, refusing what dpkg refuses and also what it only
// warns about: empty parts, a non-numeric or too large epoch, embedded blanks, an upstream part
// that does not start with a digit, and characters outside [A-Za-z0-9.+~-:] (upstream) or
// [A-Za-z0-9.+~] (revision). Leading and trailing blanks are ignored, as dpkg ignores them.
Result<DebianVersion> ParseDebianVersion(std::string_view text);

// Orders two parsed versions: epoch numerically, then upstream, then revision, each with dpkg's
// verrevcmp. Returns <0, 0 or >0.
int CompareDebianVersions(const DebianVersion& a, const DebianVersion& b);

// Orders two version strings like `dpkg --compare-versions`. Strings that ParseDebianVersion
// refuses are compared leniently instead of failing: split at the first ':' when a decimal epoch
// precedes it (otherwise the epoch is 0 and the ':' stays in the upstream part) and at the last
// '-', with no character checks, then compared by the same rules.
// An empty (or all-blank) string is dpkg's blank version: equal to another blank one and below
// every other version, "~" included.
int CompareDebianVersions(std::string_view a, std::string_view b);

// The canonical text of a parsed version ("1:2.0-3"; epoch 0 is omitted).
std::string FormatDebianVersion(const DebianVersion& version);

}  // namespace ferry::bundler
