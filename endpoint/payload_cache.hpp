#pragma once

// The agent's payload cache (<state>/cache): downloads land in <sha256>.part, become <sha256>
// once their size and hash match the signed manifest, and are deleted after a successful
// install. The cache stays under a byte limit by evicting the least recently used complete
// files, and partial downloads nobody resumed for a day are dropped.

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "common/time.hpp"
#include "crypto/hash.hpp"

namespace ferry::endpoint {

inline constexpr uint64_t kDefaultCacheMax = uint64_t{2} << 30;
inline constexpr int64_t kPartMaxAge = 86400;

struct CacheCleanup {
  std::vector<std::string> removed;  // file names
  uint64_t freed = 0;
  uint64_t used = 0;  // bytes in the cache afterwards
};

class PayloadCache {
 public:
  PayloadCache(std::string dir, uint64_t max_bytes) : dir_(std::move(dir)), max_(max_bytes) {}

  std::string PartPath(const crypto::Sha256Digest& sha256) const;
  std::string CompletePath(const crypto::Sha256Digest& sha256) const;

  // Renames the .part file to the complete name (the caller has checked size and hash).
  Status Promote(const crypto::Sha256Digest& sha256) const;
  // Marks a complete file as just used, so eviction takes it last.
  Status Touch(const crypto::Sha256Digest& sha256) const;
  // Deletes both the complete and the partial file, if present.
  Status Remove(const crypto::Sha256Digest& sha256) const;

  // Deletes .part files last written more than kPartMaxAge before `now` and files that are not
  // the cache's own, then the least recently used complete files until the cache plus
  // `incoming` bytes fits max_bytes. Files of `keep` (payload hashes) are never deleted.
  Result<CacheCleanup> Clean(UnixTime now, uint64_t incoming,
                             const std::set<crypto::Sha256Digest>& keep) const;

  uint64_t max_bytes() const { return max_; }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  uint64_t max_;
};

}  // namespace ferry::endpoint
