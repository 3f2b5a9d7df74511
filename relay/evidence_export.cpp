#include "relay/evidence_export.hpp"

#include <unistd.h>

#include "crypto/keyfile.hpp"
#include "evidence/package.hpp"

namespace ferry::relay {
namespace {

constexpr const char* kExportColumns =
    "id, exported_at, exported_by, label, nonce, first_seq, tree_size, root_sha256, checkpoint, "
    "file, package_sha256, package_bytes";

EvidenceExport ExportFromRow(const sql::Statement& row) {
  EvidenceExport record;
  record.id = row.Int(0);
  record.exported_at = row.Int(1);
  record.exported_by = row.Text(2);
  record.label = row.OptionalText(3);
  record.nonce = row.OptionalText(4);
  record.first = row.Int(5);
  record.tree_size = row.Int(6);
  record.root_sha256 = row.Text(7);
  record.checkpoint = row.Text(8);
  record.file = row.Text(9);
  record.package_sha256 = row.Text(10);
  record.package_bytes = row.Int(11);
  return record;
}

Result<std::optional<EvidenceExport>> LastExport(sql::Database& db) {
  FERRY_ASSIGN_OR_RETURN(sql::Statement query,
                         db.Prepare(std::string("SELECT ") + kExportColumns +
                                    " FROM evidence_exports ORDER BY id DESC LIMIT 1"));
  FERRY_ASSIGN_OR_RETURN(const bool row, query.Step());
  if (!row) return std::optional<EvidenceExport>();
  return std::optional<EvidenceExport>(ExportFromRow(query));
}

Result<int64_t> LastSequence(sql::Database& db) {
  FERRY_ASSIGN_OR_RETURN(sql::Statement query,
                         db.Prepare("SELECT COALESCE(MAX(seq), 0) FROM events"));
  FERRY_ASSIGN_OR_RETURN(const bool row, query.Step());
  return row ? query.Int(0) : 0;
}

// The log's leaves straight from SQLite, one row at a time.
evidence::LeafSource SqliteLeaves(sql::Database& db) {
  return [&db](int64_t from, int64_t to, const evidence::LeafVisitor& visit) -> Status {
    FERRY_ASSIGN_OR_RETURN(
        sql::Statement query,
        db.Prepare("SELECT seq, leaf FROM events WHERE seq BETWEEN ? AND ? ORDER BY seq"));
    query.Bind(1, from).Bind(2, to);
    while (true) {
      FERRY_ASSIGN_OR_RETURN(const bool row, query.Step());
      if (!row) return Ok();
      FERRY_RETURN_IF_ERROR(visit(query.Int(0), query.Text(1)));
    }
  };
}

Status Record(sql::Database& db, const EvidenceExport& record) {
  FERRY_ASSIGN_OR_RETURN(
      sql::Statement insert,
      db.Prepare("INSERT INTO evidence_exports (exported_at, exported_by, label, nonce, first_seq, "
                 "tree_size, root_sha256, checkpoint, file, package_sha256, package_bytes) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
  insert.Bind(1, record.exported_at)
      .Bind(2, record.exported_by)
      .BindOptional(3, record.label)
      .BindOptional(4, record.nonce)
      .Bind(5, record.first)
      .Bind(6, record.tree_size)
      .Bind(7, record.root_sha256)
      .Bind(8, record.checkpoint)
      .Bind(9, record.file)
      .Bind(10, record.package_sha256)
      .Bind(11, record.package_bytes);
  return insert.Run();
}

}  // namespace

Result<EvidenceExportResult> ExportEvidence(Relay& relay, const EvidenceExportOptions& options) {
  if (options.since_last && options.from) {
    return UsageError("give --since-last or --from N, not both");
  }
  if (fs::Exists(options.out_path)) {
    return IoError(options.out_path + ": already exists; refusing to overwrite");
  }
  sql::Database& db = relay.db();
  FERRY_ASSIGN_OR_RETURN(const crypto::SigningKey key,
                         crypto::ReadSecretKeyFile(relay.dir().identity_key(), nullptr));
  FERRY_ASSIGN_OR_RETURN(const std::optional<std::string> site_id, relay.SiteId());
  // The log only grows: events appended while this runs lie beyond tree_size and wait for the
  // next export.
  FERRY_ASSIGN_OR_RETURN(const int64_t tree_size, LastSequence(db));
  FERRY_ASSIGN_OR_RETURN(const std::optional<EvidenceExport> previous, LastExport(db));

  evidence::PackageRequest request;
  request.origin = evidence::RelayOrigin(site_id, key.id());
  request.tree_size = tree_size;
  request.site_id = site_id;
  request.nonce = options.nonce;
  request.label = options.label;
  request.exported_by = options.actor;
  request.exported_at = Now();
  request.progress = options.progress;
  if (previous) request.previous_checkpoint = previous->checkpoint;
  if (options.from) {
    if (*options.from < 1 || *options.from > tree_size) {
      return UsageError("--from " + std::to_string(*options.from) + ": the log holds events 1 to " +
                        std::to_string(tree_size));
    }
    request.first = *options.from;
  } else if (options.since_last && previous) {
    if (previous->tree_size >= tree_size) {
      return UsageError("nothing to export: no event since the last export (" +
                        std::to_string(previous->tree_size) +
                        " events); a full export (without --since-last) covers them again");
    }
    request.first = previous->tree_size + 1;
  }

  FERRY_ASSIGN_OR_RETURN(evidence::PackageSummary summary,
                         evidence::WritePackage(options.out_path, request, SqliteLeaves(db), key));

  EvidenceExport record;
  record.exported_at = request.exported_at;
  record.exported_by = request.exported_by;
  record.label = request.label;
  record.nonce = request.nonce;
  record.first = summary.first;
  record.tree_size = summary.tree_size;
  record.root_sha256 = crypto::DigestHex(summary.root);
  record.checkpoint = summary.checkpoint;
  record.file = options.out_path;
  record.package_sha256 = crypto::DigestHex(summary.package_sha256);
  record.package_bytes = static_cast<int64_t>(summary.package_bytes);
  const Status recorded = Record(db, record);
  if (!recorded.ok()) {
    // Unrecorded, the package would chain from a checkpoint the next export does not know.
    ::unlink(options.out_path.c_str());
    return std::move(recorded).error().Context("recording the export (the package was removed)");
  }
  record.id = db.LastInsertRowId();
  return EvidenceExportResult{std::move(record), std::move(summary)};
}

Result<std::vector<EvidenceExport>> ListEvidenceExports(sql::Database& db) {
  FERRY_ASSIGN_OR_RETURN(sql::Statement query, db.Prepare(std::string("SELECT ") + kExportColumns +
                                                          " FROM evidence_exports ORDER BY id"));
  std::vector<EvidenceExport> out;
  while (true) {
    FERRY_ASSIGN_OR_RETURN(const bool row, query.Step());
    if (!row) break;
    out.push_back(ExportFromRow(query));
  }
  return out;
}

}  // namespace ferry::relay
