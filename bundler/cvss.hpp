#pragma once

// CVSS v3.0 and v3.1 base scores (FIRST's specification, section 7.1) and qualitative ratings.

#include <string>
#include <string_view>

#include "common/error.hpp"

namespace ferry::bundler {

// The base score of a vector such as "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H" (9.8), rounded
// up to one decimal with the v3.1 Roundup (used for 3.0 vectors too: it is the same definition
// without the floating-point error). All eight base metrics are required, each once; temporal and
// environmental metrics may appear with valid values and do not change the base score. Anything
// else (another version, an unknown metric or value, a repeat, stray '/') is refused.
Result<double> CvssV3BaseScore(std::string_view vector);

// A score as text with one decimal ("9.8", "10.0", "0.0").
std::string CvssScoreText(double score);

// The qualitative rating of a score: "none" (0.0), "low" (0.1-3.9), "medium" (4.0-6.9),
// "high" (7.0-8.9) or "critical" (9.0-10.0).
std::string SeverityForScore(double score);

}  // namespace ferry::bundler
