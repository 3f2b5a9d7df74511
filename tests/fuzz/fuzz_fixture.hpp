#pragma once

// The fixed keys, roots and clock shared by the bundle-reader fuzz target and its seed-corpus
// generator. Both must build byte-identical roots, so every key comes from a fixed seed and every
// time is a constant: seed bundles then pass the signature checks and the fuzzer starts its
// mutations from inputs that reach the payload pass.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/time.hpp"
#include "crypto/ed25519.hpp"
#include "crypto/trust_root.hpp"

namespace ferry::fuzz {

// The fuzz target's clock: 2026-11-18. Roots and seed bundles are valid for years around it.
inline constexpr UnixTime kFuzzNow = 1795000000;
inline constexpr UnixTime kSeedCreated = kFuzzNow - 86400;
inline constexpr int64_t kSeedLifetime = 3650 * int64_t{86400};
// The site the fuzz target claims to be, so site-bound bundles reach the site comparison.
inline constexpr const char* kFuzzSite = "fuzz-site";

// Every key the fixture uses. Root 1 is signed by `root1` and names a, b, c as bundle keys
// (threshold 2); root 2 rotates to `root2` as root key and b, c as bundle keys (threshold 2).
struct FuzzKeys {
  crypto::SigningKey root1;
  crypto::SigningKey root2;
  crypto::SigningKey a;
  crypto::SigningKey b;
  crypto::SigningKey c;
};

inline crypto::SigningKey KeyFromByte(uint8_t byte) {
  crypto::SeedBytes seed{};
  seed.fill(byte);
  auto key = crypto::SigningKey::FromSeed(seed);
  if (!key.ok()) {
    __builtin_trap();  // libsodium refused a fixed seed: the fixture itself is broken
  }
  return std::move(*key);
}

inline FuzzKeys MakeFuzzKeys() {
  return FuzzKeys{KeyFromByte(0x11), KeyFromByte(0x12), KeyFromByte(0x21), KeyFromByte(0x22),
                  KeyFromByte(0x23)};
}

// The pinned root (version 1) and its successor (version 2), both parsed back from their text.
struct FuzzRoots {
  crypto::TrustRoot v1;
  crypto::TrustRoot v2;
};

inline crypto::TrustRoot SignAndParse(crypto::TrustRoot root,
                                      const std::vector<const crypto::SigningKey*>& signers) {
  auto text = crypto::SignTrustRoot(root, signers);
  if (!text.ok()) {
    __builtin_trap();
  }
  auto parsed = crypto::ParseTrustRoot(*text);
  if (!parsed.ok()) {
    __builtin_trap();
  }
  return std::move(*parsed);
}

inline FuzzRoots MakeFuzzRoots(const FuzzKeys& keys) {
  crypto::TrustRoot v1;
  v1.version = 1;
  v1.expires = kFuzzNow + kSeedLifetime;
  for (const crypto::SigningKey* key : {&keys.root1, &keys.a, &keys.b, &keys.c}) {
    v1.keys.emplace(key->id(), key->public_key());
  }
  v1.root_role = {{keys.root1.id()}, 1};
  v1.bundle_role = {{keys.a.id(), keys.b.id(), keys.c.id()}, 2};

  crypto::TrustRoot v2;
  v2.version = 2;
  v2.expires = kFuzzNow + kSeedLifetime;
  for (const crypto::SigningKey* key : {&keys.root2, &keys.b, &keys.c}) {
    v2.keys.emplace(key->id(), key->public_key());
  }
  v2.root_role = {{keys.root2.id()}, 1};
  v2.bundle_role = {{keys.b.id(), keys.c.id()}, 2};

  FuzzRoots roots;
  roots.v1 = SignAndParse(v1, {&keys.root1});
  // A rotation is signed by a threshold of the old root keys and of the new ones.
  roots.v2 = SignAndParse(v2, {&keys.root1, &keys.root2});
  return roots;
}

}  // namespace ferry::fuzz
