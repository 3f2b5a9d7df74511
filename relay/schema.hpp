#pragma once

#include "common/error.hpp"
#include "relay/sqlite.hpp"

namespace ferry::relay {

// The schema version this build writes; PRAGMA user_version holds the database's.
inline constexpr int64_t kSchemaVersion = 3;

// Brings the database up to kSchemaVersion, one migration per transaction. A database from a
// newer Ferry is refused rather than guessed at.
Status Migrate(sql::Database& db);

// Refuses a database whose schema is not exactly kSchemaVersion (for read-only opens).
Status CheckSchema(sql::Database& db);

}  // namespace ferry::relay
