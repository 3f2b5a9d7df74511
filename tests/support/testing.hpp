#pragma once

// Helpers shared by the test suites: scratch directories, real .deb files made with dpkg-deb,
// running Ferry's executables, and hand-made tar archives for hostile-input tests.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ferry::testing {

// A fresh directory under $TMPDIR, removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Builds a real .deb with dpkg-deb into `dir` and returns its path. `payload_bytes` of
// deterministic filler go into /usr/share/<package>/data so sizes can be chosen.
// `maintainer_scripts` maps names such as "preinst" or "postinst" to their text (mode 0755).
std::string MakeDeb(const std::string& dir, const std::string& package, const std::string& version,
                    const std::string& architecture = "amd64", size_t payload_bytes = 1000,
                    const std::map<std::string, std::string>& maintainer_scripts = {});

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs a shell command line, capturing stdout and stderr.
CommandResult Run(const std::string& command_line);

// Starts args[0] (a path) with args, stdin from /dev/null and stdout/stderr into the given files.
pid_t Spawn(const std::vector<std::string>& args, const std::string& out, const std::string& err);

// The child's wait status once it has exited, or nullopt if it still runs at the deadline.
std::optional<int> WaitForExit(pid_t pid, std::chrono::milliseconds timeout);

// The path of a built executable, e.g. BuildPath("bundler/ferry-bundle").
std::string BuildPath(const std::string& relative);

std::string ReadAll(const std::string& path);
void WriteAll(const std::string& path, const std::string& data);

// One member of a hand-made tar archive. Types are "file", "symlink", "hardlink", "dir", "fifo",
// "chardev"; `declared_size`, when set, is written into the header instead of data.size()
// and no data follows (for headers that lie).
struct TarEntry {
  std::string name;
  std::string data;
  std::string type = "file";
  std::string link_target;
  int64_t declared_size = -1;
};

// Writes a ustar archive by hand, byte by byte, so tests control every header field.
std::string MakeTar(const std::vector<TarEntry>& entries, bool end_marker = true);

}  // namespace ferry::testing
