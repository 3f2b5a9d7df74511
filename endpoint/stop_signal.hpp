#pragma once

// SIGTERM and SIGINT as a request to stop between steps: the handler only records the signal
// (and wakes a waiting agent through a pipe), so a running dpkg or download is never cut short.

#include <cstdint>

namespace ferry::endpoint {

class StopSignal {
 public:
  // Installs the handlers for SIGTERM and SIGINT (once per process). Child processes get the
  // default dispositions back at exec, as POSIX specifies for caught signals.
  static void Install();

  // True once SIGTERM or SIGINT arrived (or RequestStop was called).
  static bool Requested();

  // Asks for a stop from inside the process, as the signal would.
  static void RequestStop();

  // Waits up to `seconds`; returns false at once, or as soon as a stop is requested.
  static bool Sleep(int64_t seconds);
};

}  // namespace ferry::endpoint
