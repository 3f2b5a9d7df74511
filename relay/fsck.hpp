#pragma once

// `ferry-relay fsck`: checks the payload store against the database and the audit log.

#include <functional>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "relay/relay.hpp"

namespace ferry::relay {

struct FsckReport {
  std::vector<std::string> faults;  // one line each, naming the object and what is wrong
  size_t payloads_checked = 0;
  uint64_t bytes_hashed = 0;
  int64_t events_checked = 0;
  bool ok() const { return faults.empty(); }
};

struct FsckOptions {
  bool hash_payloads = true;  // false: sizes only (quick)
  std::function<void(uint64_t done, uint64_t total)> progress;
};

// Checks: SQLite's integrity_check; every payload the catalog references is in the store with
// its size and SHA-256; no file in the store that the catalog does not reference; stored
// manifests match their recorded hashes; the trust roots form a chain; the event log runs 1..N
// with canonical leaves. Faults are collected, not returned as errors.
Result<FsckReport> CheckRelay(Relay& relay, const FsckOptions& options);

}  // namespace ferry::relay
