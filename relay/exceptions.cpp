#include "relay/exceptions.hpp"

#include <algorithm>

#include "relay/catalog.hpp"

namespace ferry::relay {

Result<UnixTime> ParseUntil(const std::string& text, UnixTime now) {
  if (auto time = ParseTime(text); time.ok()) return *time;
  if (auto duration = ParseDuration(text); duration.ok()) return now + *duration;
  return UsageError("--until \"" + text +
                    "\" is neither an RFC 3339 time (2027-01-31T00:00:00Z) nor a duration (90d)");
}

Result<Event> GrantException(sql::Database& db, const ExceptionRequest& request) {
  if (request.reason.empty() || request.reason.size() > kMaxExceptionReasonBytes ||
      !json::IsValidUtf8(request.reason) ||
      std::any_of(request.reason.begin(), request.reason.end(),
                  [](char c) { return static_cast<unsigned char>(c) < 0x20; })) {
    return UsageError("--reason must be 1 to " + std::to_string(kMaxExceptionReasonBytes) +
                      " bytes of text on one line");
  }
  if (request.until <= Now()) {
    return UsageError("--until " + FormatTime(request.until) + " is not in the future");
  }
  FERRY_ASSIGN_OR_RETURN(const std::optional<bundler::Patch> patch,
                         FindPatch(db, request.patch_id));
  if (!patch) return UsageError("no patch \"" + request.patch_id + "\" in the catalog");
  json::Object details{{"until", FormatTime(request.until)}, {"reason", request.reason}};
  if (request.endpoint_id) {
    FERRY_ASSIGN_OR_RETURN(sql::Statement query,
                           db.Prepare("SELECT 1 FROM endpoints WHERE id = ?"));
    query.Bind(1, *request.endpoint_id);
    FERRY_ASSIGN_OR_RETURN(const bool known, query.Step());
    if (!known) return UsageError("no endpoint \"" + *request.endpoint_id + "\" is enrolled");
    details["endpoint"] = *request.endpoint_id;
  }
  return AppendEvent(db, request.actor, "exception.granted", request.patch_id, std::move(details));
}

Result<std::vector<Event>> ListExceptions(sql::Database& db) {
  std::vector<Event> out;
  int64_t from = 1;
  // In pages, so a long log is never read whole.
  while (true) {
    FERRY_ASSIGN_OR_RETURN(std::vector<Event> page,
                           ListEvents(db, from, 1000, std::string("exception.granted")));
    if (page.empty()) break;
    from = page.back().seq + 1;
    for (Event& event : page) out.push_back(std::move(event));
  }
  return out;
}

}  // namespace ferry::relay
