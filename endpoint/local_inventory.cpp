#include "endpoint/local_inventory.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <utility>

#include "bundler/dpkg_status.hpp"
#include "common/file.hpp"

namespace ferry::endpoint {

namespace {

constexpr const char* kHostAdminDir = "/var/lib/dpkg";

Status MakeDirectory(const std::string& path) {
  if (::mkdir(path.c_str(), 0755) == 0 || (errno == EEXIST && fs::IsDirectory(path))) {
    return Ok();
  }
  return IoError("cannot create directory " + path + ": " + std::strerror(errno));
}

// Creates an empty file unless one is there already; never truncates.
Status MakeEmptyFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd >= 0) {
    ::close(fd);
    return Ok();
  }
  struct stat st {};
  if (errno == EEXIST && ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
    return Ok();
  }
  return IoError("cannot create " + path + ": " + std::strerror(errno));
}

}  // namespace

std::string DpkgAdminDir(const DpkgRoot& root) {
  return root.root.empty() ? kHostAdminDir : fs::JoinPath(root.root, "var/lib/dpkg");
}

Result<std::string> ResolveDpkgRoot(const DpkgRoot& root) {
  if (root.root.empty()) {
    return std::string();
  }
  std::unique_ptr<char, decltype(&std::free)> resolved(::realpath(root.root.c_str(), nullptr),
                                                       &std::free);
  if (resolved == nullptr) {
    return IoError("dpkg root " + root.root + ": " + std::strerror(errno));
  }
  const std::string path = resolved.get();
  if (!fs::IsDirectory(path)) {
    return IoError("dpkg root " + root.root + ": not a directory");
  }
  const std::string status = fs::JoinPath(DpkgAdminDir(DpkgRoot{path}), "status");
  struct stat st {};
  if (::stat(status.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return IoError("dpkg root " + root.root + ": no dpkg database (" + status +
                   " is missing; create the root with CreateDpkgRoot)");
  }
  // "/" is the host: dpkg's defaults are exactly that root, so no --root is passed for it.
  return path == "/" ? std::string() : path;
}

Result<bundler::Inventory> ReadLocalInventory(const DpkgRoot& root) {
  FERRY_ASSIGN_OR_RETURN(const std::string resolved, ResolveDpkgRoot(root));
  const std::string status_path = fs::JoinPath(DpkgAdminDir(DpkgRoot{resolved}), "status");
  FERRY_ASSIGN_OR_RETURN(std::string text, fs::ReadFile(status_path, bundler::kMaxDpkgStatusBytes));
  FERRY_ASSIGN_OR_RETURN(std::vector<bundler::InstalledPackage> packages,
                         bundler::ParseDpkgStatus(text, status_path));
  Result<bundler::Inventory> inventory = bundler::MakeInventory(std::move(packages));
  if (!inventory.ok()) {
    return std::move(inventory).error().Context(status_path);
  }
  return inventory;
}

Status CreateDpkgRoot(const std::string& dir) {
  if (dir.empty()) {
    return UsageError("a dpkg root needs a directory name");
  }
  FERRY_RETURN_IF_ERROR(MakeDirectory(dir));
  for (const char* sub : {"var", "var/lib", "var/lib/dpkg", "var/lib/dpkg/info",
                          "var/lib/dpkg/updates", "var/lib/dpkg/triggers", "var/log"}) {
    FERRY_RETURN_IF_ERROR(MakeDirectory(fs::JoinPath(dir, sub)));
  }
  for (const char* file : {"var/lib/dpkg/status", "var/lib/dpkg/available"}) {
    FERRY_RETURN_IF_ERROR(MakeEmptyFile(fs::JoinPath(dir, file)));
  }
  return Ok();
}

}  // namespace ferry::endpoint
