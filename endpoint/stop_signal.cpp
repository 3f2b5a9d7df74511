#include "endpoint/stop_signal.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <mutex>

namespace ferry::endpoint {
namespace {

volatile sig_atomic_t g_stop = 0;
// A self-pipe: the handler writes a byte so a poll() in Sleep wakes up at once.
int g_wake[2] = {-1, -1};

void OnStopSignal(int /*signal*/) {
  g_stop = 1;
  if (g_wake[1] >= 0) {
    const int saved = errno;
    const char byte = 1;
    (void)!::write(g_wake[1], &byte, 1);
    errno = saved;
  }
}

}  // namespace

void StopSignal::Install() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (::pipe2(g_wake, O_CLOEXEC | O_NONBLOCK) != 0) {
      g_wake[0] = g_wake[1] = -1;  // Sleep falls back to polling the flag
    }
    struct sigaction action {};
    action.sa_handler = OnStopSignal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    ::sigaction(SIGTERM, &action, nullptr);
    ::sigaction(SIGINT, &action, nullptr);
  });
}

bool StopSignal::Requested() { return g_stop != 0; }

void StopSignal::RequestStop() { OnStopSignal(SIGTERM); }

bool StopSignal::Sleep(int64_t seconds) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point deadline = Clock::now() + std::chrono::seconds(seconds);
  while (!Requested()) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      return true;
    }
    // Without the pipe, look at the flag every second.
    const int timeout = static_cast<int>(g_wake[0] >= 0 ? std::min<int64_t>(left, 1 << 30)
                                                        : std::min<int64_t>(left, 1000));
    pollfd wake{g_wake[0], POLLIN, 0};
    ::poll(&wake, g_wake[0] >= 0 ? 1 : 0, timeout);
  }
  return false;
}

}  // namespace ferry::endpoint
