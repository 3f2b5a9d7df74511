#include "relay/schema.hpp"

#include <string>

namespace ferry::relay {
namespace {

// Migration N takes the schema from version N-1 to N. Append, never edit: relays in the field
// have run the old ones.
constexpr const char* kMigrations[] = {
    // 1: the catalog, the payload index and the append-only event log.
    R"sql(
CREATE TABLE meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE trust_roots (
  version INTEGER PRIMARY KEY,
  document BLOB NOT NULL,
  accepted_at INTEGER NOT NULL
);
CREATE TABLE channels (
  name TEXT PRIMARY KEY,
  last_sequence INTEGER NOT NULL
);
CREATE TABLE bundles (
  id INTEGER PRIMARY KEY,
  channel TEXT NOT NULL REFERENCES channels(name),
  sequence INTEGER NOT NULL,
  base_sequence INTEGER,
  manifest_sha256 TEXT NOT NULL,
  manifest BLOB NOT NULL,
  created INTEGER NOT NULL,
  expires INTEGER NOT NULL,
  root_version INTEGER NOT NULL,
  imported_at INTEGER NOT NULL,
  import_id TEXT NOT NULL UNIQUE,
  source TEXT NOT NULL,
  patch_count INTEGER NOT NULL,
  UNIQUE (channel, sequence)
);
CREATE TABLE payloads (
  sha256 TEXT PRIMARY KEY,
  size INTEGER NOT NULL
);
CREATE TABLE patches (
  id TEXT PRIMARY KEY,
  bundle_id INTEGER NOT NULL REFERENCES bundles(id),
  kind TEXT NOT NULL,
  package TEXT NOT NULL,
  version TEXT NOT NULL,
  architecture TEXT NOT NULL,
  target_os TEXT NOT NULL,
  severity TEXT NOT NULL,
  released INTEGER,
  payload_sha256 TEXT NOT NULL REFERENCES payloads(sha256),
  document BLOB NOT NULL
);
CREATE INDEX patches_by_package ON patches(package);
CREATE TABLE approvals (
  patch_id TEXT PRIMARY KEY REFERENCES patches(id),
  approved_at INTEGER NOT NULL,
  actor TEXT NOT NULL
);
-- Endpoint inventories, stored once by the SHA-256 of their canonical form: many endpoints
-- share an image, and applicability is computed per distinct inventory.
CREATE TABLE inventories (
  sha256 TEXT PRIMARY KEY,
  canonical BLOB NOT NULL,
  package_count INTEGER NOT NULL,
  first_seen INTEGER NOT NULL
);
CREATE TABLE events (
  seq INTEGER PRIMARY KEY,
  type TEXT NOT NULL,
  time INTEGER NOT NULL,
  leaf BLOB NOT NULL
);
CREATE INDEX events_by_type ON events(type);
-- The log is append-only: the database itself refuses to change or drop an event.
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
  BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
  BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
)sql",
    // 2: endpoints, their enrolment tokens and the install results they report (relay-api.md).
    R"sql(
CREATE TABLE enrollment_tokens (
  token_sha256 TEXT PRIMARY KEY,
  token_id TEXT NOT NULL UNIQUE,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  created_by TEXT NOT NULL,
  used_at INTEGER,
  used_by TEXT
);
CREATE TABLE endpoints (
  id TEXT PRIMARY KEY,
  hostname TEXT NOT NULL,
  certificate_sha256 TEXT NOT NULL UNIQUE,
  enrolled_at INTEGER NOT NULL,
  target_os TEXT NOT NULL DEFAULT '',
  last_seen INTEGER,
  inventory_sha256 TEXT REFERENCES inventories(sha256),
  needs_sha256 TEXT,
  revoked_at INTEGER
);
CREATE TABLE reports (
  endpoint_id TEXT NOT NULL REFERENCES endpoints(id),
  report_id TEXT NOT NULL,
  patch_id TEXT NOT NULL,
  result TEXT NOT NULL,
  exit_code INTEGER,
  started_at INTEGER NOT NULL,
  finished_at INTEGER NOT NULL,
  received_at INTEGER NOT NULL,
  log_excerpt TEXT NOT NULL,
  PRIMARY KEY (endpoint_id, report_id)
);
CREATE INDEX reports_by_patch ON reports(patch_id);
)sql",
    // 3: evidence exports (docs/evidence-format.md): each one's signed checkpoint, so the next
    // export carries a consistency proof from it, and the media record HIPAA asks for.
    R"sql(
CREATE TABLE evidence_exports (
  id INTEGER PRIMARY KEY,
  exported_at INTEGER NOT NULL,
  exported_by TEXT NOT NULL,
  label TEXT,
  nonce TEXT,
  first_seq INTEGER NOT NULL,
  tree_size INTEGER NOT NULL,
  root_sha256 TEXT NOT NULL,
  checkpoint TEXT NOT NULL,
  file TEXT NOT NULL,
  package_sha256 TEXT NOT NULL,
  package_bytes INTEGER NOT NULL
);
)sql",
};

constexpr int64_t kMigrationCount = static_cast<int64_t>(std::size(kMigrations));
static_assert(kMigrationCount == kSchemaVersion);

Result<int64_t> UserVersion(sql::Database& db) {
  FERRY_ASSIGN_OR_RETURN(sql::Statement statement, db.Prepare("PRAGMA user_version"));
  FERRY_ASSIGN_OR_RETURN(const bool row, statement.Step());
  return row ? statement.Int(0) : 0;
}

}  // namespace

Status Migrate(sql::Database& db) {
  FERRY_ASSIGN_OR_RETURN(int64_t version, UserVersion(db));
  if (version > kSchemaVersion) {
    return IoError(db.path() + ": schema version " + std::to_string(version) +
                   " is newer than this Ferry understands (" + std::to_string(kSchemaVersion) + ")");
  }
  for (; version < kSchemaVersion; ++version) {
    FERRY_RETURN_IF_ERROR(db.Begin());
    Status applied = db.Execute(kMigrations[version]);
    if (applied.ok()) applied = db.Execute("PRAGMA user_version=" + std::to_string(version + 1));
    if (applied.ok()) applied = db.Commit();
    if (!applied.ok()) {
      db.Rollback();
      return std::move(applied).error().Context("migration " + std::to_string(version + 1));
    }
  }
  return Ok();
}

Status CheckSchema(sql::Database& db) {
  FERRY_ASSIGN_OR_RETURN(const int64_t version, UserVersion(db));
  if (version > kSchemaVersion) {
    return IoError(db.path() + ": schema version " + std::to_string(version) +
                   " is newer than this Ferry understands (" + std::to_string(kSchemaVersion) +
                   "); use the Ferry that wrote it");
  }
  if (version != kSchemaVersion) {
    return IoError(db.path() + ": schema version " + std::to_string(version) + ", expected " +
                   std::to_string(kSchemaVersion) + " (run any write command to migrate)");
  }
  return Ok();
}

}  // namespace ferry::relay
