#pragma once

// Running an installer as a child process, the one way the agent starts programs: an argument
// vector executed directly (never through a shell), stdin from /dev/null, stdout and stderr merged
// into one pipe that is read to the end while only its last bytes are kept, a clean environment,
// a new session (no controlling terminal, so nothing can prompt) whose whole process group is
// stopped when the deadline passes. docs/installers.md.

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"
#include "common/time.hpp"

namespace ferry::endpoint {

// How much of an installer's output is kept and reported: the last 8 KiB.
inline constexpr size_t kLogTailBytes = 8 * 1024;

// The PATH every child gets, whatever the agent's own environment says.
inline constexpr std::string_view kChildPath =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

struct ChildSpec {
  std::vector<std::string> argv;       // argv[0] is the program's path, used as is
  std::string working_dir;             // "" runs the child in "/"
  std::vector<std::string> extra_env;  // "NAME=value" entries besides PATH and LC_ALL=C
  std::chrono::milliseconds timeout{std::chrono::minutes(30)};
  // After the timeout the group gets SIGTERM, and SIGKILL if it still runs this much later.
  std::chrono::milliseconds kill_grace{std::chrono::seconds(10)};
  // Once the child has exited, output still arriving from processes it left behind is read for
  // at most this long; they are not killed, as a service an installer started may be among them.
  std::chrono::milliseconds drain_after_exit{std::chrono::seconds(2)};
};

enum class ChildEnding {
  kExited,      // exit_code holds the status
  kSignaled,    // signal holds the signal that ended it
  kTimedOut,    // the deadline passed; signal or exit_code says how it finally ended
  kExecFailed,  // the program could not be executed; exec_error says why
};

struct ChildResult {
  ChildEnding ending = ChildEnding::kExecFailed;
  int exit_code = -1;
  int signal = 0;
  std::string exec_error;
  std::string output_tail;    // the last kLogTailBytes bytes of stdout and stderr, raw
  uint64_t output_bytes = 0;  // everything the child wrote, kept or not
  UnixTime started = 0;
  UnixTime finished = 0;
  std::chrono::milliseconds elapsed{0};
  std::chrono::milliseconds timeout{0};  // the timeout that applied, for DescribeEnding
};

// The absolute path of an executable file called `name` in kChildPath, or a kIo error.
Result<std::string> FindProgram(std::string_view name);

// Runs spec.argv to its end and returns how it ended and the tail of its output. Errors only
// when the child could not be set up or started for reasons other than the program itself (no
// pipe, no process); a program that exists but cannot be executed is ChildEnding::kExecFailed.
Result<ChildResult> RunChild(const ChildSpec& spec);

// One line saying how the child ended: "exit code 3", "killed by signal SEGV (11)", "timed out
// after 2 s; stopped by signal TERM (15)", "cannot execute /x: Permission denied".
std::string DescribeEnding(const ChildResult& result);

// An excerpt for a report: valid UTF-8 (invalid bytes become '?', a character cut at the front
// is dropped), at most kLogTailBytes, the tail of `output` followed by "ferry: <note>" when the
// note is not empty.
std::string MakeLogExcerpt(std::string_view output, std::string_view note);

}  // namespace ferry::endpoint
