#include "common/encoding.hpp"

#include <gtest/gtest.h>

namespace ferry {
namespace {

TEST(Hex, RoundTrips) {
  const std::vector<uint8_t> bytes = {0x00, 0x7f, 0x80, 0xff, 0x12};
  EXPECT_EQ(HexEncode(bytes), "007f80ff12");
  auto decoded = HexDecode("007F80ff12");
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(*decoded, bytes);
  EXPECT_FALSE(HexDecode("0g").ok());
  EXPECT_FALSE(HexDecode("abc").ok());
}

TEST(Base64, Rfc4648Vectors) {
  const std::pair<const char*, const char*> vectors[] = {
      {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(Base64Encode(AsBytes(plain)), encoded);
    auto decoded = Base64Decode(encoded);
    ASSERT_TRUE(decoded.ok()) << encoded;
    EXPECT_EQ(std::string(decoded->begin(), decoded->end()), plain);
  }
}

TEST(Hex, IsLowerHexAcceptsOnlyTheLengthAndAlphabetHexEncodeWrites) {
  EXPECT_TRUE(IsLowerHex("0123456789abcdef", 16));
  EXPECT_TRUE(IsLowerHex("", 0));
  EXPECT_FALSE(IsLowerHex("0123456789abcdef", 15));
  EXPECT_FALSE(IsLowerHex("0123456789abcdeF", 16));
  EXPECT_FALSE(IsLowerHex("0123456789abcdeg", 16));
  EXPECT_FALSE(IsLowerHex("0123456789abcde ", 16));
  EXPECT_TRUE(IsLowerHex(HexEncode(AsBytes(std::string_view("\xff\x00", 2))), 4));
}

TEST(Base64, RefusesMalformedText) {
  for (const char* text : {"Zg=", "Z===", "Zm9v!A==", "Zh==", "=Zm9"}) {
    EXPECT_FALSE(Base64Decode(text).ok()) << text;
  }
}

}  // namespace
}  // namespace ferry
