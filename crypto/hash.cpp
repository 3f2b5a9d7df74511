#include "crypto/hash.hpp"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <sodium.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

#include "common/encoding.hpp"
#include "common/file.hpp"
#include "crypto/secure.hpp"

namespace ferry::crypto {
namespace {

constexpr size_t kFileChunk = 1u << 20;

[[noreturn]] void DieWithOpenSslError(const char* what) {
  char reason[256] = "unknown error";
  unsigned long code = ERR_get_error();
  if (code != 0) {
    ERR_error_string_n(code, reason, sizeof(reason));
  }
  std::fprintf(stderr, "fatal: OpenSSL %s failed: %s\n", what, reason);
  std::abort();
}

struct EvpMdDeleter {
  void operator()(EVP_MD* md) const { EVP_MD_free(md); }
};

// Fetching the implementation once avoids OpenSSL 3's per-init provider lookup on every digest.
const EVP_MD* Sha256Md() {
  static const std::unique_ptr<EVP_MD, EvpMdDeleter> md = [] {
    EVP_MD* fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    if (fetched == nullptr) {
      DieWithOpenSslError("EVP_MD_fetch(SHA256)");
    }
    return std::unique_ptr<EVP_MD, EvpMdDeleter>(fetched);
  }();
  return md.get();
}

}  // namespace

class Sha256::Impl {
 public:
  Impl() : ctx_(EVP_MD_CTX_new()) {
    if (ctx_ == nullptr) {
      DieWithOpenSslError("EVP_MD_CTX_new");
    }
    Init();
  }

  void Init() {
    if (EVP_DigestInit_ex2(ctx_.get(), Sha256Md(), nullptr) != 1) {
      DieWithOpenSslError("EVP_DigestInit_ex2");
    }
  }

  void Update(const void* data, size_t size) {
    if (size == 0) {
      return;
    }
    if (EVP_DigestUpdate(ctx_.get(), data, size) != 1) {
      DieWithOpenSslError("EVP_DigestUpdate");
    }
  }

  Sha256Digest Finish() {
    Sha256Digest digest{};
    unsigned int length = 0;
    if (EVP_DigestFinal_ex(ctx_.get(), digest.data(), &length) != 1 || length != digest.size()) {
      DieWithOpenSslError("EVP_DigestFinal_ex");
    }
    Init();
    return digest;
  }

 private:
  struct CtxDeleter {
    void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
  };
  std::unique_ptr<EVP_MD_CTX, CtxDeleter> ctx_;
};

Sha256::Sha256() : impl_(std::make_unique<Impl>()) {}
Sha256::Sha256(Sha256&& other) noexcept = default;
Sha256& Sha256::operator=(Sha256&& other) noexcept = default;
Sha256::~Sha256() = default;

void Sha256::Update(const void* data, size_t size) { impl_->Update(data, size); }
Sha256Digest Sha256::Finish() { return impl_->Finish(); }
void Sha256::Reset() { impl_->Init(); }

Sha256Digest Sha256Of(std::string_view data) {
  Sha256 hasher;
  hasher.Update(data);
  return hasher.Finish();
}

Result<Sha256Digest> Sha256OfFile(const std::string& path,
                                  const std::function<void(size_t bytes)>& on_bytes) {
  FERRY_ASSIGN_OR_RETURN(fs::File file, fs::File::OpenRead(path));
  std::vector<uint8_t> buffer(kFileChunk);
  Sha256 hasher;
  while (true) {
    FERRY_ASSIGN_OR_RETURN(size_t n, file.Read(buffer));
    if (n == 0) {
      break;
    }
    hasher.Update(buffer.data(), n);
    if (on_bytes) on_bytes(n);
  }
  return hasher.Finish();
}

std::string DigestHex(const Sha256Digest& digest) { return HexEncode(digest); }

Result<Sha256Digest> ParseDigestHex(std::string_view hex) {
  Sha256Digest digest{};
  if (hex.size() != 2 * digest.size() || !HexDecodeInto(hex, digest)) {
    return InvalidError("invalid digest \"" + std::string(hex.substr(0, 80)) +
                        "\": expected 64 hex characters");
  }
  return digest;
}

class Blake2b::State {
 public:
  State() {
    EnsureSodiumInit();
    Init();
  }

  void Init() {
    if (crypto_generichash_init(&state_, nullptr, 0, kOutputBytes) != 0) {
      std::fputs("fatal: libsodium crypto_generichash_init failed\n", stderr);
      std::abort();
    }
  }

  void Update(const void* data, size_t size) {
    if (size == 0) {
      return;
    }
    if (crypto_generichash_update(&state_, static_cast<const unsigned char*>(data), size) != 0) {
      std::fputs("fatal: libsodium crypto_generichash_update failed\n", stderr);
      std::abort();
    }
  }

  Blake2bDigest Finish() {
    Blake2bDigest digest{};
    if (crypto_generichash_final(&state_, digest.data(), digest.size()) != 0) {
      std::fputs("fatal: libsodium crypto_generichash_final failed\n", stderr);
      std::abort();
    }
    Init();
    return digest;
  }

 private:
  static constexpr size_t kOutputBytes = 32;
  static_assert(kOutputBytes >= crypto_generichash_BYTES_MIN &&
                kOutputBytes <= crypto_generichash_BYTES_MAX);
  crypto_generichash_state state_{};
};

Blake2b::Blake2b() : state_(std::make_unique<State>()) {}
Blake2b::Blake2b(Blake2b&& other) noexcept = default;
Blake2b& Blake2b::operator=(Blake2b&& other) noexcept = default;
Blake2b::~Blake2b() = default;

void Blake2b::Update(const void* data, size_t size) { state_->Update(data, size); }
Blake2bDigest Blake2b::Finish() { return state_->Finish(); }
void Blake2b::Reset() { state_->Init(); }

Blake2bDigest Blake2bOf(std::string_view data) {
  Blake2b hasher;
  hasher.Update(data);
  return hasher.Finish();
}

}  // namespace ferry::crypto
