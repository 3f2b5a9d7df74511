#pragma once

// Ed25519 keys and signatures (RFC 8032, through libsodium) with the key ids Ferry's documents
// use to name keys.

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "common/error.hpp"
#include "crypto/secure.hpp"

namespace ferry::crypto {

using PublicKeyBytes = std::array<uint8_t, 32>;
using SignatureBytes = std::array<uint8_t, 64>;
using SeedBytes = std::array<uint8_t, 32>;

// 64 lower-case hex characters: the SHA-256 of the 32 public key bytes.
using KeyId = std::string;

// The key id of raw public key bytes.
KeyId KeyIdOf(const PublicKeyBytes& bytes);

// True for exactly 64 lower-case hex characters (the only spelling of a key id).
bool IsWellFormedKeyId(std::string_view text);

// An Ed25519 public key with its key id. A plain value: copyable.
class PublicKey {
 public:
  // Accepts exactly 32 bytes that encode a canonical point of the prime-order subgroup; refuses
  // anything else (wrong length, small-order or non-canonical points) as ErrorKind::kInvalid.
  static Result<PublicKey> FromBytes(std::span<const uint8_t> bytes);
  // Same, from 64 hex characters.
  static Result<PublicKey> FromHex(std::string_view hex);

  const PublicKeyBytes& bytes() const { return bytes_; }
  const KeyId& id() const { return id_; }
  std::string hex() const;

  // True only when `sig` is a valid signature of `message` by this key (libsodium's strict
  // verification: canonical S, no small-order R).
  bool Verify(std::string_view message, const SignatureBytes& sig) const;

  bool operator==(const PublicKey& other) const { return bytes_ == other.bytes_; }

 private:
  PublicKey(const PublicKeyBytes& bytes, KeyId id) : bytes_(bytes), id_(std::move(id)) {}

  PublicKeyBytes bytes_{};
  KeyId id_;
};

// An Ed25519 signing key. The secret lives only in sodium_malloc memory and is wiped on
// destruction. Non-copyable, movable.
class SigningKey {
 public:
  // A fresh key from libsodium's CSPRNG.
  static Result<SigningKey> Generate();
  // The key whose RFC 8032 private key (seed) is `seed`; deterministic.
  static Result<SigningKey> FromSeed(std::span<const uint8_t, 32> seed);

  // The deterministic Ed25519 signature of `message`.
  SignatureBytes Sign(std::string_view message) const;

  const PublicKey& public_key() const { return public_key_; }
  const KeyId& id() const { return public_key_.id(); }

  // The 32-byte secret seed, pointing into secure memory owned by this key.
  std::span<const uint8_t> seed() const;

 private:
  SigningKey(SecureBuffer secret, PublicKey public_key)
      : secret_(std::move(secret)), public_key_(std::move(public_key)) {}

  SecureBuffer secret_;  // libsodium's 64-byte form: seed followed by the public key
  PublicKey public_key_;
};

}  // namespace ferry::crypto
