#pragma once

#include <string>

#include "common/error.hpp"

namespace ferry::relay {

// An exclusive advisory lock (flock) on a file, held until destruction. Imports, recovery and
// initialisation take it so that only one process changes staging and the payload store.
class DirectoryLock {
 public:
  DirectoryLock() = default;
  DirectoryLock(DirectoryLock&&) noexcept;
  DirectoryLock& operator=(DirectoryLock&&) noexcept;
  DirectoryLock(const DirectoryLock&) = delete;
  DirectoryLock& operator=(const DirectoryLock&) = delete;
  ~DirectoryLock();

  // Blocks until the lock is free.
  static Result<DirectoryLock> Acquire(const std::string& path);
  // Returns an error of kind kIo at once when another process holds it.
  static Result<DirectoryLock> TryAcquire(const std::string& path);

 private:
  explicit DirectoryLock(int fd) : fd_(fd) {}
  static Result<DirectoryLock> Take(const std::string& path, bool wait);
  int fd_ = -1;
};

}  // namespace ferry::relay
