#include "evidence/verify.hpp"

#include <algorithm>
#include <map>
#include <vector>

#include "crypto/checkpoint.hpp"
#include "crypto/merkle.hpp"
#include "evidence/csv.hpp"
#include "evidence/event.hpp"
#include "evidence/ustar.hpp"

namespace ferry::evidence {
namespace {

using crypto::Sha256Digest;

// Cuts a value for a one-line message.
std::string Shown(std::string_view value) {
  constexpr size_t kMax = 80;
  if (value.size() <= kMax) return std::string(value);
  return std::string(value.substr(0, kMax)) + "...";
}

std::string ShortName(std::string_view name) {
  return std::string(name.starts_with("reports/") ? name.substr(8) : name);
}

// Compares a report from the package with the one recomputed from the events: cell by cell first,
// so an edited figure is named by line and column, then byte by byte.
Status CompareCsv(const std::string& name, std::string_view package, std::string_view expected) {
  if (package == expected) return Ok();
  const std::string what = ShortName(name);
  FERRY_ASSIGN_OR_RETURN(const std::vector<CsvRecord> got, ParseCsv(package, what));
  auto want = ParseCsv(expected, what);
  if (!want.ok())
    return IoError("recomputed " + what + " does not parse: " + want.error().message());
  const std::vector<CsvRecord>& rows = *want;
  const CsvRow& header = rows.front().fields;
  for (size_t i = 0; i < std::max(got.size(), rows.size()); ++i) {
    if (i >= got.size()) {
      return InvalidError("report " + what + ": ends after line " +
                          std::to_string(got.empty() ? 0 : got.back().line) + ", the events give " +
                          std::to_string(rows.size() - got.size()) + " more row(s)");
    }
    const std::string at = "report " + what + " line " + std::to_string(got[i].line);
    if (i >= rows.size()) return InvalidError(at + ": a row the events do not give");
    const CsvRow& a = got[i].fields;
    const CsvRow& b = rows[i].fields;
    if (a.size() != b.size()) {
      return InvalidError(at + ": " + std::to_string(a.size()) + " fields, the events give " +
                          std::to_string(b.size()));
    }
    for (size_t j = 0; j < a.size(); ++j) {
      if (a[j] == b[j]) continue;
      if (i == 0) {
        return InvalidError(at + ": column " + std::to_string(j + 1) + " is \"" + Shown(a[j]) +
                            "\", expected \"" + Shown(b[j]) + "\"");
      }
      return InvalidError(at + " field " + header[j] + ": package says " + Shown(a[j]) +
                          ", events give " + Shown(b[j]));
    }
  }
  return InvalidError("report " + what +
                      ": the same figures, but not byte for byte the report the events give");
}

Status CompareText(const std::string& name, std::string_view package, std::string_view expected) {
  if (package == expected) return Ok();
  const auto [a, b] =
      std::mismatch(package.begin(), package.end(), expected.begin(), expected.end());
  const size_t offset = static_cast<size_t>(a - package.begin());
  const size_t line = 1 + static_cast<size_t>(std::count(package.begin(), a, '\n'));
  (void)b;
  return InvalidError(name + " line " + std::to_string(line) + " (byte " + std::to_string(offset) +
                      "): differs from the page the events give");
}

// The events.jsonl member, line by line as it streams past.
class EventLines {
 public:
  EventLines(int64_t first, int64_t tree_size, crypto::MerkleAccumulator accumulator,
             ReportBuilder& reports, std::vector<uint64_t> wanted_sizes)
      : first_(first),
        tree_size_(tree_size),
        accumulator_(std::move(accumulator)),
        reports_(reports),
        wanted_(std::move(wanted_sizes)) {
    Capture();
  }

  Status Feed(std::string_view chunk) {
    hash_.Update(chunk);
    while (!chunk.empty()) {
      const size_t newline = chunk.find('\n');
      if (newline == std::string_view::npos) {
        if (partial_.size() + chunk.size() > kMaxEventLeafBytes) return TooLong();
        partial_.append(chunk);
        return Ok();
      }
      if (partial_.empty()) {
        FERRY_RETURN_IF_ERROR(Line(chunk.substr(0, newline)));
      } else {
        if (partial_.size() + newline > kMaxEventLeafBytes) return TooLong();
        partial_.append(chunk.substr(0, newline));
        FERRY_RETURN_IF_ERROR(Line(partial_));
        partial_.clear();
      }
      chunk.remove_prefix(newline + 1);
    }
    return Ok();
  }

  Status End() {
    if (!partial_.empty()) {
      return InvalidError("events.jsonl line " + std::to_string(line_ + 1) +
                          ": the last line does not end with a newline (truncated)");
    }
    if (line_ == 0) return InvalidError("events.jsonl: holds no events");
    return Ok();
  }

  int64_t last() const { return last_; }
  Sha256Digest root() const { return accumulator_.Root(); }
  Sha256Digest sha256() { return hash_.Finish(); }
  const std::map<uint64_t, Sha256Digest>& roots() const { return roots_; }

 private:
  Status TooLong() const {
    return InvalidError("events.jsonl line " + std::to_string(line_ + 1) + ": longer than " +
                        std::to_string(kMaxEventLeafBytes) + " bytes");
  }

  Status Line(std::string_view leaf) {
    ++line_;
    const std::string at = "events.jsonl line " + std::to_string(line_);
    auto parsed = ParseEventLeaf(leaf);
    if (!parsed.ok()) return std::move(parsed).error().Context(at);
    const int64_t seq = parsed->seq;
    if (line_ == 1) {
      if (seq != first_) {
        return InvalidError(at + ": sequence " + std::to_string(seq) +
                            ", but the package starts at event " + std::to_string(first_) +
                            (seq > first_ ? " (" + Missing(first_, seq) + ")" : ""));
      }
    } else if (seq == last_) {
      return InvalidError(at + ": sequence " + std::to_string(seq) +
                          " again (a duplicate of line " + std::to_string(line_ - 1) + ")");
    } else if (seq < last_) {
      return InvalidError(at + ": sequence " + std::to_string(seq) + " after " +
                          std::to_string(last_) + " (out of order)");
    } else if (seq > last_ + 1) {
      return InvalidError(at + ": sequence " + std::to_string(seq) + " follows " +
                          std::to_string(last_) + " (" + Missing(last_ + 1, seq) + ")");
    }
    if (seq > tree_size_) {
      return InvalidError(at + ": event " + std::to_string(seq) +
                          " is past the end of the signed checkpoint (" +
                          std::to_string(tree_size_) + " events)");
    }
    last_ = seq;
    accumulator_.Append(crypto::MerkleLeafHash(leaf));
    Capture();
    reports_.Add(*parsed);
    return Ok();
  }

  static std::string Missing(int64_t from, int64_t to) {
    return to - from == 1 ? std::to_string(from) + " is missing"
                          : std::to_string(from) + ".." + std::to_string(to - 1) + " are missing";
  }

  void Capture() {
    for (const uint64_t size : wanted_) {
      if (size == accumulator_.size()) roots_[size] = accumulator_.Root();
    }
  }

  int64_t first_;
  int64_t tree_size_;
  crypto::MerkleAccumulator accumulator_;
  ReportBuilder& reports_;
  std::vector<uint64_t> wanted_;
  std::map<uint64_t, Sha256Digest> roots_;
  crypto::Sha256 hash_;
  std::string partial_;
  int64_t line_ = 0;
  int64_t last_ = 0;
};

struct PreviousPackage {
  std::string path;
  std::string origin;
  uint64_t size = 0;
  Sha256Digest root{};
};

class Verifier {
 public:
  Verifier(const crypto::PublicKey& key, const VerifyOptions& options,
           std::optional<PreviousPackage> previous, PackageFacts& facts)
      : key_(key), options_(options), previous_(std::move(previous)), facts_(facts) {}

  Status Run(const std::string& path) {
    FERRY_ASSIGN_OR_RETURN(reader_, UstarReader::Open(path));
    FERRY_RETURN_IF_ERROR(ReadCheckpoint());
    FERRY_RETURN_IF_ERROR(CheckNonce());
    FERRY_ASSIGN_OR_RETURN(media_text_, ReadNamed(kMediaMember, kMaxSmallMemberBytes));
    FERRY_ASSIGN_OR_RETURN(manifest_text_, ReadNamed(kManifestMember, kMaxSmallMemberBytes));

    FERRY_ASSIGN_OR_RETURN(UstarMember member, NextMember("events.jsonl"));
    if (member.name == kPreviousCheckpointMember) {
      FERRY_ASSIGN_OR_RETURN(previous_note_, ReadSmall(member, crypto::kMaxNoteBytes));
      FERRY_ASSIGN_OR_RETURN(member, NextMember(kConsistencyMember));
      FERRY_RETURN_IF_ERROR(Expect(member, kConsistencyMember));
      FERRY_ASSIGN_OR_RETURN(proof_text_, ReadSmall(member, kMaxSmallMemberBytes));
      FERRY_ASSIGN_OR_RETURN(member, NextMember("events.jsonl"));
    }
    crypto::MerkleAccumulator accumulator;
    if (member.name == kPrefixMember) {
      FERRY_ASSIGN_OR_RETURN(const std::string text, ReadSmall(member, kMaxSmallMemberBytes));
      FERRY_ASSIGN_OR_RETURN(prefix_, ParsePrefix(text));
      if (prefix_.size >= checkpoint_.size) {
        return InvalidError("prefix: stands for " + std::to_string(prefix_.size) +
                            " events, but the checkpoint covers only " +
                            std::to_string(checkpoint_.size));
      }
      auto seeded = crypto::MerkleAccumulator::FromFrontier(prefix_.size, prefix_.frontier);
      if (!seeded.ok()) return std::move(seeded).error().Context("prefix");
      accumulator = std::move(*seeded);
      FERRY_ASSIGN_OR_RETURN(member, NextMember("events.jsonl"));
    }
    FERRY_RETURN_IF_ERROR(Expect(member, kEventsMember));
    facts_.first = static_cast<int64_t>(prefix_.size) + 1;
    FERRY_RETURN_IF_ERROR(ReadEvents(std::move(accumulator)));
    FERRY_RETURN_IF_ERROR(CheckPrevious());
    FERRY_RETURN_IF_ERROR(CheckReports());
    FERRY_ASSIGN_OR_RETURN(const std::optional<UstarMember> extra, reader_->Next());
    if (extra) {
      return InvalidError("tar: member " + std::to_string(extra->index) + " (" + extra->name +
                          ") follows report.html; the package ends there");
    }
    FERRY_RETURN_IF_ERROR(CheckMedia());
    return CheckManifest();
  }

 private:
  // The next member, which must exist; `expected` names what should come for the error.
  Result<UstarMember> NextMember(std::string_view expected) {
    FERRY_ASSIGN_OR_RETURN(const std::optional<UstarMember> member, reader_->Next());
    if (!member) {
      return InvalidError("tar: the package ends before " + std::string(expected) +
                          " (incomplete)");
    }
    if (member->index == 1) {
      mtime_ = member->mtime;
    } else if (member->mtime != mtime_) {
      return InvalidError("tar: member " + std::to_string(member->index) + " (" + member->name +
                          ") is dated " + FormatTime(member->mtime) + ", the package's others " +
                          FormatTime(mtime_));
    }
    return *member;
  }

  static Status Expect(const UstarMember& member, std::string_view name) {
    if (member.name == name) return Ok();
    return InvalidError("tar: member " + std::to_string(member.index) + " is " + member.name +
                        ", expected " + std::string(name));
  }

  Result<std::string> ReadSmall(const UstarMember& member, size_t max_bytes) {
    FERRY_ASSIGN_OR_RETURN(std::string content, reader_->ReadSmall(max_bytes));
    if (member.name != kCheckpointMember && member.name != kManifestMember) {
      members_.push_back({member.name, crypto::Sha256Of(content)});
    }
    return content;
  }

  Result<std::string> ReadNamed(std::string_view name, size_t max_bytes) {
    FERRY_ASSIGN_OR_RETURN(const UstarMember member, NextMember(name));
    FERRY_RETURN_IF_ERROR(Expect(member, name));
    return ReadSmall(member, max_bytes);
  }

  Status ReadCheckpoint() {
    FERRY_ASSIGN_OR_RETURN(const std::string note,
                           ReadNamed(kCheckpointMember, crypto::kMaxNoteBytes));
    const std::string origin = note.substr(0, note.find('\n'));
    if (!crypto::IsValidNoteKeyName(origin)) {
      return InvalidError("checkpoint: the origin line is not a valid key name");
    }
    auto checkpoint = crypto::VerifyCheckpoint(note, origin, key_);
    if (!checkpoint.ok()) {
      const std::string& why = checkpoint.error().message();
      if (why.starts_with("no signature line for key")) {
        return InvalidError("checkpoint: signature not by the pinned relay key (" + why + ")");
      }
      return InvalidError("checkpoint: " + why);
    }
    checkpoint_ = std::move(*checkpoint);
    facts_.origin = checkpoint_.origin;
    facts_.key_id = key_.id();
    facts_.tree_size = static_cast<int64_t>(checkpoint_.size);
    if (checkpoint_.size == 0 || checkpoint_.size > (uint64_t{1} << 53)) {
      return InvalidError("checkpoint: a tree of " + std::to_string(checkpoint_.size) +
                          " events cannot be an export");
    }
    std::optional<std::string> manifest;
    for (const std::string& line : checkpoint_.extensions) {
      if (line.starts_with(kManifestExtension) && !manifest) {
        manifest = line.substr(kManifestExtension.size());
      } else if (line.starts_with(kNonceExtension) && !facts_.nonce) {
        facts_.nonce = line.substr(kNonceExtension.size());
      } else {
        return InvalidError("checkpoint: unknown or repeated extension line \"" + Shown(line) +
                            "\"");
      }
    }
    if (!manifest) return InvalidError("checkpoint: no manifest-sha256 line");
    auto digest = crypto::ParseDigestHex(*manifest);
    if (!digest.ok()) return InvalidError("checkpoint: manifest-sha256 is not 64 hex digits");
    manifest_sha256_ = *digest;
    return Ok();
  }

  Status CheckNonce() const {
    if (!options_.nonce) return Ok();
    if (!facts_.nonce) {
      return InvalidError("nonce: the export carries none, the auditor asked for \"" +
                          Shown(*options_.nonce) + "\" (an old or replayed export)");
    }
    if (*facts_.nonce != *options_.nonce) {
      return InvalidError("nonce: the export carries \"" + Shown(*facts_.nonce) +
                          "\", the auditor asked for \"" + Shown(*options_.nonce) +
                          "\" (an old or replayed export)");
    }
    return Ok();
  }

  Status ReadEvents(crypto::MerkleAccumulator accumulator) {
    std::vector<uint64_t> wanted;
    if (previous_) wanted.push_back(previous_->size);
    EventLines lines(facts_.first, facts_.tree_size, std::move(accumulator), *reports_,
                     std::move(wanted));
    FERRY_RETURN_IF_ERROR(reader_->ReadData([&](std::string_view chunk) {
      const Status fed = lines.Feed(chunk);
      facts_.last = lines.last();
      return fed;
    }));
    FERRY_RETURN_IF_ERROR(lines.End());
    members_.push_back({std::string(kEventsMember), lines.sha256()});
    const int64_t size = facts_.tree_size;
    if (lines.last() < size) {
      return InvalidError("events.jsonl: ends at event " + std::to_string(lines.last()) +
                          ", but the checkpoint covers " + std::to_string(size) + " events (" +
                          (size - lines.last() == 1
                               ? "event " + std::to_string(size) + " is missing"
                               : "events " + std::to_string(lines.last() + 1) + ".." +
                                     std::to_string(size) + " are missing") +
                          ": cut off the end)");
    }
    root_ = lines.root();
    if (root_ != checkpoint_.root) {
      return InvalidError(
          "events.jsonl: events 1.." + std::to_string(size) + " give the Merkle root " +
          crypto::DigestHex(root_) + ", the checkpoint signs " +
          crypto::DigestHex(checkpoint_.root) +
          (prefix_.size > 0 ? " (an event or the prefix was altered)" : " (an event was altered)"));
    }
    facts_.root_hex = crypto::DigestHex(root_);
    roots_ = lines.roots();
    return Ok();
  }

  Status CheckPrevious() {
    const uint64_t size = checkpoint_.size;
    std::optional<crypto::Checkpoint> carried;
    if (!previous_note_.empty()) {
      auto checked = crypto::VerifyCheckpoint(previous_note_, checkpoint_.origin, key_);
      if (!checked.ok()) return std::move(checked).error().Context("previous-checkpoint");
      carried = std::move(*checked);
      if (carried->size > size) {
        return InvalidError("previous-checkpoint: covers " + std::to_string(carried->size) +
                            " events, more than this export's " + std::to_string(size) +
                            " (rolled back)");
      }
      FERRY_ASSIGN_OR_RETURN(const ConsistencyProofText proof, ParseConsistency(proof_text_));
      if (proof.old_size != carried->size || proof.new_size != size) {
        return InvalidError("consistency-proof: is from " + std::to_string(proof.old_size) +
                            " to " + std::to_string(proof.new_size) +
                            " events, the checkpoints are " + std::to_string(carried->size) +
                            " and " + std::to_string(size));
      }
      const Status consistent =
          crypto::VerifyConsistency(carried->size, size, carried->root, root_, proof.proof);
      if (!consistent.ok()) {
        return InvalidError("fork: the consistency proof from the previous checkpoint (" +
                            std::to_string(carried->size) +
                            " events) to this one fails: " + consistent.error().message());
      }
      facts_.carried_previous_size = static_cast<int64_t>(carried->size);
    }
    if (!previous_) return Ok();
    const PreviousPackage& old = *previous_;
    if (old.origin != checkpoint_.origin) {
      return InvalidError("previous package " + old.path + ": from " + old.origin +
                          ", this export from " + checkpoint_.origin);
    }
    if (old.size > size) {
      return InvalidError("rolled back: this export covers " + std::to_string(size) +
                          " events, the previous one " + std::to_string(old.size));
    }
    if (const auto it = roots_.find(old.size); it != roots_.end()) {
      if (it->second != old.root) {
        return InvalidError("fork: the previous export's " + std::to_string(old.size) +
                            " events have the root " + crypto::DigestHex(old.root) +
                            ", the same events in this export give " +
                            crypto::DigestHex(it->second));
      }
    } else if (carried && carried->size == old.size) {
      if (carried->root != old.root) {
        return InvalidError("fork: the previous export's " + std::to_string(old.size) +
                            " events have the root " + crypto::DigestHex(old.root) +
                            ", this export chains from a checkpoint of the same size with " +
                            crypto::DigestHex(carried->root));
      }
    } else {
      return InvalidError(
          "cannot link to the previous package: it covers " + std::to_string(old.size) +
          " events, this export starts at event " + std::to_string(facts_.first) +
          (carried ? " and chains from a checkpoint of " + std::to_string(carried->size) +
                         " events; supply that export as --previous"
                   : " and carries no checkpoint of that size") +
          " (incomplete)");
    }
    facts_.checked_previous_size = static_cast<int64_t>(old.size);
    return Ok();
  }

  Status CheckReports() {
    const ReportScope scope{checkpoint_.origin, facts_.first, facts_.tree_size, facts_.root_hex};
    Reports expected = reports_->Finish(scope);
    reports_.reset();  // the events' ledger is no longer needed, only what it rendered
    facts_.figures = expected.figures;
    for (ReportFile& report : expected.files) {
      FERRY_ASSIGN_OR_RETURN(const UstarMember member, NextMember(report.name));
      FERRY_RETURN_IF_ERROR(Expect(member, report.name));
      FERRY_RETURN_IF_ERROR(CompareReport(member, report.content));
      report.content = std::string();
    }
    return Ok();
  }

  // Streams a report member past the recomputed one. Only when they differ is the member kept,
  // to name the first differing figure.
  Status CompareReport(const UstarMember& member, const std::string& expected) {
    if (member.size > kMaxReportBytes) {
      return InvalidError("tar: " + member.name + " holds " + std::to_string(member.size) +
                          " bytes, more than the " + std::to_string(kMaxReportBytes) + " it may");
    }
    crypto::Sha256 hash;
    size_t offset = 0;
    std::optional<std::string> differing;
    FERRY_RETURN_IF_ERROR(reader_->ReadData([&](std::string_view chunk) {
      hash.Update(chunk);
      if (differing) {
        differing->append(chunk);
      } else if (expected.compare(std::min(offset, expected.size()), chunk.size(), chunk) != 0) {
        differing = expected.substr(0, offset);
        differing->append(chunk);
      }
      offset += chunk.size();
      return Ok();
    }));
    members_.push_back({member.name, hash.Finish()});
    if (!differing && offset == expected.size()) return Ok();
    const std::string package = differing ? std::move(*differing) : expected.substr(0, offset);
    if (member.name.ends_with(".csv")) return CompareCsv(member.name, package, expected);
    return CompareText(member.name, package, expected);
  }

  Status CheckMedia() {
    auto parsed = ParseMediaJson(media_text_);
    if (!parsed.ok()) return std::move(parsed).error();
    const Media& media = *parsed;
    facts_.media = media;
    if (media.relay_key_id != key_.id()) {
      return InvalidError("media.json: relay_key_id " + Shown(media.relay_key_id) +
                          " is not the pinned key's " + key_.id());
    }
    if (media.origin != checkpoint_.origin) {
      return InvalidError("media.json: origin " + Shown(media.origin) + ", the checkpoint's is " +
                          checkpoint_.origin);
    }
    if (media.first != facts_.first || media.tree_size != facts_.tree_size) {
      return InvalidError("media.json: says events " + std::to_string(media.first) + ".." +
                          std::to_string(media.tree_size) + ", the package carries " +
                          std::to_string(facts_.first) + ".." + std::to_string(facts_.tree_size));
    }
    if (media.previous_size != facts_.carried_previous_size) {
      return InvalidError("media.json: previous_tree_size does not match previous-checkpoint");
    }
    if (media.exported_at != mtime_) {
      return InvalidError("media.json: exported_at " + FormatTime(media.exported_at) +
                          ", but the archive's members are dated " + FormatTime(mtime_));
    }
    if (media.label) {
      const Status label = ValidateLabel(*media.label);
      if (!label.ok()) return InvalidError("media.json: " + label.error().message());
    }
    return Ok();
  }

  Status CheckManifest() const {
    const Sha256Digest actual = crypto::Sha256Of(manifest_text_);
    if (actual != manifest_sha256_) {
      return InvalidError("manifest: its SHA-256 is " + crypto::DigestHex(actual) +
                          ", the checkpoint signs " + crypto::DigestHex(manifest_sha256_) +
                          " (the manifest was altered)");
    }
    FERRY_ASSIGN_OR_RETURN(const std::vector<ManifestEntry> entries, ParseManifest(manifest_text_));
    for (size_t i = 0; i < std::max(entries.size(), members_.size()); ++i) {
      const std::string at = "manifest line " + std::to_string(i + 1);
      if (i >= entries.size()) {
        return InvalidError("manifest: does not list " + members_[i].name);
      }
      if (i >= members_.size()) {
        return InvalidError(at + ": lists " + Shown(entries[i].name) + ", not in the package");
      }
      if (entries[i].name != members_[i].name) {
        return InvalidError(at + ": lists " + Shown(entries[i].name) + " where the package holds " +
                            members_[i].name);
      }
      if (entries[i].sha256 != members_[i].sha256) {
        return InvalidError("manifest: " + members_[i].name + " has the SHA-256 " +
                            crypto::DigestHex(members_[i].sha256) + ", the manifest lists " +
                            crypto::DigestHex(entries[i].sha256) + " (the member was altered)");
      }
    }
    return Ok();
  }

  const crypto::PublicKey& key_;
  const VerifyOptions& options_;
  std::optional<PreviousPackage> previous_;
  PackageFacts& facts_;
  std::optional<UstarReader> reader_;
  int64_t mtime_ = 0;
  crypto::Checkpoint checkpoint_;
  Sha256Digest manifest_sha256_{};
  std::string media_text_;
  std::string manifest_text_;
  std::string previous_note_;
  std::string proof_text_;
  Prefix prefix_;
  Sha256Digest root_{};
  std::map<uint64_t, Sha256Digest> roots_;
  std::optional<ReportBuilder> reports_{std::in_place};
  std::vector<ManifestEntry> members_;  // every member but checkpoint and manifest, in order
};

}  // namespace

Result<Verification> VerifyPackage(const std::string& path, const crypto::PublicKey& relay_key,
                                   const VerifyOptions& options) {
  Verification verification;
  std::optional<PreviousPackage> previous;
  if (options.previous_path) {
    FERRY_ASSIGN_OR_RETURN(const Verification older,
                           VerifyPackage(*options.previous_path, relay_key, VerifyOptions{}));
    if (!older.ok()) {
      verification.fault = "previous package " + *options.previous_path + ": " + *older.fault;
      return verification;
    }
    PreviousPackage old;
    old.path = *options.previous_path;
    old.origin = older.facts.origin;
    old.size = static_cast<uint64_t>(older.facts.tree_size);
    auto root = crypto::ParseDigestHex(older.facts.root_hex);
    if (!root.ok()) return IoError("previous package: no root after verification");
    old.root = *root;
    previous = old;
  }
  Verifier verifier(relay_key, options, std::move(previous), verification.facts);
  const Status status = verifier.Run(path);
  if (!status.ok()) {
    if (status.error().kind() != ErrorKind::kInvalid) return status.error();
    verification.fault = status.error().message();
  }
  return verification;
}

}  // namespace ferry::evidence
