#pragma once

// `ferry-relay evidence export`: the relay's audit log as a signed evidence package
// (docs/evidence-format.md), streamed from SQLite and signed with the relay's identity key. Each
// export is recorded in the evidence_exports table, so the next one carries a consistency proof
// from its checkpoint. An export appends no event: it changes nothing the log describes, and two
// exports of the same log give the same events, root and reports.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "evidence/export.hpp"
#include "relay/relay.hpp"

namespace ferry::relay {

struct EvidenceExportOptions {
  std::string out_path;
  bool since_last = false;           // from the event after the last export's end
  std::optional<int64_t> from;       // from this event; neither: from event 1
  std::optional<std::string> nonce;  // put into the signed checkpoint
  std::optional<std::string> label;  // the media label of the media record
  std::string actor;                 // who exports ("operator:<login>")
  std::function<void(uint64_t done, uint64_t total)> progress;
};

struct EvidenceExport {
  int64_t id = 0;
  UnixTime exported_at = 0;
  std::string exported_by;
  std::optional<std::string> label;
  std::optional<std::string> nonce;
  int64_t first = 0;
  int64_t tree_size = 0;
  std::string root_sha256;
  std::string checkpoint;
  std::string file;
  std::string package_sha256;
  int64_t package_bytes = 0;
};

struct EvidenceExportResult {
  EvidenceExport record;             // as stored in evidence_exports
  evidence::PackageSummary summary;  // with the report figures
};

// Writes the package and records it. Refuses an existing --out, an empty range (nothing since the
// last export) and a log that no longer extends the previous export's checkpoint.
Result<EvidenceExportResult> ExportEvidence(Relay& relay, const EvidenceExportOptions& options);

// Every export recorded, oldest first.
Result<std::vector<EvidenceExport>> ListEvidenceExports(sql::Database& db);

}  // namespace ferry::relay
