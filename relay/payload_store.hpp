#pragma once

// Content-addressed payload files: payloads/<first two hex digits>/<sha256>. Bytes reach the store
// only through staging: an import writes into staging/<import-id>/ while the bundle reader hashes
// them, and the files are renamed into place after the database has committed the import. A crash
// in between is finished (committed import) or undone (anything else) by Recover().

#include <memory>
#include <string>
#include <vector>

#include "bundler/bundle_reader.hpp"
#include "common/error.hpp"
#include "crypto/hash.hpp"
#include "relay/data_dir.hpp"

namespace ferry::relay {

class PayloadStore {
 public:
  explicit PayloadStore(DataDir dir) : dir_(std::move(dir)) {}

  // Creates payloads/00..ff and staging/ (for init).
  Status CreateLayout() const;

  std::string PathOf(const crypto::Sha256Digest& sha256) const;
  bool Has(const crypto::Sha256Digest& sha256) const;

  // A sink that writes each payload the store lacks into staging/<import_id>/, fsynced.
  Result<std::unique_ptr<bundler::PayloadSink>> StagingSink(const std::string& import_id) const;

  // Moves staged files into the store (a payload already there is kept and the copy dropped),
  // syncs the directories and removes the staging directory. Returns how many files it moved.
  Result<size_t> Publish(const std::string& import_id) const;
  // Syncs the staging directory's entries, so a commit that follows can rely on them.
  Status SyncStaging(const std::string& import_id) const;
  // Removes the staging directory and everything in it.
  Status Discard(const std::string& import_id) const;
  // The import ids that have a staging directory.
  Result<std::vector<std::string>> StagedImports() const;

  // Every file in the store, as hex digests (for fsck).
  Result<std::vector<std::string>> ListStored() const;

 private:
  std::string StagingDir(const std::string& import_id) const;
  DataDir dir_;
};

// A new random import id (32 hex digits).
std::string NewImportId();

}  // namespace ferry::relay
