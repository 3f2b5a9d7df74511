#pragma once

// Reading a binary package's control information straight from a .deb (deb(5)): an ar archive
// whose first member is "debian-binary" ("2.x"), followed by control.tar[.gz|.xz|.zst] and the
// data archive. Only the control member is read; the data archive is never touched.

#include <cstddef>
#include <optional>
#include <string>

#include "common/error.hpp"

namespace ferry::bundler {

struct DebControl {
  std::string package;
  std::string version;
  std::string architecture;
  std::string description;  // the synopsis: the first line of Description, empty when absent
  std::string maintainer;   // empty when absent
  std::string section;      // empty when absent
  std::optional<std::string> source;  // the Source field as written ("name" or "name (version)")
};

constexpr size_t kMaxControlArchiveBytes = 16u << 20;
constexpr size_t kMaxControlFileBytes = 1u << 20;

// Reads the control file of the .deb at `path`. Identity comes from the control file only, never
// from the file name. Refused with ErrorKind::kInvalid: not an ar archive, a first member other
// than debian-binary "2.x", no control.tar member (or one over kMaxControlArchiveBytes), no
// ./control in it (or one over kMaxControlFileBytes, or not a regular file), a control file that
// is not exactly one deb822 stanza, and a missing or malformed Package, Version or Architecture.
// A file that cannot be opened or read is ErrorKind::kIo.
Result<DebControl> ReadDebControl(const std::string& path);

// True when `name` is a valid Debian package name (policy 5.6.1: [a-z0-9][a-z0-9+.-]+).
bool IsValidDebianPackageName(std::string_view name);

// True when `arch` is a plausible Debian architecture name ("all", "amd64", "linux-any").
bool IsValidDebianArchitecture(std::string_view arch);

}  // namespace ferry::bundler
