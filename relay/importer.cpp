#include "relay/importer.hpp"

#include <algorithm>
#include <set>

#include "bundler/bundle_reader.hpp"
#include "crypto/hash.hpp"
#include "relay/catalog.hpp"
#include "relay/event_log.hpp"

namespace ferry::relay {
namespace {

constexpr int64_t kMaxClockSkew = 86400;

std::string BaseName(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string Subject(const bundler::Manifest& manifest) {
  return manifest.channel + "/" + std::to_string(manifest.sequence);
}

// The checks that need the relay's own state, run after the signatures and before any payload.
Status CheckAgainstCatalog(Relay& relay, const bundler::BundleHead& head) {
  const bundler::Manifest& manifest = head.manifest;
  FERRY_ASSIGN_OR_RETURN(const std::optional<BundleRecord> same_sequence,
                         FindBundle(relay.db(), manifest.channel, manifest.sequence));
  if (same_sequence) {
    return InvalidError("sequence " + std::to_string(manifest.sequence) + " of channel \"" +
                        manifest.channel + "\" was already imported with a different manifest");
  }
  FERRY_ASSIGN_OR_RETURN(const std::optional<int64_t> last,
                         ChannelLastSequence(relay.db(), manifest.channel));
  if (last && manifest.sequence <= *last) {
    return InvalidError("rollback: sequence " + std::to_string(manifest.sequence) +
                        " of channel \"" + manifest.channel + "\" is not above " +
                        std::to_string(*last) + ", the last one imported");
  }
  if (manifest.base_sequence) {
    FERRY_ASSIGN_OR_RETURN(const std::optional<BundleRecord> base,
                           FindBundle(relay.db(), manifest.channel, *manifest.base_sequence));
    if (!base) {
      return InvalidError("delta bundle needs base sequence " +
                          std::to_string(*manifest.base_sequence) + " of channel \"" +
                          manifest.channel + "\", which is not imported");
    }
    for (const auto& digest : manifest.omitted) {
      FERRY_ASSIGN_OR_RETURN(const bool present,
                             HasPayloadRecord(relay.db(), crypto::DigestHex(digest)));
      if (!present) {
        return InvalidError("delta bundle leaves out payload " + crypto::DigestHex(digest) +
                            ", which the store does not hold");
      }
    }
  }
  for (const bundler::Patch& patch : manifest.patches) {
    FERRY_ASSIGN_OR_RETURN(const std::optional<bundler::Patch> known,
                           FindPatch(relay.db(), patch.id));
    if (known && known->payload.sha256 != patch.payload.sha256) {
      return InvalidError("patch \"" + patch.id +
                          "\" is already in the catalog with a different payload");
    }
  }
  return Ok();
}

Result<bool> ManifestAlreadyImported(sql::Database& db, const std::string& manifest_sha256) {
  FERRY_ASSIGN_OR_RETURN(sql::Statement query,
                         db.Prepare("SELECT 1 FROM bundles WHERE manifest_sha256 = ?"));
  query.Bind(1, manifest_sha256);
  return query.Step();
}

// Writes the verified bundle into the catalog and its event, in one transaction.
Status Publish(Relay& relay, const bundler::VerifiedBundle& bundle, const crypto::TrustRoot& pinned,
               const std::string& manifest_sha256, const std::string& import_id,
               const std::string& source, const std::string& actor,
               std::optional<int64_t>& new_root_version) {
  sql::Database& db = relay.db();
  const bundler::Manifest& manifest = bundle.head.manifest;
  const UnixTime now = Now();
  // Root rotations the bundle carried become the relay's trust, in the same transaction.
  FERRY_ASSIGN_OR_RETURN(
      sql::Statement insert_root,
      db.Prepare("INSERT INTO trust_roots (version, document, accepted_at) VALUES (?, ?, ?)"));
  for (const std::string& text : bundle.head.root_chain) {
    FERRY_ASSIGN_OR_RETURN(const crypto::TrustRoot root, crypto::ParseTrustRoot(text));
    if (root.version <= pinned.version) continue;
    insert_root.Bind(1, root.version).BindBlob(2, text).Bind(3, now);
    FERRY_RETURN_IF_ERROR(insert_root.Run());
    new_root_version = root.version;
  }
  FERRY_ASSIGN_OR_RETURN(
      sql::Statement channel,
      db.Prepare("INSERT INTO channels (name, last_sequence) VALUES (?, ?) "
                 "ON CONFLICT(name) DO UPDATE SET last_sequence = excluded.last_sequence"));
  channel.Bind(1, manifest.channel).Bind(2, manifest.sequence);
  FERRY_RETURN_IF_ERROR(channel.Run());
  FERRY_ASSIGN_OR_RETURN(
      sql::Statement insert_bundle,
      db.Prepare(
          "INSERT INTO bundles (channel, sequence, base_sequence, manifest_sha256, manifest, "
          "created, expires, root_version, imported_at, import_id, source, patch_count) "
          "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
  insert_bundle.Bind(1, manifest.channel)
      .Bind(2, manifest.sequence)
      .BindOptional(3, manifest.base_sequence)
      .Bind(4, manifest_sha256)
      .BindBlob(5, bundle.head.manifest_text)
      .Bind(6, manifest.created)
      .Bind(7, manifest.expires)
      .Bind(8, manifest.root_version)
      .Bind(9, now)
      .Bind(10, import_id)
      .Bind(11, source)
      .Bind(12, static_cast<int64_t>(manifest.patches.size()));
  FERRY_RETURN_IF_ERROR(insert_bundle.Run());
  const int64_t bundle_id = db.LastInsertRowId();
  FERRY_ASSIGN_OR_RETURN(sql::Statement insert_payload,
                         db.Prepare("INSERT OR IGNORE INTO payloads (sha256, size) VALUES (?, ?)"));
  FERRY_ASSIGN_OR_RETURN(
      sql::Statement insert_patch,
      // A patch already in the catalog moves to the newer bundle and takes its metadata (an
      // advisory may have raised its severity or added CVEs): agents check a patch against the
      // manifest the relay names for it, under their newest root, and after a key rotation only
      // the newest bundle carries signatures that root accepts. Its payload cannot change:
      // CheckAgainstCatalog refused that.
      db.Prepare("INSERT INTO patches (id, bundle_id, kind, package, version, "
                 "architecture, target_os, severity, released, payload_sha256, document) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                 "ON CONFLICT(id) DO UPDATE SET bundle_id = excluded.bundle_id, kind = "
                 "excluded.kind, package = excluded.package, "
                 "version = excluded.version, architecture = excluded.architecture, "
                 "target_os = excluded.target_os, severity = excluded.severity, "
                 "released = excluded.released, document = excluded.document"));
  for (const bundler::Patch& patch : manifest.patches) {
    const std::string sha = crypto::DigestHex(patch.payload.sha256);
    insert_payload.Bind(1, sha).Bind(2, static_cast<int64_t>(patch.payload.size));
    FERRY_RETURN_IF_ERROR(insert_payload.Run());
    FERRY_ASSIGN_OR_RETURN(const std::string document,
                           json::Canonical(bundler::PatchToJson(patch)));
    insert_patch.Bind(1, patch.id)
        .Bind(2, bundle_id)
        .Bind(3, patch.kind)
        .Bind(4, patch.package)
        .Bind(5, patch.version)
        .Bind(6, patch.architecture)
        .Bind(7, patch.target_os)
        .Bind(8, patch.severity)
        .BindOptional(9, patch.released)
        .Bind(10, sha)
        .Bind(11, document);
    FERRY_RETURN_IF_ERROR(insert_patch.Run());
  }
  FERRY_ASSIGN_OR_RETURN(const int64_t ratchet, relay.GetMetaInt(kMetaRatchet, 0));
  FERRY_RETURN_IF_ERROR(
      relay.SetMeta(kMetaRatchet, std::to_string(std::max(ratchet, manifest.created))));
  FERRY_ASSIGN_OR_RETURN(const int64_t catalog_version, relay.GetMetaInt(kMetaCatalogVersion, 0));
  FERRY_RETURN_IF_ERROR(relay.SetMeta(kMetaCatalogVersion, std::to_string(catalog_version + 1)));

  json::Object details{{"file", source},
                       {"manifest_sha256", manifest_sha256},
                       {"created", FormatTime(manifest.created)},
                       {"expires", FormatTime(manifest.expires)},
                       {"trusted_root_version", bundle.root.version},
                       {"patches", static_cast<int64_t>(manifest.patches.size())},
                       {"payloads", static_cast<int64_t>(bundle.payload_count)},
                       {"payload_bytes", bundle.payload_bytes}};
  if (manifest.base_sequence) details["base_sequence"] = *manifest.base_sequence;
  if (new_root_version) details["new_root_version"] = *new_root_version;
  FERRY_ASSIGN_OR_RETURN(const Event event, AppendEvent(db, actor, "import.accepted",
                                                        Subject(manifest), std::move(details)));
  (void)event;
  return Ok();
}

// Records why a bundle was refused (or could not be imported) in a transaction of its own.
void RecordRefusal(Relay& relay, const std::string& source, const Error& error,
                   const std::optional<bundler::Manifest>& manifest, const std::string& actor) {
  json::Object details{{"file", source}, {"reason", error.message()}};
  std::string subject = source;
  if (manifest) {
    subject = Subject(*manifest);
  }
  const char* type = error.kind() == ErrorKind::kInvalid ? "import.rejected" : "import.failed";
  // If even the event cannot be written (a full disk), the error itself still reaches the operator.
  (void)AppendEvent(relay.db(), actor, type, subject, std::move(details));
}

}  // namespace

Result<ImportReport> ImportBundle(Relay& relay, const std::string& path,
                                  const ImportOptions& options) {
  const std::string source = BaseName(path);
  FERRY_ASSIGN_OR_RETURN(const crypto::TrustRoot pinned, relay.TrustedRoot());
  FERRY_ASSIGN_OR_RETURN(const int64_t ratchet, relay.GetMetaInt(kMetaRatchet, 0));
  FERRY_ASSIGN_OR_RETURN(const std::optional<std::string> site, relay.SiteId());

  ImportReport report;
  std::optional<bundler::Manifest> seen_manifest;
  bundler::VerifyOptions verify;
  // The time ratchet: a clock set back cannot make an expired bundle fresh again.
  verify.now = std::max(Now(), ratchet);
  verify.site = site;
  verify.progress = options.progress;
  verify.already_known = [&](std::string_view manifest_text) -> Result<bool> {
    report.manifest_sha256 = crypto::DigestHex(crypto::Sha256Of(manifest_text));
    return ManifestAlreadyImported(relay.db(), report.manifest_sha256);
  };
  verify.on_head = [&](const bundler::BundleHead& head, const crypto::TrustRoot&) -> Status {
    seen_manifest = head.manifest;
    // A creation time far ahead would drag the ratchet forward and make every later bundle look
    // expired; a day covers clocks that drift on an isolated network.
    if (head.manifest.created > Now() + kMaxClockSkew) {
      return InvalidError("manifest created " + FormatTime(head.manifest.created) +
                          " is more than a day ahead of this relay's clock (" + FormatTime(Now()) +
                          "); check the clock");
    }
    if (head.manifest.site && !site) {
      return InvalidError("bundle is bound to site \"" + *head.manifest.site +
                          "\" but this relay has no site id");
    }
    return CheckAgainstCatalog(relay, head);
  };

  const std::string import_id = NewImportId();
  auto refuse = [&](Error error) -> Error {
    (void)relay.payloads().Discard(import_id);
    RecordRefusal(relay, source, error, seen_manifest, options.actor);
    return error;
  };
  auto sink = relay.payloads().StagingSink(import_id);
  if (!sink.ok()) return refuse(std::move(sink).error().Context(path));
  auto verified = bundler::VerifyBundle(path, pinned, verify, sink->get());
  if (!verified.ok()) return refuse(std::move(verified).error());
  report.manifest = verified->head.manifest;
  if (verified->already_known) {
    // Nothing to record, but a payload the store lost (a disk replaced, a file deleted) was just
    // staged from verified bytes: putting it back repairs the store.
    report.already_present = true;
    FERRY_ASSIGN_OR_RETURN(report.payloads_written, relay.payloads().Publish(import_id));
    return report;
  }
  // The staged files must be durable before the commit that makes the catalog point at them.
  Status durable = relay.payloads().SyncStaging(import_id);
  if (!durable.ok()) return refuse(std::move(durable).error().Context(path));
  report.payload_bytes = verified->payload_bytes;

  Status published = relay.db().Begin();
  if (published.ok()) {
    published = Publish(relay, *verified, pinned, report.manifest_sha256, import_id, source,
                        options.actor, report.new_root_version);
    if (published.ok()) published = relay.db().Commit();
    if (!published.ok()) relay.db().Rollback();
  }
  if (!published.ok()) return refuse(std::move(published).error().Context(path));
  // Committed: from here a crash is finished by RecoverInterruptedImports.
  auto published_files = relay.payloads().Publish(import_id);
  if (!published_files.ok()) {
    return std::move(published_files)
        .error()
        .Context(path +
                 ": imported, but moving its payloads into the store failed (the next "
                 "import or fsck finishes the move)");
  }
  report.payloads_written = *published_files;
  return report;
}

Status RecoverInterruptedImports(Relay& relay) {
  FERRY_ASSIGN_OR_RETURN(const std::vector<std::string> staged, relay.payloads().StagedImports());
  for (const std::string& import_id : staged) {
    FERRY_ASSIGN_OR_RETURN(sql::Statement query,
                           relay.db().Prepare("SELECT 1 FROM bundles WHERE import_id = ?"));
    query.Bind(1, import_id);
    FERRY_ASSIGN_OR_RETURN(const bool committed, query.Step());
    if (committed) {
      FERRY_ASSIGN_OR_RETURN(const size_t moved, relay.payloads().Publish(import_id));
      (void)moved;
    } else {
      FERRY_RETURN_IF_ERROR(relay.payloads().Discard(import_id));
    }
  }
  return Ok();
}

}  // namespace ferry::relay
