#include "relay/catalog.hpp"

#include <algorithm>
#include <set>

#include "relay/event_log.hpp"

namespace ferry::relay {
namespace {

constexpr const char* kBundleColumns =
    "b.id, b.channel, b.sequence, b.base_sequence, b.manifest_sha256, b.created, b.expires, "
    "b.root_version, b.imported_at, b.source, b.patch_count";

BundleRecord BundleFromRow(const sql::Statement& row) {
  BundleRecord record;
  record.id = row.Int(0);
  record.channel = row.Text(1);
  record.sequence = row.Int(2);
  record.base_sequence = row.OptionalInt(3);
  record.manifest_sha256 = row.Text(4);
  record.created = row.Int(5);
  record.expires = row.Int(6);
  record.root_version = row.Int(7);
  record.imported_at = row.Int(8);
  record.source = row.Text(9);
  record.patch_count = row.Int(10);
  return record;
}

Result<bundler::Patch> PatchFromDocument(const std::string& id, const std::string& document) {
  FERRY_ASSIGN_OR_RETURN(const json::Value value, json::Parse(document));
  return bundler::PatchFromJson(value, "patch " + id);
}

bool Selected(const PatchSelection& selection, const std::set<std::string>& ids,
              const bundler::Patch& patch) {
  if (selection.all || ids.count(patch.id)) return true;
  return selection.min_severity &&
         bundler::SeverityRank(patch.severity) >= bundler::SeverityRank(*selection.min_severity);
}

Status CheckSelection(const PatchSelection& selection, const std::vector<CatalogPatch>& patches) {
  if (selection.ids.empty() && !selection.all && !selection.min_severity) {
    return UsageError("name patch ids, --all or --severity LEVEL");
  }
  if (selection.min_severity && !bundler::IsKnownSeverity(*selection.min_severity)) {
    return UsageError("--severity \"" + *selection.min_severity +
                      "\" is not critical, high, medium, low, none or unknown");
  }
  for (const std::string& id : selection.ids) {
    const bool known = std::any_of(patches.begin(), patches.end(),
                                   [&](const CatalogPatch& p) { return p.patch.id == id; });
    if (!known) return UsageError("no patch \"" + id + "\" in the catalog");
  }
  return Ok();
}

// Applies `change` to each selected patch whose approval state differs from `approve`, with one
// audit event per patch, all in one transaction.
Result<std::vector<std::string>> ChangeApprovals(sql::Database& db, const PatchSelection& selection,
                                                 const std::string& actor, bool approve) {
  FERRY_ASSIGN_OR_RETURN(const std::vector<CatalogPatch> patches, ListPatches(db));
  FERRY_RETURN_IF_ERROR(CheckSelection(selection, patches));
  const std::set<std::string> ids(selection.ids.begin(), selection.ids.end());
  std::vector<std::string> changed;
  FERRY_RETURN_IF_ERROR(db.Begin());
  const auto body = [&]() -> Status {
    FERRY_ASSIGN_OR_RETURN(
        sql::Statement statement,
        db.Prepare(approve ? "INSERT INTO approvals (patch_id, approved_at, actor) VALUES (?, ?, ?)"
                           : "DELETE FROM approvals WHERE patch_id = ?"));
    for (const CatalogPatch& entry : patches) {
      if (!Selected(selection, ids, entry.patch) || entry.approved_at.has_value() == approve) {
        continue;
      }
      statement.Bind(1, entry.patch.id);
      if (approve) statement.Bind(2, Now()).Bind(3, actor);
      FERRY_RETURN_IF_ERROR(statement.Run());
      json::Object details{{"package", entry.patch.package},
                           {"version", entry.patch.version},
                           {"severity", entry.patch.severity}};
      // The vendor's release date starts the clock of the evidence reports' deadlines.
      if (entry.patch.released) details["released"] = FormatTime(*entry.patch.released);
      FERRY_ASSIGN_OR_RETURN(const Event event,
                             AppendEvent(db, actor, approve ? "patch.approved" : "patch.revoked",
                                         entry.patch.id, std::move(details)));
      (void)event;
      changed.push_back(entry.patch.id);
    }
    // The version names the approved patch set too: a serving relay reloads what it offers
    // endpoints when it moves, and cached answers of the old set are dropped.
    if (!changed.empty()) {
      FERRY_RETURN_IF_ERROR(db.Execute(
          "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'catalog_version'"));
    }
    return db.Commit();
  };
  Status done = body();
  if (!done.ok()) {
    db.Rollback();
    return std::move(done).error();
  }
  return changed;
}

}  // namespace

Result<std::vector<BundleRecord>> ListBundles(sql::Database& db) {
  FERRY_ASSIGN_OR_RETURN(sql::Statement query,
                         db.Prepare(std::string("SELECT ") + kBundleColumns +
                                    " FROM bundles b ORDER BY b.channel, b.sequence"));
  std::vector<BundleRecord> out;
  while (true) {
    FERRY_ASSIGN_OR_RETURN(const bool row, query.Step());
    if (!row) break;
    out.push_back(BundleFromRow(query));
  }
  return out;
}

Result<std::optional<BundleRecord>> FindBundle(sql::Database& db, const std::string& channel,
                                               int64_t sequence) {
  FERRY_ASSIGN_OR_RETURN(sql::Statement query,
                         db.Prepare(std::string("SELECT ") + kBundleColumns +
                                    " FROM bundles b WHERE b.channel = ? AND b.sequence = ?"));
  query.Bind(1, channel).Bind(2, sequence);
  FERRY_ASSIGN_OR_RETURN(const bool row, query.Step());
  if (!row) return std::optional<BundleRecord>();
  return std::optional<BundleRecord>(BundleFromRow(query));
}

Result<std::optional<int64_t>> ChannelLastSequence(sql::Database& db, const std::string& channel) {
  FERRY_ASSIGN_OR_RETURN(sql::Statement query,
                         db.Prepare("SELECT last_sequence FROM channels WHERE name = ?"));
  query.Bind(1, channel);
  FERRY_ASSIGN_OR_RETURN(const bool row, query.Step());
  if (!row) return std::optional<int64_t>();
  return std::optional<int64_t>(query.Int(0));
}

Result<std::vector<CatalogPatch>> ListPatches(sql::Database& db) {
  FERRY_ASSIGN_OR_RETURN(
      sql::Statement query,
      db.Prepare("SELECT p.id, p.document, b.channel, b.sequence, a.approved_at FROM patches p "
                 "JOIN bundles b ON b.id = p.bundle_id "
                 "LEFT JOIN approvals a ON a.patch_id = p.id ORDER BY p.id"));
  std::vector<CatalogPatch> out;
  while (true) {
    FERRY_ASSIGN_OR_RETURN(const bool row, query.Step());
    if (!row) break;
    CatalogPatch entry;
    FERRY_ASSIGN_OR_RETURN(entry.patch, PatchFromDocument(query.Text(0), query.Text(1)));
    entry.channel = query.Text(2);
    entry.sequence = query.Int(3);
    entry.approved_at = query.OptionalInt(4);
    out.push_back(std::move(entry));
  }
  return out;
}

Result<std::optional<bundler::Patch>> FindPatch(sql::Database& db, const std::string& id) {
  FERRY_ASSIGN_OR_RETURN(sql::Statement query,
                         db.Prepare("SELECT document FROM patches WHERE id = ?"));
  query.Bind(1, id);
  FERRY_ASSIGN_OR_RETURN(const bool row, query.Step());
  if (!row) return std::optional<bundler::Patch>();
  FERRY_ASSIGN_OR_RETURN(bundler::Patch patch, PatchFromDocument(id, query.Text(0)));
  return std::optional<bundler::Patch>(std::move(patch));
}

Result<bool> HasPayloadRecord(sql::Database& db, const std::string& sha256_hex) {
  FERRY_ASSIGN_OR_RETURN(sql::Statement query, db.Prepare("SELECT 1 FROM payloads WHERE sha256 = ?"));
  query.Bind(1, sha256_hex);
  return query.Step();
}

Result<std::vector<std::string>> ApprovePatches(sql::Database& db, const PatchSelection& selection,
                                                const std::string& actor) {
  return ChangeApprovals(db, selection, actor, true);
}

Result<std::vector<std::string>> RevokePatches(sql::Database& db, const PatchSelection& selection,
                                               const std::string& actor) {
  return ChangeApprovals(db, selection, actor, false);
}

}  // namespace ferry::relay
