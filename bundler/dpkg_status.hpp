#pragma once

// Reading dpkg's database of installed packages (/var/lib/dpkg/status, dpkg(1) and deb822(5)
// syntax) into the (name, architecture, version) triples applicability needs.
//
// A stanza counts as installed when its Status field is "install ok installed" or
// "hold ok installed": the package is fully configured and the administrator wants it kept.
// Every other state is skipped: not-installed and config-files (no files of the package remain
// but conffiles), half-installed, unpacked, half-configured, triggers-awaited and
// triggers-pending (dpkg has not finished with the package), reinstreq (the package is broken
// and must be reinstalled anyway), and deinstall or purge selections (the administrator asked
// for removal, so offering an upgrade would fight that decision). docs/applicability.md.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"

namespace ferry::bundler {

struct InstalledPackage {
  std::string name;
  std::string architecture;
  std::string version;

  bool operator==(const InstalledPackage&) const = default;
};

inline constexpr size_t kMaxDpkgStatusBytes = size_t{64} << 20;
inline constexpr size_t kMaxInstalledPackages = 100000;
inline constexpr size_t kMaxPackageNameBytes = 128;
inline constexpr size_t kMaxArchitectureBytes = 64;
inline constexpr size_t kMaxVersionBytes = 256;

// True for a package name dpkg accepts: an ASCII letter or digit, then letters, digits and
// "+-._", at most kMaxPackageNameBytes.
bool IsValidPackageName(std::string_view name);

// True for an architecture an installed package can have: "all" or a Debian architecture name
// ([a-z0-9-], not starting with '-'), at most kMaxArchitectureBytes. "any" and "source" are
// refused because no installed package has them.
bool IsValidArchitecture(std::string_view architecture);

// True for a version dpkg would record: at most kMaxVersionBytes of [A-Za-z0-9.+~:-], a decimal
// epoch up to 2147483647 before the first ':', non-empty upstream and (after the last '-')
// revision, no ':' in the revision. An upstream part that does not start with a digit is
// accepted, as dpkg only warns about it.
bool IsValidInstalledVersion(std::string_view version);

// Checks one triple with the three predicates above; the error names the package and the field.
Status CheckInstalledPackage(const InstalledPackage& package);

// Reads a dpkg status file and returns its installed packages in file order. Every stanza needs
// Package and a Status of three known words (want, flag, state); installed ones also need a
// valid Architecture and Version. Fields Ferry does not use are ignored, as dpkg adds new ones.
// Refuses (ErrorKind::kInvalid, "ORIGIN:LINE: cause") malformed syntax, unknown status words,
// the same (name, architecture) installed twice, more than kMaxDpkgStatusBytes of text and more
// than kMaxInstalledPackages stanzas.
Result<std::vector<InstalledPackage>> ParseDpkgStatus(std::string_view text,
                                                      std::string_view origin);

}  // namespace ferry::bundler
