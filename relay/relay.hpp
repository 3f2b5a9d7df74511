#pragma once

// An opened relay data directory: the database, the payload store and the pinned trust, the
// handle every relay command works through.

#include <optional>
#include <string>

#include "common/error.hpp"
#include "crypto/trust_root.hpp"
#include "relay/data_dir.hpp"
#include "relay/payload_store.hpp"
#include "relay/sqlite.hpp"

namespace ferry::relay {

class Relay {
 public:
  enum class Access { kReadWrite, kReadOnly };

  // Opens an initialised data directory. Read-write opens migrate the schema; read-only opens
  // (status and the listings) never write and are safe beside a serving or importing relay.
  static Result<Relay> Open(const std::string& data_dir, Access access);

  sql::Database& db() { return db_; }
  const DataDir& dir() const { return dir_; }
  const PayloadStore& payloads() const { return payloads_; }

  // The newest trust root the relay has accepted (the pinned v1 or a rotation since).
  Result<crypto::TrustRoot> TrustedRoot();

  Result<std::optional<std::string>> GetMeta(const std::string& key);
  Status SetMeta(const std::string& key, const std::string& value);
  Result<int64_t> GetMetaInt(const std::string& key, int64_t fallback);

  // The site this relay serves, if init named one.
  Result<std::optional<std::string>> SiteId() { return GetMeta("site_id"); }

 private:
  Relay(DataDir dir, sql::Database db) : dir_(dir), db_(std::move(db)), payloads_(std::move(dir)) {}
  DataDir dir_;
  sql::Database db_;
  PayloadStore payloads_;
};

// Meta keys.
inline constexpr const char* kMetaSiteId = "site_id";
inline constexpr const char* kMetaRatchet = "ratchet_time";         // newest accepted `created`
inline constexpr const char* kMetaCatalogVersion = "catalog_version";
inline constexpr const char* kMetaOperatorTokenHash = "operator_token_sha256";

}  // namespace ferry::relay
