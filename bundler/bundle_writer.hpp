#pragma once

// Writes a bundle file: the root chain and the signed manifest first, then every carried payload,
// copied from its source while its hash is checked again, so a source file that changed after it
// was hashed never reaches the media. The output appears whole or not at all.

#include <functional>
#include <string>
#include <vector>

#include "bundler/manifest.hpp"
#include "common/error.hpp"
#include "crypto/trust_root.hpp"

namespace ferry::bundler {

struct PayloadSource {
  PayloadRef ref;
  std::string path;  // where the bytes are on the build machine
};

struct BundleWriteInput {
  std::vector<const crypto::TrustRoot*> root_chain;  // parsed roots in version order
  std::string manifest_text;            // the signed manifest envelope
  UnixTime mtime = 0;                   // tar member times, so builds are reproducible
  std::vector<PayloadSource> payloads;  // in the order they are written
  std::function<void(uint64_t done, uint64_t total)> progress;
};

Status WriteBundle(const std::string& out_path, const BundleWriteInput& input);

}  // namespace ferry::bundler
