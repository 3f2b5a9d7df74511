#pragma once

// The relay's append-only audit log. Each event is stored as its canonical JSON bytes, which
// become, unchanged, the leaves of the Merkle log that evidence exports are built on.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "common/json.hpp"
#include "common/time.hpp"
#include "evidence/event.hpp"
#include "relay/sqlite.hpp"

namespace ferry::relay {

using evidence::Event;
using evidence::EventLeaf;
using evidence::ParseEventLeaf;

// Appends an event with the next sequence number inside the caller's open transaction, or in a
// write transaction of its own when none is open. Returns the stored event.
Result<Event> AppendEvent(sql::Database& db, std::string actor, std::string type,
                          std::string subject, json::Object details);

// Events with seq >= from, at most `limit`, optionally only of one type, in order.
Result<std::vector<Event>> ListEvents(sql::Database& db, int64_t from, int64_t limit,
                                      const std::optional<std::string>& type = std::nullopt);

Result<int64_t> EventCount(sql::Database& db);

// Checks that sequence numbers run 1..N without a gap and that every leaf parses, is canonical
// and carries its own sequence number. Names the first fault.
Status CheckEventLog(sql::Database& db);

// The actor name for the operator running this process ("operator:<login>").
std::string OperatorActor();

}  // namespace ferry::relay
