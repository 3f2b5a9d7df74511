#include "crypto/keyfile.hpp"

#include <sodium.h>

#include <array>
#include <cstring>
#include <optional>
#include <string_view>
#include <utility>

#include "common/encoding.hpp"
#include "common/file.hpp"
#include "common/json.hpp"

namespace ferry::crypto {
namespace {

constexpr std::string_view kKeyType = "ed25519";
constexpr std::string_view kEncryptionNone = "none";
constexpr std::string_view kEncryptionArgon = "argon2id-xchacha20poly1305";
constexpr mode_t kPublicMode = 0644;
constexpr mode_t kSecretMode = 0600;

constexpr size_t kSaltBytes = crypto_pwhash_SALTBYTES;
constexpr size_t kNonceBytes = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
constexpr size_t kKeyBytes = crypto_aead_xchacha20poly1305_ietf_KEYBYTES;
constexpr size_t kSeedBytes = crypto_sign_SEEDBYTES;
constexpr size_t kSealedBytes = kSeedBytes + crypto_aead_xchacha20poly1305_ietf_ABYTES;

static_assert(KdfLimits{}.opslimit == crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE);
static_assert(KdfLimits{}.memlimit == crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE);
static_assert(crypto_pwhash_argon2id_OPSLIMIT_MIN <= 1);
static_assert(kMaxKdfMemLimit <= SIZE_MAX);

// The Argon2id parameters and the sealed seed of an encrypted key file.
struct Sealed {
  uint64_t opslimit = 0;
  uint64_t memlimit = 0;
  std::array<uint8_t, kSaltBytes> salt{};
  std::array<uint8_t, kNonceBytes> nonce{};
  std::array<uint8_t, kSealedBytes> ciphertext{};
};

struct ParsedKeyFile {
  std::optional<PublicKey> public_key;
  bool is_secret = false;
  bool encrypted = false;
  Sealed sealed;
  SecureBuffer seed;  // only for unencrypted secret files, and only when asked to decode it
};

enum class Expect { kPublic, kSecret, kAny };

Status CheckKdfLimits(uint64_t opslimit, uint64_t memlimit, const std::string& where) {
  if (opslimit < crypto_pwhash_argon2id_OPSLIMIT_MIN || opslimit > kMaxKdfOpsLimit) {
    return InvalidError(where + ": Argon2id opslimit " + std::to_string(opslimit) +
                        " outside the accepted range 1.." + std::to_string(kMaxKdfOpsLimit));
  }
  if (memlimit < crypto_pwhash_argon2id_MEMLIMIT_MIN || memlimit > kMaxKdfMemLimit) {
    return InvalidError(where + ": Argon2id memlimit " + std::to_string(memlimit) +
                        " outside the accepted range " +
                        std::to_string(crypto_pwhash_argon2id_MEMLIMIT_MIN) + ".." +
                        std::to_string(kMaxKdfMemLimit));
  }
  return Ok();
}

// Reads a fixed-size hex field, naming the field when it is malformed.
template <size_t N>
Status ReadHexField(json::ObjectReader& reader, const std::string& key,
                    std::array<uint8_t, N>& out) {
  FERRY_ASSIGN_OR_RETURN(std::string hex, reader.String(key));
  if (hex.size() != 2 * N || !HexDecodeInto(hex, out)) {
    return InvalidError(reader.PathOf(key) + ": expected " + std::to_string(2 * N) +
                        " hex characters");
  }
  return Ok();
}

// Decodes the unencrypted seed straight into secure memory, then wipes the parsed copy of its hex
// so the secret does not linger in ordinary heap memory.
Result<SecureBuffer> TakeSeedHex(json::ObjectReader& reader, bool decode) {
  FERRY_ASSIGN_OR_RETURN(const json::Value* field, reader.Field("seed"));
  if (!field->is_string()) {
    return InvalidError(reader.PathOf("seed") + ": expected string, found " + field->type_name());
  }
  // The parsed document is owned by our caller and is not const; wiping through it is sound.
  auto& hex = const_cast<std::string&>(field->as_string());
  SecureBuffer seed(kSeedBytes);
  size_t decoded = 0;
  const char* end = nullptr;
  bool ok = hex.size() == 2 * kSeedBytes &&
            sodium_hex2bin(seed.data(), seed.size(), hex.data(), hex.size(), nullptr, &decoded,
                           &end) == 0 &&
            decoded == kSeedBytes && end == hex.data() + hex.size();
  SecureWipe(hex.data(), hex.size());
  if (!ok) {
    return InvalidError(reader.PathOf("seed") + ": expected 64 hex characters");
  }
  if (!decode) {
    return SecureBuffer();
  }
  return seed;
}

Result<ParsedKeyFile> ParseKeyFile(std::string& text, const std::string& path, Expect expect,
                                   bool decode_seed) {
  json::ParseLimits limits;
  limits.max_bytes = kKeyFileMaxBytes;
  limits.max_depth = 8;
  auto parsed = json::Parse(text, limits);
  // An unencrypted key file's text holds the seed: wipe it whatever the outcome.
  SecureWipe(text.data(), text.size());
  if (!parsed.ok()) {
    return std::move(parsed).error().Context(path);
  }
  json::Value document = std::move(parsed).value();
  FERRY_ASSIGN_OR_RETURN(json::ObjectReader reader, json::ObjectReader::Open(document, path));

  FERRY_ASSIGN_OR_RETURN(std::string keytype, reader.String("keytype"));
  if (keytype != kKeyType) {
    return InvalidError(reader.PathOf("keytype") + ": unsupported key type \"" + keytype +
                        "\" (expected \"ed25519\")");
  }
  FERRY_ASSIGN_OR_RETURN(std::string keyid, reader.String("keyid"));
  if (!IsWellFormedKeyId(keyid)) {
    return InvalidError(reader.PathOf("keyid") + ": expected 64 lower-case hex characters");
  }
  PublicKeyBytes public_bytes{};
  FERRY_RETURN_IF_ERROR(ReadHexField(reader, "public", public_bytes));
  // The id is checked before the key is used for anything, so a file that pairs one key's id
  // with another key fails here with a clear message.
  if (KeyIdOf(public_bytes) != keyid) {
    return InvalidError(path + ": keyid " + keyid + " does not match the public key (its id is " +
                        KeyIdOf(public_bytes) + ")");
  }
  auto public_key = PublicKey::FromBytes(public_bytes);
  if (!public_key.ok()) {
    return std::move(public_key).error().Context(reader.PathOf("public"));
  }

  ParsedKeyFile result;
  result.public_key = std::move(public_key).value();
  FERRY_ASSIGN_OR_RETURN(std::optional<std::string> encryption,
                         reader.OptionalString("encryption"));
  result.is_secret = encryption.has_value();
  if (expect == Expect::kPublic && result.is_secret) {
    return InvalidError(path + ": is a secret key file; expected a public key file");
  }
  if (expect == Expect::kSecret && !result.is_secret) {
    return InvalidError(path +
                        ": is a public key file (no \"encryption\" field); expected a "
                        "secret key file");
  }
  if (result.is_secret) {
    if (*encryption == kEncryptionNone) {
      FERRY_ASSIGN_OR_RETURN(result.seed, TakeSeedHex(reader, decode_seed));
    } else if (*encryption == kEncryptionArgon) {
      result.encrypted = true;
      FERRY_ASSIGN_OR_RETURN(const json::Value* kdf, reader.Field("kdf"));
      FERRY_ASSIGN_OR_RETURN(json::ObjectReader kdf_reader,
                             json::ObjectReader::Open(*kdf, reader.PathOf("kdf")));
      FERRY_ASSIGN_OR_RETURN(int64_t opslimit, kdf_reader.Int("opslimit"));
      FERRY_ASSIGN_OR_RETURN(int64_t memlimit, kdf_reader.Int("memlimit"));
      for (const auto& [name, limit] : {std::pair{"opslimit", opslimit}, {"memlimit", memlimit}}) {
        if (limit < 0) {
          return InvalidError(kdf_reader.PathOf(name) + ": negative Argon2id limit");
        }
      }
      result.sealed.opslimit = static_cast<uint64_t>(opslimit);
      result.sealed.memlimit = static_cast<uint64_t>(memlimit);
      FERRY_RETURN_IF_ERROR(
          CheckKdfLimits(result.sealed.opslimit, result.sealed.memlimit, kdf_reader.path()));
      FERRY_RETURN_IF_ERROR(ReadHexField(kdf_reader, "salt", result.sealed.salt));
      FERRY_RETURN_IF_ERROR(kdf_reader.Finish());
      FERRY_RETURN_IF_ERROR(ReadHexField(reader, "nonce", result.sealed.nonce));
      FERRY_RETURN_IF_ERROR(ReadHexField(reader, "sealed_seed", result.sealed.ciphertext));
    } else {
      return InvalidError(reader.PathOf("encryption") + ": unsupported encryption \"" +
                          *encryption + "\"");
    }
  }
  FERRY_RETURN_IF_ERROR(reader.Finish());
  return result;
}

Result<ParsedKeyFile> LoadKeyFile(const std::string& path, Expect expect, bool decode_seed) {
  FERRY_ASSIGN_OR_RETURN(std::string text, fs::ReadFile(path, kKeyFileMaxBytes));
  return ParseKeyFile(text, path, expect, decode_seed);
}

json::Object PublicFields(const PublicKey& key) {
  json::Object object;
  object["keyid"] = key.id();
  object["keytype"] = std::string(kKeyType);
  object["public"] = key.hex();
  return object;
}

Result<SigningKey> KeyFromSeed(const SecureBuffer& seed, const PublicKey& recorded,
                               const std::string& path) {
  FERRY_ASSIGN_OR_RETURN(SigningKey key,
                         SigningKey::FromSeed(std::span<const uint8_t, 32>(seed.data(), 32)));
  if (!(key.public_key() == recorded)) {
    return InvalidError(path + ": the secret seed does not belong to the recorded public key");
  }
  return key;
}

}  // namespace

Status WritePublicKeyFile(const std::string& path, const PublicKey& key) {
  FERRY_ASSIGN_OR_RETURN(std::string text, json::Canonical(json::Value(PublicFields(key))));
  text.push_back('\n');
  return fs::WriteFileAtomic(path, text, kPublicMode, /*overwrite=*/false);
}

Result<PublicKey> ReadPublicKeyFile(const std::string& path) {
  FERRY_ASSIGN_OR_RETURN(ParsedKeyFile parsed, LoadKeyFile(path, Expect::kPublic, false));
  return std::move(*parsed.public_key);
}

Result<PublicKey> ReadAnyPublicKey(const std::string& path) {
  FERRY_ASSIGN_OR_RETURN(ParsedKeyFile parsed, LoadKeyFile(path, Expect::kAny, false));
  return std::move(*parsed.public_key);
}

Status WriteSecretKeyFile(const std::string& path, const SigningKey& key,
                          const SecureBuffer* passphrase, const KdfLimits& limits) {
  if (passphrase != nullptr && passphrase->empty()) {
    return UsageError(path + ": refusing an empty passphrase");
  }
  EnsureSodiumInit();
  json::Object object = PublicFields(key.public_key());

  if (passphrase == nullptr) {
    object["encryption"] = std::string(kEncryptionNone);
    FERRY_ASSIGN_OR_RETURN(std::string head, json::Canonical(json::Value(object)));
    // "seed" sorts after every other field, so appending it keeps the text canonical while the
    // secret is only ever assembled in secure memory.
    constexpr std::string_view kSeedKey = ",\"seed\":\"";
    constexpr std::string_view kTail = "\"}\n";
    SecureBuffer hex(2 * kSeedBytes + 1);
    sodium_bin2hex(reinterpret_cast<char*>(hex.data()), hex.size(), key.seed().data(),
                   key.seed().size());
    SecureBuffer text(head.size() - 1 + kSeedKey.size() + 2 * kSeedBytes + kTail.size());
    uint8_t* out = text.data();
    std::memcpy(out, head.data(), head.size() - 1);
    out += head.size() - 1;
    std::memcpy(out, kSeedKey.data(), kSeedKey.size());
    out += kSeedKey.size();
    std::memcpy(out, hex.data(), 2 * kSeedBytes);
    out += 2 * kSeedBytes;
    std::memcpy(out, kTail.data(), kTail.size());
    return fs::WriteFileAtomic(path, text.view(), kSecretMode, /*overwrite=*/false);
  }

  FERRY_RETURN_IF_ERROR(CheckKdfLimits(limits.opslimit, limits.memlimit, path));
  Sealed sealed;
  sealed.opslimit = limits.opslimit;
  sealed.memlimit = limits.memlimit;
  randombytes_buf(sealed.salt.data(), sealed.salt.size());
  randombytes_buf(sealed.nonce.data(), sealed.nonce.size());

  SecureBuffer derived(kKeyBytes);
  if (crypto_pwhash(derived.data(), derived.size(),
                    reinterpret_cast<const char*>(passphrase->data()), passphrase->size(),
                    sealed.salt.data(), sealed.opslimit, static_cast<size_t>(sealed.memlimit),
                    crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return IoError(path + ": Argon2id key derivation failed (not enough memory for memlimit " +
                   std::to_string(sealed.memlimit) + "?)");
  }
  const KeyId& keyid = key.id();
  unsigned long long sealed_length = 0;
  if (crypto_aead_xchacha20poly1305_ietf_encrypt(
          sealed.ciphertext.data(), &sealed_length, key.seed().data(), key.seed().size(),
          reinterpret_cast<const unsigned char*>(keyid.data()), keyid.size(), nullptr,
          sealed.nonce.data(), derived.data()) != 0 ||
      sealed_length != sealed.ciphertext.size()) {
    return IoError(path + ": XChaCha20-Poly1305 encryption failed");
  }

  json::Object kdf;
  kdf["opslimit"] = static_cast<int64_t>(sealed.opslimit);
  kdf["memlimit"] = static_cast<int64_t>(sealed.memlimit);
  kdf["salt"] = HexEncode(sealed.salt);
  object["encryption"] = std::string(kEncryptionArgon);
  object["kdf"] = json::Value(std::move(kdf));
  object["nonce"] = HexEncode(sealed.nonce);
  object["sealed_seed"] = HexEncode(sealed.ciphertext);
  FERRY_ASSIGN_OR_RETURN(std::string text, json::Canonical(json::Value(std::move(object))));
  text.push_back('\n');
  return fs::WriteFileAtomic(path, text, kSecretMode, /*overwrite=*/false);
}

Result<SigningKey> ReadSecretKeyFile(const std::string& path, const PassphraseProvider& provider) {
  FERRY_ASSIGN_OR_RETURN(ParsedKeyFile parsed, LoadKeyFile(path, Expect::kSecret, true));
  if (!parsed.encrypted) {
    return KeyFromSeed(parsed.seed, *parsed.public_key, path);
  }
  if (!provider) {
    return UsageError(path + ": the key file is encrypted and no passphrase was provided");
  }
  FERRY_ASSIGN_OR_RETURN(SecureBuffer passphrase, provider(path));

  const Sealed& sealed = parsed.sealed;
  SecureBuffer derived(kKeyBytes);
  if (crypto_pwhash(derived.data(), derived.size(),
                    reinterpret_cast<const char*>(passphrase.data()), passphrase.size(),
                    sealed.salt.data(), sealed.opslimit, static_cast<size_t>(sealed.memlimit),
                    crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return IoError(path + ": Argon2id key derivation failed (not enough memory for memlimit " +
                   std::to_string(sealed.memlimit) + "?)");
  }
  // The key id is the associated data, so a sealed seed moved into another key's file fails
  // authentication just like a wrong passphrase.
  const KeyId& keyid = parsed.public_key->id();
  SecureBuffer seed(kSeedBytes);
  unsigned long long seed_length = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          seed.data(), &seed_length, nullptr, sealed.ciphertext.data(), sealed.ciphertext.size(),
          reinterpret_cast<const unsigned char*>(keyid.data()), keyid.size(), sealed.nonce.data(),
          derived.data()) != 0 ||
      seed_length != kSeedBytes) {
    return InvalidError(path + ": wrong passphrase or corrupted key file");
  }
  return KeyFromSeed(seed, *parsed.public_key, path);
}

Result<SecureBuffer> ReadPassphraseFile(const std::string& path) {
  FERRY_ASSIGN_OR_RETURN(fs::File file, fs::File::OpenRead(path));
  // One byte more than the longest passphrase plus its "\r\n" tells a too-long line apart.
  SecureBuffer buffer(kMaxPassphraseBytes + 3);
  size_t filled = 0;
  while (filled < buffer.size()) {
    FERRY_ASSIGN_OR_RETURN(size_t n, file.Read(buffer.span().subspan(filled)));
    if (n == 0) {
      break;
    }
    filled += n;
  }
  std::string_view content(reinterpret_cast<const char*>(buffer.data()), filled);
  size_t newline = content.find('\n');
  size_t length = newline == std::string_view::npos ? filled : newline;
  if (length > 0 && content[length - 1] == '\r') {
    --length;
  }
  if (length > kMaxPassphraseBytes) {
    return UsageError(path + ": passphrase longer than " + std::to_string(kMaxPassphraseBytes) +
                      " bytes");
  }
  if (length == 0) {
    return UsageError(path + ": the first line is empty; refusing an empty passphrase");
  }
  buffer.Truncate(length);
  return buffer;
}

}  // namespace ferry::crypto
