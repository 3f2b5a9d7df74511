#include "bundler/inventory.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "common/json.hpp"
#include "crypto/hash.hpp"

namespace ferry::bundler {
namespace {

const std::vector<InstalledPackage> kPackages = {
    {"zlib1g", "amd64", "1:1.2.13.dfsg-1"},
    {"libc6", "i386", "2.36-9+deb12u4"},
    {"adduser", "all", "3.134"},
    {"libc6", "amd64", "2.36-9+deb12u4"},
    {"dpkg", "amd64", "1.21.22"},
};

constexpr const char* kCanonical =
    R"([["adduser","all","3.134"],["dpkg","amd64","1.21.22"],)"
    R"(["libc6","amd64","2.36-9+deb12u4"],["libc6","i386","2.36-9+deb12u4"],)"
    R"(["zlib1g","amd64","1:1.2.13.dfsg-1"]])";

TEST(InventoryTest, SortsByNameThenArchitecture) {
  auto inventory = MakeInventory(kPackages);
  ASSERT_TRUE(inventory.ok()) << inventory.error().message();
  ASSERT_EQ(inventory->packages.size(), 5u);
  EXPECT_EQ(inventory->packages[0].name, "adduser");
  EXPECT_EQ(inventory->packages[2].architecture, "amd64");
  EXPECT_EQ(inventory->packages[3].architecture, "i386");
  EXPECT_EQ(InventoryCanonical(*inventory), kCanonical);
}

TEST(InventoryTest, CanonicalTextAndHashDoNotDependOnInputOrder) {
  auto first = MakeInventory(kPackages);
  ASSERT_TRUE(first.ok()) << first.error().message();
  const std::string hash = InventoryHash(*first);
  EXPECT_EQ(hash, crypto::DigestHex(crypto::Sha256Of(kCanonical)));
  EXPECT_EQ(hash.size(), 64u);
  std::vector<InstalledPackage> shuffled = kPackages;
  std::mt19937 random(7);
  for (int round = 0; round < 20; ++round) {
    std::shuffle(shuffled.begin(), shuffled.end(), random);
    auto again = MakeInventory(shuffled);
    ASSERT_TRUE(again.ok()) << again.error().message();
    EXPECT_EQ(InventoryHash(*again), hash);
    EXPECT_EQ(*again, *first);
  }
}

TEST(InventoryTest, AnyDifferenceChangesTheHash) {
  const std::string hash = InventoryHash(*MakeInventory(kPackages));
  std::vector<InstalledPackage> changed = kPackages;
  changed[0].version = "1:1.2.13.dfsg-2";
  EXPECT_NE(InventoryHash(*MakeInventory(changed)), hash);
  changed = kPackages;
  changed.pop_back();
  EXPECT_NE(InventoryHash(*MakeInventory(changed)), hash);
  changed = kPackages;
  changed[1].architecture = "arm64";
  EXPECT_NE(InventoryHash(*MakeInventory(changed)), hash);
}

TEST(InventoryTest, DirectTextMatchesTheGeneralCanonicalEncoder) {
  auto inventory = MakeInventory(kPackages);
  ASSERT_TRUE(inventory.ok());
  json::Array entries;
  for (const InstalledPackage& p : inventory->packages) {
    entries.emplace_back(json::Array{p.name, p.architecture, p.version});
  }
  EXPECT_EQ(InventoryCanonical(*inventory), *json::Canonical(json::Value(entries)));
  // An Inventory built by hand, bypassing validation, still yields valid canonical JSON.
  const Inventory odd{{{"a\"b", "all", "1\\0"}, {"c", "all", "\x01"}}};
  EXPECT_EQ(InventoryCanonical(odd), R"([["a\"b","all","1\\0"],["c","all","\u0001"]])");
}

TEST(InventoryTest, EmptyInventoryIsAnEmptyArray) {
  auto inventory = MakeInventory({});
  ASSERT_TRUE(inventory.ok());
  EXPECT_EQ(InventoryCanonical(*inventory), "[]");
  EXPECT_EQ(InventoryHash(*inventory),
            "4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945");
}

TEST(InventoryTest, RefusesDuplicatesAndInvalidEntries) {
  std::vector<InstalledPackage> duplicate = kPackages;
  duplicate.push_back({"libc6", "amd64", "2.36-9"});
  auto refused = MakeInventory(duplicate);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message().find("libc6:amd64 appears twice"), std::string::npos)
      << refused.error().message();

  std::vector<InstalledPackage> invalid = kPackages;
  invalid[2].version = "3.134 ";
  refused = MakeInventory(invalid);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message().find("inventory[2]: package adduser: version"),
            std::string::npos)
      << refused.error().message();
}

TEST(InventoryTest, CanonicalTextRoundTrips) {
  auto inventory = InventoryFromCanonical(kCanonical);
  ASSERT_TRUE(inventory.ok()) << inventory.error().message();
  EXPECT_EQ(*inventory, *MakeInventory(kPackages));
  EXPECT_EQ(InventoryHash(*inventory), crypto::DigestHex(crypto::Sha256Of(kCanonical)));
}

TEST(InventoryTest, FromCanonicalIsStrict) {
  const std::vector<std::pair<const char*, const char*>> cases = {
      {R"({"a":1})", "expected array"},
      {R"([["a","all"]])", "inventory[0]: expected [name, architecture, version]"},
      {R"([["a","all","1",""]])", "inventory[0]: expected [name, architecture, version]"},
      {R"([["a","all",1]])", "inventory[0]: expected strings"},
      {R"(["a"])", "inventory[0]: expected [name, architecture, version]"},
      {R"([["b","all","1"],["a","all","1"]])", "not in canonical form"},
      {R"([["a","all","1"], ["b","all","1"]])", "not in canonical form"},
      {R"([["a","all","1"],["a","all","2"]])", "a:all appears twice"},
      {R"([["a","ALL","1"]])", "architecture \"ALL\" is not valid"},
      {R"([["a","all","1"]] )", "not in canonical form"},
      {R"([["a","all","1"])", "inventory"},
      {R"([[["a"],"all","1"]])", "nesting deeper"},
      {R"([["a","all","\u0031"]])", "not in canonical form"},
  };
  for (const auto& [text, expected] : cases) {
    auto inventory = InventoryFromCanonical(text);
    ASSERT_FALSE(inventory.ok()) << text;
    EXPECT_EQ(inventory.error().kind(), ErrorKind::kInvalid) << text;
    EXPECT_NE(inventory.error().message().find(expected), std::string::npos)
        << text << ": " << inventory.error().message();
  }
}

TEST(InventoryTest, FromCanonicalRefusesOversizedText) {
  const std::string text(kMaxInventoryCanonicalBytes + 1, ' ');
  auto inventory = InventoryFromCanonical(text);
  ASSERT_FALSE(inventory.ok());
  EXPECT_NE(inventory.error().message().find("larger than"), std::string::npos);
}

TEST(InventoryTest, NativeArchitectureIsDpkgs) {
  EXPECT_EQ(NativeArchitecture(*MakeInventory(kPackages)), "amd64");
  std::vector<InstalledPackage> arm = {{"dpkg", "arm64", "1.21.22"}, {"dpkg-dev", "all", "1"}};
  EXPECT_EQ(NativeArchitecture(*MakeInventory(arm)), "arm64");
  std::vector<InstalledPackage> none = {{"dpkg-dev", "all", "1"}, {"adduser", "all", "3.134"}};
  EXPECT_EQ(NativeArchitecture(*MakeInventory(none)), "");
}

}  // namespace
}  // namespace ferry::bundler
