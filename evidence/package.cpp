#include "evidence/package.hpp"

#include <algorithm>
#include <bit>
#include <charconv>

#include "common/encoding.hpp"
#include "common/json.hpp"
#include "crypto/ed25519.hpp"

namespace ferry::evidence {
namespace {

// Splits text into lines that each end with '\n'; false if the text does not end with one.
bool SplitLines(std::string_view text, std::vector<std::string_view>& lines) {
  if (text.empty() || text.back() != '\n') return false;
  size_t start = 0;
  while (start < text.size()) {
    const size_t end = text.find('\n', start);
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return true;
}

std::optional<uint64_t> ParseDecimal(std::string_view text) {
  if (text.empty() || text.size() > 19 || (text.size() > 1 && text[0] == '0')) return std::nullopt;
  uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// Only the one spelling the exporter writes: an upper-case copy would be a second encoding.
Result<crypto::Sha256Digest> ParseLowerHex(std::string_view hex, const std::string& where) {
  if (!IsLowerHex(hex, 64)) return InvalidError(where + ": not 64 lower-case hex digits");
  return crypto::ParseDigestHex(hex);
}

bool HasControl(std::string_view text) {
  return std::any_of(text.begin(), text.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

}  // namespace

Status ValidateNonce(std::string_view nonce) {
  if (nonce.empty() || nonce.size() > kMaxNonceBytes) {
    return UsageError("nonce must be 1 to " + std::to_string(kMaxNonceBytes) + " characters");
  }
  const bool printable =
      std::all_of(nonce.begin(), nonce.end(), [](char c) { return c >= 0x20 && c <= 0x7e; });
  if (!printable || nonce.front() == ' ' || nonce.back() == ' ') {
    return UsageError("nonce must be printable ASCII without leading or trailing spaces");
  }
  return Ok();
}

Status ValidateLabel(std::string_view label) {
  if (label.empty() || label.size() > kMaxLabelBytes || !json::IsValidUtf8(label) ||
      HasControl(label)) {
    return UsageError("label must be 1 to " + std::to_string(kMaxLabelBytes) +
                      " bytes of UTF-8 without control characters");
  }
  return Ok();
}

std::string RelayOrigin(const std::optional<std::string>& site_id, std::string_view key_id) {
  return "ferry.relay/" + (site_id ? *site_id + "/" : std::string()) +
         std::string(key_id.substr(0, 8));
}

// ---- media.json ----

std::string MediaJson(const Media& media) {
  json::Object object{{"format", std::string(kPackageFormat)},
                      {"exported_at", FormatTime(media.exported_at)},
                      {"exported_by", media.exported_by},
                      {"relay_key_id", media.relay_key_id},
                      {"origin", media.origin},
                      {"first_event", media.first},
                      {"tree_size", media.tree_size}};
  if (media.label) object["label"] = *media.label;
  if (media.site_id) object["site_id"] = *media.site_id;
  if (media.previous_size) object["previous_tree_size"] = *media.previous_size;
  return json::Pretty(object);
}

Result<Media> ParseMediaJson(std::string_view text) {
  FERRY_ASSIGN_OR_RETURN(const json::Value value,
                         json::Parse(text, json::ParseLimits{.max_bytes = kMaxSmallMemberBytes}));
  FERRY_ASSIGN_OR_RETURN(json::ObjectReader reader, json::ObjectReader::Open(value, "media.json"));
  Media media;
  FERRY_ASSIGN_OR_RETURN(const std::string format, reader.String("format"));
  if (format != kPackageFormat) {
    return InvalidError("media.json: format \"" + format + "\" is not " +
                        std::string(kPackageFormat));
  }
  FERRY_ASSIGN_OR_RETURN(const std::string exported_at, reader.String("exported_at"));
  FERRY_ASSIGN_OR_RETURN(media.exported_at, ParseTime(exported_at));
  FERRY_ASSIGN_OR_RETURN(media.exported_by, reader.String("exported_by"));
  FERRY_ASSIGN_OR_RETURN(media.label, reader.OptionalString("label"));
  FERRY_ASSIGN_OR_RETURN(media.relay_key_id, reader.String("relay_key_id"));
  FERRY_ASSIGN_OR_RETURN(media.origin, reader.String("origin"));
  FERRY_ASSIGN_OR_RETURN(media.site_id, reader.OptionalString("site_id"));
  FERRY_ASSIGN_OR_RETURN(media.first, reader.Int("first_event"));
  FERRY_ASSIGN_OR_RETURN(media.tree_size, reader.Int("tree_size"));
  FERRY_ASSIGN_OR_RETURN(media.previous_size, reader.OptionalInt("previous_tree_size"));
  FERRY_RETURN_IF_ERROR(reader.Finish());
  if (MediaJson(media) != text) {
    return InvalidError("media.json: not in the canonical form the exporter writes");
  }
  return media;
}

// ---- manifest ----

std::string ManifestText(const std::vector<ManifestEntry>& entries) {
  std::string out;
  for (const ManifestEntry& entry : entries) {
    out += crypto::DigestHex(entry.sha256) + "  " + entry.name + "\n";
  }
  return out;
}

Result<std::vector<ManifestEntry>> ParseManifest(std::string_view text) {
  std::vector<std::string_view> lines;
  if (!SplitLines(text, lines)) return InvalidError("manifest: empty or no final newline");
  std::vector<ManifestEntry> entries;
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string where = "manifest line " + std::to_string(i + 1);
    const std::string_view line = lines[i];
    if (line.size() < 67 || line.substr(64, 2) != "  ") {
      return InvalidError(where + ": not \"<sha256>  <name>\"");
    }
    ManifestEntry entry;
    FERRY_ASSIGN_OR_RETURN(entry.sha256, ParseLowerHex(line.substr(0, 64), where));
    entry.name = std::string(line.substr(66));
    entries.push_back(std::move(entry));
  }
  return entries;
}

// ---- prefix ----

std::string PrefixText(uint64_t size, const std::vector<crypto::Sha256Digest>& frontier) {
  std::string out;
  uint64_t start = 1;
  size_t next = 0;
  for (int bit = 63; bit >= 0; --bit) {
    const uint64_t span = uint64_t{1} << bit;
    if ((size & span) == 0) continue;
    out += "events " + std::to_string(start) + "-" + std::to_string(start + span - 1) + " " +
           crypto::DigestHex(frontier.at(next++)) + "\n";
    start += span;
  }
  return out;
}

Result<Prefix> ParsePrefix(std::string_view text) {
  std::vector<std::string_view> lines;
  if (!SplitLines(text, lines)) return InvalidError("prefix: empty or no final newline");
  Prefix prefix;
  uint64_t start = 1;
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string where = "prefix line " + std::to_string(i + 1);
    const std::string_view line = lines[i];
    const size_t space = line.rfind(' ');
    const size_t dash = line.find('-');
    if (!line.starts_with("events ") || space == std::string_view::npos ||
        dash == std::string_view::npos || dash > space) {
      return InvalidError(where + ": not \"events <first>-<last> <sha256>\"");
    }
    const auto first = ParseDecimal(line.substr(7, dash - 7));
    const auto last = ParseDecimal(line.substr(dash + 1, space - dash - 1));
    // 2^53: no relay log comes near it, and sums below it cannot overflow.
    if (!first || !last || *first != start || *last < *first || *last > (uint64_t{1} << 53)) {
      return InvalidError(where + ": the range does not continue from event " +
                          std::to_string(start));
    }
    const uint64_t span = *last - *first + 1;
    // Each range is a perfect subtree, strictly smaller than the one before it.
    if (!std::has_single_bit(span) || (prefix.size & (span * 2 - 1)) != 0) {
      return InvalidError(where + ": events " + std::to_string(*first) + "-" +
                          std::to_string(*last) + " are not the next subtree of the log");
    }
    FERRY_ASSIGN_OR_RETURN(crypto::Sha256Digest hash, ParseLowerHex(line.substr(space + 1), where));
    prefix.frontier.push_back(hash);
    prefix.size += span;
    start = *last + 1;
  }
  if (PrefixText(prefix.size, prefix.frontier) != text) {
    return InvalidError("prefix: not in the form the exporter writes");
  }
  return prefix;
}

// ---- consistency-proof ----

std::string ConsistencyText(const ConsistencyProofText& proof) {
  std::string out = "old-size " + std::to_string(proof.old_size) + "\nnew-size " +
                    std::to_string(proof.new_size) + "\n";
  for (const crypto::Sha256Digest& hash : proof.proof) out += crypto::DigestHex(hash) + "\n";
  return out;
}

Result<ConsistencyProofText> ParseConsistency(std::string_view text) {
  std::vector<std::string_view> lines;
  if (!SplitLines(text, lines) || lines.size() < 2) {
    return InvalidError("consistency-proof: expected old-size and new-size lines");
  }
  ConsistencyProofText proof;
  const auto old_size =
      lines[0].starts_with("old-size ") ? ParseDecimal(lines[0].substr(9)) : std::nullopt;
  const auto new_size =
      lines[1].starts_with("new-size ") ? ParseDecimal(lines[1].substr(9)) : std::nullopt;
  if (!old_size || !new_size) {
    return InvalidError("consistency-proof: expected \"old-size <n>\" and \"new-size <n>\"");
  }
  proof.old_size = *old_size;
  proof.new_size = *new_size;
  if (lines.size() - 2 > 128) return InvalidError("consistency-proof: more than 128 hashes");
  for (size_t i = 2; i < lines.size(); ++i) {
    FERRY_ASSIGN_OR_RETURN(
        crypto::Sha256Digest hash,
        ParseLowerHex(lines[i], "consistency-proof line " + std::to_string(i + 1)));
    proof.proof.push_back(hash);
  }
  return proof;
}

}  // namespace ferry::evidence
