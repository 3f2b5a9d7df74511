#pragma once

// When the agent does things again: the check-in interval with jitter, the back-off while the
// relay is unreachable, and the wait before a failed or refused patch is tried again.

#include <cstdint>

namespace ferry::endpoint {

// The first wait after the relay could not be reached; it doubles up to the poll interval.
inline constexpr int64_t kFirstConnectionBackoff = 30;

// Seconds to wait after `consecutive_failures` (>= 1) failed check-ins in a row: 30, 60, 120, ...
// never more than poll_seconds.
int64_t ConnectionBackoff(int64_t consecutive_failures, int64_t poll_seconds);

// poll_seconds spread by up to ±20 %, so endpoints started together do not check in together.
// `unit` is a uniform random number in [0, 1).
int64_t JitteredPoll(int64_t poll_seconds, double unit);

// A uniform random number in [0, 1) from the system's CSPRNG.
double RandomUnit();

// Seconds before a patch that failed or was refused `failures` (>= 1) times in a row is tried
// again: 1 hour, then 4 hours, then 24 hours for every later attempt.
int64_t PatchRetryDelay(int64_t failures);

}  // namespace ferry::endpoint
