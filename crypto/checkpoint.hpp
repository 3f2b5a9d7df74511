#pragma once

// Signed checkpoints of the Merkle log in the C2SP formats (docs/merkle-log.md), so tools that
// already read transparency-log checkpoints read Ferry's:
//  - c2sp.org/tlog-checkpoint: the body "<origin>\n<size>\n<base64 root>\n" plus extension lines;
//  - c2sp.org/signed-note: body, blank line, "— <key name> <base64(key hash || signature)>" lines,
//    with Ed25519 keys named and hashed as golang.org/x/mod/sumdb/note does.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/error.hpp"
#include "crypto/ed25519.hpp"
#include "crypto/hash.hpp"

namespace ferry::crypto {

// Parser limits. The note limits stay above what the spec asks verifiers to accept (16 signatures).
inline constexpr size_t kMaxOriginBytes = 256;
inline constexpr size_t kMaxExtensionLines = 16;
inline constexpr size_t kMaxExtensionLineBytes = 1024;
inline constexpr size_t kMaxKeyNameBytes = 256;
inline constexpr size_t kMaxNoteBytes = 256 * 1024;
inline constexpr size_t kMaxNoteSignatures = 64;

struct Checkpoint {
  std::string origin;
  uint64_t size = 0;
  Sha256Digest root{};
  std::vector<std::string> extensions;

  bool operator==(const Checkpoint&) const = default;
};

// Ok when `checkpoint` can be written as a body ParseCheckpointBody accepts: origin non-empty,
// at most kMaxOriginBytes, valid UTF-8 without control characters; at most kMaxExtensionLines
// extension lines, each non-empty, at most kMaxExtensionLineBytes, valid UTF-8 without control
// characters. Otherwise ErrorKind::kInvalid naming the field.
Status ValidateCheckpoint(const Checkpoint& checkpoint);

// "<origin>\n<size>\n<base64 root>\n" followed by "<extension>\n" for each extension line. The
// checkpoint must pass ValidateCheckpoint (SignCheckpoint checks it).
std::string CheckpointBody(const Checkpoint& checkpoint);

// Parses a body strictly: decimal size without sign or leading zeros, a canonical base64 root of
// exactly 32 bytes, no empty line, a final newline, the limits of ValidateCheckpoint. Anything
// else is ErrorKind::kInvalid. CheckpointBody of the result gives back exactly `body`.
Result<Checkpoint> ParseCheckpointBody(std::string_view body);

// True for a signed-note key name: non-empty, at most kMaxKeyNameBytes, valid UTF-8, no control
// character, no Unicode space, no '+'.
bool IsValidNoteKeyName(std::string_view key_name);

// The note key hash (key ID) of an Ed25519 key: the first 4 bytes of
// SHA-256(name || "\n" || 0x01 || key), big-endian.
uint32_t NoteKeyHash(std::string_view key_name, const PublicKey& key);

// The verifier key text "<name>+<8 hex key hash>+<base64(0x01 || key)>" that sumdb/note tools read.
std::string NoteVerifierKey(std::string_view key_name, const PublicKey& key);

// Parses a verifier key: a valid key name, 8 hex digits, base64 of 0x01 followed by a valid
// Ed25519 key, and a key hash that matches name and key. Anything else is ErrorKind::kInvalid.
Result<std::pair<std::string, PublicKey>> ParseNoteVerifierKey(std::string_view vkey);

// body + "\n" + "— <name> <base64(key hash (4 bytes, big-endian) || Ed25519 signature)>\n".
// Contract: `body` ends with a newline and `key_name` passes IsValidNoteKeyName; a violation is a
// programming error and aborts the process (it would produce a note nobody can verify).
std::string SignNote(std::string_view body, std::string_view key_name, const SigningKey& key);

// Verifies that `note` carries a valid signature by (key_name, key) and returns its text: every
// byte before the last blank line, final newline included. Signature lines of other keys are
// ignored, as the spec says; a bad signature by this key rejects the whole note. Failures are
// ErrorKind::kInvalid: malformed note (size, UTF-8, control characters, no blank line, a line not
// of the signature form), no signature line for this key, or a bad signature.
Result<std::string> VerifyNote(std::string_view note, std::string_view key_name,
                               const PublicKey& key);

// Validates `checkpoint` and `key_name`, then SignNote(CheckpointBody(checkpoint), ...).
// Invalid input is ErrorKind::kInvalid and signs nothing.
Result<std::string> SignCheckpoint(const Checkpoint& checkpoint, std::string_view key_name,
                                   const SigningKey& key);

// VerifyNote, then ParseCheckpointBody of the signed text.
Result<Checkpoint> VerifyCheckpoint(std::string_view note, std::string_view key_name,
                                    const PublicKey& key);

}  // namespace ferry::crypto
