#include "relay/inventory_store.hpp"

#include <gtest/gtest.h>

#include "relay/schema.hpp"
#include "tests/support/testing.hpp"

namespace ferry::relay {
namespace {

bundler::Inventory Sample(const std::string& bash_version) {
  return *bundler::MakeInventory({{"bash", "amd64", bash_version}, {"libc6", "amd64", "2.36-9+deb12u4"}});
}

TEST(InventoryStoreTest, StoresEachDistinctInventoryOnce) {
  testing::TempDir dir;
  auto db = sql::Database::Open(dir / "db", sql::Database::Mode::kReadWrite);
  ASSERT_TRUE(db.ok());
  ASSERT_TRUE(Migrate(*db).ok());
  // A thousand endpoints of one image and one of another: two rows.
  std::string first_hash;
  for (int i = 0; i < 1000; ++i) {
    auto hash = PutInventory(*db, Sample("5.2.15-2+b2"));
    ASSERT_TRUE(hash.ok()) << hash.error().message();
    first_hash = *hash;
  }
  auto other = PutInventory(*db, Sample("5.2.15-2"));
  ASSERT_TRUE(other.ok());
  EXPECT_NE(*other, first_hash);
  EXPECT_EQ(*InventoryCount(*db), 2);
  auto back = GetInventory(*db, first_hash);
  ASSERT_TRUE(back.ok());
  ASSERT_TRUE(back->has_value());
  EXPECT_EQ(**back, Sample("5.2.15-2+b2"));
  EXPECT_FALSE(GetInventory(*db, std::string(64, '0'))->has_value());
}

TEST(InventoryStoreTest, ADamagedRowIsRefused) {
  testing::TempDir dir;
  auto db = sql::Database::Open(dir / "db", sql::Database::Mode::kReadWrite);
  ASSERT_TRUE(db.ok());
  ASSERT_TRUE(Migrate(*db).ok());
  const std::string hash = *PutInventory(*db, Sample("5.2.15-2+b2"));
  ASSERT_TRUE(db->Execute("UPDATE inventories SET canonical = REPLACE(canonical, '5.2.15', '9.9.99')").ok());
  auto back = GetInventory(*db, hash);
  ASSERT_FALSE(back.ok());
  EXPECT_NE(back.error().message().find("does not match its hash"), std::string::npos);
}

}  // namespace
}  // namespace ferry::relay
