#pragma once

// `ferry-bundle build`: gathers patches from a source directory (loose .deb files and generic
// payload descriptions, or a local APT repository), attaches OSV advisories, signs a manifest with
// bundle keys and writes the bundle.

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "bundler/manifest.hpp"
#include "common/error.hpp"
#include "crypto/ed25519.hpp"
#include "crypto/trust_root.hpp"

namespace ferry::bundler {

struct BuildOptions {
  std::vector<crypto::TrustRoot> roots;  // the chain to ship, any order; the newest one signs
  std::vector<const crypto::SigningKey*> keys;
  std::string channel;
  int64_t sequence = 0;
  std::string source_dir;
  std::optional<std::string> advisories_dir;
  std::optional<std::string> base_path;  // an earlier bundle of the channel: makes a delta
  int64_t expires_in = 30 * 86400;
  std::optional<std::string> site;
  std::string target_os = "debian-12";
  UnixTime now = 0;
  std::string out_path;
  // Progress of the two passes over payload bytes: "hashing", then "writing".
  std::function<void(const char* phase, uint64_t done, uint64_t total)> progress;
};

struct BuildSummary {
  Manifest manifest;
  size_t carried_payloads = 0;
  uint64_t carried_bytes = 0;
};

Result<BuildSummary> BuildBundle(const BuildOptions& options);

// The patches a source directory offers, with each payload hashed. Exposed for tests.
struct SourcePatch {
  Patch patch;
  std::string path;
};
Result<std::vector<SourcePatch>> GatherSource(
    const std::string& source_dir, const std::string& target_os,
    const std::function<void(uint64_t done, uint64_t total)>& progress);

}  // namespace ferry::bundler
