#pragma once

// The bundle manifest: what a bundle carries and the metadata of every patch. Its JSON form is the
// `signed` part of manifest.json (docs/bundle-format.md); this type is what the rest of Ferry uses.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "common/json.hpp"
#include "common/time.hpp"
#include "crypto/hash.hpp"

namespace ferry::bundler {

inline constexpr int64_t kFormatMajor = 1;
inline constexpr int64_t kFormatMinor = 0;
inline constexpr int64_t kMaxPatches = 100000;
// Payloads are capped at 4 GiB each: larger sizes in the manifest or a tar header are refused.
inline constexpr uint64_t kMaxPayloadSize = uint64_t{4} << 30;

struct PayloadRef {
  crypto::Sha256Digest sha256{};
  uint64_t size = 0;
  std::string file_name;  // the original file name, a single path component
};

// How a script patch is run and how its exit status is read.
struct Installer {
  std::vector<std::string> arguments;
  std::vector<int64_t> success_exit_codes;
  std::vector<int64_t> reboot_exit_codes;
};

struct Patch {
  std::string id;
  std::string title;
  std::string kind;  // "deb", "script" or "file"
  std::string package;
  std::string version;
  std::string architecture;
  std::string target_os;  // e.g. "debian-12"
  std::string severity;   // critical, high, medium, low, none or unknown
  std::optional<std::string> cvss;  // base score as text, e.g. "9.8"
  std::vector<std::string> cves;
  std::optional<UnixTime> released;  // the vendor's release date of the fix
  std::vector<std::string> supersedes;  // ids of patches this one replaces
  bool reboot = false;
  PayloadRef payload;
  std::optional<Installer> installer;  // only for kind "script"
};

struct Manifest {
  int64_t format_major = kFormatMajor;
  int64_t format_minor = kFormatMinor;
  std::string channel;
  int64_t sequence = 0;
  std::optional<int64_t> base_sequence;  // set for a delta bundle
  UnixTime created = 0;
  UnixTime expires = 0;
  std::optional<std::string> site;  // set when the bundle is bound to one site
  int64_t root_version = 0;         // the root whose bundle keys signed it
  std::vector<Patch> patches;
  // Payloads of this bundle's patches that it leaves out because its base already carried them.
  std::vector<crypto::Sha256Digest> omitted;

  bool is_delta() const { return base_sequence.has_value(); }

  // The payloads the bundle's tar must hold, each once, in patch order.
  std::vector<PayloadRef> CarriedPayloads() const;

  json::Value ToJson() const;
};

// Reads and validates the `signed` value of manifest.json: known format major version, every field
// present and of the right type, no unknown fields, sizes and counts within documented limits,
// patch ids unique, and every patch with the same payload hash agreeing on its size.
Result<Manifest> ManifestFromJson(const json::Value& value);

// A flat summary of a patch for `--json` listings: its metadata plus file, sha256 and size.
json::Object PatchSummaryJson(const Patch& patch);

// One patch as the manifest writes it, and read back strictly (`path` names it in errors).
json::Value PatchToJson(const Patch& patch);
Result<Patch> PatchFromJson(const json::Value& value, const std::string& path);

// True for names used as channel, site, patch id, package, version or architecture: 1..128
// characters of [A-Za-z0-9._+~:-], starting with a letter or digit.
bool IsSafeIdentifier(std::string_view text);

// True for a plain file name: 1..255 bytes, no '/' or '\\', not "." or "..", no control characters.
bool IsPlainFileName(std::string_view name);

// True for "CVE-YYYY-NNNN..." (four or more digits in the last part).
bool IsCveId(std::string_view id);

bool IsKnownSeverity(std::string_view severity);

// Orders severities: unknown 0, none 1, low 2, medium 3, high 4, critical 5.
int SeverityRank(std::string_view severity);

}  // namespace ferry::bundler
