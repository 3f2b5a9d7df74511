#pragma once

// What the relay offers endpoints at one catalog version: the approved patches, the
// applicability index over them, and for each the bundle (manifest) that brought it. Loaded from
// one consistent read of the database and immutable afterwards, so request threads share it.

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "bundler/manifest.hpp"
#include "common/error.hpp"
#include "relay/applicability.hpp"
#include "relay/sqlite.hpp"

namespace ferry::relay {

struct OfferedPatch {
  bundler::Patch patch;
  std::string manifest_ref;  // "<channel>/<sequence>" of the newest bundle carrying it
};

class ApprovedCatalog {
 public:
  // Reads catalog_version, the newest trusted root version and the approved patches in one read
  // transaction.
  static Result<std::shared_ptr<const ApprovedCatalog>> Load(sql::Database& db);

  int64_t version() const { return index_.catalog_version(); }
  int64_t root_version() const { return root_version_; }
  const ApplicabilityIndex& index() const { return index_; }

  // The approved patch with this id, or nullptr.
  const OfferedPatch* Find(const std::string& id) const;
  // The SHA-256 of a referenced manifest, or nullptr when no approved patch names it.
  const std::string* ManifestSha256(const std::string& ref) const;
  size_t size() const { return patches_.size(); }
  // Approved patches not offered because their bundle's signatures do not meet the newest
  // root's bundle threshold (keys retired by a rotation since).
  size_t withheld() const { return withheld_; }

 private:
  ApprovedCatalog(std::vector<bundler::Patch> patches, int64_t version);

  ApplicabilityIndex index_;
  int64_t root_version_ = 0;
  size_t withheld_ = 0;
  std::unordered_map<std::string, OfferedPatch> patches_;
  std::unordered_map<std::string, std::string> manifest_sha256_;  // ref -> hash
};

// The distinct patch ids of an applicability answer, sorted.
std::vector<std::string> PatchIdsOf(const std::vector<Applicable>& applicable);

// SHA-256 (lowercase hex) of the canonical JSON array of sorted patch ids: endpoints.needs_sha256.
std::string NeedsHash(const std::vector<std::string>& sorted_ids);

}  // namespace ferry::relay
