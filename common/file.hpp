#pragma once

// File access for the whole project. Every operation returns a value naming the path and the
// system's reason, so callers can pass errors on with context.

#include <sys/types.h>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"

namespace ferry::fs {

// An open file descriptor, closed on destruction. Movable, not copyable.
class File {
 public:
  File() = default;
  explicit File(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  File(File&& other) noexcept;
  File& operator=(File&& other) noexcept;
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  ~File();

  static Result<File> OpenRead(const std::string& path);
  // Creates a new file that must not exist yet (O_EXCL), with the given permission bits.
  static Result<File> CreateNew(const std::string& path, mode_t mode);

  // Reads up to out.size() bytes; 0 at end of file. Retries on EINTR.
  Result<size_t> Read(std::span<uint8_t> out);
  // Reads exactly out.size() bytes or fails (a short file is ErrorKind::kInvalid).
  Status ReadExact(std::span<uint8_t> out);
  Status WriteAll(std::span<const uint8_t> data);
  Status WriteAll(std::string_view data);
  Status Sync();
  Result<uint64_t> Size() const;
  Status Close();

  int fd() const { return fd_; }
  const std::string& path() const { return path_; }

 private:
  int fd_ = -1;
  std::string path_;
};

// Reads a whole file, refusing one larger than max_bytes.
Result<std::string> ReadFile(const std::string& path, size_t max_bytes);

// Writes a file so that a crash leaves either no file or the whole file: a temporary beside it,
// fsync, rename over the target, fsync of the directory. With `overwrite` false an existing
// target is an error.
Status WriteFileAtomic(const std::string& path, std::string_view data, mode_t mode,
                       bool overwrite = true);

// Syncs a directory, so a rename, link or unlink in it survives power loss.
Status SyncDirectory(const std::string& dir);

// The directory part of a path ("." for a bare name).
std::string ParentDirectory(const std::string& path);

bool Exists(const std::string& path);
bool IsDirectory(const std::string& path);

// The entries of a directory (names only, no "." or ".."), sorted by name.
Result<std::vector<std::string>> ListDirectory(const std::string& path);

std::string JoinPath(std::string_view dir, std::string_view name);

}  // namespace ferry::fs
