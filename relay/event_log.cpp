#include "relay/event_log.hpp"

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>

namespace ferry::relay {
namespace {

Result<Event> EventFromRow(const sql::Statement& row) {
  const std::string leaf = row.Text(1);
  auto event = ParseEventLeaf(leaf);
  if (!event.ok()) {
    return std::move(event).error().Context("event " + std::to_string(row.Int(0)));
  }
  if (event->seq != row.Int(0)) {
    return InvalidError("event " + std::to_string(row.Int(0)) + ": leaf carries sequence " +
                        std::to_string(event->seq));
  }
  return event;
}

}  // namespace

namespace {

Result<Event> AppendInTransaction(sql::Database& db, std::string actor, std::string type,
                                  std::string subject, json::Object details) {
  Event event;
  event.time = Now();
  event.actor = std::move(actor);
  event.type = std::move(type);
  event.subject = std::move(subject);
  event.details = std::move(details);
  FERRY_ASSIGN_OR_RETURN(sql::Statement last, db.Prepare("SELECT COALESCE(MAX(seq), 0) FROM events"));
  FERRY_ASSIGN_OR_RETURN(const bool row, last.Step());
  event.seq = (row ? last.Int(0) : 0) + 1;
  const std::string leaf = EventLeaf(event);
  FERRY_ASSIGN_OR_RETURN(sql::Statement insert,
                         db.Prepare("INSERT INTO events (seq, type, time, leaf) VALUES (?, ?, ?, ?)"));
  insert.Bind(1, event.seq).Bind(2, event.type).Bind(3, event.time).BindBlob(4, leaf);
  FERRY_RETURN_IF_ERROR(insert.Run());
  return event;
}

}  // namespace

Result<Event> AppendEvent(sql::Database& db, std::string actor, std::string type,
                          std::string subject, json::Object details) {
  if (db.InTransaction()) {
    return AppendInTransaction(db, std::move(actor), std::move(type), std::move(subject),
                               std::move(details));
  }
  // Reading the last sequence number and inserting the next must not interleave with another
  // writer, so a lone event gets a write transaction of its own.
  FERRY_RETURN_IF_ERROR(db.Begin());
  auto event = AppendInTransaction(db, std::move(actor), std::move(type), std::move(subject),
                                   std::move(details));
  Status committed = event.ok() ? db.Commit() : Status(event.error());
  if (!committed.ok()) {
    db.Rollback();
    return std::move(committed).error();
  }
  return event;
}

Result<std::vector<Event>> ListEvents(sql::Database& db, int64_t from, int64_t limit,
                                      const std::optional<std::string>& type) {
  FERRY_ASSIGN_OR_RETURN(
      sql::Statement query,
      db.Prepare(type ? "SELECT seq, leaf FROM events WHERE seq >= ? AND type = ? ORDER BY seq LIMIT ?"
                      : "SELECT seq, leaf FROM events WHERE seq >= ? ORDER BY seq LIMIT ?"));
  query.Bind(1, from);
  if (type) {
    query.Bind(2, *type).Bind(3, limit);
  } else {
    query.Bind(2, limit);
  }
  std::vector<Event> events;
  while (true) {
    FERRY_ASSIGN_OR_RETURN(const bool row, query.Step());
    if (!row) break;
    FERRY_ASSIGN_OR_RETURN(Event event, EventFromRow(query));
    events.push_back(std::move(event));
  }
  return events;
}

Result<int64_t> EventCount(sql::Database& db) {
  FERRY_ASSIGN_OR_RETURN(sql::Statement query, db.Prepare("SELECT COUNT(*) FROM events"));
  FERRY_ASSIGN_OR_RETURN(const bool row, query.Step());
  return row ? query.Int(0) : 0;
}

Status CheckEventLog(sql::Database& db) {
  FERRY_ASSIGN_OR_RETURN(sql::Statement query,
                         db.Prepare("SELECT seq, leaf, type, time FROM events ORDER BY seq"));
  int64_t expected = 1;
  while (true) {
    FERRY_ASSIGN_OR_RETURN(const bool row, query.Step());
    if (!row) break;
    if (query.Int(0) != expected) {
      return InvalidError("event log: sequence " + std::to_string(expected) + " is missing");
    }
    FERRY_ASSIGN_OR_RETURN(const Event event, EventFromRow(query));
    // The type and time columns exist for queries; the leaf is the record, and they must agree.
    if (event.type != query.Text(2) || event.time != query.Int(3)) {
      return InvalidError("event " + std::to_string(event.seq) +
                          ": indexed type or time differs from the event's own bytes");
    }
    ++expected;
  }
  return Ok();
}

std::string OperatorActor() {
  // sudo keeps the name of the person behind it, which is what an auditor wants to see.
  if (const char* sudo_user = std::getenv("SUDO_USER"); sudo_user && *sudo_user) {
    return std::string("operator:") + sudo_user;
  }
  if (const passwd* entry = ::getpwuid(::geteuid())) {
    return std::string("operator:") + entry->pw_name;
  }
  return "operator:uid-" + std::to_string(::geteuid());
}

}  // namespace ferry::relay
