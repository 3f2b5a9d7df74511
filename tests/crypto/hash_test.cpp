#include "crypto/hash.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <utility>

namespace ferry::crypto {
namespace {

// FIPS 180-2 / NIST CSRC example vectors.
constexpr const char* kSha256Abc =
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
constexpr const char* kSha256Empty =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
constexpr const char* kSha256TwoBlock =
    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1";
constexpr const char* kSha256MillionA =
    "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";

// BLAKE2b with a 32-byte digest (RFC 7693 parameters, digest length 32).
constexpr const char* kBlake2bAbc =
    "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319";
constexpr const char* kBlake2bEmpty =
    "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8";
constexpr const char* kBlake2bFox =
    "01718cec35cd3d796dd00020e0bfecb473ad23457d063b75eff29c0ffa2e58a9";

TEST(Sha256Test, NistShortVectors) {
  EXPECT_EQ(DigestHex(Sha256Of("abc")), kSha256Abc);
  EXPECT_EQ(DigestHex(Sha256Of("")), kSha256Empty);
  EXPECT_EQ(DigestHex(Sha256Of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
            kSha256TwoBlock);
}

TEST(Sha256Test, MillionAInUnevenChunks) {
  const std::string a(1000000, 'a');
  Sha256 hasher;
  size_t offset = 0;
  size_t chunk = 1;
  while (offset < a.size()) {
    const size_t n = std::min(chunk, a.size() - offset);
    hasher.Update(a.data() + offset, n);
    offset += n;
    // Sizes that straddle the 64-byte block boundary in every possible way.
    chunk = (chunk * 7 + 3) % 1531 + 1;
  }
  EXPECT_EQ(DigestHex(hasher.Finish()), kSha256MillionA);
  EXPECT_EQ(DigestHex(Sha256Of(a)), kSha256MillionA);
}

TEST(Sha256Test, FinishLeavesTheHasherReset) {
  Sha256 hasher;
  hasher.Update("abc");
  EXPECT_EQ(DigestHex(hasher.Finish()), kSha256Abc);
  EXPECT_EQ(DigestHex(hasher.Finish()), kSha256Empty);
  hasher.Update("ab");
  hasher.Update("c");
  EXPECT_EQ(DigestHex(hasher.Finish()), kSha256Abc);
}

TEST(Sha256Test, ResetDiscardsInput) {
  Sha256 hasher;
  hasher.Update("garbage");
  hasher.Reset();
  hasher.Update("abc");
  EXPECT_EQ(DigestHex(hasher.Finish()), kSha256Abc);
}

TEST(Sha256Test, MoveKeepsState) {
  Sha256 first;
  first.Update("a");
  Sha256 second(std::move(first));
  second.Update("b");
  Sha256 third;
  third = std::move(second);
  third.Update("c");
  EXPECT_EQ(DigestHex(third.Finish()), kSha256Abc);
}

TEST(Sha256Test, EmptyUpdateIsHarmless) {
  Sha256 hasher;
  hasher.Update(nullptr, 0);
  hasher.Update("abc");
  hasher.Update(std::string_view());
  EXPECT_EQ(DigestHex(hasher.Finish()), kSha256Abc);
}

TEST(Sha256Test, FileAcrossChunkBoundaries) {
  char dir_template[] = "/tmp/ferry-hash-XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  const std::string path = std::string(dir_template) + "/data.bin";
  std::string content;
  content.reserve((5u << 19) + 17);
  for (size_t i = 0; i < (5u << 19) + 17; ++i) {
    content.push_back(static_cast<char>((i * 2654435761u) >> 13));
  }
  {
    std::ofstream out(path, std::ios::binary);
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
  }
  auto digest = Sha256OfFile(path);
  ASSERT_TRUE(digest.ok()) << digest.error().message();
  EXPECT_EQ(*digest, Sha256Of(content));

  const std::string empty_path = std::string(dir_template) + "/empty.bin";
  { std::ofstream out(empty_path, std::ios::binary); }
  auto empty = Sha256OfFile(empty_path);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(DigestHex(*empty), kSha256Empty);

  unlink(path.c_str());
  unlink(empty_path.c_str());
  rmdir(dir_template);
}

TEST(Sha256Test, MissingFileIsAnIoErrorNamingThePath) {
  auto digest = Sha256OfFile("/nonexistent/ferry/file");
  ASSERT_FALSE(digest.ok());
  EXPECT_EQ(digest.error().kind(), ErrorKind::kIo);
  EXPECT_NE(digest.error().message().find("/nonexistent/ferry/file"), std::string::npos);
}

TEST(DigestHexTest, RoundTrip) {
  auto parsed = ParseDigestHex(kSha256Abc);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(*parsed, Sha256Of("abc"));
  EXPECT_EQ(DigestHex(*parsed), kSha256Abc);
}

TEST(DigestHexTest, AcceptsUpperCase) {
  auto parsed = ParseDigestHex("BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD");
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(*parsed, Sha256Of("abc"));
}

TEST(DigestHexTest, RefusesWrongLengthOrCharacters) {
  const std::string good = kSha256Abc;
  for (const std::string& bad :
       {std::string(), good.substr(0, 63), good + "0", good.substr(0, 62), "g" + good.substr(1),
        good.substr(0, 63) + " ", "0x" + good.substr(2)}) {
    auto parsed = ParseDigestHex(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(parsed.error().kind(), ErrorKind::kInvalid);
  }
}

TEST(Blake2bTest, KnownAnswers) {
  EXPECT_EQ(DigestHex(Blake2bOf("abc")), kBlake2bAbc);
  EXPECT_EQ(DigestHex(Blake2bOf("")), kBlake2bEmpty);
}

TEST(Blake2bTest, StreamingMatchesOneShot) {
  Blake2b hasher;
  hasher.Update("The quick ");
  hasher.Update("brown fox jumps over");
  hasher.Update(" the lazy dog");
  EXPECT_EQ(DigestHex(hasher.Finish()), kBlake2bFox);
  // Finish resets, and a moved hasher carries its state.
  hasher.Update("a");
  Blake2b moved(std::move(hasher));
  moved.Update("bc");
  EXPECT_EQ(DigestHex(moved.Finish()), kBlake2bAbc);
  moved.Update("junk");
  moved.Reset();
  EXPECT_EQ(DigestHex(moved.Finish()), kBlake2bEmpty);
}

}  // namespace
}  // namespace ferry::crypto
