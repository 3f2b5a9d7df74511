#include "crypto/checkpoint.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <string>
#include <vector>

#include "common/encoding.hpp"
#include "crypto/merkle.hpp"

namespace ferry::crypto {
namespace {

// golang.org/x/mod/sumdb/note's own test key and note (note_test.go): the verifier key, the
// Ed25519 seed inside its "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEK..." signer key, the text and
// the note Go signs. The key hash c74f20a3 and the signature were checked with python3 (hashlib,
// cryptography's Ed25519) before being pasted here.
constexpr const char* kPeterVkey =
    "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
constexpr const char* kPeterPublicHex =
    "1a5cd907143c384c41e830c5bce12aa8817ec5649aaabf2c31388b35b2d744d6";
constexpr const char* kPeterSeedHex =
    "810a1402d5146c8d84f2443330f54080ebf98ee17d9c74f6252fc5d5c7283173";
constexpr uint32_t kPeterKeyHash = 0xc74f20a3;
constexpr const char* kPeterText =
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n";
constexpr const char* kPeterSig =
    "\xE2\x80\x94 PeterNeumann "
    "x08go/ZJkuBS9UG/"
    "SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
// A second key and its signature of the same text, from the same Go test.
constexpr const char* kEnochVkey =
    "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
constexpr const char* kEnochSig =
    "\xE2\x80\x94 EnochRoot "
    "rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/"
    "5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

// A relay-style key: seed 0x01..0x20, key name in the relay's form. Key hash, verifier key and the
// whole signed checkpoint below were produced with python3 (hashlib + cryptography's Ed25519), not
// with this code.
constexpr const char* kRelayName = "ferry.relay/st-mary/3f31b93a";
constexpr uint32_t kRelayKeyHash = 0x6bbf561f;
constexpr const char* kRelayVkey =
    "ferry.relay/st-mary/3f31b93a+6bbf561f+AXm1Vi6P5lT5QHixEuipi6eQH4U65pW+1+DjkQutBJZk";
constexpr const char* kRelayCheckpointNote =
    "ferry.relay/st-mary/3f31b93a\n"
    "8\n"
    "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n"
    "nonce audit-2026-q4\n"
    "\n"
    "\xE2\x80\x94 ferry.relay/st-mary/3f31b93a "
    "a79WH2HtNfeILBimk+bNhwJ3u192e04NYBw8o6zpB2dAPb2fheoEwPzwXrAR8N2cb3AyoqbOuVI4UT9r6CLJCIhMfwA="
    "\n";
// The root of the RFC 6962 reference tree of eight leaves (merkle_test.cpp).
constexpr const char* kReferenceRoot8 =
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328";

SigningKey KeyFromSeed(const std::array<uint8_t, 32>& seed) {
  auto key = SigningKey::FromSeed(seed);
  EXPECT_TRUE(key.ok());
  return std::move(key).value();
}

SigningKey PeterSigningKey() {
  std::array<uint8_t, 32> seed{};
  EXPECT_TRUE(HexDecodeInto(kPeterSeedHex, seed));
  return KeyFromSeed(seed);
}

SigningKey RelayKey() {
  std::array<uint8_t, 32> seed{};
  for (size_t i = 0; i < seed.size(); ++i) {
    seed[i] = static_cast<uint8_t>(i + 1);
  }
  return KeyFromSeed(seed);
}

PublicKey PeterKey() {
  auto key = PublicKey::FromHex(kPeterPublicHex);
  EXPECT_TRUE(key.ok());
  return *key;
}

Checkpoint ReferenceCheckpoint() {
  Checkpoint checkpoint;
  checkpoint.origin = kRelayName;
  checkpoint.size = 8;
  checkpoint.root = *ParseDigestHex(kReferenceRoot8);
  checkpoint.extensions = {"nonce audit-2026-q4"};
  return checkpoint;
}

std::string HashHex(uint32_t hash) {
  char hex[9];
  std::snprintf(hex, sizeof(hex), "%08x", hash);
  return hex;
}

std::string NoteError(std::string_view note, std::string_view name, const PublicKey& key) {
  auto result = VerifyNote(note, name, key);
  if (result.ok()) {
    return "";
  }
  EXPECT_EQ(result.error().kind(), ErrorKind::kInvalid);
  return result.error().message();
}

TEST(CheckpointTest, BodyRoundTrip) {
  const Checkpoint checkpoint = ReferenceCheckpoint();
  const std::string body = CheckpointBody(checkpoint);
  EXPECT_EQ(body,
            "ferry.relay/st-mary/3f31b93a\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n"
            "nonce audit-2026-q4\n");
  auto parsed = ParseCheckpointBody(body);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  EXPECT_EQ(*parsed, checkpoint);

  Checkpoint empty;
  empty.origin = "example.com/empty";
  empty.root = Sha256Of("");
  EXPECT_EQ(CheckpointBody(empty),
            "example.com/empty\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n");
  auto parsed_empty = ParseCheckpointBody(CheckpointBody(empty));
  ASSERT_TRUE(parsed_empty.ok());
  EXPECT_EQ(*parsed_empty, empty);
}

TEST(CheckpointTest, ParsesTheSpecExample) {
  // The body of the example in c2sp.org/tlog-checkpoint.
  const std::string body =
      "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
  auto parsed = ParseCheckpointBody(body);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  EXPECT_EQ(parsed->origin, "example.com/behind-the-sofa");
  EXPECT_EQ(parsed->size, 20852163u);
  EXPECT_TRUE(parsed->extensions.empty());
  EXPECT_EQ(CheckpointBody(*parsed), body);
}

TEST(CheckpointTest, ParseIsStrict) {
  const std::string root = "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=";
  const std::string origin = "example.com/log";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "checkpoint does not end with a newline"},
      {origin + "\n8\n" + root, "checkpoint does not end with a newline"},
      {origin + "\n8\n", "checkpoint has 2 lines, expected origin, tree size and root hash"},
      {"\n8\n" + root + "\n", "checkpoint line 1 is empty"},
      {origin + "\n8\n" + root + "\n\nnonce x\n", "checkpoint line 4 is empty"},
      {origin + "\n8\n" + root + "\n\n", "checkpoint line 4 is empty"},
      {origin + "\n08\n" + root + "\n", "tree size"},
      {origin + "\n00\n" + root + "\n", "tree size"},
      {origin + "\n+8\n" + root + "\n", "tree size"},
      {origin + "\n-1\n" + root + "\n", "tree size"},
      {origin + "\n 8\n" + root + "\n", "tree size"},
      {origin + "\n8 \n" + root + "\n", "tree size"},
      {origin + "\n0x8\n" + root + "\n", "tree size"},
      {origin + "\n18446744073709551616\n" + root + "\n", "tree size"},
      {origin + "\n8\n" + root.substr(0, 40) + "\n", "root hash"},
      {origin + "\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyh=\n", "root hash"},
      {origin + "\n8\n" + root.substr(0, 43) + "\n", "root hash"},
      {origin + "\n8\n" + Base64Encode(std::vector<uint8_t>(48, 1)) + "\n", "root hash"},
      {origin + "\r\n8\n" + root + "\n", "checkpoint origin contains a control character"},
      {"exa\tmple\n8\n" + root + "\n", "checkpoint origin contains a control character"},
      {"exa\x7Fmple\n8\n" + root + "\n", "checkpoint origin contains a control character"},
      {"exa\xC3mple\n8\n" + root + "\n", "checkpoint origin is not valid UTF-8"},
      {std::string(257, 'o') + "\n8\n" + root + "\n",
       "checkpoint origin is 257 bytes, more than 256"},
      {origin + "\n8\n" + root + "\nnonce \x01\n",
       "checkpoint extension line 1 contains a control character"},
      {origin + "\n8\n" + root + "\n" + std::string(1025, 'n') + "\n",
       "checkpoint extension line 1 is 1025 bytes, more than 1024"},
  };
  for (const auto& [body, expected] : cases) {
    auto parsed = ParseCheckpointBody(body);
    ASSERT_FALSE(parsed.ok()) << body;
    EXPECT_EQ(parsed.error().kind(), ErrorKind::kInvalid);
    EXPECT_NE(parsed.error().message().find(expected), std::string::npos)
        << parsed.error().message() << " for " << body;
  }

  std::string many = origin + "\n8\n" + root + "\n";
  for (int i = 0; i < 17; ++i) {
    many += "x" + std::to_string(i) + "\n";
  }
  auto too_many = ParseCheckpointBody(many);
  ASSERT_FALSE(too_many.ok());
  EXPECT_EQ(too_many.error().message(), "checkpoint has 17 extension lines, more than 16");

  auto largest = ParseCheckpointBody(origin + "\n18446744073709551615\n" + root + "\n");
  ASSERT_TRUE(largest.ok());
  EXPECT_EQ(largest->size, 18446744073709551615u);
  auto unicode =
      ParseCheckpointBody("h\xC3\xB4pital.example/log\n0\n" + root + "\nnonce \xE2\x9C\x93\n");
  EXPECT_TRUE(unicode.ok());
}

TEST(CheckpointTest, KeyNames) {
  EXPECT_TRUE(IsValidNoteKeyName(kRelayName));
  EXPECT_TRUE(IsValidNoteKeyName("PeterNeumann"));
  EXPECT_TRUE(IsValidNoteKeyName("h\xC3\xB4pital"));
  EXPECT_TRUE(IsValidNoteKeyName(std::string(256, 'k')));
  EXPECT_FALSE(IsValidNoteKeyName(std::string(257, 'k')));
  EXPECT_FALSE(IsValidNoteKeyName(""));
  EXPECT_FALSE(IsValidNoteKeyName("a b"));
  EXPECT_FALSE(IsValidNoteKeyName("a+b"));
  EXPECT_FALSE(IsValidNoteKeyName("a\tb"));
  EXPECT_FALSE(IsValidNoteKeyName("a\nb"));
  EXPECT_FALSE(
      IsValidNoteKeyName("a\xC2\xA0"
                         "b"));  // U+00A0 no-break space
  EXPECT_FALSE(
      IsValidNoteKeyName("a\xE2\x80\x83"
                         "b"));  // U+2003 em space
  EXPECT_FALSE(
      IsValidNoteKeyName("a\xE3\x80\x80"
                         "b"));  // U+3000 ideographic space
  EXPECT_FALSE(
      IsValidNoteKeyName("a\xFF"
                         "b"));
}

TEST(CheckpointTest, KeyHashesAndVerifierKeysMatchSumdbNote) {
  const PublicKey peter = PeterKey();
  EXPECT_EQ(NoteKeyHash("PeterNeumann", peter), kPeterKeyHash);
  EXPECT_EQ(NoteVerifierKey("PeterNeumann", peter), kPeterVkey);
  const SigningKey relay = RelayKey();
  EXPECT_EQ(NoteKeyHash(kRelayName, relay.public_key()), kRelayKeyHash);
  EXPECT_EQ(NoteVerifierKey(kRelayName, relay.public_key()), kRelayVkey);

  auto parsed = ParseNoteVerifierKey(kPeterVkey);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  EXPECT_EQ(parsed->first, "PeterNeumann");
  EXPECT_EQ(parsed->second, peter);
  auto enoch = ParseNoteVerifierKey(kEnochVkey);
  ASSERT_TRUE(enoch.ok());
  EXPECT_EQ(NoteKeyHash("EnochRoot", enoch->second), 0xaf0cfe78u);
}

TEST(CheckpointTest, VerifierKeyManglingsAreRefused) {
  // As sumdb/note's own test: every proper substring and every single-byte change is refused.
  const std::string vkey = kPeterVkey;
  for (size_t i = 0; i <= vkey.size(); ++i) {
    for (size_t j = i + 1; j <= vkey.size(); ++j) {
      if (i != 0 || j != vkey.size()) {
        EXPECT_FALSE(ParseNoteVerifierKey(vkey.substr(i, j - i)).ok()) << vkey.substr(i, j - i);
      }
    }
  }
  for (size_t i = 0; i < vkey.size(); ++i) {
    std::string bad = vkey;
    ++bad[i];
    EXPECT_FALSE(ParseNoteVerifierKey(bad).ok()) << bad;
  }
  EXPECT_FALSE(ParseNoteVerifierKey(
                   "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==")
                   .ok());
  const std::vector<uint8_t> long_key(35, 0x01);
  auto wrong_length = ParseNoteVerifierKey("PeterNeumann+c74f20a3+" + Base64Encode(long_key));
  ASSERT_FALSE(wrong_length.ok());
  EXPECT_EQ(wrong_length.error().message(),
            "verifier key: key is 35 bytes, expected 33 (type 0x01 and an Ed25519 key)");
  auto unknown_type =
      ParseNoteVerifierKey("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW");
  ASSERT_FALSE(unknown_type.ok());
  EXPECT_EQ(unknown_type.error().message(),
            "verifier key has signature type 0x65, only Ed25519 (0x01) is supported");
  auto wrong_hash =
      ParseNoteVerifierKey("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW");
  ASSERT_FALSE(wrong_hash.ok());
  EXPECT_EQ(wrong_hash.error().message(),
            "verifier key hash c74f20a4 does not match its name and key (expected c74f20a3)");
}

TEST(CheckpointTest, SignNoteReproducesTheSumdbNoteExample) {
  const SigningKey peter = PeterSigningKey();
  ASSERT_EQ(peter.public_key(), PeterKey());
  EXPECT_EQ(SignNote(kPeterText, "PeterNeumann", peter),
            std::string(kPeterText) + "\n" + kPeterSig);
}

TEST(CheckpointTest, VerifiesTheSumdbNoteExample) {
  const std::string note = std::string(kPeterText) + "\n" + kPeterSig;
  auto text = VerifyNote(note, "PeterNeumann", PeterKey());
  ASSERT_TRUE(text.ok()) << text.error().message();
  EXPECT_EQ(*text, kPeterText);

  // A second signature by a key we were not asked about is ignored, before or after ours.
  auto enoch = ParseNoteVerifierKey(kEnochVkey);
  ASSERT_TRUE(enoch.ok());
  const std::string both = std::string(kPeterText) + "\n" + kPeterSig + kEnochSig;
  EXPECT_EQ(NoteError(both, "PeterNeumann", PeterKey()), "");
  EXPECT_EQ(
      NoteError(std::string(kPeterText) + "\n" + kEnochSig + kPeterSig, "PeterNeumann", PeterKey()),
      "");
  EXPECT_EQ(NoteError(both, "EnochRoot", enoch->second), "");

  std::string altered = note;
  altered.replace(altered.find("cryptography"), 12, "cryptographY");
  EXPECT_EQ(NoteError(altered, "PeterNeumann", PeterKey()),
            "bad signature by key PeterNeumann+c74f20a3: the note was altered or signed by another "
            "key");
  EXPECT_EQ(NoteError(note, "EnochRoot", enoch->second),
            "no signature line for key "
            "EnochRoot+af0cfe78");
}

TEST(CheckpointTest, MalformedNotesAreRefused) {
  // The malformed messages of sumdb/note's own test, and a few more.
  const std::string text = kPeterText;
  const std::string sig = kPeterSig;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {text, "malformed note: no blank line before the signature lines"},
      {text + "\n", "malformed note: no signature line after the blank line"},
      {text + "\n" + sig.substr(0, sig.size() - 1),
       "malformed note: the last signature line does not end with a newline"},
      {"\x01" + text + "\n" + sig, "malformed note: control character at byte 0"},
      {"\xFF" + text + "\n" + sig, "malformed note: not valid UTF-8"},
      {text + "\n" +
           "\xE2\x80\x94 Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZ"
           "SNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n",
       "malformed note: signature line 1 is not base64 of a key hash followed by a signature"},
      {text + "\n" + sig + "Unexpected line.\n",
       "malformed note: signature line 2 does not start with an em dash and a space"},
      {text + "\n" +
           "- PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZ"
           "SNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n",
       "malformed note: signature line 1 does not start with an em dash and a space"},
      {text + "\n" + "\xE2\x80\x94 PeterNeumann\n",
       "malformed note: signature line 1 has no space after the key name"},
      {text + "\n" +
           "\xE2\x80\x94 a+b x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZ"
           "SNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n",
       "malformed note: signature line 1 has an invalid key name"},
      {text + "\n" + "\xE2\x80\x94 PeterNeumann x08g\n",
       "malformed note: signature line 1 is not base64 of a key hash followed by a signature"},
      {text + "\n" + "\xE2\x80\x94 PeterNeumann x08g\n",
       "malformed note: signature line 1 is not base64 of a key hash followed by a signature"},
      // Our key hash and a 1-byte signature: well formed, so it is ours to check, and bad.
      {text + "\n" + "\xE2\x80\x94 PeterNeumann x08go/Y=\n",
       "bad signature by key PeterNeumann+c74f20a3: 1 signature bytes, expected 64"},
  };
  for (const auto& [note, expected] : cases) {
    EXPECT_EQ(NoteError(note, "PeterNeumann", PeterKey()), expected) << note;
  }

  std::string many = text + "\n";
  for (size_t i = 0; i <= kMaxNoteSignatures; ++i) {
    many += sig;
  }
  EXPECT_EQ(NoteError(many, "PeterNeumann", PeterKey()),
            "malformed note: more than 64 signature lines");
  const std::string huge = std::string(kMaxNoteBytes, 'a') + "\n\n" + sig;
  EXPECT_EQ(NoteError(huge, "PeterNeumann", PeterKey()),
            "malformed note: " + std::to_string(huge.size()) + " bytes, more than 262144");
}

TEST(CheckpointTest, SignedCheckpointMatchesAnIndependentSigner) {
  // Ed25519 is deterministic, so our note must equal, byte for byte, the one python3 produced.
  const SigningKey key = RelayKey();
  auto note = SignCheckpoint(ReferenceCheckpoint(), kRelayName, key);
  ASSERT_TRUE(note.ok()) << note.error().message();
  EXPECT_EQ(*note, kRelayCheckpointNote);

  auto checkpoint = VerifyCheckpoint(kRelayCheckpointNote, kRelayName, key.public_key());
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.error().message();
  EXPECT_EQ(*checkpoint, ReferenceCheckpoint());
  EXPECT_EQ(checkpoint->extensions, std::vector<std::string>{"nonce audit-2026-q4"});
}

// The signed-note verification algorithm written out by hand from c2sp.org/signed-note, with no
// help from the code under test beyond Base64Decode and Ed25519: split at the last blank line, read
// "— <name> <base64>", compare the first 4 bytes with the key hash computed by python3, verify the
// remaining 64 bytes over the text.
TEST(CheckpointTest, SignedNoteFollowsTheSpecByHand) {
  const SigningKey key = RelayKey();
  Checkpoint checkpoint = ReferenceCheckpoint();
  checkpoint.size = 1234567;
  checkpoint.root = Sha256Of("another root");
  checkpoint.extensions = {"nonce 7f3a9c", "nonce second line"};
  auto signed_note = SignCheckpoint(checkpoint, kRelayName, key);
  ASSERT_TRUE(signed_note.ok());
  const std::string& note = *signed_note;

  const size_t split = note.rfind("\n\n");
  ASSERT_NE(split, std::string::npos);
  const std::string text = note.substr(0, split + 1);
  EXPECT_EQ(text, CheckpointBody(checkpoint));
  std::string line = note.substr(split + 2);
  ASSERT_EQ(line.back(), '\n');
  line.pop_back();
  ASSERT_EQ(line.find('\n'), std::string::npos) << "exactly one signature line";
  const std::string prefix = "\xE2\x80\x94 " + std::string(kRelayName) + " ";
  ASSERT_EQ(line.substr(0, prefix.size()), prefix);
  auto blob = Base64Decode(line.substr(prefix.size()));
  ASSERT_TRUE(blob.ok());
  ASSERT_EQ(blob->size(), 68u);
  const uint32_t key_hash = (uint32_t{(*blob)[0]} << 24) | (uint32_t{(*blob)[1]} << 16) |
                            (uint32_t{(*blob)[2]} << 8) | uint32_t{(*blob)[3]};
  EXPECT_EQ(key_hash, kRelayKeyHash);
  SignatureBytes signature{};
  std::copy(blob->begin() + 4, blob->end(), signature.begin());
  EXPECT_TRUE(key.public_key().Verify(text, signature));
  EXPECT_EQ(text, "ferry.relay/st-mary/3f31b93a\n1234567\n" +
                      Base64Encode(Sha256Of("another root")) +
                      "\nnonce 7f3a9c\nnonce second line\n");
}

TEST(CheckpointTest, EveryAlteredByteIsCaught) {
  const SigningKey key = RelayKey();
  const std::string note = kRelayCheckpointNote;
  for (size_t i = 0; i < note.size(); ++i) {
    for (uint8_t flip : {uint8_t{0x01}, uint8_t{0x20}}) {
      std::string bad = note;
      bad[i] = static_cast<char>(static_cast<uint8_t>(bad[i]) ^ flip);
      EXPECT_FALSE(VerifyCheckpoint(bad, kRelayName, key.public_key()).ok())
          << "byte " << i << " flipped with " << int{flip};
    }
  }
  // Cut anywhere: refused.
  for (size_t n = 0; n < note.size(); ++n) {
    EXPECT_FALSE(VerifyCheckpoint(note.substr(0, n), kRelayName, key.public_key()).ok()) << n;
  }
}

TEST(CheckpointTest, WrongKeyOrNameIsRefusedAndOtherSignaturesIgnored) {
  const SigningKey key = RelayKey();
  auto other = SigningKey::Generate();
  ASSERT_TRUE(other.ok());
  const std::string note = kRelayCheckpointNote;

  EXPECT_EQ(NoteError(note, "ferry.relay/st-mary/other", key.public_key()),
            "no signature line for key ferry.relay/st-mary/other+" +
                HashHex(NoteKeyHash("ferry.relay/st-mary/other", key.public_key())));
  const std::string wrong_key = NoteError(note, kRelayName, other->public_key());
  EXPECT_NE(wrong_key.find("no signature line for key ferry.relay/st-mary/3f31b93a+"),
            std::string::npos)
      << wrong_key;
  EXPECT_NE(wrong_key.find("(signed by ferry.relay/st-mary/3f31b93a+6bbf561f, a different key of "
                           "the same name)"),
            std::string::npos)
      << wrong_key;

  // A witness cosigns: its line is ignored by a verifier that only knows the relay's key, and the
  // relay's signature still counts.
  const std::string witness_line =
      SignNote(CheckpointBody(ReferenceCheckpoint()), "witness.example/w1", *other)
          .substr(CheckpointBody(ReferenceCheckpoint()).size() + 1);
  EXPECT_EQ(NoteError(note + witness_line, kRelayName, key.public_key()), "");
  EXPECT_EQ(NoteError(note + witness_line, "witness.example/w1", other->public_key()), "");
  // Even an invalid signature from a key we do not know is ignored, as the spec says.
  const std::string junk =
      "\xE2\x80\x94 witness.example/w2 " + Base64Encode(std::vector<uint8_t>(68, 0x42)) + "\n";
  EXPECT_EQ(NoteError(note + junk, kRelayName, key.public_key()), "");
  // A second, bad signature by our own key rejects the whole note.
  std::string bad_twin = kRelayCheckpointNote;
  bad_twin += bad_twin.substr(bad_twin.rfind("\n\n") + 2);
  bad_twin[bad_twin.size() - 10] ^= 0x01;
  EXPECT_NE(NoteError(bad_twin, kRelayName, key.public_key()).find("bad signature by key"),
            std::string::npos);
}

TEST(CheckpointTest, SignCheckpointRefusesWhatItCannotWrite) {
  const SigningKey key = RelayKey();
  Checkpoint checkpoint = ReferenceCheckpoint();
  auto bad_name = SignCheckpoint(checkpoint, "ferry relay", key);
  ASSERT_FALSE(bad_name.ok());
  EXPECT_EQ(bad_name.error().kind(), ErrorKind::kInvalid);

  checkpoint.extensions = {"nonce one\nnonce two"};
  auto newline = SignCheckpoint(checkpoint, kRelayName, key);
  ASSERT_FALSE(newline.ok());
  EXPECT_EQ(newline.error().message(), "checkpoint extension line 1 contains a control character");
  checkpoint.extensions = {""};
  auto empty = SignCheckpoint(checkpoint, kRelayName, key);
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().message(), "checkpoint extension line 1 is empty");
  checkpoint.extensions = {};
  checkpoint.origin = "";
  auto no_origin = SignCheckpoint(checkpoint, kRelayName, key);
  ASSERT_FALSE(no_origin.ok());
  EXPECT_EQ(no_origin.error().message(), "checkpoint origin is empty");
}

TEST(CheckpointDeathTest, SignNoteAbortsOnABrokenContract) {
  const SigningKey key = RelayKey();
  EXPECT_DEATH((void)SignNote("no final newline", kRelayName, key), "SignNote");
  EXPECT_DEATH((void)SignNote("text\n", "bad name", key), "SignNote");
}

TEST(CheckpointTest, CheckpointOfARealLogVerifiesWithItsProofs) {
  // The pieces together: a log of three events, a signed checkpoint, an inclusion proof checked
  // against the root read back from the verified note.
  const std::vector<Sha256Digest> leaves = {
      MerkleLeafHash("{\"seq\":1}"), MerkleLeafHash("{\"seq\":2}"), MerkleLeafHash("{\"seq\":3}")};
  Checkpoint checkpoint{kRelayName, leaves.size(), MerkleRoot(leaves), {}};
  const SigningKey key = RelayKey();
  auto note = SignCheckpoint(checkpoint, kRelayName, key);
  ASSERT_TRUE(note.ok());
  auto verified = VerifyCheckpoint(*note, kRelayName, key.public_key());
  ASSERT_TRUE(verified.ok());
  auto proof = InclusionProof(leaves, 1);
  ASSERT_TRUE(proof.ok());
  EXPECT_TRUE(VerifyInclusion(leaves[1], 1, verified->size, *proof, verified->root).ok());
}

}  // namespace
}  // namespace ferry::crypto
