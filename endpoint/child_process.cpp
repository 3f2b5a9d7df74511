#include "endpoint/child_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "common/file.hpp"
#include "common/json.hpp"

namespace ferry::endpoint {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// The longest the read loop sleeps before it looks at the child and the clock again.
constexpr milliseconds kPollSlice{50};
constexpr size_t kReadChunk = 64 * 1024;

std::string ErrnoText(int error) { return std::strerror(error); }

// Keeps the last kLogTailBytes of everything appended, counting all of it.
class TailBuffer {
 public:
  void Append(std::string_view data) {
    total_ += data.size();
    if (data.size() >= kLogTailBytes) {
      tail_.assign(data.substr(data.size() - kLogTailBytes));
      return;
    }
    tail_.append(data);
    if (tail_.size() > kLogTailBytes) {
      tail_.erase(0, tail_.size() - kLogTailBytes);
    }
  }
  std::string& tail() { return tail_; }
  uint64_t total() const { return total_; }

 private:
  std::string tail_;
  uint64_t total_ = 0;
};

class FdOwner {
 public:
  explicit FdOwner(int fd) : fd_(fd) {}
  ~FdOwner() { Close(); }
  FdOwner(const FdOwner&) = delete;
  FdOwner& operator=(const FdOwner&) = delete;
  int get() const { return fd_; }
  void Close() {
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }

 private:
  int fd_;
};

// posix_spawn's attribute and file-action objects, destroyed on every path.
struct SpawnSetup {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  bool actions_ready = false;
  bool attr_ready = false;
  SpawnSetup() = default;
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;
  ~SpawnSetup() {
    if (actions_ready) {
      posix_spawn_file_actions_destroy(&actions);
    }
    if (attr_ready) {
      posix_spawnattr_destroy(&attr);
    }
  }
};

// Errors of execve that belong to the program (missing, not executable, no interpreter), as
// opposed to the machine (no memory, no processes left).
bool IsProgramError(int error) {
  switch (error) {
    case ENOENT:
    case EACCES:
    case ENOEXEC:
    case ENOTDIR:
    case ELOOP:
    case EPERM:
    case EISDIR:
    case ETXTBSY:
    case ENAMETOOLONG:
    case ELIBBAD:
    case E2BIG:
      return true;
    default:
      return false;
  }
}

Status Check(int rc, const char* what) {
  if (rc != 0) {
    return IoError(std::string(what) + ": " + ErrnoText(rc));
  }
  return Ok();
}

Status PrepareSpawn(SpawnSetup& setup, int write_fd, const std::string& working_dir) {
  FERRY_RETURN_IF_ERROR(
      Check(posix_spawn_file_actions_init(&setup.actions), "posix_spawn_file_actions_init"));
  setup.actions_ready = true;
  FERRY_RETURN_IF_ERROR(Check(
      posix_spawn_file_actions_addopen(&setup.actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0),
      "posix_spawn_file_actions_addopen /dev/null"));
  FERRY_RETURN_IF_ERROR(
      Check(posix_spawn_file_actions_adddup2(&setup.actions, write_fd, STDOUT_FILENO),
            "posix_spawn_file_actions_adddup2 stdout"));
  FERRY_RETURN_IF_ERROR(
      Check(posix_spawn_file_actions_adddup2(&setup.actions, write_fd, STDERR_FILENO),
            "posix_spawn_file_actions_adddup2 stderr"));
  FERRY_RETURN_IF_ERROR(
      Check(posix_spawn_file_actions_addchdir_np(&setup.actions, working_dir.c_str()),
            "posix_spawn_file_actions_addchdir_np"));
  // Descriptors the agent opened without O_CLOEXEC (a TLS socket, a lock) must not leak into an
  // installer that may run for minutes or start a daemon.
  FERRY_RETURN_IF_ERROR(Check(posix_spawn_file_actions_addclosefrom_np(&setup.actions, 3),
                              "posix_spawn_file_actions_addclosefrom_np"));

  FERRY_RETURN_IF_ERROR(Check(posix_spawnattr_init(&setup.attr), "posix_spawnattr_init"));
  setup.attr_ready = true;
  // A new session: the child leads its own process group (so the timeout can stop every process
  // it started) and has no controlling terminal (so nothing it runs can prompt). Signal
  // dispositions and the mask start from the defaults, whatever the agent ignores or blocks.
  sigset_t empty;
  sigset_t all;
  sigemptyset(&empty);
  sigfillset(&all);
  FERRY_RETURN_IF_ERROR(Check(posix_spawnattr_setsigmask(&setup.attr, &empty), "setsigmask"));
  FERRY_RETURN_IF_ERROR(Check(posix_spawnattr_setsigdefault(&setup.attr, &all), "setsigdefault"));
  const short flags = POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
  FERRY_RETURN_IF_ERROR(Check(posix_spawnattr_setflags(&setup.attr, flags), "setflags"));
  return Ok();
}

// Reads what is available without blocking. Returns false at end of file or on a read error.
bool DrainAvailable(int fd, TailBuffer& tail, std::vector<char>& chunk) {
  while (true) {
    const ssize_t n = ::read(fd, chunk.data(), chunk.size());
    if (n > 0) {
      tail.Append(std::string_view(chunk.data(), static_cast<size_t>(n)));
      continue;
    }
    if (n == 0) {
      return false;
    }
    if (errno == EINTR) {
      continue;
    }
    return errno == EAGAIN || errno == EWOULDBLOCK;
  }
}

std::string SignalName(int signal) {
  const char* abbrev = sigabbrev_np(signal);
  return std::string("signal ") + (abbrev != nullptr ? abbrev : "?") + " (" +
         std::to_string(signal) + ")";
}

std::string FormatDuration(milliseconds duration) {
  if (duration.count() % 1000 == 0) {
    return std::to_string(duration.count() / 1000) + " s";
  }
  return std::to_string(duration.count()) + " ms";
}

// The length of the UTF-8 sequence a lead byte announces, 0 for a byte that cannot lead one.
size_t SequenceLength(unsigned char lead) {
  if (lead < 0x80) {
    return 1;
  }
  if (lead >= 0xC2 && lead <= 0xDF) {
    return 2;
  }
  if (lead >= 0xE0 && lead <= 0xEF) {
    return 3;
  }
  if (lead >= 0xF0 && lead <= 0xF4) {
    return 4;
  }
  return 0;
}

}  // namespace

Result<std::string> FindProgram(std::string_view name) {
  if (name.empty() || name.find('/') != std::string_view::npos) {
    return InvalidError("program name '" + std::string(name) + "' is not a plain name");
  }
  std::string_view rest = kChildPath;
  while (!rest.empty()) {
    const size_t colon = rest.find(':');
    const std::string_view dir = rest.substr(0, colon);
    rest = colon == std::string_view::npos ? std::string_view() : rest.substr(colon + 1);
    const std::string candidate = fs::JoinPath(dir, name);
    struct stat st {};
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        ::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  return IoError(std::string(name) + " not found in " + std::string(kChildPath));
}

Result<ChildResult> RunChild(const ChildSpec& spec) {
  if (spec.argv.empty()) {
    return InvalidError("cannot run a child process: empty argument vector");
  }
  for (const std::string& arg : spec.argv) {
    if (arg.find('\0') != std::string::npos) {
      return InvalidError("cannot run " + spec.argv[0] + ": an argument contains a NUL byte");
    }
  }
  const std::string working_dir = spec.working_dir.empty() ? "/" : spec.working_dir;
  // Checked here so that a missing directory is not mistaken for a missing program: both make
  // posix_spawn fail with ENOENT.
  if (!fs::IsDirectory(working_dir)) {
    return IoError("cannot run " + spec.argv[0] + ": working directory " + working_dir +
                   " is not a directory");
  }

  std::vector<std::string> env = {"PATH=" + std::string(kChildPath), "LC_ALL=C"};
  env.insert(env.end(), spec.extra_env.begin(), spec.extra_env.end());
  std::vector<char*> envp;
  for (std::string& entry : env) {
    envp.push_back(entry.data());
  }
  envp.push_back(nullptr);
  std::vector<std::string> args = spec.argv;
  std::vector<char*> argv;
  for (std::string& arg : args) {
    argv.push_back(arg.data());
  }
  argv.push_back(nullptr);

  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    return IoError("cannot run " + spec.argv[0] + ": pipe: " + ErrnoText(errno));
  }
  FdOwner read_end(pipe_fds[0]);
  FdOwner write_end(pipe_fds[1]);

  SpawnSetup setup;
  if (Status prepared = PrepareSpawn(setup, write_end.get(), working_dir); !prepared.ok()) {
    return std::move(prepared).error().Context("cannot run " + spec.argv[0]);
  }

  ChildResult result;
  result.timeout = spec.timeout;
  result.started = Now();
  const Clock::time_point start = Clock::now();
  pid_t pid = -1;
  const int spawn_rc =
      posix_spawn(&pid, argv[0], &setup.actions, &setup.attr, argv.data(), envp.data());
  if (spawn_rc != 0) {
    if (!IsProgramError(spawn_rc)) {
      return IoError("cannot start " + spec.argv[0] + ": " + ErrnoText(spawn_rc));
    }
    result.ending = ChildEnding::kExecFailed;
    result.exec_error = "cannot execute " + spec.argv[0] + ": " + ErrnoText(spawn_rc);
    result.finished = Now();
    return result;
  }
  write_end.Close();
  // Non-blocking, so one read loop can drain everything that is there and return to the clock.
  const int fl = ::fcntl(read_end.get(), F_GETFL);
  if (fl < 0 || ::fcntl(read_end.get(), F_SETFL, fl | O_NONBLOCK) != 0) {
    ::kill(-pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return IoError("cannot run " + spec.argv[0] + ": fcntl: " + ErrnoText(errno));
  }

  TailBuffer tail;
  std::vector<char> chunk(kReadChunk);
  const Clock::time_point deadline = start + spec.timeout;
  bool exited = false;
  bool eof = false;
  bool timed_out = false;
  bool killed = false;
  Clock::time_point kill_at{};
  Clock::time_point drain_until{};
  while (true) {
    const Clock::time_point now = Clock::now();
    if (!exited) {
      // WNOWAIT leaves the child a zombie, so its pid (and process group id) cannot be reused
      // while the group may still be signalled below.
      siginfo_t info{};
      const int waited =
          ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT);
      if (waited != 0 && errno != EINTR) {
        // The child is no longer ours to wait for (SIGCHLD ignored, reaped elsewhere): stop
        // here and let the waitpid below report it.
        break;
      }
      if (waited == 0 && info.si_pid == pid) {
        exited = true;
        drain_until = now + spec.drain_after_exit;
        if (timed_out) {
          // Whatever a timed-out installer left running goes with it.
          ::kill(-pid, SIGKILL);
        }
      }
    }
    if (exited && (eof || now >= drain_until)) {
      break;
    }
    if (!exited && !timed_out && now >= deadline) {
      timed_out = true;
      kill_at = now + spec.kill_grace;
      ::kill(-pid, SIGTERM);
    } else if (!exited && timed_out && !killed && now >= kill_at) {
      killed = true;
      ::kill(-pid, SIGKILL);
    }
    if (eof) {
      std::this_thread::sleep_for(milliseconds(10));
      continue;
    }
    pollfd pfd{read_end.get(), POLLIN, 0};
    const int ready = ::poll(&pfd, 1, static_cast<int>(kPollSlice.count()));
    if (ready > 0) {
      eof = !DrainAvailable(read_end.get(), tail, chunk);
    } else if (ready < 0 && errno != EINTR) {
      eof = true;
    }
  }
  read_end.Close();

  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      return IoError("waitpid for " + spec.argv[0] + ": " + ErrnoText(errno));
    }
  }
  result.finished = Now();
  result.elapsed = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
  result.output_bytes = tail.total();
  result.output_tail = std::move(tail.tail());
  if (WIFEXITED(status)) {
    result.ending = ChildEnding::kExited;
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.ending = ChildEnding::kSignaled;
    result.signal = WTERMSIG(status);
  }
  if (timed_out) {
    result.ending = ChildEnding::kTimedOut;
  }
  return result;
}

std::string DescribeEnding(const ChildResult& result) {
  switch (result.ending) {
    case ChildEnding::kExited:
      return "exit code " + std::to_string(result.exit_code);
    case ChildEnding::kSignaled:
      return "killed by " + SignalName(result.signal);
    case ChildEnding::kTimedOut:
      return "timed out after " + FormatDuration(result.timeout) + "; " +
             (result.signal != 0 ? "stopped by " + SignalName(result.signal)
                                 : "exited with code " + std::to_string(result.exit_code));
    case ChildEnding::kExecFailed:
      return result.exec_error;
  }
  return "unknown ending";
}

std::string MakeLogExcerpt(std::string_view output, std::string_view note) {
  std::string text(output);
  if (!note.empty()) {
    if (!text.empty() && text.back() != '\n') {
      text += '\n';
    }
    text += "ferry: ";
    text += note;
    text += '\n';
  }
  size_t begin = text.size() > kLogTailBytes ? text.size() - kLogTailBytes : 0;
  if (begin > 0) {
    // The cut may fall inside a character: its continuation bytes would be noise.
    for (int i = 0;
         i < 3 && begin < text.size() && (static_cast<unsigned char>(text[begin]) & 0xC0) == 0x80;
         ++i) {
      ++begin;
    }
  }
  std::string excerpt;
  excerpt.reserve(text.size() - begin);
  size_t i = begin;
  while (i < text.size()) {
    const size_t length = SequenceLength(static_cast<unsigned char>(text[i]));
    if (length == 1 || (length > 1 && i + length <= text.size() &&
                        json::IsValidUtf8(std::string_view(text).substr(i, length)))) {
      excerpt.append(text, i, length);
      i += length;
    } else {
      excerpt += '?';
      ++i;
    }
  }
  return excerpt;
}

}  // namespace ferry::endpoint
