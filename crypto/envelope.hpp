#pragma once

// Signed documents (manifests, trust roots, checkpoints) share one envelope:
//   {"signatures":[{"keyid":"<64 hex>","sig":"<128 hex>"}],"signed":{...}}
// Each signature is Ed25519 over the canonical JSON bytes of the "signed" value
// (json::Canonical, docs/canonical-json.md), so any JSON text of the same value verifies.

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"
#include "common/json.hpp"
#include "crypto/ed25519.hpp"

namespace ferry::crypto {

// More signatures than this is not a document anyone meant to write.
inline constexpr size_t kMaxSignatures = 64;

struct Signature {
  KeyId keyid;
  SignatureBytes sig{};
};

struct Envelope {
  json::Value signed_value;           // must be an object
  std::string signed_bytes;           // json::Canonical(signed_value): what the signatures cover
  std::vector<Signature> signatures;  // as listed, duplicates included
};

// Parses an envelope strictly: exactly the fields "signed" (an object) and "signatures" (at most
// kMaxSignatures entries of exactly {keyid, sig}); key ids must be 64 lower-case hex characters,
// signatures 128 hex characters. Errors are ErrorKind::kInvalid and start with `what`.
Result<Envelope> ParseEnvelope(std::string_view text, std::string_view what,
                               const json::ParseLimits& limits = {});

// Signs `signed_value` (an object) with every key, in order, and returns the canonical JSON of the
// envelope followed by "\n". No keys, or one key given twice, is a usage error.
Result<std::string> SignEnvelope(const json::Value& signed_value,
                                 const std::vector<const SigningKey*>& keys);

// Adds signatures by `keys` to an existing envelope (for signing ceremonies held at different
// places), keeping the existing ones; a key that already signed is not added twice. Returns the
// canonical envelope followed by "\n".
Result<std::string> AddSignatures(std::string_view envelope_text, std::string_view what,
                                  const std::vector<const SigningKey*>& keys);

// The keys allowed to sign a kind of document and how many of them must.
struct KeyRole {
  std::vector<KeyId> keyids;
  int64_t threshold = 0;
};

// Succeeds when at least role.threshold distinct keys named in role.keyids and present in `keys`
// have a valid signature in the envelope. Signatures by other key ids are ignored; a key that
// signed twice counts once; an invalid signature counts for nothing. A threshold below 1 or above
// the number of distinct role keys fails closed. `what` names the document ("manifest"),
// `role_name` the role ("bundle") in the one-line error.
Status VerifyThreshold(const Envelope& envelope, const std::map<KeyId, PublicKey>& keys,
                       const KeyRole& role, std::string_view what,
                       std::string_view role_name = "role");

}  // namespace ferry::crypto
