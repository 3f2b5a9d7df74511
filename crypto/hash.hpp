#pragma once

// Streaming hashes. SHA-256 goes through OpenSSL's EVP, which uses the CPU's SHA extensions
// (several times faster than libsodium's portable code); BLAKE2b comes from libsodium.

#include <array>
#include <functional>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/error.hpp"

namespace ferry::crypto {

using Sha256Digest = std::array<uint8_t, 32>;

// Incremental SHA-256. Non-copyable, movable; a moved-from object may only be destroyed or
// assigned to. OpenSSL failing to set up SHA-256 means a broken installation: it aborts the
// process with OpenSSL's message rather than ever returning a wrong digest.
class Sha256 {
 public:
  Sha256();
  Sha256(Sha256&& other) noexcept;
  Sha256& operator=(Sha256&& other) noexcept;
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  ~Sha256();

  // Feeds more bytes of the message.
  void Update(const void* data, size_t size);
  void Update(std::string_view data) { Update(data.data(), data.size()); }

  // Returns the digest of everything fed since construction or the last Finish/Reset, and leaves
  // the object reset, ready for the next message.
  Sha256Digest Finish();

  // Forgets everything fed so far.
  void Reset();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// The SHA-256 of a byte string.
Sha256Digest Sha256Of(std::string_view data);

// The SHA-256 of a file's contents, read in 1 MiB chunks so memory stays flat. `on_bytes`, when
// given, hears how many bytes each chunk held (for progress bars).
Result<Sha256Digest> Sha256OfFile(const std::string& path,
                                  const std::function<void(size_t bytes)>& on_bytes = nullptr);

// 64 lower-case hex characters.
std::string DigestHex(const Sha256Digest& digest);

// Reads exactly 64 hex characters (either case); anything else is ErrorKind::kInvalid.
Result<Sha256Digest> ParseDigestHex(std::string_view hex);

// The same type as Sha256Digest, so DigestHex and ParseDigestHex serve both.
using Blake2bDigest = std::array<uint8_t, 32>;

// Incremental unkeyed BLAKE2b with a 32-byte output (libsodium's crypto_generichash).
// Non-copyable, movable.
class Blake2b {
 public:
  Blake2b();
  Blake2b(Blake2b&& other) noexcept;
  Blake2b& operator=(Blake2b&& other) noexcept;
  Blake2b(const Blake2b&) = delete;
  Blake2b& operator=(const Blake2b&) = delete;
  ~Blake2b();

  void Update(const void* data, size_t size);
  void Update(std::string_view data) { Update(data.data(), data.size()); }

  // Returns the digest and leaves the object reset, ready for the next message.
  Blake2bDigest Finish();
  void Reset();

 private:
  class State;
  std::unique_ptr<State> state_;
};

// The 32-byte BLAKE2b of a byte string.
Blake2bDigest Blake2bOf(std::string_view data);

}  // namespace ferry::crypto
