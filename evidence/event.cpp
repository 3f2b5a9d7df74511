#include "evidence/event.hpp"

namespace ferry::evidence {

std::string EventLeaf(const Event& event) {
  const json::Value value = json::Object{
      {"seq", event.seq},         {"time", FormatTime(event.time)}, {"actor", event.actor},
      {"type", event.type},       {"subject", event.subject},       {"details", event.details}};
  // Every field is a string, an integer or an object built from them: encoding cannot fail.
  return *json::Canonical(value);
}

Result<Event> ParseEventLeaf(std::string_view leaf) {
  FERRY_ASSIGN_OR_RETURN(const json::Value value,
                         json::Parse(leaf, json::ParseLimits{.max_bytes = kMaxEventLeafBytes}));
  FERRY_ASSIGN_OR_RETURN(json::ObjectReader reader, json::ObjectReader::Open(value, "event"));
  Event event;
  FERRY_ASSIGN_OR_RETURN(event.seq, reader.Int("seq"));
  FERRY_ASSIGN_OR_RETURN(const std::string time, reader.String("time"));
  FERRY_ASSIGN_OR_RETURN(event.time, ParseTime(time));
  FERRY_ASSIGN_OR_RETURN(event.actor, reader.String("actor"));
  FERRY_ASSIGN_OR_RETURN(event.type, reader.String("type"));
  FERRY_ASSIGN_OR_RETURN(event.subject, reader.String("subject"));
  FERRY_ASSIGN_OR_RETURN(const json::Value* details, reader.Field("details"));
  if (!details->is_object()) return InvalidError("event.details: expected an object");
  event.details = details->as_object();
  FERRY_RETURN_IF_ERROR(reader.Finish());
  if (EventLeaf(event) != leaf) {
    return InvalidError("event " + std::to_string(event.seq) + ": leaf is not canonical JSON");
  }
  return event;
}

}  // namespace ferry::evidence
