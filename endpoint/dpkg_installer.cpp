#include "endpoint/dpkg_installer.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <thread>
#include <utility>

#include "common/file.hpp"
#include "endpoint/child_process.hpp"

namespace ferry::endpoint {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds kLockRetry{200};
// dpkg's own words when it finds its lock taken (exit code 2), in any dpkg since 1.19.
constexpr std::string_view kDpkgLockedMessage = "was locked by another process";

// One of dpkg's lock files with an open-file-description lock: it conflicts with dpkg's and
// apt's fcntl() locks, and unlike a classic fcntl() lock it is not dropped when some other thread
// of the agent closes a descriptor of the same file.
class LockFile {
 public:
  LockFile() = default;
  LockFile(const LockFile&) = delete;
  LockFile& operator=(const LockFile&) = delete;
  ~LockFile() { Close(); }

  Status Open(const std::string& path) {
    path_ = path;
    // 0640 and created if missing, as dpkg itself does.
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
    if (fd_ < 0) {
      return IoError("cannot open dpkg lock " + path + ": " + std::strerror(errno));
    }
    return Ok();
  }

  // True when the lock is now ours, false when another process holds it.
  Result<bool> TryLock() { return Set(F_WRLCK); }
  Status Unlock() {
    Result<bool> done = Set(F_UNLCK);
    if (!done.ok()) {
      return std::move(done).error();
    }
    return Ok();
  }

  void Close() {
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }

 private:
  Result<bool> Set(short type) {
    struct flock lock {};
    lock.l_type = type;
    lock.l_whence = SEEK_SET;
    if (::fcntl(fd_, F_OFD_SETLK, &lock) == 0) {
      return true;
    }
    if (errno == EAGAIN || errno == EACCES) {
      return false;
    }
    return IoError("cannot lock " + path_ + ": " + std::strerror(errno));
  }

  int fd_ = -1;
  std::string path_;
};

Error LockedError(const std::string& admin_dir, milliseconds waited) {
  return IoError(admin_dir + ": dpkg database is locked by another process (waited " +
                 std::to_string(waited.count() / 1000) + " s)");
}

// Waits until `lock` is ours or the deadline passes.
Result<bool> LockBefore(LockFile& lock, Clock::time_point deadline) {
  while (true) {
    FERRY_ASSIGN_OR_RETURN(const bool locked, lock.TryLock());
    if (locked) {
      return true;
    }
    if (Clock::now() >= deadline) {
      return false;
    }
    std::this_thread::sleep_for(kLockRetry);
  }
}

bool IsRealDirectory(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// A file Debian's notify-reboot-required writes, and the directories that lead to it from the
// root. A marker counts only while each of those is a real directory: a symlink is never
// followed, as inside a private root it could lead to the host's /run.
struct RebootMarker {
  std::string path;
  std::vector<std::string> directories;
};

// <root>/run/reboot-required{,.pkgs}, and the same under <root>/var/run for a root where that is
// a directory of its own rather than the usual symlink to /run.
std::vector<RebootMarker> RebootMarkers(const std::string& root) {
  const std::string base = root.empty() ? "/" : root;
  const std::string run = fs::JoinPath(base, "run");
  const std::string var = fs::JoinPath(base, "var");
  const std::string var_run = fs::JoinPath(var, "run");
  std::vector<RebootMarker> markers;
  for (const char* name : {"reboot-required", "reboot-required.pkgs"}) {
    markers.push_back(RebootMarker{fs::JoinPath(run, name), {run}});
    markers.push_back(RebootMarker{fs::JoinPath(var_run, name), {var, var_run}});
  }
  return markers;
}

struct MarkerState {
  bool exists = false;
  dev_t device = 0;
  ino_t inode = 0;
  off_t size = 0;
  timespec modified{};

  bool operator==(const MarkerState& other) const {
    return exists == other.exists && device == other.device && inode == other.inode &&
           size == other.size && modified.tv_sec == other.modified.tv_sec &&
           modified.tv_nsec == other.modified.tv_nsec;
  }
};

std::vector<MarkerState> SnapshotMarkers(const std::vector<RebootMarker>& markers) {
  std::vector<MarkerState> states;
  for (const RebootMarker& marker : markers) {
    MarkerState state;
    bool reachable = true;
    for (const std::string& dir : marker.directories) {
      reachable = reachable && IsRealDirectory(dir);
    }
    struct stat st {};
    if (reachable && ::lstat(marker.path.c_str(), &st) == 0) {
      state = MarkerState{true, st.st_dev, st.st_ino, st.st_size, st.st_mtim};
    }
    states.push_back(state);
  }
  return states;
}

// The reboot-required file present after the run when any marker appeared or changed during it.
std::optional<std::string> RebootMarkerTouched(const std::vector<RebootMarker>& markers,
                                               const std::vector<MarkerState>& before,
                                               const std::vector<MarkerState>& after) {
  bool changed = false;
  std::optional<std::string> present;
  for (size_t i = 0; i < markers.size(); ++i) {
    changed = changed || !(before[i] == after[i]);
    if (after[i].exists && markers[i].path.ends_with("/reboot-required")) {
      present = markers[i].path;
    }
  }
  if (changed && present) {
    return present;
  }
  return std::nullopt;
}

Result<std::string> ResolveDeb(const std::string& deb_path) {
  std::unique_ptr<char, decltype(&std::free)> resolved(::realpath(deb_path.c_str(), nullptr),
                                                       &std::free);
  if (resolved == nullptr) {
    return IoError(deb_path + ": " + std::strerror(errno));
  }
  struct stat st {};
  if (::stat(resolved.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return IoError(deb_path + ": not a regular file");
  }
  return std::string(resolved.get());
}

bool IsLockFailure(const ChildResult& run) {
  return run.ending == ChildEnding::kExited && run.exit_code == 2 &&
         run.output_tail.find(kDpkgLockedMessage) != std::string::npos;
}

}  // namespace

std::vector<std::string> DpkgInstallArguments(const std::string& dpkg, const std::string& deb_path,
                                              const std::string& resolved_root) {
  std::vector<std::string> args = {dpkg};
  if (!resolved_root.empty()) {
    // --root puts both the files and the database under the root and chroots into it for
    // maintainer scripts. The log would otherwise go to the host's /var/log/dpkg.log, as dpkg's
    // log path does not follow --root.
    args.push_back("--root=" + resolved_root);
    args.push_back("--log=" + fs::JoinPath(resolved_root, "var/log/dpkg.log"));
    if (::geteuid() != 0) {
      // Files then belong to the agent's user; maintainer scripts still need root to chroot.
      args.push_back("--force-not-root");
    }
  }
  // Keep a locally changed conffile and take the package's default for anything else: the
  // choices an administrator answering "N" at every prompt would make.
  args.push_back("--force-confdef");
  args.push_back("--force-confold");
  args.push_back("--install");
  args.push_back(deb_path);
  return args;
}

Result<InstallOutcome> InstallDeb(const std::string& deb_path, const DpkgRoot& root) {
  return InstallDeb(deb_path, root, DpkgInstallOptions{});
}

Result<InstallOutcome> InstallDeb(const std::string& deb_path, const DpkgRoot& root,
                                  const DpkgInstallOptions& options) {
  const std::string context = "cannot install " + deb_path;
  Result<std::string> dpkg = FindProgram("dpkg");
  if (!dpkg.ok()) {
    return std::move(dpkg).error().Context(context);
  }
  Result<std::string> deb = ResolveDeb(deb_path);
  if (!deb.ok()) {
    return std::move(deb).error().Context(context);
  }
  Result<std::string> resolved_root = ResolveDpkgRoot(root);
  if (!resolved_root.ok()) {
    return std::move(resolved_root).error().Context(context);
  }
  const std::string admin_dir = DpkgAdminDir(DpkgRoot{*resolved_root});

  // The frontend protocol of dpkg 1.19.1 and later, as apt follows it: a frontend holds
  // lock-frontend for its whole run and tells dpkg so with DPKG_FRONTEND_LOCKED; dpkg itself
  // then takes the database lock. Waiting for both here, instead of letting dpkg fail at once,
  // lets an install queue behind apt or unattended-upgrades for up to options.lock_wait.
  const Clock::time_point start = Clock::now();
  const Clock::time_point lock_deadline = start + options.lock_wait;
  LockFile frontend;
  FERRY_RETURN_IF_ERROR(frontend.Open(fs::JoinPath(admin_dir, "lock-frontend")));
  FERRY_ASSIGN_OR_RETURN(const bool have_frontend, LockBefore(frontend, lock_deadline));
  if (!have_frontend) {
    return LockedError(admin_dir, options.lock_wait);
  }

  ChildSpec spec;
  spec.argv = DpkgInstallArguments(*dpkg, *deb, *resolved_root);
  spec.extra_env = {"DEBIAN_FRONTEND=noninteractive", "DPKG_FRONTEND_LOCKED=1"};
  spec.timeout = options.timeout;
  spec.kill_grace = options.kill_grace;
  const std::vector<RebootMarker> markers = RebootMarkers(*resolved_root);

  while (true) {
    // A dpkg run without the frontend protocol (an old tool, `dpkg -i` by hand) takes only the
    // database lock: wait for it too, then release it for the dpkg we start.
    LockFile database;
    FERRY_RETURN_IF_ERROR(database.Open(fs::JoinPath(admin_dir, "lock")));
    FERRY_ASSIGN_OR_RETURN(const bool have_database, LockBefore(database, lock_deadline));
    if (!have_database) {
      return LockedError(admin_dir, options.lock_wait);
    }
    FERRY_RETURN_IF_ERROR(database.Unlock());
    database.Close();

    const std::vector<MarkerState> before = SnapshotMarkers(markers);
    FERRY_ASSIGN_OR_RETURN(ChildResult run, RunChild(spec));
    if (run.ending == ChildEnding::kExecFailed) {
      return IoError(run.exec_error).Context(context);
    }
    if (IsLockFailure(run)) {
      // Someone took the database lock between our check and dpkg's start.
      if (Clock::now() >= lock_deadline) {
        return LockedError(admin_dir, options.lock_wait);
      }
      std::this_thread::sleep_for(kLockRetry);
      continue;
    }

    InstallOutcome outcome;
    outcome.started = run.started;
    outcome.finished = run.finished;
    if (run.ending == ChildEnding::kExited) {
      outcome.exit_code = run.exit_code;
    }
    std::string note;
    if (run.ending == ChildEnding::kExited && run.exit_code == 0) {
      outcome.result = InstallResult::kInstalled;
      const std::optional<std::string> marker =
          RebootMarkerTouched(markers, before, SnapshotMarkers(markers));
      if (marker) {
        outcome.result = InstallResult::kRebootRequired;
        note = "reboot required: " + *marker + " was written during the installation";
      }
    } else {
      outcome.result = InstallResult::kFailed;
      note = "dpkg failed: " + DescribeEnding(run);
    }
    outcome.log_excerpt = MakeLogExcerpt(run.output_tail, note);
    return outcome;
  }
}

}  // namespace ferry::endpoint
