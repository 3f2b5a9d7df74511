#include "bundler/osv.hpp"

#include "bundler/manifest.hpp"

#include <algorithm>
#include <filesystem>
#include <iterator>
#include <map>
#include <set>
#include <utility>

#include "bundler/cvss.hpp"
#include "bundler/debian_version.hpp"
#include "common/file.hpp"
#include "common/json.hpp"

namespace ferry::bundler {
namespace {

constexpr size_t kMaxIdBytes = 128;
constexpr size_t kMaxSummaryBytes = 200;
constexpr size_t kMaxAffected = 10000;
constexpr size_t kMaxEventsPerRange = 1000;

char AsciiLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), AsciiLower);
  return out;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

bool IsValidAdvisoryId(std::string_view id) {
  if (id.empty() || id.size() > kMaxIdBytes) {
    return false;
  }
  return std::all_of(id.begin(), id.end(), [](char c) {
    return IsDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' || c == '_' ||
           c == ':' || c == '+' || c == '-';
  });
}

// Feeds such as Debian's and Ubuntu's name their copy of a CVE "DEBIAN-CVE-..." or
// "UBUNTU-CVE-...".
std::optional<std::string> CveFromId(std::string_view id) {
  for (const std::string_view prefix : {"DEBIAN-", "UBUNTU-"}) {
    if (id.substr(0, prefix.size()) == prefix) {
      id.remove_prefix(prefix.size());
      break;
    }
  }
  if (id.substr(0, 4) == "CVE-") {
    return std::string(id);
  }
  return std::nullopt;
}

int SeverityRank(std::string_view severity) {
  constexpr std::string_view kOrder[] = {"none", "low", "medium", "high", "critical"};
  for (size_t i = 0; i < std::size(kOrder); ++i) {
    if (severity == kOrder[i]) {
      return static_cast<int>(i) + 1;
    }
  }
  return 0;  // unknown
}

bool IsDebianLikeEcosystem(std::string_view ecosystem) {
  const std::string lower = Lower(ecosystem.substr(0, ecosystem.find(':')));
  return lower == "debian" || lower == "ubuntu";
}

// The first line of `text`, cut to at most `max` bytes without splitting a UTF-8 sequence.
std::string ShortLine(std::string_view text, size_t max) {
  std::string_view line = text.substr(0, text.find('\n'));
  if (line.size() > max) {
    size_t cut = max;
    while (cut > 0 && (static_cast<unsigned char>(line[cut]) & 0xC0) == 0x80) {
      --cut;
    }
    line = line.substr(0, cut);
  }
  return std::string(line);
}

class OsvReader {
 public:
  explicit OsvReader(std::string origin) : origin_(std::move(origin)) {}

  Error Fail(const std::string& path, const std::string& cause) const {
    return InvalidError(origin_ + ": " + path + ": " + cause);
  }

  // The value of `key` in `object` when present and not null; an error when it has another type.
  Result<const json::Value*> Optional(const json::Value& object, const std::string& path,
                                      const std::string& key, bool (json::Value::*is)() const,
                                      const char* type) const {
    const auto& fields = object.as_object();
    const auto it = fields.find(key);
    if (it == fields.end() || it->second.is_null()) {
      return static_cast<const json::Value*>(nullptr);
    }
    if (!(it->second.*is)()) {
      return Fail(path + "." + key,
                  std::string("expected ") + type + ", found " + it->second.type_name());
    }
    return &it->second;
  }

  Result<std::optional<std::string>> OptionalString(const json::Value& object,
                                                    const std::string& path,
                                                    const std::string& key) const {
    FERRY_ASSIGN_OR_RETURN(const json::Value* v,
                           Optional(object, path, key, &json::Value::is_string, "a string"));
    if (v == nullptr) {
      return std::optional<std::string>();
    }
    return std::optional<std::string>(v->as_string());
  }

  Result<std::vector<std::string>> StringList(const json::Value& object, const std::string& path,
                                              const std::string& key) const {
    FERRY_ASSIGN_OR_RETURN(const json::Value* v,
                           Optional(object, path, key, &json::Value::is_array, "an array"));
    std::vector<std::string> out;
    if (v == nullptr) {
      return out;
    }
    for (size_t i = 0; i < v->as_array().size(); ++i) {
      const json::Value& item = v->as_array()[i];
      if (!item.is_string()) {
        return Fail(path + "." + key + "[" + std::to_string(i) + "]",
                    std::string("expected a string, found ") + item.type_name());
      }
      out.push_back(item.as_string());
    }
    return out;
  }

  // Considers a severity[] array (top level or per affected package).
  Status ReadSeverityArray(const json::Value& owner, const std::string& path) {
    FERRY_ASSIGN_OR_RETURN(const json::Value* list,
                           Optional(owner, path, "severity", &json::Value::is_array, "an array"));
    if (list == nullptr) {
      return Ok();
    }
    for (size_t i = 0; i < list->as_array().size(); ++i) {
      const json::Value& item = list->as_array()[i];
      const std::string item_path = path + ".severity[" + std::to_string(i) + "]";
      if (!item.is_object()) {
        return Fail(item_path, std::string("expected an object, found ") + item.type_name());
      }
      FERRY_ASSIGN_OR_RETURN(std::optional<std::string> type,
                             OptionalString(item, item_path, "type"));
      FERRY_ASSIGN_OR_RETURN(std::optional<std::string> score,
                             OptionalString(item, item_path, "score"));
      if (!type.has_value() || !score.has_value()) {
        return Fail(item_path, "needs a type and a score");
      }
      if (*type == "CVSS_V3") {
        auto computed = CvssV3BaseScore(*score);
        if (!computed.ok()) {
          return Fail(item_path + ".score", computed.error().message());
        }
        if (!best_cvss_.has_value() || *computed > *best_cvss_) {
          best_cvss_ = *computed;
          best_vector_ = *score;
        }
      } else if (*type == "Ubuntu") {
        NoteWord(*score);
      }
      // CVSS_V2 and CVSS_V4 are not scored here; the words and other vectors still apply.
    }
    return Ok();
  }

  // Considers `key` inside an optional object field (database_specific, ecosystem_specific).
  Status ReadSeverityWord(const json::Value& owner, const std::string& path,
                          const std::string& object_key, const std::string& key) {
    FERRY_ASSIGN_OR_RETURN(const json::Value* object,
                           Optional(owner, path, object_key, &json::Value::is_object, "an object"));
    if (object == nullptr) {
      return Ok();
    }
    // Feeds put other types here too (numbers, objects); only a string can be a severity word.
    const auto& fields = object->as_object();
    const auto it = fields.find(key);
    if (it != fields.end() && it->second.is_string()) {
      NoteWord(it->second.as_string());
    }
    return Ok();
  }

  void NoteWord(std::string_view word) {
    const std::string normalized = NormalizeSeverityWord(word);
    if (SeverityRank(normalized) > SeverityRank(best_word_)) {
      best_word_ = normalized;
    }
  }

  Status ReadRange(const json::Value& range, const std::string& path, const std::string& ecosystem,
                   const std::string& package, Advisory& advisory) const {
    if (!range.is_object()) {
      return Fail(path, std::string("expected an object, found ") + range.type_name());
    }
    FERRY_ASSIGN_OR_RETURN(std::optional<std::string> type, OptionalString(range, path, "type"));
    if (type != "ECOSYSTEM") {
      return Ok();  // SEMVER and GIT ranges do not describe Debian package versions
    }
    FERRY_ASSIGN_OR_RETURN(const json::Value* events,
                           Optional(range, path, "events", &json::Value::is_array, "an array"));
    if (events == nullptr) {
      return Fail(path + ".events", "missing");
    }
    if (events->as_array().size() > kMaxEventsPerRange) {
      return Fail(path + ".events", "more than " + std::to_string(kMaxEventsPerRange) + " events");
    }
    const bool check_versions = IsDebianLikeEcosystem(ecosystem);
    struct Event {
      std::string kind;
      std::string version;
    };
    std::vector<Event> list;
    for (size_t i = 0; i < events->as_array().size(); ++i) {
      const json::Value& event = events->as_array()[i];
      const std::string event_path = path + ".events[" + std::to_string(i) + "]";
      if (!event.is_object()) {
        return Fail(event_path, std::string("expected an object, found ") + event.type_name());
      }
      for (const char* kind : {"introduced", "fixed", "last_affected"}) {
        FERRY_ASSIGN_OR_RETURN(std::optional<std::string> value,
                               OptionalString(event, event_path, kind));
        if (!value.has_value()) {
          continue;
        }
        const bool zero = std::string_view(kind) == "introduced" && *value == "0";
        if (check_versions && !zero) {
          if (auto parsed = ParseDebianVersion(*value); !parsed.ok()) {
            return Fail(event_path + "." + kind, parsed.error().message());
          }
        }
        if (std::string_view(kind) == "fixed") {
          advisory.fixes.push_back(OsvFix{ecosystem, package, *value});
        }
        list.push_back(Event{kind, zero ? std::string() : *value});
      }
    }
    // The schema's evaluation walks events in version order, whatever their order in the file.
    std::stable_sort(list.begin(), list.end(), [](const Event& a, const Event& b) {
      if (a.version.empty() || b.version.empty()) {
        return a.version.empty() && !b.version.empty();
      }
      return CompareDebianVersions(a.version, b.version) < 0;
    });
    std::optional<OsvAffectedRange> open;
    for (const Event& event : list) {
      if (event.kind == "introduced") {
        if (!open.has_value()) {
          open = OsvAffectedRange{ecosystem, package, event.version.empty() ? "0" : event.version,
                                  std::nullopt, std::nullopt};
        }
        continue;
      }
      if (!open.has_value()) {
        // A range must start with "introduced"; without one, treat it as affected from the start
        // rather than as never affected.
        open = OsvAffectedRange{ecosystem, package, "0", std::nullopt, std::nullopt};
      }
      if (event.kind == "fixed") {
        open->fixed = event.version;
      } else {
        open->last_affected = event.version;
      }
      advisory.affected_ranges.push_back(std::move(*open));
      open.reset();
    }
    if (open.has_value()) {
      advisory.affected_ranges.push_back(std::move(*open));
    }
    return Ok();
  }

  Status ReadAffected(const json::Value& root, Advisory& advisory) {
    FERRY_ASSIGN_OR_RETURN(const json::Value* affected,
                           Optional(root, "$", "affected", &json::Value::is_array, "an array"));
    if (affected == nullptr) {
      return Ok();
    }
    if (affected->as_array().size() > kMaxAffected) {
      return Fail("$.affected", "more than " + std::to_string(kMaxAffected) + " entries");
    }
    for (size_t i = 0; i < affected->as_array().size(); ++i) {
      const json::Value& entry = affected->as_array()[i];
      const std::string path = "$.affected[" + std::to_string(i) + "]";
      if (!entry.is_object()) {
        return Fail(path, std::string("expected an object, found ") + entry.type_name());
      }
      FERRY_RETURN_IF_ERROR(ReadSeverityArray(entry, path));
      FERRY_RETURN_IF_ERROR(ReadSeverityWord(entry, path, "ecosystem_specific", "severity"));
      FERRY_RETURN_IF_ERROR(ReadSeverityWord(entry, path, "ecosystem_specific", "urgency"));
      FERRY_RETURN_IF_ERROR(ReadSeverityWord(entry, path, "database_specific", "severity"));
      FERRY_ASSIGN_OR_RETURN(
          const json::Value* package,
          Optional(entry, path, "package", &json::Value::is_object, "an object"));
      if (package == nullptr) {
        continue;  // an entry may name only a git repository
      }
      FERRY_ASSIGN_OR_RETURN(std::optional<std::string> ecosystem,
                             OptionalString(*package, path + ".package", "ecosystem"));
      FERRY_ASSIGN_OR_RETURN(std::optional<std::string> name,
                             OptionalString(*package, path + ".package", "name"));
      if (!ecosystem.has_value() || !name.has_value() || ecosystem->empty() || name->empty()) {
        return Fail(path + ".package", "needs an ecosystem and a name");
      }
      FERRY_ASSIGN_OR_RETURN(const json::Value* ranges,
                             Optional(entry, path, "ranges", &json::Value::is_array, "an array"));
      if (ranges == nullptr) {
        continue;
      }
      for (size_t r = 0; r < ranges->as_array().size(); ++r) {
        FERRY_RETURN_IF_ERROR(ReadRange(ranges->as_array()[r],
                                        path + ".ranges[" + std::to_string(r) + "]", *ecosystem,
                                        *name, advisory));
      }
    }
    return Ok();
  }

  Result<Advisory> Read(std::string_view text) {
    if (text.size() > kMaxOsvFileBytes) {
      return InvalidError(origin_ + ": larger than " + std::to_string(kMaxOsvFileBytes) + " bytes");
    }
    json::ParseLimits limits;
    limits.max_bytes = kMaxOsvFileBytes;
    auto parsed = json::Parse(text, limits);
    if (!parsed.ok()) {
      return std::move(parsed).error().Context(origin_);
    }
    const json::Value& root = *parsed;
    if (!root.is_object()) {
      return Fail("$", std::string("expected an object, found ") + root.type_name());
    }
    Advisory advisory;
    FERRY_ASSIGN_OR_RETURN(std::optional<std::string> id, OptionalString(root, "$", "id"));
    if (!id.has_value()) {
      return Fail("$.id", "missing");
    }
    if (!IsValidAdvisoryId(*id)) {
      return Fail("$.id", "\"" + ShortLine(*id, 64) + "\" is not a valid advisory id");
    }
    advisory.id = *id;

    std::set<std::string> cves;
    std::vector<std::string> candidates = {*id};
    for (const char* key : {"aliases", "upstream"}) {
      FERRY_ASSIGN_OR_RETURN(std::vector<std::string> ids, StringList(root, "$", key));
      candidates.insert(candidates.end(), ids.begin(), ids.end());
    }
    for (const std::string& candidate : candidates) {
      if (const auto cve = CveFromId(candidate); cve.has_value()) {
        if (!IsCveId(*cve)) {
          return Fail("$", "\"" + ShortLine(candidate, 64) + "\" is not a valid CVE id");
        }
        cves.insert(*cve);
      }
    }
    advisory.cves.assign(cves.begin(), cves.end());

    FERRY_ASSIGN_OR_RETURN(std::optional<std::string> published,
                           OptionalString(root, "$", "published"));
    if (published.has_value()) {
      auto time = ParseRfc3339(*published);
      if (!time.ok()) {
        return Fail("$.published", time.error().message());
      }
      advisory.published = *time;
    }
    FERRY_ASSIGN_OR_RETURN(std::optional<std::string> withdrawn,
                           OptionalString(root, "$", "withdrawn"));
    if (withdrawn.has_value()) {
      if (auto time = ParseRfc3339(*withdrawn); !time.ok()) {
        return Fail("$.withdrawn", time.error().message());
      }
      advisory.withdrawn = true;
    }
    FERRY_ASSIGN_OR_RETURN(std::optional<std::string> summary,
                           OptionalString(root, "$", "summary"));
    FERRY_ASSIGN_OR_RETURN(std::optional<std::string> details,
                           OptionalString(root, "$", "details"));
    if (summary.has_value() && !summary->empty()) {
      advisory.summary = ShortLine(*summary, kMaxSummaryBytes);
    } else if (details.has_value()) {
      advisory.summary = ShortLine(*details, kMaxSummaryBytes);
    }

    FERRY_RETURN_IF_ERROR(ReadSeverityArray(root, "$"));
    FERRY_RETURN_IF_ERROR(ReadSeverityWord(root, "$", "database_specific", "severity"));
    FERRY_RETURN_IF_ERROR(ReadAffected(root, advisory));

    if (best_cvss_.has_value()) {
      advisory.severity = SeverityForScore(*best_cvss_);
      advisory.cvss_score = CvssScoreText(*best_cvss_);
      advisory.cvss_vector = best_vector_;
    } else {
      advisory.severity = best_word_;
    }
    return advisory;
  }

 private:
  std::string origin_;
  std::optional<double> best_cvss_;
  std::string best_vector_;
  std::string best_word_ = "unknown";
};

bool ReadTwoDigits(std::string_view text, size_t pos, int& out) {
  if (pos + 2 > text.size() || !IsDigit(text[pos]) || !IsDigit(text[pos + 1])) {
    return false;
  }
  out = (text[pos] - '0') * 10 + (text[pos + 1] - '0');
  return true;
}

// Inside [introduced, fixed) or [introduced, last_affected] or [introduced, ...).
bool RangeContains(const OsvAffectedRange& range, std::string_view version) {
  if (range.introduced != "0" && CompareDebianVersions(version, range.introduced) < 0) {
    return false;
  }
  if (range.fixed.has_value()) {
    return CompareDebianVersions(version, *range.fixed) < 0;
  }
  if (range.last_affected.has_value()) {
    return CompareDebianVersions(version, *range.last_affected) <= 0;
  }
  return true;
}

}  // namespace


Result<UnixTime> ParseRfc3339(std::string_view text) {
  const auto fail = [&]() {
    return InvalidError("time \"" + ShortLine(text, 64) + "\" is not an RFC 3339 date-time");
  };
  if (text.size() < 20 || text.size() > 64 || (text[10] != 'T' && text[10] != 't')) {
    return fail();
  }
  std::string whole(text.substr(0, 19));
  whole[10] = 'T';
  whole += 'Z';
  auto base = ParseTime(whole);
  if (!base.ok()) {
    return fail();
  }
  size_t pos = 19;
  if (text[pos] == '.') {
    ++pos;
    const size_t digits_start = pos;
    while (pos < text.size() && IsDigit(text[pos])) {
      ++pos;
    }
    if (pos == digits_start) {
      return fail();
    }
  }
  if (pos >= text.size()) {
    return fail();
  }
  if ((text[pos] == 'Z' || text[pos] == 'z') && pos + 1 == text.size()) {
    return *base;
  }
  int hours = 0;
  int minutes = 0;
  if ((text[pos] != '+' && text[pos] != '-') || pos + 6 != text.size() ||
      !ReadTwoDigits(text, pos + 1, hours) || text[pos + 3] != ':' ||
      !ReadTwoDigits(text, pos + 4, minutes) || hours > 23 || minutes > 59) {
    return fail();
  }
  const int64_t offset = static_cast<int64_t>(hours) * 3600 + minutes * 60;
  // Local time = UTC + offset, so UTC = local - offset.
  return text[pos] == '+' ? *base - offset : *base + offset;
}

std::string NormalizeSeverityWord(std::string_view word) {
  while (!word.empty() && (word.back() == '*' || word.back() == ' ')) {
    word.remove_suffix(1);
  }
  while (!word.empty() && word.front() == ' ') {
    word.remove_prefix(1);
  }
  const std::string lower = Lower(word);
  static constexpr std::pair<std::string_view, std::string_view> kWords[] = {
      {"critical", "critical"}, {"high", "high"},       {"important", "high"},
      {"medium", "medium"},     {"moderate", "medium"}, {"low", "low"},
      {"negligible", "low"},    {"unimportant", "low"}, {"none", "none"},
  };
  for (const auto& [word_in, severity] : kWords) {
    if (lower == word_in) {
      return std::string(severity);
    }
  }
  return "unknown";
}

Result<Advisory> ParseOsvAdvisory(std::string_view text, std::string_view origin) {
  return OsvReader(std::string(origin)).Read(text);
}

Result<std::vector<Advisory>> LoadAdvisories(const std::string& dir) {
  FERRY_ASSIGN_OR_RETURN(std::vector<std::string> names, fs::ListDirectory(dir));
  std::vector<Advisory> advisories;
  std::map<std::string, std::string> file_of_id;
  for (const std::string& name : names) {
    if (name.size() <= 5 || name.substr(name.size() - 5) != ".json") {
      continue;
    }
    const std::string path = fs::JoinPath(dir, name);
    std::error_code ec;
    // Only regular files (or links to them): a FIFO named x.json would block the build forever.
    if (!std::filesystem::is_regular_file(path, ec)) {
      continue;
    }
    FERRY_ASSIGN_OR_RETURN(std::string text, fs::ReadFile(path, kMaxOsvFileBytes));
    FERRY_ASSIGN_OR_RETURN(Advisory advisory, ParseOsvAdvisory(text, path));
    const auto [it, inserted] = file_of_id.try_emplace(advisory.id, name);
    if (!inserted) {
      return InvalidError(path + ": advisory " + advisory.id + " is also defined in " + it->second);
    }
    advisories.push_back(std::move(advisory));
  }
  return advisories;
}

std::string TargetOsForEcosystem(std::string_view ecosystem) {
  const std::string lower = Lower(ecosystem);
  if (lower.rfind("ubuntu:", 0) == 0) {
    // "Ubuntu:22.04:LTS", "Ubuntu:Pro:18.04:LTS": the release is the part that looks like one.
    size_t start = 0;
    while (start <= lower.size()) {
      size_t end = lower.find(':', start);
      if (end == std::string::npos) {
        end = lower.size();
      }
      const std::string_view part = std::string_view(lower).substr(start, end - start);
      if (!part.empty() && IsDigit(part.front()) && part.find('.') != std::string_view::npos) {
        return "ubuntu-" + std::string(part);
      }
      start = end + 1;
    }
  }
  std::string out = lower;
  std::replace(out.begin(), out.end(), ':', '-');
  return out;
}

bool EcosystemMatchesTargetOs(std::string_view ecosystem, std::string_view target_os) {
  const std::string mapped = TargetOsForEcosystem(ecosystem);
  const std::string target = Lower(target_os);
  if (mapped == target) {
    return true;
  }
  return ecosystem.find(':') == std::string_view::npos && target.size() > mapped.size() &&
         target.compare(0, mapped.size(), mapped) == 0 && target[mapped.size()] == '-';
}

std::vector<const Advisory*> AdvisoriesFixedBy(const std::vector<Advisory>& advisories,
                                               std::string_view package, std::string_view version,
                                               std::string_view target_os) {
  std::vector<const Advisory*> out;
  for (const Advisory& advisory : advisories) {
    if (advisory.withdrawn) {
      continue;
    }
    const bool has_fix =
        std::any_of(advisory.fixes.begin(), advisory.fixes.end(), [&](const OsvFix& fix) {
          return fix.package == package && EcosystemMatchesTargetOs(fix.ecosystem, target_os) &&
                 CompareDebianVersions(fix.fixed_version, version) <= 0;
        });
    if (!has_fix) {
      continue;
    }
    const bool still_affected = std::any_of(
        advisory.affected_ranges.begin(), advisory.affected_ranges.end(),
        [&](const OsvAffectedRange& range) {
          return range.package == package && EcosystemMatchesTargetOs(range.ecosystem, target_os) &&
                 RangeContains(range, version);
        });
    if (!still_affected) {
      out.push_back(&advisory);
    }
  }
  return out;
}

}  // namespace ferry::bundler
