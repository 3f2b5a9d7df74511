#include "relay/fsck.hpp"

#include <sys/stat.h>

#include <set>

#include "crypto/hash.hpp"
#include "relay/event_log.hpp"

namespace ferry::relay {
namespace {

Status CheckIntegrity(sql::Database& db, FsckReport& report) {
  FERRY_ASSIGN_OR_RETURN(sql::Statement query, db.Prepare("PRAGMA integrity_check"));
  while (true) {
    FERRY_ASSIGN_OR_RETURN(const bool row, query.Step());
    if (!row) break;
    if (query.Text(0) != "ok") report.faults.push_back("database: " + query.Text(0));
  }
  return Ok();
}

Status CheckPayloads(Relay& relay, const FsckOptions& options, FsckReport& report) {
  FERRY_ASSIGN_OR_RETURN(sql::Statement query,
                         relay.db().Prepare("SELECT sha256, size FROM payloads ORDER BY sha256"));
  std::vector<std::pair<std::string, uint64_t>> expected;
  uint64_t total = 0;
  while (true) {
    FERRY_ASSIGN_OR_RETURN(const bool row, query.Step());
    if (!row) break;
    expected.emplace_back(query.Text(0), static_cast<uint64_t>(query.Int(1)));
    total += static_cast<uint64_t>(query.Int(1));
  }
  std::set<std::string> referenced;
  uint64_t done = 0;
  for (const auto& [hex, size] : expected) {
    referenced.insert(hex.substr(0, 2) + "/" + hex);
    auto digest = crypto::ParseDigestHex(hex);
    if (!digest.ok()) {
      report.faults.push_back("payload record " + hex + ": not a SHA-256");
      continue;
    }
    const std::string path = relay.payloads().PathOf(*digest);
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
      report.faults.push_back("payload " + hex + ": missing from the store");
      continue;
    }
    if (static_cast<uint64_t>(st.st_size) != size) {
      report.faults.push_back("payload " + hex + ": " + std::to_string(st.st_size) +
                              " bytes, the catalog says " + std::to_string(size));
      continue;
    }
    ++report.payloads_checked;
    if (!options.hash_payloads) continue;
    FERRY_ASSIGN_OR_RETURN(const crypto::Sha256Digest actual,
                           crypto::Sha256OfFile(path, [&](size_t bytes) {
                             done += bytes;
                             report.bytes_hashed += bytes;
                             if (options.progress) options.progress(done, total);
                           }));
    if (actual != *digest) {
      report.faults.push_back("payload " + hex + ": contents do not match the SHA-256");
    }
  }
  FERRY_ASSIGN_OR_RETURN(const std::vector<std::string> stored, relay.payloads().ListStored());
  for (const std::string& name : stored) {
    if (!referenced.count(name)) {
      report.faults.push_back("payloads/" + name + ": orphan file the catalog does not reference");
    }
  }
  return Ok();
}

Status CheckManifests(sql::Database& db, FsckReport& report) {
  FERRY_ASSIGN_OR_RETURN(
      sql::Statement query,
      db.Prepare("SELECT channel, sequence, manifest_sha256, manifest FROM bundles ORDER BY id"));
  while (true) {
    FERRY_ASSIGN_OR_RETURN(const bool row, query.Step());
    if (!row) break;
    if (crypto::DigestHex(crypto::Sha256Of(query.Text(3))) != query.Text(2)) {
      report.faults.push_back("bundle " + query.Text(0) + "/" + std::to_string(query.Int(1)) +
                              ": stored manifest does not match its recorded SHA-256");
    }
  }
  return Ok();
}

Status CheckTrustRoots(sql::Database& db, FsckReport& report) {
  FERRY_ASSIGN_OR_RETURN(sql::Statement query,
                         db.Prepare("SELECT version, document FROM trust_roots ORDER BY version"));
  std::optional<crypto::TrustRoot> previous;
  while (true) {
    FERRY_ASSIGN_OR_RETURN(const bool row, query.Step());
    if (!row) break;
    const std::string text = query.Text(1);
    auto root = previous ? crypto::VerifyRootUpdate(*previous, text) : crypto::ParseTrustRoot(text);
    if (!root.ok()) {
      report.faults.push_back("trust root " + std::to_string(query.Int(0)) + ": " +
                              root.error().message());
      return Ok();
    }
    previous = std::move(*root);
  }
  if (!previous) report.faults.push_back("trust roots: none pinned");
  return Ok();
}

}  // namespace

Result<FsckReport> CheckRelay(Relay& relay, const FsckOptions& options) {
  FsckReport report;
  FERRY_RETURN_IF_ERROR(CheckIntegrity(relay.db(), report));
  FERRY_RETURN_IF_ERROR(CheckTrustRoots(relay.db(), report));
  FERRY_RETURN_IF_ERROR(CheckManifests(relay.db(), report));
  FERRY_RETURN_IF_ERROR(CheckPayloads(relay, options, report));
  const Status events = CheckEventLog(relay.db());
  if (!events.ok()) report.faults.push_back(events.error().message());
  FERRY_ASSIGN_OR_RETURN(report.events_checked, EventCount(relay.db()));
  return report;
}

}  // namespace ferry::relay
