#include "endpoint/payload_cache.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>

#include "common/encoding.hpp"
#include "common/file.hpp"

namespace ferry::endpoint {
namespace {

constexpr std::string_view kPartSuffix = ".part";

// The payload a cache file belongs to, from its name: "<64 hex>" or "<64 hex>.part".
std::optional<crypto::Sha256Digest> PayloadOf(std::string_view name, bool& partial) {
  partial = name.ends_with(kPartSuffix);
  if (partial) {
    name.remove_suffix(kPartSuffix.size());
  }
  if (!IsLowerHex(name, 64)) {
    return std::nullopt;
  }
  auto digest = crypto::ParseDigestHex(name);
  if (!digest.ok()) {
    return std::nullopt;
  }
  return *digest;
}

Status RemoveFile(const std::string& path) {
  if (std::remove(path.c_str()) != 0 && errno != ENOENT) {
    return IoError(path + ": remove: " + std::strerror(errno));
  }
  return Ok();
}

}  // namespace

std::string PayloadCache::PartPath(const crypto::Sha256Digest& sha256) const {
  return fs::JoinPath(dir_, crypto::DigestHex(sha256) + std::string(kPartSuffix));
}

std::string PayloadCache::CompletePath(const crypto::Sha256Digest& sha256) const {
  return fs::JoinPath(dir_, crypto::DigestHex(sha256));
}

Status PayloadCache::Promote(const crypto::Sha256Digest& sha256) const {
  const std::string from = PartPath(sha256);
  const std::string to = CompletePath(sha256);
  if (std::rename(from.c_str(), to.c_str()) != 0) {
    return IoError(from + ": rename to " + to + ": " + std::strerror(errno));
  }
  return fs::SyncDirectory(dir_);
}

Status PayloadCache::Touch(const crypto::Sha256Digest& sha256) const {
  const std::string path = CompletePath(sha256);
  if (::utimensat(AT_FDCWD, path.c_str(), nullptr, 0) != 0) {
    return IoError(path + ": utimensat: " + std::strerror(errno));
  }
  return Ok();
}

Status PayloadCache::Remove(const crypto::Sha256Digest& sha256) const {
  FERRY_RETURN_IF_ERROR(RemoveFile(CompletePath(sha256)));
  return RemoveFile(PartPath(sha256));
}

Result<CacheCleanup> PayloadCache::Clean(UnixTime now, uint64_t incoming,
                                         const std::set<crypto::Sha256Digest>& keep) const {
  struct Entry {
    std::string name;
    uint64_t size;
    int64_t mtime_ns;
  };
  CacheCleanup cleanup;
  std::vector<Entry> candidates;
  uint64_t used = 0;
  FERRY_ASSIGN_OR_RETURN(const std::vector<std::string> names, fs::ListDirectory(dir_));
  const auto remove = [&](const std::string& name, uint64_t size) -> Status {
    FERRY_RETURN_IF_ERROR(RemoveFile(fs::JoinPath(dir_, name)));
    cleanup.removed.push_back(name);
    cleanup.freed += size;
    return Ok();
  };
  for (const std::string& name : names) {
    const std::string path = fs::JoinPath(dir_, name);
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) {
      continue;  // gone in between
    }
    const uint64_t size = static_cast<uint64_t>(st.st_size);
    bool partial = false;
    const std::optional<crypto::Sha256Digest> payload = PayloadOf(name, partial);
    if (!payload) {
      // Left-overs of interrupted writes or anything else: only regular files and links, never
      // a directory somebody put here.
      if (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)) {
        FERRY_RETURN_IF_ERROR(remove(name, size));
      }
      continue;
    }
    if (!S_ISREG(st.st_mode)) {
      FERRY_RETURN_IF_ERROR(remove(name, 0));
      continue;
    }
    if (keep.count(*payload) != 0) {
      used += size;
      continue;
    }
    if (partial && st.st_mtim.tv_sec + kPartMaxAge < now) {
      FERRY_RETURN_IF_ERROR(remove(name, size));
      continue;
    }
    used += size;
    candidates.push_back(
        {name, size, int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec});
  }
  std::sort(candidates.begin(), candidates.end(), [](const Entry& a, const Entry& b) {
    return a.mtime_ns != b.mtime_ns ? a.mtime_ns < b.mtime_ns : a.name < b.name;
  });
  for (const Entry& entry : candidates) {
    if (used + incoming <= max_) {
      break;
    }
    FERRY_RETURN_IF_ERROR(remove(entry.name, entry.size));
    used -= entry.size;
  }
  cleanup.used = used;
  return cleanup;
}

}  // namespace ferry::endpoint
