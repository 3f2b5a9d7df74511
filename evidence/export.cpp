#include "evidence/export.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <vector>

#include "common/file.hpp"
#include "crypto/checkpoint.hpp"
#include "crypto/merkle.hpp"
#include "evidence/event.hpp"
#include "evidence/package.hpp"
#include "evidence/ustar.hpp"

namespace ferry::evidence {
namespace {

struct SmallMember {
  std::string name;
  std::string content;
};

Status CheckRequest(const PackageRequest& request) {
  if (request.tree_size < 1) return InvalidError("the event log is empty: nothing to export");
  if (request.first < 1 || request.first > request.tree_size) {
    return UsageError("the export would start at event " + std::to_string(request.first) +
                      ", but the log holds events 1 to " + std::to_string(request.tree_size));
  }
  if (request.nonce) FERRY_RETURN_IF_ERROR(ValidateNonce(*request.nonce));
  if (request.label) FERRY_RETURN_IF_ERROR(ValidateLabel(*request.label));
  if (!crypto::IsValidNoteKeyName(request.origin)) {
    return UsageError("\"" + request.origin + "\" is not a valid checkpoint origin");
  }
  return Ok();
}

// The first pass: every leaf hash, and for the events the package carries, the reports and the
// hash and size of events.jsonl.
struct FirstPass {
  std::vector<crypto::Sha256Digest> leaf_hashes;
  crypto::Sha256Digest events_sha256{};
  uint64_t events_bytes = 0;
};

Result<FirstPass> ReadLog(const PackageRequest& request, const LeafSource& leaves,
                          ReportBuilder& reports, uint64_t progress_total) {
  FirstPass pass;
  pass.leaf_hashes.reserve(static_cast<size_t>(request.tree_size));
  crypto::Sha256 events_hash;
  int64_t expected = 1;
  FERRY_RETURN_IF_ERROR(
      leaves(1, request.tree_size, [&](int64_t seq, std::string_view leaf) -> Status {
        if (seq != expected) {
          return Status(InvalidError("event log: event " + std::to_string(expected) +
                                     " is missing (the next one is " + std::to_string(seq) + ")"));
        }
        pass.leaf_hashes.push_back(crypto::MerkleLeafHash(leaf));
        if (seq >= request.first) {
          auto event = ParseEventLeaf(leaf);
          if (!event.ok())
            return Status(std::move(event).error().Context("event " + std::to_string(seq)));
          if (event->seq != seq) {
            return Status(InvalidError("event " + std::to_string(seq) +
                                       ": its leaf says sequence " + std::to_string(event->seq)));
          }
          reports.Add(*event);
          events_hash.Update(leaf);
          events_hash.Update("\n");
          pass.events_bytes += leaf.size() + 1;
        }
        if (request.progress && seq % 4096 == 0) {
          request.progress(static_cast<uint64_t>(seq), progress_total);
        }
        ++expected;
        return Ok();
      }));
  if (expected != request.tree_size + 1) {
    return InvalidError("event log: ends at event " + std::to_string(expected - 1) + ", expected " +
                        std::to_string(request.tree_size));
  }
  pass.events_sha256 = events_hash.Finish();
  return pass;
}

// Streams events first..tree_size into the package, checking they hash as in the first pass.
Status WriteEvents(UstarWriter& tar, const PackageRequest& request, const LeafSource& leaves,
                   const FirstPass& pass, uint64_t progress_total) {
  crypto::Sha256 again;
  const uint64_t before = static_cast<uint64_t>(request.tree_size);
  const auto produce = [&](const UstarWriter::WriteFn& write) -> Status {
    return leaves(request.first, request.tree_size,
                  [&](int64_t seq, std::string_view leaf) -> Status {
                    again.Update(leaf);
                    again.Update("\n");
                    FERRY_RETURN_IF_ERROR(write(leaf));
                    FERRY_RETURN_IF_ERROR(write("\n"));
                    if (request.progress && seq % 4096 == 0) {
                      request.progress(before + static_cast<uint64_t>(seq - request.first + 1),
                                       progress_total);
                    }
                    return Ok();
                  });
  };
  FERRY_RETURN_IF_ERROR(tar.Add(kEventsMember, pass.events_bytes, produce));
  if (again.Finish() != pass.events_sha256) {
    return IoError("the event log changed while it was being exported");
  }
  return Ok();
}

Status WriteTemporary(const std::string& temp, const PackageRequest& request,
                      const std::vector<SmallMember>& head, const std::vector<ReportFile>& tail,
                      const LeafSource& leaves, const FirstPass& pass, uint64_t progress_total,
                      PackageSummary& summary) {
  FERRY_ASSIGN_OR_RETURN(fs::File file, fs::File::CreateNew(temp, 0644));
  UstarWriter tar(file, request.exported_at);
  for (const SmallMember& member : head) {
    FERRY_RETURN_IF_ERROR(tar.AddSmall(member.name, member.content));
  }
  FERRY_RETURN_IF_ERROR(WriteEvents(tar, request, leaves, pass, progress_total));
  for (const ReportFile& report : tail) {
    FERRY_RETURN_IF_ERROR(tar.AddSmall(report.name, report.content));
  }
  FERRY_RETURN_IF_ERROR(tar.Finish());
  FERRY_RETURN_IF_ERROR(file.Sync());
  FERRY_RETURN_IF_ERROR(file.Close());
  summary.package_sha256 = tar.digest();
  summary.package_bytes = tar.bytes_written();
  return Ok();
}

}  // namespace

Result<PackageSummary> WritePackage(const std::string& out_path, const PackageRequest& request,
                                    const LeafSource& leaves, const crypto::SigningKey& key) {
  FERRY_RETURN_IF_ERROR(CheckRequest(request));
  if (fs::Exists(out_path)) return IoError(out_path + ": already exists; refusing to overwrite");

  std::optional<crypto::Checkpoint> previous;
  if (request.previous_checkpoint) {
    auto checked =
        crypto::VerifyCheckpoint(*request.previous_checkpoint, request.origin, key.public_key());
    if (!checked.ok())
      return std::move(checked).error().Context("the previous export's checkpoint");
    if (checked->size > static_cast<uint64_t>(request.tree_size)) {
      return InvalidError("the log holds " + std::to_string(request.tree_size) +
                          " events, fewer than the " + std::to_string(checked->size) +
                          " of the previous export: it was rolled back");
    }
    previous = std::move(*checked);
  }

  const int64_t carried = request.tree_size - request.first + 1;
  const uint64_t progress_total = static_cast<uint64_t>(request.tree_size + carried);
  std::optional<ReportBuilder> reports(std::in_place);
  FERRY_ASSIGN_OR_RETURN(const FirstPass pass, ReadLog(request, leaves, *reports, progress_total));
  const std::span<const crypto::Sha256Digest> hashes(pass.leaf_hashes);

  PackageSummary summary;
  summary.first = request.first;
  summary.tree_size = request.tree_size;
  summary.root = crypto::MerkleRoot(hashes);
  summary.events_bytes = pass.events_bytes;

  std::vector<SmallMember> head;  // after checkpoint, media.json and manifest
  if (previous) {
    const crypto::Sha256Digest old_root = crypto::MerkleRoot(hashes.first(previous->size));
    if (old_root != previous->root) {
      return InvalidError("fork: the first " + std::to_string(previous->size) +
                          " events of the log no longer give the root of the previous export (" +
                          crypto::DigestHex(previous->root) + " then, " +
                          crypto::DigestHex(old_root) + " now)");
    }
    FERRY_ASSIGN_OR_RETURN(std::vector<crypto::Sha256Digest> proof,
                           crypto::ConsistencyProof(hashes, previous->size));
    summary.previous_size = static_cast<int64_t>(previous->size);
    head.push_back({std::string(kPreviousCheckpointMember), *request.previous_checkpoint});
    head.push_back({std::string(kConsistencyMember),
                    ConsistencyText({previous->size, static_cast<uint64_t>(request.tree_size),
                                     std::move(proof)})});
  }
  if (request.first > 1) {
    crypto::MerkleAccumulator prefix;
    for (int64_t i = 0; i < request.first - 1; ++i) prefix.Append(pass.leaf_hashes[i]);
    head.push_back({std::string(kPrefixMember), PrefixText(prefix.size(), prefix.frontier())});
  }

  ReportScope scope{request.origin, request.first, request.tree_size,
                    crypto::DigestHex(summary.root)};
  Reports rendered = reports->Finish(scope);
  reports.reset();  // only the rendered reports are written from here on
  summary.figures = rendered.figures;

  Media media;
  media.exported_at = request.exported_at;
  media.exported_by = request.exported_by;
  media.label = request.label;
  media.relay_key_id = key.id();
  media.origin = request.origin;
  media.site_id = request.site_id;
  media.first = request.first;
  media.tree_size = request.tree_size;
  media.previous_size = summary.previous_size;
  const std::string media_text = MediaJson(media);

  std::vector<ManifestEntry> manifest{{std::string(kMediaMember), crypto::Sha256Of(media_text)}};
  for (const SmallMember& member : head) {
    manifest.push_back({member.name, crypto::Sha256Of(member.content)});
  }
  manifest.push_back({std::string(kEventsMember), pass.events_sha256});
  for (const ReportFile& report : rendered.files) {
    manifest.push_back({report.name, crypto::Sha256Of(report.content)});
  }
  const std::string manifest_text = ManifestText(manifest);

  crypto::Checkpoint checkpoint;
  checkpoint.origin = request.origin;
  checkpoint.size = static_cast<uint64_t>(request.tree_size);
  checkpoint.root = summary.root;
  checkpoint.extensions.push_back(std::string(kManifestExtension) +
                                  crypto::DigestHex(crypto::Sha256Of(manifest_text)));
  if (request.nonce) checkpoint.extensions.push_back(std::string(kNonceExtension) + *request.nonce);
  FERRY_ASSIGN_OR_RETURN(summary.checkpoint,
                         crypto::SignCheckpoint(checkpoint, request.origin, key));

  head.insert(head.begin(), {{std::string(kCheckpointMember), summary.checkpoint},
                             {std::string(kMediaMember), media_text},
                             {std::string(kManifestMember), manifest_text}});

  const std::string temp = out_path + ".tmp." + std::to_string(::getpid());
  ::unlink(temp.c_str());
  Status written =
      WriteTemporary(temp, request, head, rendered.files, leaves, pass, progress_total, summary);
  if (written.ok() && ::link(temp.c_str(), out_path.c_str()) != 0) {
    const int err = errno;
    written = IoError(out_path + ": " +
                      (err == EEXIST ? std::string("already exists; refusing to overwrite")
                                     : std::string("link: ") + std::strerror(err)));
  }
  ::unlink(temp.c_str());
  FERRY_RETURN_IF_ERROR(written);
  FERRY_RETURN_IF_ERROR(fs::SyncDirectory(fs::ParentDirectory(out_path)));
  return summary;
}

}  // namespace ferry::evidence
