#pragma once

// One audit event as the relay records it and an evidence package carries it. The canonical
// bytes of an event are a leaf of the Merkle log (docs/audit-events.md), so relay, export and
// ferry-verify must agree on them exactly; this is the one place they are defined.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/error.hpp"
#include "common/json.hpp"
#include "common/time.hpp"

namespace ferry::evidence {

// The largest leaf a reader accepts.
inline constexpr size_t kMaxEventLeafBytes = size_t{1} << 20;

struct Event {
  int64_t seq = 0;       // 1, 2, 3, ... without gaps
  UnixTime time = 0;
  std::string actor;     // "relay", "operator:<user>", "endpoint:<id>"
  std::string type;      // e.g. "import.accepted"
  std::string subject;   // what the event is about, e.g. "debian-12-security/7"
  json::Object details;  // type-specific facts
};

// The canonical bytes of an event: {"actor","details","seq","subject","time","type"}.
std::string EventLeaf(const Event& event);

// Parses and validates leaf bytes; they must be exactly canonical.
Result<Event> ParseEventLeaf(std::string_view leaf);

}  // namespace ferry::evidence
