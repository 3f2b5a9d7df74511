#pragma once

// Which catalog patches an endpoint is missing, decided from its inventory alone, and a cache that
// makes endpoints sharing an image share the answer. Rules: docs/applicability.md.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <future>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "bundler/debian_version.hpp"
#include "bundler/inventory.hpp"
#include "bundler/manifest.hpp"

namespace ferry::relay {

struct Applicable {
  std::string patch_id;
  std::string package;
  std::string architecture;  // the installed package's
  std::string installed_version;
  std::string patch_version;
  std::string severity;
  std::string patch_architecture;  // the patch's: the installed one, "all" or the native one

  bool operator==(const Applicable&) const = default;
};

// Built once per catalog version from the catalog's deb and script patches; answers in
// O(installed packages + script patches).
// Immutable after construction, so Evaluate may run on many threads at once.
class ApplicabilityIndex {
 public:
  // Keeps the patches of kind "deb" (decided by dpkg versions) and "script" (decided by target
  // OS); "file" patches are not offered to agents.
  ApplicabilityIndex(const std::vector<bundler::Patch>& patches, int64_t catalog_version);

  int64_t catalog_version() const { return catalog_version_; }

  // Number of deb and script patches indexed.
  size_t size() const { return size_; }

  // For each installed package, the newest catalog patch for the same package name whose
  // architecture fits (equal, "all", or the native architecture for an installed "all" package),
  // whose target_os equals `target_os` when that is non-empty, and whose version is higher by
  // Debian's rules. Newest supersedes older; equal versions go to the smaller patch id. Sorted by
  // patch id, then package and architecture. Script patches have no installed version to compare:
  // each applies to every endpoint of its target_os (every one when `target_os` is empty), and
  // the agent keeps the record of which ones it already ran.
  std::vector<Applicable> Evaluate(const bundler::Inventory& inventory,
                                   std::string_view target_os) const;

 private:
  struct Candidate {
    std::string id;
    std::string architecture;
    std::string target_os;
    std::string version;
    std::optional<bundler::DebianVersion> parsed;  // nullopt when only the lenient order applies
    std::string severity;
    std::string package;  // script patches only: the patch's package or its id
  };

  // package name -> its deb patches, newest version first.
  std::unordered_map<std::string, std::vector<Candidate>> by_package_;
  std::vector<Candidate> scripts_;
  int64_t catalog_version_;
  size_t size_ = 0;
};

// Caches Evaluate results per (inventory hash, catalog version, target_os) so 100,000 endpoints
// sharing 50 images cost 50 evaluations. Thread-safe: lookups share a std::shared_mutex, and
// concurrent misses on one key evaluate once while the others wait for that result. Bounded:
// the least recently used entry goes when a miss would exceed max_entries, and everything goes
// when an index with a newer catalog version arrives.
class ApplicabilityCache {
 public:
  explicit ApplicabilityCache(size_t max_entries = 4096);
  ApplicabilityCache(const ApplicabilityCache&) = delete;
  ApplicabilityCache& operator=(const ApplicabilityCache&) = delete;

  // The cached result for the key, or index.Evaluate(*inventory_if_known, target_os) stored under
  // it; nullptr when not cached and inventory_if_known is null. The caller promises
  // inventory_hash == InventoryHash(*inventory_if_known) and that a catalog version names one
  // patch set. An index older than the newest seen is evaluated without caching.
  std::shared_ptr<const std::vector<Applicable>> Get(const ApplicabilityIndex& index,
                                                     const std::string& inventory_hash,
                                                     const bundler::Inventory* inventory_if_known,
                                                     std::string_view target_os);

  size_t hits() const { return hits_.load(); }
  size_t misses() const { return misses_.load(); }
  // Calls of ApplicabilityIndex::Evaluate made by this cache.
  size_t evaluations() const { return evaluations_.load(); }
  size_t size() const;

 private:
  using SharedResult = std::shared_ptr<const std::vector<Applicable>>;
  struct Entry {
    std::shared_future<SharedResult> result;
    std::atomic<uint64_t> last_used{0};
  };

  void EvictOneLocked(const std::string& keep);

  const size_t max_entries_;
  mutable std::shared_mutex mutex_;
  std::unordered_map<std::string, std::unique_ptr<Entry>> entries_;
  std::optional<int64_t> catalog_version_;
  std::atomic<uint64_t> clock_{0};
  std::atomic<size_t> hits_{0};
  std::atomic<size_t> misses_{0};
  std::atomic<size_t> evaluations_{0};
};

}  // namespace ferry::relay
