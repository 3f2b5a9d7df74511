#include "relay/applicability.hpp"

#include <algorithm>
#include <exception>
#include <limits>
#include <mutex>
#include <tuple>
#include <utility>

namespace ferry::relay {
namespace {

// How a patch's architecture meets an installed package's. An "all" patch replaces the package
// whatever its architecture. An arch-specific patch replaces a package of that architecture, and
// also an installed "all" package when it is the native one, because apt treats "all" packages as
// native and upgrades them across an all -> any change of the package.
bool Fits(std::string_view patch_architecture, std::string_view installed_architecture,
          std::string_view native_architecture) {
  return patch_architecture == installed_architecture || patch_architecture == "all" ||
         (installed_architecture == "all" && !native_architecture.empty() &&
          patch_architecture == native_architecture);
}

}  // namespace

ApplicabilityIndex::ApplicabilityIndex(const std::vector<bundler::Patch>& patches,
                                       int64_t catalog_version)
    : catalog_version_(catalog_version) {
  for (const bundler::Patch& patch : patches) {
    if (patch.kind != "deb" && patch.kind != "script") {
      continue;
    }
    Candidate candidate;
    candidate.id = patch.id;
    candidate.architecture = patch.architecture;
    candidate.target_os = patch.target_os;
    candidate.version = patch.version;
    candidate.severity = patch.severity;
    if (patch.kind == "script") {
      candidate.package = patch.package.empty() ? patch.id : patch.package;
      scripts_.push_back(std::move(candidate));
      ++size_;
      continue;
    }
    if (auto parsed = bundler::ParseDebianVersion(patch.version); parsed.ok()) {
      candidate.parsed = std::move(parsed).value();
    }
    by_package_[patch.package].push_back(std::move(candidate));
    ++size_;
  }
  for (auto& [name, candidates] : by_package_) {
    std::sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
      const int order = a.parsed && b.parsed ? bundler::CompareDebianVersions(*a.parsed, *b.parsed)
                                             : bundler::CompareDebianVersions(a.version, b.version);
      if (order != 0) {
        return order > 0;
      }
      return a.id < b.id;
    });
  }
}

std::vector<Applicable> ApplicabilityIndex::Evaluate(const bundler::Inventory& inventory,
                                                     std::string_view target_os) const {
  std::vector<Applicable> out;
  const std::string_view native = bundler::NativeArchitecture(inventory);
  for (const bundler::InstalledPackage& installed : inventory.packages) {
    const auto found = by_package_.find(installed.name);
    if (found == by_package_.end()) {
      continue;
    }
    std::optional<bundler::DebianVersion> installed_parsed;
    bool parse_tried = false;
    for (const Candidate& candidate : found->second) {
      if (!target_os.empty() && candidate.target_os != target_os) {
        continue;
      }
      if (!Fits(candidate.architecture, installed.architecture, native)) {
        continue;
      }
      if (!parse_tried) {
        parse_tried = true;
        if (auto parsed = bundler::ParseDebianVersion(installed.version); parsed.ok()) {
          installed_parsed = std::move(parsed).value();
        }
      }
      const int order = candidate.parsed && installed_parsed
                            ? bundler::CompareDebianVersions(*candidate.parsed, *installed_parsed)
                            : bundler::CompareDebianVersions(candidate.version, installed.version);
      if (order > 0) {
        out.push_back({candidate.id, installed.name, installed.architecture, installed.version,
                       candidate.version, candidate.severity, candidate.architecture});
      }
      // Candidates run newest first: when the newest that fits is not newer than what is
      // installed, no older one is either.
      break;
    }
  }
  for (const Candidate& script : scripts_) {
    if (target_os.empty() || script.target_os == target_os) {
      out.push_back({script.id, script.package, script.architecture, "", script.version,
                     script.severity, script.architecture});
    }
  }
  std::sort(out.begin(), out.end(), [](const Applicable& a, const Applicable& b) {
    return std::tie(a.patch_id, a.package, a.architecture) <
           std::tie(b.patch_id, b.package, b.architecture);
  });
  return out;
}

ApplicabilityCache::ApplicabilityCache(size_t max_entries)
    : max_entries_(std::max<size_t>(max_entries, 1)) {}

size_t ApplicabilityCache::size() const {
  std::shared_lock lock(mutex_);
  return entries_.size();
}

void ApplicabilityCache::EvictOneLocked(const std::string& keep) {
  auto oldest = entries_.end();
  uint64_t oldest_use = std::numeric_limits<uint64_t>::max();
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    const uint64_t used = it->second->last_used.load(std::memory_order_relaxed);
    if (it->first != keep && used < oldest_use) {
      oldest_use = used;
      oldest = it;
    }
  }
  if (oldest != entries_.end()) {
    entries_.erase(oldest);
  }
}

std::shared_ptr<const std::vector<Applicable>> ApplicabilityCache::Get(
    const ApplicabilityIndex& index, const std::string& inventory_hash,
    const bundler::Inventory* inventory_if_known, std::string_view target_os) {
  // A newline cannot occur in a hash or an identifier, so the key splits one way only.
  std::string key;
  key.reserve(inventory_hash.size() + 1 + target_os.size());
  key.append(inventory_hash).push_back('\n');
  key.append(target_os);
  const int64_t version = index.catalog_version();

  auto hit = [&](Entry& entry, auto& lock) {
    entry.last_used.store(clock_.fetch_add(1, std::memory_order_relaxed) + 1,
                          std::memory_order_relaxed);
    std::shared_future<SharedResult> result = entry.result;
    lock.unlock();
    hits_.fetch_add(1, std::memory_order_relaxed);
    // Waits when another thread is still evaluating this key.
    return result.get();
  };

  {
    std::shared_lock lock(mutex_);
    if (catalog_version_ == version) {
      if (const auto it = entries_.find(key); it != entries_.end()) {
        return hit(*it->second, lock);
      }
    }
  }
  if (inventory_if_known == nullptr) {
    misses_.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
  }

  std::promise<SharedResult> promise;
  Entry* inserted = nullptr;
  {
    std::unique_lock lock(mutex_);
    if (!catalog_version_.has_value() || *catalog_version_ < version) {
      entries_.clear();
      catalog_version_ = version;
    }
    if (*catalog_version_ == version) {
      if (const auto it = entries_.find(key); it != entries_.end()) {
        return hit(*it->second, lock);
      }
      auto entry = std::make_unique<Entry>();
      entry->result = promise.get_future().share();
      entry->last_used.store(clock_.fetch_add(1, std::memory_order_relaxed) + 1,
                             std::memory_order_relaxed);
      inserted = entry.get();
      entries_.emplace(key, std::move(entry));
      if (entries_.size() > max_entries_) {
        EvictOneLocked(key);
      }
    }
    // Otherwise the index is older than one already seen: its answer must not be cached.
  }

  misses_.fetch_add(1, std::memory_order_relaxed);
  evaluations_.fetch_add(1, std::memory_order_relaxed);
  try {
    SharedResult result = std::make_shared<const std::vector<Applicable>>(
        index.Evaluate(*inventory_if_known, target_os));
    if (inserted != nullptr) {
      promise.set_value(result);
    }
    return result;
  } catch (...) {
    if (inserted != nullptr) {
      promise.set_exception(std::current_exception());
      std::unique_lock lock(mutex_);
      if (const auto it = entries_.find(key);
          it != entries_.end() && it->second.get() == inserted) {
        entries_.erase(it);
      }
    }
    throw;
  }
}

}  // namespace ferry::relay
