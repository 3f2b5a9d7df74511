#pragma once

// Deadline exceptions: an operator's recorded decision that a patch may stay uninstalled past its
// deadline until a given time (a compensating control, a vendor problem). They live only in the
// audit log, as exception.granted events, so the evidence reports and ferry-verify see exactly
// what the relay saw (docs/audit-events.md, docs/auditor-guide.md).

#include <optional>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "common/time.hpp"
#include "relay/event_log.hpp"
#include "relay/sqlite.hpp"

namespace ferry::relay {

inline constexpr size_t kMaxExceptionReasonBytes = 1000;

struct ExceptionRequest {
  std::string patch_id;
  std::optional<std::string> endpoint_id;  // none: every endpoint
  UnixTime until = 0;
  std::string reason;
  std::string actor;
};

// Appends exception.granted. The patch must be in the catalog, the endpoint (when named)
// enrolled, `until` in the future and the reason 1..1000 bytes of text; otherwise a usage error
// and nothing is written.
Result<Event> GrantException(sql::Database& db, const ExceptionRequest& request);

// Every exception.granted event, oldest first.
Result<std::vector<Event>> ListExceptions(sql::Database& db);

// "--until" as an operator writes it: an RFC 3339 time, or a duration from now ("90d").
Result<UnixTime> ParseUntil(const std::string& text, UnixTime now);

}  // namespace ferry::relay
