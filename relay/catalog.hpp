#pragma once

// Reading and changing the relay's catalog: imported bundles, their patches and payloads, the
// channels' sequence numbers and the operator's approvals. Every change appends its audit event
// in the same transaction.

#include <optional>
#include <string>
#include <vector>

#include "bundler/manifest.hpp"
#include "common/error.hpp"
#include "relay/sqlite.hpp"

namespace ferry::relay {

struct BundleRecord {
  int64_t id = 0;
  std::string channel;
  int64_t sequence = 0;
  std::optional<int64_t> base_sequence;
  std::string manifest_sha256;
  UnixTime created = 0;
  UnixTime expires = 0;
  int64_t root_version = 0;
  UnixTime imported_at = 0;
  std::string source;  // the file name it was imported from
  int64_t patch_count = 0;
};

struct CatalogPatch {
  bundler::Patch patch;
  std::string channel;
  int64_t sequence = 0;  // of the bundle that brought it
  std::optional<UnixTime> approved_at;
};

Result<std::vector<BundleRecord>> ListBundles(sql::Database& db);
Result<std::optional<BundleRecord>> FindBundle(sql::Database& db, const std::string& channel,
                                               int64_t sequence);
Result<std::optional<int64_t>> ChannelLastSequence(sql::Database& db, const std::string& channel);
Result<std::vector<CatalogPatch>> ListPatches(sql::Database& db);
// The stored patch with this id, if any (to detect a different patch reusing an id).
Result<std::optional<bundler::Patch>> FindPatch(sql::Database& db, const std::string& id);
Result<bool> HasPayloadRecord(sql::Database& db, const std::string& sha256_hex);

// Which patches an approval or revocation names.
struct PatchSelection {
  std::vector<std::string> ids;
  bool all = false;
  std::optional<std::string> min_severity;  // this severity or worse
};

// Approves the selected patches not yet approved; returns their ids. Unknown ids are a usage error
// and change nothing. Approving or revoking anything raises meta catalog_version by one.
Result<std::vector<std::string>> ApprovePatches(sql::Database& db, const PatchSelection& selection,
                                                const std::string& actor);
// Withdraws approval from the selected approved patches; returns their ids.
Result<std::vector<std::string>> RevokePatches(sql::Database& db, const PatchSelection& selection,
                                               const std::string& actor);

}  // namespace ferry::relay
