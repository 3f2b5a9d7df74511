#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/error.hpp"

namespace ferry {

// Seconds since the Unix epoch, UTC. Signed documents carry times as RFC 3339 strings in UTC with
// a "Z" suffix and whole seconds ("2026-11-21T21:39:53Z"); nothing else is accepted.
using UnixTime = int64_t;

UnixTime Now();
std::string FormatTime(UnixTime t);
Result<UnixTime> ParseTime(std::string_view text);

// Durations as operators write them: a positive integer and one unit of s, m, h, d or w
// ("30d", "12h"). At most 100 years.
Result<int64_t> ParseDuration(std::string_view text);

}  // namespace ferry
