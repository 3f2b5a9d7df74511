#pragma once

// Importing bundles from media: full verification against the relay's trust, rollback and
// freshness checks, one streaming pass that hashes payloads while staging them, and one SQLite
// transaction that publishes the bundle with its audit event. A refused bundle leaves nothing but
// the event that says why. See docs/relay-import.md.

#include <functional>
#include <optional>
#include <string>

#include "bundler/manifest.hpp"
#include "common/error.hpp"
#include "relay/relay.hpp"

namespace ferry::relay {

struct ImportOptions {
  std::string actor;  // who imports, for the audit event
  std::function<void(uint64_t done, uint64_t total)> progress;
};

struct ImportReport {
  bool already_present = false;  // the same bundle was imported before: nothing changed
  bundler::Manifest manifest;
  std::string manifest_sha256;
  size_t payloads_written = 0;  // payloads new to the store
  uint64_t payload_bytes = 0;   // payload bytes read and verified
  std::optional<int64_t> new_root_version;  // set when the bundle carried a root rotation
};

// Imports one bundle file. The caller holds the data directory's lock.
Result<ImportReport> ImportBundle(Relay& relay, const std::string& path, const ImportOptions& options);

// Finishes imports that committed before a crash (moves their staged payloads into the store) and
// removes staging left by imports that did not. The caller holds the data directory's lock.
Status RecoverInterruptedImports(Relay& relay);

}  // namespace ferry::relay
