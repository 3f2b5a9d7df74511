#pragma once

// Memory for secrets (key seeds, passphrases, derived keys). Kept out of swap where the system
// allows it, fenced by guard pages, and wiped before it is returned to the system.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace ferry::crypto {

// Initialises libsodium once for the whole process (thread-safe). Every function of this module
// calls it before touching libsodium; call it yourself only when using libsodium directly. A
// libsodium that cannot initialise (no entropy source) aborts the process: nothing secure can run.
void EnsureSodiumInit();

// Bytes in sodium_malloc memory, zeroed on allocation, wiped and freed on destruction.
// Non-copyable (a copy would be a second place to wipe), movable. Allocation failure throws
// std::bad_alloc, like operator new.
class SecureBuffer {
 public:
  SecureBuffer() = default;
  explicit SecureBuffer(size_t size);
  // A buffer holding a copy of `bytes` (the caller remains responsible for wiping its own copy).
  static SecureBuffer CopyOf(std::span<const uint8_t> bytes);
  static SecureBuffer CopyOf(std::string_view text);

  SecureBuffer(SecureBuffer&& other) noexcept;
  SecureBuffer& operator=(SecureBuffer&& other) noexcept;
  SecureBuffer(const SecureBuffer&) = delete;
  SecureBuffer& operator=(const SecureBuffer&) = delete;
  ~SecureBuffer();

  uint8_t* data() { return data_; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  std::span<uint8_t> span() { return {data_, size_}; }
  std::span<const uint8_t> span() const { return {data_, size_}; }
  // The bytes as characters, e.g. a passphrase handed to a KDF.
  std::string_view view() const;

  // Shortens the buffer to its first `size` bytes (wiping the rest); larger sizes are ignored.
  void Truncate(size_t size);

 private:
  void Release();

  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// Compares two byte strings in time that depends only on their lengths; different lengths are
// unequal. Use it for secrets and MACs.
bool ConstantTimeEqual(std::span<const uint8_t> a, std::span<const uint8_t> b);

// Overwrites memory in a way the compiler cannot optimise away.
void SecureWipe(void* data, size_t size);

// Fills `out` with bytes from libsodium's CSPRNG (the kernel's getrandom), for tokens and ids.
void RandomBytes(std::span<uint8_t> out);

}  // namespace ferry::crypto
