#include "crypto/secure.hpp"

#include <sodium.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

namespace ferry::crypto {

void EnsureSodiumInit() {
  // A function-local static is initialised exactly once even under concurrent first calls.
  static const bool initialised = [] {
    if (sodium_init() < 0) {
      std::fputs("fatal: libsodium failed to initialise (no usable entropy source)\n", stderr);
      std::abort();
    }
    return true;
  }();
  (void)initialised;
}

SecureBuffer::SecureBuffer(size_t size) {
  EnsureSodiumInit();
  // sodium_malloc(0) still reserves guard pages; an empty buffer needs no memory at all.
  if (size == 0) {
    return;
  }
  void* memory = sodium_malloc(size);
  if (memory == nullptr) {
    throw std::bad_alloc();
  }
  data_ = static_cast<uint8_t*>(memory);
  size_ = size;
  // sodium_malloc fills with a canary pattern; callers expect zeroes like value-initialisation.
  sodium_memzero(data_, size_);
}

SecureBuffer SecureBuffer::CopyOf(std::span<const uint8_t> bytes) {
  SecureBuffer buffer(bytes.size());
  if (!bytes.empty()) {
    std::memcpy(buffer.data_, bytes.data(), bytes.size());
  }
  return buffer;
}

SecureBuffer SecureBuffer::CopyOf(std::string_view text) {
  return CopyOf(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
}

SecureBuffer::SecureBuffer(SecureBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

SecureBuffer& SecureBuffer::operator=(SecureBuffer&& other) noexcept {
  if (this != &other) {
    Release();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

SecureBuffer::~SecureBuffer() { Release(); }

void SecureBuffer::Release() {
  if (data_ != nullptr) {
    // sodium_free wipes the whole original allocation, including what Truncate cut off.
    sodium_free(data_);
    data_ = nullptr;
    size_ = 0;
  }
}

std::string_view SecureBuffer::view() const {
  return {reinterpret_cast<const char*>(data_), size_};
}

void SecureBuffer::Truncate(size_t size) {
  if (size >= size_) {
    return;
  }
  sodium_memzero(data_ + size, size_ - size);
  size_ = size;
}

bool ConstantTimeEqual(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  if (a.size() != b.size()) {
    return false;
  }
  if (a.empty()) {
    return true;
  }
  EnsureSodiumInit();
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

void SecureWipe(void* data, size_t size) {
  if (data != nullptr && size > 0) {
    sodium_memzero(data, size);
  }
}

void RandomBytes(std::span<uint8_t> out) {
  if (out.empty()) {
    return;
  }
  EnsureSodiumInit();
  randombytes_buf(out.data(), out.size());
}

}  // namespace ferry::crypto
