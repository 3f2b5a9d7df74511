#include "crypto/ed25519.hpp"

#include <sodium.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <tuple>

#include "common/encoding.hpp"
#include "crypto/hash.hpp"

namespace ferry::crypto {

static_assert(crypto_sign_PUBLICKEYBYTES == std::tuple_size_v<PublicKeyBytes>);
static_assert(crypto_sign_BYTES == std::tuple_size_v<SignatureBytes>);
static_assert(crypto_sign_SEEDBYTES == std::tuple_size_v<SeedBytes>);

KeyId KeyIdOf(const PublicKeyBytes& bytes) {
  return DigestHex(
      Sha256Of(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size())));
}

bool IsWellFormedKeyId(std::string_view text) {
  if (text.size() != 64) {
    return false;
  }
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return true;
}

Result<PublicKey> PublicKey::FromBytes(std::span<const uint8_t> bytes) {
  PublicKeyBytes key{};
  if (bytes.size() != key.size()) {
    return InvalidError("Ed25519 public key must be 32 bytes, got " + std::to_string(bytes.size()));
  }
  std::copy(bytes.begin(), bytes.end(), key.begin());
  EnsureSodiumInit();
  if (crypto_core_ed25519_is_valid_point(key.data()) != 1) {
    return InvalidError("Ed25519 public key " + HexEncode(key) +
                        " is not a valid curve point (small order or non-canonical)");
  }
  return PublicKey(key, KeyIdOf(key));
}

Result<PublicKey> PublicKey::FromHex(std::string_view hex) {
  PublicKeyBytes key{};
  if (hex.size() != 2 * key.size() || !HexDecodeInto(hex, key)) {
    return InvalidError("Ed25519 public key must be 64 hex characters");
  }
  return FromBytes(key);
}

std::string PublicKey::hex() const { return HexEncode(bytes_); }

bool PublicKey::Verify(std::string_view message, const SignatureBytes& sig) const {
  EnsureSodiumInit();
  return crypto_sign_verify_detached(sig.data(),
                                     reinterpret_cast<const unsigned char*>(message.data()),
                                     message.size(), bytes_.data()) == 0;
}

Result<SigningKey> SigningKey::Generate() {
  EnsureSodiumInit();
  SecureBuffer seed(crypto_sign_SEEDBYTES);
  randombytes_buf(seed.data(), seed.size());
  return FromSeed(std::span<const uint8_t, 32>(seed.data(), 32));
}

Result<SigningKey> SigningKey::FromSeed(std::span<const uint8_t, 32> seed) {
  EnsureSodiumInit();
  SecureBuffer secret(crypto_sign_SECRETKEYBYTES);
  PublicKeyBytes public_bytes{};
  if (crypto_sign_seed_keypair(public_bytes.data(), secret.data(), seed.data()) != 0) {
    return IoError("libsodium crypto_sign_seed_keypair failed");
  }
  FERRY_ASSIGN_OR_RETURN(PublicKey public_key, PublicKey::FromBytes(public_bytes));
  return SigningKey(std::move(secret), std::move(public_key));
}

SignatureBytes SigningKey::Sign(std::string_view message) const {
  SignatureBytes sig{};
  // libsodium documents no failure for a key made by crypto_sign_seed_keypair; a failure would
  // be memory corruption, and returning an unsigned result is never acceptable.
  if (crypto_sign_detached(sig.data(), nullptr,
                           reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                           secret_.data()) != 0) {
    std::fputs("fatal: libsodium crypto_sign_detached failed\n", stderr);
    std::abort();
  }
  return sig;
}

std::span<const uint8_t> SigningKey::seed() const {
  return secret_.span().first(crypto_sign_SEEDBYTES);
}

}  // namespace ferry::crypto
