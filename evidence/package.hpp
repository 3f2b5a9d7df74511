#pragma once

// The members of an evidence package (docs/evidence-format.md) other than the events and the
// reports: their names, limits, and the text forms the exporter writes and the verifier parses.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"
#include "common/time.hpp"
#include "crypto/hash.hpp"

namespace ferry::evidence {

inline constexpr std::string_view kPackageFormat = "ferry-evidence/1";

inline constexpr std::string_view kCheckpointMember = "checkpoint";
inline constexpr std::string_view kMediaMember = "media.json";
inline constexpr std::string_view kManifestMember = "manifest";
inline constexpr std::string_view kPreviousCheckpointMember = "previous-checkpoint";
inline constexpr std::string_view kConsistencyMember = "consistency-proof";
inline constexpr std::string_view kPrefixMember = "prefix";
inline constexpr std::string_view kEventsMember = "events.jsonl";

// Checkpoint extension lines (c2sp.org/tlog-checkpoint allows lines after the root).
inline constexpr std::string_view kManifestExtension = "manifest-sha256 ";
inline constexpr std::string_view kNonceExtension = "nonce ";

// Limits the verifier enforces before reading a member into memory.
inline constexpr size_t kMaxSmallMemberBytes = 64 * 1024;
inline constexpr size_t kMaxReportBytes = size_t{256} << 20;
inline constexpr size_t kMaxNonceBytes = 128;
inline constexpr size_t kMaxLabelBytes = 256;

// A nonce is 1 to 128 printable ASCII characters, no leading or trailing space.
Status ValidateNonce(std::string_view nonce);
// A media label is 1 to 256 bytes of UTF-8 without control characters.
Status ValidateLabel(std::string_view label);

// The checkpoint origin (and signed-note key name) of a relay, as docs/merkle-log.md names it:
// "ferry.relay/<site id>/<first 8 hex of the key id>", or "ferry.relay/<8 hex>" without a site.
std::string RelayOrigin(const std::optional<std::string>& site_id, std::string_view key_id);

// media.json: the media record of one export.
struct Media {
  UnixTime exported_at = 0;
  std::string exported_by;  // "operator:<login>"
  std::optional<std::string> label;
  std::string relay_key_id;
  std::string origin;
  std::optional<std::string> site_id;
  int64_t first = 0;                     // first event carried
  int64_t tree_size = 0;                 // last event carried, and the checkpoint's size
  std::optional<int64_t> previous_size;  // the previous export's tree size, when one is carried
};

// Indented JSON, keys sorted, a final newline: the only form the verifier accepts.
std::string MediaJson(const Media& media);
Result<Media> ParseMediaJson(std::string_view text);

// manifest: "<sha256 hex>  <member name>\n" per member, the format `sha256sum -c` reads.
struct ManifestEntry {
  std::string name;
  crypto::Sha256Digest sha256{};
};
std::string ManifestText(const std::vector<ManifestEntry>& entries);
Result<std::vector<ManifestEntry>> ParseManifest(std::string_view text);

// prefix: stands for events 1..size that the package does not carry, as the roots of the perfect
// subtrees covering them, largest first: "events <a>-<b> <hex>\n" each.
std::string PrefixText(uint64_t size, const std::vector<crypto::Sha256Digest>& frontier);
struct Prefix {
  uint64_t size = 0;
  std::vector<crypto::Sha256Digest> frontier;
};
Result<Prefix> ParsePrefix(std::string_view text);

// consistency-proof: "old-size <m>\nnew-size <n>\n" then one hex hash per line (RFC 9162 2.1.4).
struct ConsistencyProofText {
  uint64_t old_size = 0;
  uint64_t new_size = 0;
  std::vector<crypto::Sha256Digest> proof;
};
std::string ConsistencyText(const ConsistencyProofText& proof);
Result<ConsistencyProofText> ParseConsistency(std::string_view text);

}  // namespace ferry::evidence
