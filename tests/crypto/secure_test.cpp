#include "crypto/secure.hpp"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace ferry::crypto {
namespace {

TEST(SecureBufferTest, NewBufferIsZeroed) {
  SecureBuffer buffer(100);
  ASSERT_EQ(buffer.size(), 100u);
  ASSERT_NE(buffer.data(), nullptr);
  for (uint8_t b : buffer.span()) {
    EXPECT_EQ(b, 0);
  }
}

TEST(SecureBufferTest, EmptyBuffer) {
  SecureBuffer empty;
  EXPECT_TRUE(empty.empty());
  EXPECT_EQ(empty.view(), "");
  SecureBuffer zero(0);
  EXPECT_TRUE(zero.empty());
}

TEST(SecureBufferTest, CopyOfAndView) {
  SecureBuffer buffer = SecureBuffer::CopyOf(std::string_view("correct horse"));
  EXPECT_EQ(buffer.view(), "correct horse");
  const std::vector<uint8_t> bytes = {1, 2, 3};
  SecureBuffer from_bytes = SecureBuffer::CopyOf(bytes);
  ASSERT_EQ(from_bytes.size(), 3u);
  EXPECT_EQ(from_bytes.data()[2], 3);
}

TEST(SecureBufferTest, MoveTransfersOwnership) {
  SecureBuffer source = SecureBuffer::CopyOf(std::string_view("secret"));
  const uint8_t* memory = source.data();
  SecureBuffer target(std::move(source));
  EXPECT_EQ(target.data(), memory);
  EXPECT_EQ(target.view(), "secret");
  EXPECT_TRUE(
      source.empty());  // NOLINT(bugprone-use-after-move): the moved-from state is the point
  EXPECT_EQ(source.data(), nullptr);

  SecureBuffer other = SecureBuffer::CopyOf(std::string_view("other"));
  other = std::move(target);
  EXPECT_EQ(other.view(), "secret");
  EXPECT_TRUE(target.empty());  // NOLINT(bugprone-use-after-move)
}

TEST(SecureBufferTest, TruncateKeepsPrefix) {
  SecureBuffer buffer = SecureBuffer::CopyOf(std::string_view("passphrase\n"));
  buffer.Truncate(10);
  EXPECT_EQ(buffer.view(), "passphrase");
  buffer.Truncate(50);
  EXPECT_EQ(buffer.view(), "passphrase");
}

TEST(ConstantTimeEqualTest, ComparesContentAndLength) {
  const std::vector<uint8_t> a = {1, 2, 3, 4};
  const std::vector<uint8_t> b = {1, 2, 3, 4};
  const std::vector<uint8_t> c = {1, 2, 3, 5};
  const std::vector<uint8_t> d = {1, 2, 3};
  EXPECT_TRUE(ConstantTimeEqual(a, b));
  EXPECT_FALSE(ConstantTimeEqual(a, c));
  EXPECT_FALSE(ConstantTimeEqual(a, d));
  EXPECT_TRUE(ConstantTimeEqual({}, {}));
}

}  // namespace
}  // namespace ferry::crypto
