#pragma once

// Key files on disk (format in docs/key-files.md): PREFIX.pub holds a public key, PREFIX.key a
// signing key, sealed with a passphrase (Argon2id + XChaCha20-Poly1305) unless the operator asked
// for an unencrypted file.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "common/error.hpp"
#include "crypto/ed25519.hpp"
#include "crypto/secure.hpp"

namespace ferry::crypto {

// Key files are tiny; anything bigger is not one of ours.
inline constexpr size_t kKeyFileMaxBytes = 64u << 10;
// Bounds on the Argon2id cost recorded in a key file, so a hostile file cannot make a reader
// spend gigabytes of memory or minutes of CPU before the passphrase is even checked.
inline constexpr uint64_t kMaxKdfOpsLimit = 16;
inline constexpr uint64_t kMaxKdfMemLimit = 1ull << 30;
// A passphrase file's first line may be at most this long.
inline constexpr size_t kMaxPassphraseBytes = 4095;

// Argon2id cost for a new encrypted key file. The defaults are libsodium's "interactive" limits
// (2 passes, 64 MiB); tests may choose the minimum (1 pass, 8 KiB).
struct KdfLimits {
  uint64_t opslimit = 2;
  uint64_t memlimit = 64ull << 20;
};

// Writes PREFIX.pub: canonical JSON {"keyid","keytype","public"} and a newline, mode 0644.
// Refuses to overwrite an existing file.
Status WritePublicKeyFile(const std::string& path, const PublicKey& key);

// Reads a public key file, checking that the recorded key id is the key's before anything else.
Result<PublicKey> ReadPublicKeyFile(const std::string& path);

// Writes a secret key file with mode 0600, refusing to overwrite an existing file. A null
// passphrase writes the seed unencrypted (only when the operator asked for it); an empty one is
// refused as a usage error.
Status WriteSecretKeyFile(const std::string& path, const SigningKey& key,
                          const SecureBuffer* passphrase, const KdfLimits& limits = {});

// Supplies the passphrase for an encrypted key file (from a prompt or a passphrase file).
using PassphraseProvider = std::function<Result<SecureBuffer>(const std::string& key_path)>;

// Reads a secret key file. `provider` is called only when the file is encrypted (an empty
// provider is then a usage error). A wrong passphrase, tampered ciphertext or a seed that does not
// give the recorded public key is ErrorKind::kInvalid.
Result<SigningKey> ReadSecretKeyFile(const std::string& path, const PassphraseProvider& provider);

// The first line of a file, without its line ending ("\n" or "\r\n"), in secure memory. An empty
// first line, or one longer than kMaxPassphraseBytes, is refused.
Result<SecureBuffer> ReadPassphraseFile(const std::string& path);

// The public key from either a .pub or a .key file, without asking for a passphrase; the whole file
// is still checked for well-formedness.
Result<PublicKey> ReadAnyPublicKey(const std::string& path);

}  // namespace ferry::crypto
