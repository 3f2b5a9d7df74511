#pragma once

// The enrolled endpoints as the database records them (table `endpoints`): identity, the
// fingerprint of the certificate they authenticate with, and what the relay last learned.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/error.hpp"
#include "common/time.hpp"
#include "relay/sqlite.hpp"

namespace ferry::relay {

struct EndpointRecord {
  std::string id;  // "ep-" + 16 lowercase hex digits
  std::string hostname;
  std::string certificate_sha256;  // SHA-256 of the client certificate's DER, lowercase hex
  UnixTime enrolled_at = 0;
  std::string target_os;
  std::optional<UnixTime> last_seen;
  std::optional<std::string> inventory_sha256;
  std::optional<std::string> needs_sha256;  // SHA-256 of the canonical JSON array of patch ids
  std::optional<UnixTime> revoked_at;
};

// The longest hostname an endpoint may give (a DNS name's limit).
inline constexpr size_t kMaxHostname = 253;

// A new random endpoint id: "ep-" and 64 random bits as 16 lowercase hex digits.
std::string NewEndpointId();

// True for exactly "ep-" followed by 16 lowercase hex digits.
bool IsEndpointIdShape(std::string_view id);

// True for 1..253 characters of [A-Za-z0-9.-].
bool IsHostname(std::string_view hostname);

// Every endpoint, ordered by id.
Result<std::vector<EndpointRecord>> ListEndpoints(sql::Database& db);

Result<std::optional<EndpointRecord>> FindEndpoint(sql::Database& db, const std::string& id);
Result<std::optional<EndpointRecord>> FindEndpointByCertificate(
    sql::Database& db, const std::string& certificate_sha256);

// Inserts the endpoint and appends endpoint.enrolled (naming `token_id`), inside the caller's
// write transaction.
Status RegisterEndpoint(sql::Database& db, const EndpointRecord& endpoint,
                        const std::string& token_id);

// RegisterEndpoint for many endpoints in one transaction (the caller's, or one of its own): how
// benchmarks and tests put 100,000 endpoints in place without 100,000 commits. All or none are
// inserted.
Status RegisterEndpoints(sql::Database& db, const std::vector<EndpointRecord>& endpoints,
                         const std::string& token_id);

// Sets revoked_at and appends endpoint.revoked, in one transaction (the caller's, or one of its
// own). False when the endpoint was already revoked (nothing changes); an unknown id is a usage
// error.
Result<bool> RevokeEndpoint(sql::Database& db, const std::string& id, const std::string& actor);

// Writes last_seen for many endpoints in one transaction (the caller's, or one of its own); a
// time older than the stored one is ignored.
Status StoreLastSeen(sql::Database& db,
                     const std::vector<std::pair<std::string, UnixTime>>& last_seen);

// Records what a check-in changed: the endpoint's inventory, target OS and needs hash, inside
// the caller's write transaction.
Status StoreCheckinState(sql::Database& db, const std::string& id,
                         const std::string& inventory_sha256, const std::string& target_os,
                         const std::string& needs_sha256, UnixTime last_seen);

}  // namespace ferry::relay
