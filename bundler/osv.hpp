#pragma once

// Security advisories in the OSV schema (https://ossf.github.io/osv-schema/), reduced to what a
// bundle records for each patch: CVE ids, a severity, CVSS when known, a release date, and the
// package versions that carry the fix. docs/advisories.md describes the rules.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"
#include "common/time.hpp"

namespace ferry::bundler {

constexpr size_t kMaxOsvFileBytes = 4u << 20;

// A version that fixes the advisory: the "fixed" event of an ECOSYSTEM range.
struct OsvFix {
  std::string ecosystem;  // as written, e.g. "Debian:12"
  std::string package;
  std::string fixed_version;
};

// One affected interval of an ECOSYSTEM range: versions from `introduced` ("0" = every earlier
// version) up to, not including, `fixed`; or up to and including `last_affected`; or, with
// neither, every later version.
struct OsvAffectedRange {
  std::string ecosystem;
  std::string package;
  std::string introduced = "0";
  std::optional<std::string> fixed;
  std::optional<std::string> last_affected;
};

struct Advisory {
  std::string id;
  std::vector<std::string> cves;  // sorted, unique; see docs/advisories.md for where they come from
  std::string severity;           // critical, high, medium, low, none or unknown
  std::optional<std::string> cvss_score;   // "9.8", from the highest CVSS v3 vector
  std::optional<std::string> cvss_vector;  // that vector
  std::optional<UnixTime> published;
  std::vector<OsvFix> fixes;
  std::vector<OsvAffectedRange> affected_ranges;
  std::string summary;     // "summary", else the first line of "details" (at most 200 bytes)
  bool withdrawn = false;  // the advisory has a "withdrawn" time; it then fixes nothing
};

// Parses one OSV document. Unknown fields are ignored, because OSV keeps growing; the fields
// Ferry reads must have the schema's types and sane values (a malformed CVSS v3 vector, time, CVE
// id or Debian fixed version is refused). `origin` names the document in errors.
Result<Advisory> ParseOsvAdvisory(std::string_view text, std::string_view origin);

// Parses every regular file (or link to one) named *.json directly in `dir`, in name order; each at
// most kMaxOsvFileBytes. Two files with the same advisory id are refused.
Result<std::vector<Advisory>> LoadAdvisories(const std::string& dir);

// The Ferry target OS for an OSV ecosystem: "Debian:12" -> "debian-12", "Debian" -> "debian",
// "Ubuntu:22.04:LTS" and "Ubuntu:Pro:22.04:LTS" -> "ubuntu-22.04"; anything else is lower-cased
// with ':' replaced by '-'.
std::string TargetOsForEcosystem(std::string_view ecosystem);

// True when an advisory's ecosystem applies to `target_os`: the mapped names are equal, or the
// ecosystem names no release ("Debian") and target_os is one of its releases ("debian-12").
bool EcosystemMatchesTargetOs(std::string_view ecosystem, std::string_view target_os);

// The advisories that `version` of `package` on `target_os` fixes: not withdrawn, with a fix for
// the same package and a matching ecosystem whose fixed version is <= `version` in Debian order,
// and with no affected range of that package and ecosystem that still contains `version`.
std::vector<const Advisory*> AdvisoriesFixedBy(const std::vector<Advisory>& advisories,
                                               std::string_view package, std::string_view version,
                                               std::string_view target_os);

// Parses an RFC 3339 date-time ("2024-01-02T03:04:05.678+01:00"), dropping fractional seconds.
Result<UnixTime> ParseRfc3339(std::string_view text);

// Maps a qualitative severity word from an advisory feed to Ferry's scale: critical; high or
// important -> high; medium or moderate -> medium; low, negligible or unimportant -> low; none;
// everything else (e.g. Debian's "not yet assigned") -> unknown. Case and trailing '*' are ignored.
std::string NormalizeSeverityWord(std::string_view word);

}  // namespace ferry::bundler
