#pragma once

// Reads a bundle in one streaming pass and checks it against a pinned trust root: the root chain
// and the manifest's signatures before any payload byte, then each payload's size and SHA-256 in
// the same pass that reads it. See docs/bundle-format.md.

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "bundler/manifest.hpp"
#include "common/error.hpp"
#include "crypto/envelope.hpp"
#include "crypto/trust_root.hpp"

namespace ferry::bundler {

// Member names and size caps of the format.
inline constexpr std::string_view kManifestMember = "manifest.json";
inline constexpr std::string_view kRootMemberPrefix = "root/";
inline constexpr std::string_view kPayloadMemberPrefix = "payloads/";
inline constexpr uint64_t kMaxManifestSize = 16u << 20;
inline constexpr uint64_t kMaxRootSize = 1u << 20;
inline constexpr size_t kMaxRootChain = 64;

std::string RootMemberName(int64_t version);  // "root/00000002.json"
std::string PayloadMemberName(const crypto::Sha256Digest& sha256);  // "payloads/<hex>"

// Receives each payload's bytes while the reader hashes them. EndPayload is called only after
// the size and hash matched the manifest; a failure anywhere stops the read with that error.
class PayloadSink {
 public:
  virtual ~PayloadSink() = default;
  virtual Status BeginPayload(const PayloadRef& payload) = 0;
  virtual Status WritePayload(std::span<const uint8_t> bytes) = 0;
  virtual Status EndPayload(const PayloadRef& payload) = 0;
};

// The signed head of a bundle: root chain and manifest, as stored.
struct BundleHead {
  std::vector<std::string> root_chain;  // root/*.json texts in version order
  std::string manifest_text;            // manifest.json exactly as stored
  crypto::Envelope envelope;
  Manifest manifest;
};

struct VerifyOptions {
  // Expiry of the final root and of the manifest is checked against this. A relay passes its
  // time ratchet here when that is ahead of the clock.
  UnixTime now = 0;
  std::optional<std::string> site;  // when set, a bundle bound to another site is refused
  // Called as payload bytes are read: bytes done so far and the bundle's payload total.
  std::function<void(uint64_t done, uint64_t total)> progress;
  // Called with the stored manifest bytes before any signature is checked. True means the reader
  // already holds exactly this manifest, verified when it first came: the signatures, expiry and
  // on_head are not checked again (so re-importing stays possible after a key rotation), but every
  // payload is still checked against it, so a damaged copy is still refused.
  std::function<Result<bool>(std::string_view manifest_text)> already_known;
  // Called once the head is trusted and before any payload byte is read, for checks that need the
  // reader's own state (a relay's rollback and delta-base checks). An error refuses the bundle.
  std::function<Status(const BundleHead& head, const crypto::TrustRoot& root)> on_head;
};

struct VerifiedBundle {
  BundleHead head;
  crypto::TrustRoot root;  // the newest root the chain led to
  uint64_t payload_bytes = 0;
  size_t payload_count = 0;
  // already_known said yes: the manifest was not re-verified and `root` is not set.
  bool already_known = false;
};

// Verifies the whole bundle at `path`. Any failure of integrity or trust is ErrorKind::kInvalid
// with a message naming the member and the cause.
Result<VerifiedBundle> VerifyBundle(const std::string& path, const crypto::TrustRoot& pinned,
                                    const VerifyOptions& options, PayloadSink* sink = nullptr);

// Reads the root chain and manifest without checking any signature, for `inspect`; the manifest
// is still parsed strictly.
Result<BundleHead> ReadBundleHead(const std::string& path);

}  // namespace ferry::bundler
