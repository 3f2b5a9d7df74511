#include "relay/endpoint_registry.hpp"

#include <array>

#include "common/encoding.hpp"
#include "crypto/secure.hpp"
#include "relay/event_log.hpp"

namespace ferry::relay {
namespace {

constexpr std::string_view kEndpointPrefix = "ep-";
constexpr size_t kEndpointRandomBytes = 8;

constexpr const char* kEndpointColumns =
    "id, hostname, certificate_sha256, enrolled_at, target_os, last_seen, inventory_sha256, "
    "needs_sha256, revoked_at";

EndpointRecord EndpointFromRow(const sql::Statement& row) {
  EndpointRecord record;
  record.id = row.Text(0);
  record.hostname = row.Text(1);
  record.certificate_sha256 = row.Text(2);
  record.enrolled_at = row.Int(3);
  record.target_os = row.Text(4);
  record.last_seen = row.OptionalInt(5);
  record.inventory_sha256 = row.OptionalText(6);
  record.needs_sha256 = row.OptionalText(7);
  record.revoked_at = row.OptionalInt(8);
  return record;
}

Result<std::optional<EndpointRecord>> FindOne(sql::Database& db, const char* column,
                                              const std::string& value) {
  FERRY_ASSIGN_OR_RETURN(sql::Statement query,
                         db.Prepare(std::string("SELECT ") + kEndpointColumns +
                                    " FROM endpoints WHERE " + column + " = ?"));
  query.Bind(1, value);
  FERRY_ASSIGN_OR_RETURN(const bool row, query.Step());
  if (!row) {
    return std::optional<EndpointRecord>();
  }
  return std::optional<EndpointRecord>(EndpointFromRow(query));
}

// Runs `body` in the caller's open transaction, or in a write transaction of its own that is
// committed when it succeeds and rolled back otherwise.
template <typename Body>
Status InTransaction(sql::Database& db, Body&& body) {
  if (db.InTransaction()) {
    return body();
  }
  FERRY_RETURN_IF_ERROR(db.Begin());
  Status done = body();
  if (done.ok()) {
    done = db.Commit();
  }
  if (!done.ok()) {
    db.Rollback();
  }
  return done;
}

}  // namespace

std::string NewEndpointId() {
  std::array<uint8_t, kEndpointRandomBytes> random{};
  crypto::RandomBytes(random);
  return std::string(kEndpointPrefix) + HexEncode(random);
}

bool IsEndpointIdShape(std::string_view id) {
  return id.starts_with(kEndpointPrefix) &&
         IsLowerHex(id.substr(kEndpointPrefix.size()), 2 * kEndpointRandomBytes);
}

bool IsHostname(std::string_view hostname) {
  if (hostname.empty() || hostname.size() > kMaxHostname) {
    return false;
  }
  for (const char c : hostname) {
    const bool allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                         (c >= '0' && c <= '9') || c == '.' || c == '-';
    if (!allowed) {
      return false;
    }
  }
  return true;
}

Result<std::vector<EndpointRecord>> ListEndpoints(sql::Database& db) {
  FERRY_ASSIGN_OR_RETURN(
      sql::Statement query,
      db.Prepare(std::string("SELECT ") + kEndpointColumns + " FROM endpoints ORDER BY id"));
  std::vector<EndpointRecord> endpoints;
  while (true) {
    FERRY_ASSIGN_OR_RETURN(const bool row, query.Step());
    if (!row) {
      break;
    }
    endpoints.push_back(EndpointFromRow(query));
  }
  return endpoints;
}

Result<std::optional<EndpointRecord>> FindEndpoint(sql::Database& db, const std::string& id) {
  return FindOne(db, "id", id);
}

Result<std::optional<EndpointRecord>> FindEndpointByCertificate(
    sql::Database& db, const std::string& certificate_sha256) {
  return FindOne(db, "certificate_sha256", certificate_sha256);
}

Status RegisterEndpoint(sql::Database& db, const EndpointRecord& endpoint,
                        const std::string& token_id) {
  if (!db.InTransaction()) {
    return IoError("registering an endpoint needs an open write transaction");
  }
  FERRY_ASSIGN_OR_RETURN(
      sql::Statement insert,
      db.Prepare("INSERT INTO endpoints (id, hostname, certificate_sha256, enrolled_at, target_os) "
                 "VALUES (?, ?, ?, ?, ?)"));
  insert.Bind(1, endpoint.id)
      .Bind(2, endpoint.hostname)
      .Bind(3, endpoint.certificate_sha256)
      .Bind(4, endpoint.enrolled_at)
      .Bind(5, endpoint.target_os);
  FERRY_RETURN_IF_ERROR(insert.Run());
  FERRY_ASSIGN_OR_RETURN(
      const Event event,
      AppendEvent(db, "endpoint:" + endpoint.id, "endpoint.enrolled", endpoint.id,
                  json::Object{{"hostname", endpoint.hostname},
                               {"certificate_sha256", endpoint.certificate_sha256},
                               {"token_id", token_id},
                               {"target_os", endpoint.target_os}}));
  (void)event;
  return Ok();
}

Status RegisterEndpoints(sql::Database& db, const std::vector<EndpointRecord>& endpoints,
                         const std::string& token_id) {
  return InTransaction(db, [&]() -> Status {
    for (const EndpointRecord& endpoint : endpoints) {
      FERRY_RETURN_IF_ERROR(RegisterEndpoint(db, endpoint, token_id));
    }
    return Ok();
  });
}

Result<bool> RevokeEndpoint(sql::Database& db, const std::string& id, const std::string& actor) {
  bool changed = false;
  const Status done = InTransaction(db, [&]() -> Status {
    FERRY_ASSIGN_OR_RETURN(const std::optional<EndpointRecord> endpoint, FindEndpoint(db, id));
    if (!endpoint) {
      return UsageError("no endpoint \"" + id + "\" is enrolled");
    }
    if (endpoint->revoked_at) {
      return Ok();
    }
    FERRY_ASSIGN_OR_RETURN(sql::Statement update,
                           db.Prepare("UPDATE endpoints SET revoked_at = ? WHERE id = ?"));
    update.Bind(1, Now()).Bind(2, id);
    FERRY_RETURN_IF_ERROR(update.Run());
    FERRY_ASSIGN_OR_RETURN(
        const Event event,
        AppendEvent(db, actor, "endpoint.revoked", id,
                    json::Object{{"hostname", endpoint->hostname},
                                 {"certificate_sha256", endpoint->certificate_sha256}}));
    (void)event;
    changed = true;
    return Ok();
  });
  if (!done.ok()) {
    return done.error();
  }
  return changed;
}

Status StoreLastSeen(sql::Database& db,
                     const std::vector<std::pair<std::string, UnixTime>>& last_seen) {
  if (last_seen.empty()) {
    return Ok();
  }
  return InTransaction(db, [&]() -> Status {
    // MAX keeps a newer time written by a check-in that changed the endpoint's state.
    FERRY_ASSIGN_OR_RETURN(
        sql::Statement update,
        db.Prepare("UPDATE endpoints SET last_seen = MAX(COALESCE(last_seen, 0), ?) WHERE id = ?"));
    for (const auto& [id, time] : last_seen) {
      update.Bind(1, time).Bind(2, id);
      FERRY_RETURN_IF_ERROR(update.Run());
    }
    return Ok();
  });
}

Status StoreCheckinState(sql::Database& db, const std::string& id,
                         const std::string& inventory_sha256, const std::string& target_os,
                         const std::string& needs_sha256, UnixTime last_seen) {
  FERRY_ASSIGN_OR_RETURN(
      sql::Statement update,
      db.Prepare("UPDATE endpoints SET inventory_sha256 = ?, target_os = ?, needs_sha256 = ?, "
                 "last_seen = MAX(COALESCE(last_seen, 0), ?) WHERE id = ?"));
  update.Bind(1, inventory_sha256)
      .Bind(2, target_os)
      .Bind(3, needs_sha256)
      .Bind(4, last_seen)
      .Bind(5, id);
  return update.Run();
}

}  // namespace ferry::relay
