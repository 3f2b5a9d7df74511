#include "relay/lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace ferry::relay {

DirectoryLock::DirectoryLock(DirectoryLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }

DirectoryLock& DirectoryLock::operator=(DirectoryLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

DirectoryLock::~DirectoryLock() {
  if (fd_ >= 0) ::close(fd_);  // closing releases the flock
}

Result<DirectoryLock> DirectoryLock::Take(const std::string& path, bool wait) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return IoError(path + ": open lock file: " + std::strerror(errno));
  while (::flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) != 0) {
    if (errno == EINTR) continue;
    const int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK) return IoError(path + ": another ferry-relay process holds the lock");
    return IoError(path + ": flock: " + std::strerror(err));
  }
  return DirectoryLock(fd);
}

Result<DirectoryLock> DirectoryLock::Acquire(const std::string& path) { return Take(path, true); }
Result<DirectoryLock> DirectoryLock::TryAcquire(const std::string& path) {
  return Take(path, false);
}

}  // namespace ferry::relay
