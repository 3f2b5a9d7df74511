#include "common/file.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

namespace ferry::fs {
namespace {

Error SystemError(const std::string& path, const char* what, int err) {
  return IoError(path + ": " + what + ": " + std::strerror(err));
}

}  // namespace

std::string ParentDirectory(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

Status SyncDirectory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return SystemError(dir, "open directory", errno);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return SystemError(dir, "fsync directory", err);
  return Ok();
}

File::File(File&& other) noexcept : fd_(other.fd_), path_(std::move(other.path_)) {
  other.fd_ = -1;
}

File& File::operator=(File&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.fd_;
    path_ = std::move(other.path_);
    other.fd_ = -1;
  }
  return *this;
}

File::~File() {
  if (fd_ >= 0) ::close(fd_);
}

Result<File> File::OpenRead(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return SystemError(path, "open", errno);
  return File(fd, path);
}

Result<File> File::CreateNew(const std::string& path, mode_t mode) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return SystemError(path, "create", errno);
  // The umask may have cleared bits that were asked for; it may never add any.
  if (::fchmod(fd, mode) != 0) {
    const int err = errno;
    ::close(fd);
    return SystemError(path, "chmod", err);
  }
  return File(fd, path);
}

Result<size_t> File::Read(std::span<uint8_t> out) {
  while (true) {
    const ssize_t n = ::read(fd_, out.data(), out.size());
    if (n >= 0) return static_cast<size_t>(n);
    if (errno != EINTR) return SystemError(path_, "read", errno);
  }
}

Status File::ReadExact(std::span<uint8_t> out) {
  size_t done = 0;
  while (done < out.size()) {
    FERRY_ASSIGN_OR_RETURN(const size_t n, Read(out.subspan(done)));
    if (n == 0) return InvalidError(path_ + ": unexpected end of file");
    done += n;
  }
  return Ok();
}

Status File::WriteAll(std::span<const uint8_t> data) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd_, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return SystemError(path_, "write", errno);
    }
    done += static_cast<size_t>(n);
  }
  return Ok();
}

Status File::WriteAll(std::string_view data) {
  return WriteAll(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(data.data()), data.size()));
}

Status File::Sync() {
  if (::fsync(fd_) != 0) return SystemError(path_, "fsync", errno);
  return Ok();
}

Result<uint64_t> File::Size() const {
  struct stat st {};
  if (::fstat(fd_, &st) != 0) return SystemError(path_, "stat", errno);
  return static_cast<uint64_t>(st.st_size);
}

Status File::Close() {
  if (fd_ < 0) return Ok();
  const int rc = ::close(fd_);
  fd_ = -1;
  if (rc != 0) return SystemError(path_, "close", errno);
  return Ok();
}

Result<std::string> ReadFile(const std::string& path, size_t max_bytes) {
  FERRY_ASSIGN_OR_RETURN(File file, File::OpenRead(path));
  FERRY_ASSIGN_OR_RETURN(const uint64_t size, file.Size());
  if (size > max_bytes) {
    return InvalidError(path + ": " + std::to_string(size) + " bytes exceeds the limit of " +
                        std::to_string(max_bytes));
  }
  std::string data(size, '\0');
  size_t done = 0;
  while (true) {
    if (done == data.size()) {
      // The file may have grown since fstat; one more byte tells.
      if (data.size() > max_bytes) {
        return InvalidError(path + ": exceeds the limit of " + std::to_string(max_bytes) + " bytes");
      }
      data.resize(data.size() + 4096);
    }
    FERRY_ASSIGN_OR_RETURN(
        const size_t n,
        file.Read({reinterpret_cast<uint8_t*>(data.data()) + done, data.size() - done}));
    if (n == 0) break;
    done += n;
  }
  data.resize(done);
  if (data.size() > max_bytes) {
    return InvalidError(path + ": exceeds the limit of " + std::to_string(max_bytes) + " bytes");
  }
  return data;
}

Status WriteFileAtomic(const std::string& path, std::string_view data, mode_t mode,
                       bool overwrite) {
  if (!overwrite && Exists(path)) {
    return IoError(path + ": already exists; refusing to overwrite");
  }
  const std::string temp = path + ".tmp." + std::to_string(::getpid());
  ::unlink(temp.c_str());
  {
    FERRY_ASSIGN_OR_RETURN(File file, File::CreateNew(temp, mode));
    Status written = file.WriteAll(data);
    if (written.ok()) written = file.Sync();
    if (written.ok()) written = file.Close();
    if (!written.ok()) {
      ::unlink(temp.c_str());
      return written;
    }
  }
  if (!overwrite) {
    // link() fails when the target exists, so a racing writer cannot be overwritten.
    if (::link(temp.c_str(), path.c_str()) != 0) {
      const int err = errno;
      ::unlink(temp.c_str());
      return SystemError(path, err == EEXIST ? "already exists; refusing to overwrite" : "link", err);
    }
    ::unlink(temp.c_str());
  } else if (::rename(temp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(temp.c_str());
    return SystemError(path, "rename", err);
  }
  return SyncDirectory(ParentDirectory(path));
}

bool Exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

bool IsDirectory(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

Result<std::vector<std::string>> ListDirectory(const std::string& path) {
  std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir(path.c_str()), &::closedir);
  if (!dir) return SystemError(path, "open directory", errno);
  std::vector<std::string> names;
  while (const dirent* entry = ::readdir(dir.get())) {
    const std::string name = entry->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string JoinPath(std::string_view dir, std::string_view name) {
  std::string out(dir);
  if (!out.empty() && out.back() != '/') out.push_back('/');
  out.append(name);
  return out;
}

}  // namespace ferry::fs
