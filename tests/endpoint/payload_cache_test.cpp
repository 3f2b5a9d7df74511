// The payload cache stays within its limit: old partial downloads go, then the least recently
// used complete files, never the payload being fetched.

#include "endpoint/payload_cache.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "common/file.hpp"
#include "tests/support/testing.hpp"

namespace ferry::endpoint {
namespace {

constexpr UnixTime kNow = 1795000000;

crypto::Sha256Digest Digest(uint8_t n) {
  crypto::Sha256Digest digest{};
  digest.fill(n);
  return digest;
}

class PayloadCacheTest : public ::testing::Test {
 protected:
  void Put(const std::string& path, size_t size, UnixTime mtime) {
    testing::WriteAll(path, std::string(size, 'p'));
    const timespec times[2] = {{mtime, 0}, {mtime, 0}};
    ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0);
  }

  std::vector<std::string> Files() { return *fs::ListDirectory(dir_.path()); }

  testing::TempDir dir_;
  PayloadCache cache_{dir_.path(), 1000};
};

TEST_F(PayloadCacheTest, NamesPartsAndCompleteFilesByHash) {
  EXPECT_EQ(cache_.PartPath(Digest(0xab)), dir_ / (crypto::DigestHex(Digest(0xab)) + ".part"));
  std::string hex;
  for (int i = 0; i < 32; ++i) hex += "ab";
  EXPECT_EQ(cache_.CompletePath(Digest(0xab)), dir_ / hex);
  Put(cache_.PartPath(Digest(1)), 10, kNow);
  ASSERT_TRUE(cache_.Promote(Digest(1)).ok());
  EXPECT_EQ(Files(), std::vector<std::string>{crypto::DigestHex(Digest(1))});
  ASSERT_TRUE(cache_.Remove(Digest(1)).ok());
  EXPECT_TRUE(Files().empty());
  EXPECT_TRUE(cache_.Remove(Digest(1)).ok());  // nothing to remove is fine
}

TEST_F(PayloadCacheTest, EvictsLeastRecentlyUsedUntilTheIncomingPayloadFits) {
  Put(cache_.CompletePath(Digest(1)), 300, kNow - 300);
  Put(cache_.CompletePath(Digest(2)), 300, kNow - 100);
  Put(cache_.CompletePath(Digest(3)), 300, kNow - 200);
  // Using payload 1 makes it the most recent.
  ASSERT_TRUE(cache_.Touch(Digest(1)).ok());
  auto cleaned = cache_.Clean(kNow, 450, {Digest(9)});
  ASSERT_TRUE(cleaned.ok()) << cleaned.error().message();
  // 900 + 450 > 1000: the oldest (3) goes, then 2 (600 + 450 is still too much); 300 + 450 fits.
  EXPECT_EQ(cleaned->removed,
            (std::vector<std::string>{crypto::DigestHex(Digest(3)), crypto::DigestHex(Digest(2))}));
  EXPECT_EQ(cleaned->freed, 600u);
  EXPECT_EQ(cleaned->used, 300u);
  EXPECT_EQ(Files(), std::vector<std::string>{crypto::DigestHex(Digest(1))});
}

TEST_F(PayloadCacheTest, DropsStalePartsButKeepsTheOneBeingFetched) {
  Put(cache_.PartPath(Digest(1)), 100, kNow - kPartMaxAge - 10);  // stale
  Put(cache_.PartPath(Digest(2)), 100, kNow - 60);                // fresh
  Put(cache_.PartPath(Digest(3)), 100, kNow - 3 * kPartMaxAge);   // stale but being fetched
  Put(dir_ / "notes.txt", 5, kNow);                               // not the cache's
  Put(cache_.CompletePath(Digest(4)) + ".tmp.77", 5, kNow);       // a left-over
  ASSERT_EQ(::mkdir((dir_ / "somebody-elses-dir").c_str(), 0700), 0);
  auto cleaned = cache_.Clean(kNow, 0, {Digest(3)});
  ASSERT_TRUE(cleaned.ok()) << cleaned.error().message();
  std::vector<std::string> expected = {crypto::DigestHex(Digest(2)) + ".part",
                                       crypto::DigestHex(Digest(3)) + ".part",
                                       "somebody-elses-dir"};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(Files(), expected);
  EXPECT_EQ(cleaned->used, 200u);
}

TEST_F(PayloadCacheTest, NeverEvictsWhatItIsToldToKeep) {
  Put(cache_.CompletePath(Digest(1)), 900, kNow - 1000);
  auto cleaned = cache_.Clean(kNow, 900, {Digest(1)});
  ASSERT_TRUE(cleaned.ok());
  EXPECT_TRUE(cleaned->removed.empty());
  EXPECT_EQ(cleaned->used, 900u);
}

}  // namespace
}  // namespace ferry::endpoint
