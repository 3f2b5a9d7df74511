#pragma once

// Verifying an evidence package offline, from the package and the pinned relay key alone
// (docs/evidence-format.md, docs/auditor-guide.md). The checks run in a fixed order and the first
// fault found is the one reported, named precisely: the member, line and field, the missing
// sequence number, the two roots of a fork.

#include <cstdint>
#include <optional>
#include <string>

#include "common/error.hpp"
#include "crypto/ed25519.hpp"
#include "evidence/package.hpp"
#include "evidence/report.hpp"

namespace ferry::evidence {

struct VerifyOptions {
  std::optional<std::string> previous_path;  // the auditor's copy of an earlier export
  std::optional<std::string> nonce;          // the nonce the auditor asked the site to use
};

// What the verifier learnt about the package, as far as it got before a fault.
struct PackageFacts {
  std::string origin;
  std::string key_id;  // of the pinned key that signed it
  int64_t tree_size = 0;
  int64_t first = 0;
  int64_t last = 0;  // last event read
  std::string root_hex;
  std::optional<std::string> nonce;
  std::optional<Media> media;
  std::optional<ReportFigures> figures;
  std::optional<int64_t> carried_previous_size;  // previous-checkpoint in the package
  std::optional<int64_t> checked_previous_size;  // the --previous package, once linked
};

struct Verification {
  PackageFacts facts;
  std::optional<std::string> fault;  // the first fault; none: the evidence holds
  bool ok() const { return !fault.has_value(); }
};

// Verifies the package at `path` against the pinned relay key. Faults in the evidence come back
// in Verification::fault (exit 1); an error is returned only when a file cannot be read at all
// (ErrorKind::kIo, exit 3).
Result<Verification> VerifyPackage(const std::string& path, const crypto::PublicKey& relay_key,
                                   const VerifyOptions& options = {});

}  // namespace ferry::evidence
