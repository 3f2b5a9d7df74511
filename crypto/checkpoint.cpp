#include "crypto/checkpoint.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

#include "common/encoding.hpp"
#include "common/json.hpp"

namespace ferry::crypto {
namespace {

// Signature type byte of Ed25519 in c2sp.org/signed-note.
constexpr uint8_t kEd25519Type = 0x01;
constexpr std::string_view kSignaturePrefix = "\xE2\x80\x94 ";  // U+2014 EM DASH, then a space
constexpr size_t kKeyHashBytes = 4;

constexpr size_t kMaxSizeDigits = 20;  // 18446744073709551615
constexpr size_t kRootBase64Chars = 44;
constexpr size_t kMaxCheckpointBodyBytes = (kMaxOriginBytes + 1) + (kMaxSizeDigits + 1) +
                                           (kRootBase64Chars + 1) +
                                           kMaxExtensionLines * (kMaxExtensionLineBytes + 1);

// The White_Space characters outside ASCII that Go's unicode.IsSpace (and so sumdb/note) refuses
// in key names, as UTF-8. Searching bytes is exact because UTF-8 sequences never overlap.
constexpr std::array<std::string_view, 19> kUnicodeSpaces = {
    "\xC2\x85",     "\xC2\xA0",     "\xE1\x9A\x80", "\xE2\x80\x80", "\xE2\x80\x81",
    "\xE2\x80\x82", "\xE2\x80\x83", "\xE2\x80\x84", "\xE2\x80\x85", "\xE2\x80\x86",
    "\xE2\x80\x87", "\xE2\x80\x88", "\xE2\x80\x89", "\xE2\x80\x8A", "\xE2\x80\xA8",
    "\xE2\x80\xA9", "\xE2\x80\xAF", "\xE2\x81\x9F", "\xE3\x80\x80",
};

// Below U+0020, which the signed-note spec forbids except newline; DEL too when `with_delete`.
bool HasControlCharacter(std::string_view text, bool with_delete) {
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || (with_delete && byte == 0x7F)) {
      return true;
    }
  }
  return false;
}

// A one-line text field of a checkpoint: non-empty, bounded, UTF-8, no control characters.
Status CheckTextField(std::string_view text, size_t max_bytes, const std::string& what) {
  if (text.empty()) {
    return InvalidError(what + " is empty");
  }
  if (text.size() > max_bytes) {
    return InvalidError(what + " is " + std::to_string(text.size()) + " bytes, more than " +
                        std::to_string(max_bytes));
  }
  if (!json::IsValidUtf8(text)) {
    return InvalidError(what + " is not valid UTF-8");
  }
  if (HasControlCharacter(text, /*with_delete=*/true)) {
    return InvalidError(what + " contains a control character");
  }
  return Ok();
}

std::string KeyHashHex(uint32_t hash) {
  char text[9];
  std::snprintf(text, sizeof(text), "%08x", hash);
  return text;
}

std::string KeyLabel(std::string_view key_name, uint32_t hash) {
  return std::string(key_name) + "+" + KeyHashHex(hash);
}

uint32_t ReadBigEndian32(std::span<const uint8_t> bytes) {
  return (static_cast<uint32_t>(bytes[0]) << 24) | (static_cast<uint32_t>(bytes[1]) << 16) |
         (static_cast<uint32_t>(bytes[2]) << 8) | static_cast<uint32_t>(bytes[3]);
}

// Strict unsigned decimal: digits only, no leading zero except "0" itself, no overflow.
bool ParseTreeSize(std::string_view text, uint64_t& out) {
  if (text.empty() || text.size() > kMaxSizeDigits || (text.size() > 1 && text[0] == '0')) {
    return false;
  }
  uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') {
      return false;
    }
    const auto digit = static_cast<uint64_t>(c - '0');
    if (value > (std::numeric_limits<uint64_t>::max() - digit) / 10) {
      return false;
    }
    value = value * 10 + digit;
  }
  out = value;
  return true;
}

std::string MalformedNote(const std::string& why) { return "malformed note: " + why; }

}  // namespace

Status ValidateCheckpoint(const Checkpoint& checkpoint) {
  FERRY_RETURN_IF_ERROR(CheckTextField(checkpoint.origin, kMaxOriginBytes, "checkpoint origin"));
  if (checkpoint.extensions.size() > kMaxExtensionLines) {
    return InvalidError("checkpoint has " + std::to_string(checkpoint.extensions.size()) +
                        " extension lines, more than " + std::to_string(kMaxExtensionLines));
  }
  for (size_t i = 0; i < checkpoint.extensions.size(); ++i) {
    FERRY_RETURN_IF_ERROR(CheckTextField(checkpoint.extensions[i], kMaxExtensionLineBytes,
                                         "checkpoint extension line " + std::to_string(i + 1)));
  }
  return Ok();
}

std::string CheckpointBody(const Checkpoint& checkpoint) {
  std::string body;
  body.reserve(checkpoint.origin.size() + kMaxSizeDigits + kRootBase64Chars + 3);
  body += checkpoint.origin;
  body += '\n';
  body += std::to_string(checkpoint.size);
  body += '\n';
  body += Base64Encode(checkpoint.root);
  body += '\n';
  for (const std::string& extension : checkpoint.extensions) {
    body += extension;
    body += '\n';
  }
  return body;
}

Result<Checkpoint> ParseCheckpointBody(std::string_view body) {
  if (body.size() > kMaxCheckpointBodyBytes) {
    return InvalidError("checkpoint is " + std::to_string(body.size()) + " bytes, more than " +
                        std::to_string(kMaxCheckpointBodyBytes));
  }
  if (body.empty() || body.back() != '\n') {
    return InvalidError("checkpoint does not end with a newline");
  }
  std::vector<std::string_view> lines;
  for (size_t start = 0; start < body.size();) {
    const size_t end = body.find('\n', start);
    lines.push_back(body.substr(start, end - start));
    start = end + 1;
  }
  if (lines.size() < 3) {
    return InvalidError("checkpoint has " + std::to_string(lines.size()) +
                        " lines, expected origin, tree size and root hash");
  }
  if (lines.size() - 3 > kMaxExtensionLines) {
    return InvalidError("checkpoint has " + std::to_string(lines.size() - 3) +
                        " extension lines, more than " + std::to_string(kMaxExtensionLines));
  }
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].empty()) {
      return InvalidError("checkpoint line " + std::to_string(i + 1) + " is empty");
    }
  }

  Checkpoint checkpoint;
  checkpoint.origin = std::string(lines[0]);
  if (!ParseTreeSize(lines[1], checkpoint.size)) {
    return InvalidError(
        "checkpoint tree size (line 2) is not a decimal number without sign or leading zeros");
  }
  auto root = Base64Decode(lines[2]);
  if (!root.ok() || root->size() != checkpoint.root.size()) {
    return InvalidError("checkpoint root hash (line 3) is not canonical base64 of 32 bytes");
  }
  std::copy(root->begin(), root->end(), checkpoint.root.begin());
  for (size_t i = 3; i < lines.size(); ++i) {
    checkpoint.extensions.emplace_back(lines[i]);
  }
  FERRY_RETURN_IF_ERROR(ValidateCheckpoint(checkpoint));
  return checkpoint;
}

bool IsValidNoteKeyName(std::string_view key_name) {
  if (key_name.empty() || key_name.size() > kMaxKeyNameBytes || !json::IsValidUtf8(key_name) ||
      HasControlCharacter(key_name, /*with_delete=*/false)) {
    return false;
  }
  if (key_name.find_first_of(" +") != std::string_view::npos) {
    return false;
  }
  for (std::string_view space : kUnicodeSpaces) {
    if (key_name.find(space) != std::string_view::npos) {
      return false;
    }
  }
  return true;
}

uint32_t NoteKeyHash(std::string_view key_name, const PublicKey& key) {
  Sha256 hasher;
  hasher.Update(key_name);
  hasher.Update("\n");
  hasher.Update(&kEd25519Type, 1);
  hasher.Update(key.bytes().data(), key.bytes().size());
  return ReadBigEndian32(hasher.Finish());
}

std::string NoteVerifierKey(std::string_view key_name, const PublicKey& key) {
  std::vector<uint8_t> typed_key;
  typed_key.reserve(1 + key.bytes().size());
  typed_key.push_back(kEd25519Type);
  typed_key.insert(typed_key.end(), key.bytes().begin(), key.bytes().end());
  return KeyLabel(key_name, NoteKeyHash(key_name, key)) + "+" + Base64Encode(typed_key);
}

Result<std::pair<std::string, PublicKey>> ParseNoteVerifierKey(std::string_view vkey) {
  constexpr size_t kMaxVerifierKeyBytes = kMaxKeyNameBytes + 1 + 8 + 1 + 44;
  if (vkey.size() > kMaxVerifierKeyBytes) {
    return InvalidError("verifier key is " + std::to_string(vkey.size()) + " bytes, more than " +
                        std::to_string(kMaxVerifierKeyBytes));
  }
  const size_t first_plus = vkey.find('+');
  const size_t second_plus =
      first_plus == std::string_view::npos ? first_plus : vkey.find('+', first_plus + 1);
  if (second_plus == std::string_view::npos) {
    return InvalidError("verifier key is not of the form <name>+<key hash>+<key>");
  }
  const std::string_view name = vkey.substr(0, first_plus);
  const std::string_view hash_hex = vkey.substr(first_plus + 1, second_plus - first_plus - 1);
  const std::string_view key_base64 = vkey.substr(second_plus + 1);
  if (!IsValidNoteKeyName(name)) {
    return InvalidError(
        "verifier key has an invalid key name (empty, too long, or with a space or "
        "control character)");
  }
  std::array<uint8_t, kKeyHashBytes> hash_bytes{};
  if (hash_hex.size() != 2 * kKeyHashBytes || !HexDecodeInto(hash_hex, hash_bytes)) {
    return InvalidError("verifier key hash is not 8 hex digits");
  }
  auto typed_key = Base64Decode(key_base64);
  if (!typed_key.ok()) {
    return InvalidError("verifier key: key is not canonical base64");
  }
  if (typed_key->size() != 1 + std::tuple_size_v<PublicKeyBytes>) {
    return InvalidError("verifier key: key is " + std::to_string(typed_key->size()) +
                        " bytes, expected 33 (type 0x01 and an Ed25519 key)");
  }
  if ((*typed_key)[0] != kEd25519Type) {
    char type[8];
    std::snprintf(type, sizeof(type), "0x%02x", (*typed_key)[0]);
    return InvalidError(std::string("verifier key has signature type ") + type +
                        ", only Ed25519 (0x01) is supported");
  }
  auto key = PublicKey::FromBytes(std::span<const uint8_t>(*typed_key).subspan(1));
  if (!key.ok()) {
    return std::move(key).error().Context("verifier key");
  }
  const uint32_t claimed = ReadBigEndian32(hash_bytes);
  const uint32_t actual = NoteKeyHash(name, *key);
  if (claimed != actual) {
    return InvalidError("verifier key hash " + KeyHashHex(claimed) +
                        " does not match its name and key (expected " + KeyHashHex(actual) + ")");
  }
  return std::pair<std::string, PublicKey>(std::string(name), std::move(*key));
}

std::string SignNote(std::string_view body, std::string_view key_name, const SigningKey& key) {
  if (body.empty() || body.back() != '\n' || !IsValidNoteKeyName(key_name)) {
    std::fputs(
        "fatal: SignNote called with a body not ending in a newline or an invalid key name\n",
        stderr);
    std::abort();
  }
  const uint32_t hash = NoteKeyHash(key_name, key.public_key());
  const SignatureBytes signature = key.Sign(body);
  std::vector<uint8_t> blob = {static_cast<uint8_t>(hash >> 24), static_cast<uint8_t>(hash >> 16),
                               static_cast<uint8_t>(hash >> 8), static_cast<uint8_t>(hash)};
  blob.insert(blob.end(), signature.begin(), signature.end());

  std::string note(body);
  note += '\n';
  note += kSignaturePrefix;
  note += key_name;
  note += ' ';
  note += Base64Encode(blob);
  note += '\n';
  return note;
}

Result<std::string> VerifyNote(std::string_view note, std::string_view key_name,
                               const PublicKey& key) {
  if (!IsValidNoteKeyName(key_name)) {
    return InvalidError("cannot verify a note for an invalid key name");
  }
  if (note.size() > kMaxNoteBytes) {
    return InvalidError(MalformedNote(std::to_string(note.size()) + " bytes, more than " +
                                      std::to_string(kMaxNoteBytes)));
  }
  if (!json::IsValidUtf8(note)) {
    return InvalidError(MalformedNote("not valid UTF-8"));
  }
  for (size_t i = 0; i < note.size(); ++i) {
    if (static_cast<unsigned char>(note[i]) < 0x20 && note[i] != '\n') {
      return InvalidError(MalformedNote("control character at byte " + std::to_string(i)));
    }
  }
  // The spec separates text and signatures at the last blank line: the text may hold blank lines.
  const size_t split = note.rfind("\n\n");
  if (split == std::string_view::npos) {
    return InvalidError(MalformedNote("no blank line before the signature lines"));
  }
  const std::string_view text = note.substr(0, split + 1);
  std::string_view signatures = note.substr(split + 2);
  if (signatures.empty()) {
    return InvalidError(MalformedNote("no signature line after the blank line"));
  }
  if (signatures.back() != '\n') {
    return InvalidError(MalformedNote("the last signature line does not end with a newline"));
  }

  const uint32_t wanted_hash = NoteKeyHash(key_name, key);
  const std::string wanted = KeyLabel(key_name, wanted_hash);
  bool verified = false;
  size_t line_number = 0;
  std::string same_name_other_key;
  while (!signatures.empty()) {
    const size_t end = signatures.find('\n');
    std::string_view line = signatures.substr(0, end);
    signatures.remove_prefix(end + 1);
    const std::string where = "signature line " + std::to_string(++line_number);
    if (line_number > kMaxNoteSignatures) {
      return InvalidError(
          MalformedNote("more than " + std::to_string(kMaxNoteSignatures) + " signature lines"));
    }
    if (!line.starts_with(kSignaturePrefix)) {
      return InvalidError(MalformedNote(where + " does not start with an em dash and a space"));
    }
    line.remove_prefix(kSignaturePrefix.size());
    const size_t space = line.find(' ');
    if (space == std::string_view::npos) {
      return InvalidError(MalformedNote(where + " has no space after the key name"));
    }
    const std::string_view name = line.substr(0, space);
    if (!IsValidNoteKeyName(name)) {
      return InvalidError(MalformedNote(where + " has an invalid key name"));
    }
    auto blob = Base64Decode(line.substr(space + 1));
    if (!blob.ok() || blob->size() <= kKeyHashBytes) {
      return InvalidError(
          MalformedNote(where + " is not base64 of a key hash followed by a signature"));
    }
    const uint32_t hash = ReadBigEndian32(*blob);
    if (name != key_name) {
      continue;  // another key's signature (a witness, a rotated key): not ours to judge
    }
    if (hash != wanted_hash) {
      same_name_other_key = KeyLabel(name, hash);
      continue;
    }
    SignatureBytes signature{};
    if (blob->size() != kKeyHashBytes + signature.size()) {
      return InvalidError("bad signature by key " + wanted + ": " +
                          std::to_string(blob->size() - kKeyHashBytes) +
                          " signature bytes, expected 64");
    }
    std::copy(blob->begin() + kKeyHashBytes, blob->end(), signature.begin());
    if (!key.Verify(text, signature)) {
      return InvalidError("bad signature by key " + wanted + ": the note was altered or signed " +
                          "by another key");
    }
    verified = true;
  }
  if (!verified) {
    std::string message = "no signature line for key " + wanted;
    if (!same_name_other_key.empty()) {
      message += " (signed by " + same_name_other_key + ", a different key of the same name)";
    }
    return InvalidError(message);
  }
  return std::string(text);
}

Result<std::string> SignCheckpoint(const Checkpoint& checkpoint, std::string_view key_name,
                                   const SigningKey& key) {
  FERRY_RETURN_IF_ERROR(ValidateCheckpoint(checkpoint));
  if (!IsValidNoteKeyName(key_name)) {
    return InvalidError("checkpoint key name is not a valid note key name (empty, longer than " +
                        std::to_string(kMaxKeyNameBytes) +
                        " bytes, or with a space, '+' or control character)");
  }
  return SignNote(CheckpointBody(checkpoint), key_name, key);
}

Result<Checkpoint> VerifyCheckpoint(std::string_view note, std::string_view key_name,
                                    const PublicKey& key) {
  FERRY_ASSIGN_OR_RETURN(std::string body, VerifyNote(note, key_name, key));
  return ParseCheckpointBody(body);
}

}  // namespace ferry::crypto
