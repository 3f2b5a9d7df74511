#pragma once

// The trust root (root.json, docs/trust-root.md): a signed document naming the root keys, which
// sign the next root, and the bundle keys, which sign bundle manifests, each with a threshold.
// Trust only moves forward: root N+1 is accepted when a threshold of root N's root keys and a
// threshold of its own root keys signed it.

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"
#include "common/json.hpp"
#include "common/time.hpp"
#include "crypto/ed25519.hpp"
#include "crypto/envelope.hpp"

namespace ferry::crypto {

inline constexpr size_t kMaxTrustRootBytes = 1u << 20;
inline constexpr size_t kMaxTrustRootKeys = 64;
inline constexpr int64_t kTrustRootSpecVersion = 1;
inline constexpr std::string_view kTrustRootType = "ferry-root";

struct TrustRoot {
  int64_t version = 0;
  UnixTime expires = 0;
  std::map<KeyId, PublicKey> keys;
  KeyRole root_role;
  KeyRole bundle_role;
  std::string text;  // the exact signed envelope bytes this root was parsed from (empty if built)

  // The "signed" object of this root, ready for SignEnvelope.
  json::Value ToSignedJson() const;
  // True when the root has expired at `now` (expiry is exclusive: valid strictly before it).
  bool ExpiredAt(UnixTime now) const { return now >= expires; }
};

// Checks the structure of a root: version >= 1, at most kMaxTrustRootKeys keys, every key indexed
// by its own id, role key ids known and not repeated, thresholds in 1..number of role keys.
// `what` starts the error message.
Status ValidateTrustRoot(const TrustRoot& root, std::string_view what);

// Parses root.json and checks it is signed by a threshold of its own root keys. Does not check
// expiry (see VerifyRootChain) nor how it relates to earlier roots (see VerifyRootUpdate).
Result<TrustRoot> ParseTrustRoot(std::string_view text);

// Reads and parses a root.json of at most kMaxTrustRootBytes; errors name the path.
Result<TrustRoot> LoadTrustRoot(const std::string& path);

// Validates `root` and returns its signed envelope (canonical JSON and "\n"), signed by `keys`.
// Whether the signatures reach the thresholds is for the verifier to decide.
Result<std::string> SignTrustRoot(const TrustRoot& root,
                                  const std::vector<const SigningKey*>& keys);

// Accepts `next_text` only when it parses, is version trusted.version + 1, and is signed by a
// threshold of the trusted root's root keys and by a threshold of its own root keys. Expiry is not
// checked here.
Result<TrustRoot> VerifyRootUpdate(const TrustRoot& trusted, std::string_view next_text);

// Walks a chain of root.json texts (in ascending version order) from the pinned root. An entry
// whose version is already trusted must be byte-identical to the trusted text (older than the
// pinned root: only parsed, since nothing about it is known); each newer entry must be exactly the
// next version and pass VerifyRootUpdate. The final root must not be expired at `now`; the ones
// before it may be.
Result<TrustRoot> VerifyRootChain(const TrustRoot& pinned,
                                  const std::vector<std::string>& chain_texts, UnixTime now);

}  // namespace ferry::crypto
