#pragma once

// Generic payloads: an installer program or script, or a plain file, described by a small JSON
// file NAME.payload.json beside it in the source directory. docs/payload-description.md is the
// format's specification.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"
#include "common/time.hpp"

namespace ferry::bundler {

constexpr size_t kMaxPayloadDescriptionBytes = 64u << 10;
constexpr size_t kMaxPayloadArguments = 64;
constexpr size_t kMaxPayloadArgumentBytes = 4096;
constexpr size_t kMaxPayloadExitCodes = 64;
constexpr size_t kMaxPayloadCves = 1024;
// The suffix that marks a description file in a source directory.
constexpr std::string_view kPayloadDescriptionSuffix = ".payload.json";

struct PayloadDescription {
  std::string id;
  std::string title;                   // defaults to id
  std::string kind;                    // "script" or "file"
  std::string file;                    // a plain file name in the same directory
  std::string package;                 // defaults to id
  std::string version;                 // a valid Debian version; defaults to "0"
  std::string architecture;            // defaults to "all"
  std::string target_os;               // required, e.g. "debian-12"
  std::string severity;                // critical, high, medium, low, none or unknown (the default)
  std::vector<std::string> arguments;  // scripts only
  std::vector<std::string> cves;
  std::vector<int> success_exit_codes;  // scripts: non-empty; files: empty
  std::vector<int> reboot_exit_codes;   // scripts only; disjoint from success_exit_codes
  std::optional<UnixTime> released;
  bool reboot = false;
};

// Parses one description strictly: unknown fields, wrong types, values outside the documented
// limits and inconsistent exit codes are refused (ErrorKind::kInvalid, naming `origin` and the
// field).
Result<PayloadDescription> ParsePayloadDescription(std::string_view text, std::string_view origin);

}  // namespace ferry::bundler
