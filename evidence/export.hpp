#pragma once

// Writing an evidence package (docs/evidence-format.md) from a log of event leaves. The source of
// the leaves is a callback, so the relay streams them from SQLite and tests from memory; memory
// holds one 32-byte hash per event plus the reports, never the events themselves.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "common/error.hpp"
#include "common/time.hpp"
#include "crypto/ed25519.hpp"
#include "crypto/hash.hpp"
#include "evidence/report.hpp"

namespace ferry::evidence {

// Hands the leaves of events from..to (inclusive) to `visit` in sequence order.
using LeafVisitor = std::function<Status(int64_t seq, std::string_view leaf)>;
using LeafSource = std::function<Status(int64_t from, int64_t to, const LeafVisitor& visit)>;

struct PackageRequest {
  std::string origin;     // checkpoint origin and signed-note key name (RelayOrigin)
  int64_t tree_size = 0;  // the log holds events 1..tree_size
  int64_t first = 1;      // the package carries first..tree_size
  std::optional<std::string> previous_checkpoint;  // the signed note of the previous export
  std::optional<std::string> nonce;
  std::optional<std::string> label;
  std::optional<std::string> site_id;
  std::string exported_by;
  UnixTime exported_at = 0;
  // Hears (events read, events to read) during the two passes over the log.
  std::function<void(uint64_t done, uint64_t total)> progress;
};

struct PackageSummary {
  int64_t first = 0;
  int64_t tree_size = 0;
  crypto::Sha256Digest root{};
  std::string checkpoint;  // the signed note
  std::optional<int64_t> previous_size;
  crypto::Sha256Digest package_sha256{};
  uint64_t package_bytes = 0;
  uint64_t events_bytes = 0;
  ReportFigures figures;
};

// Writes the package to `out_path`: refuses an existing file, writes a temporary file beside it,
// syncs it and links it into place, so a crash leaves no package or the whole one. Reads the log
// twice (hashes and reports, then events.jsonl) and fails if the two reads differ. Checks that
// the log still extends the previous checkpoint (ErrorKind::kInvalid: a fork) before writing.
Result<PackageSummary> WritePackage(const std::string& out_path, const PackageRequest& request,
                                    const LeafSource& leaves, const crypto::SigningKey& key);

}  // namespace ferry::evidence
