#include "relay/applicability.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace ferry::relay {
namespace {

bundler::Patch DebPatch(const std::string& id, const std::string& package,
                        const std::string& version, const std::string& architecture = "amd64",
                        const std::string& target_os = "debian-12",
                        const std::string& severity = "high") {
  bundler::Patch patch;
  patch.id = id;
  patch.kind = "deb";
  patch.package = package;
  patch.version = version;
  patch.architecture = architecture;
  patch.target_os = target_os;
  patch.severity = severity;
  return patch;
}

bundler::Inventory Installed(std::vector<bundler::InstalledPackage> packages) {
  auto inventory = bundler::MakeInventory(std::move(packages));
  EXPECT_TRUE(inventory.ok()) << inventory.error().message();
  return inventory.ok() ? std::move(inventory).value() : bundler::Inventory{};
}

std::vector<std::string> Ids(const std::vector<Applicable>& applicable) {
  std::vector<std::string> ids;
  for (const Applicable& a : applicable) {
    ids.push_back(a.patch_id);
  }
  return ids;
}

using Ids_ = std::vector<std::string>;

TEST(ApplicabilityTest, LowerInstalledVersionApplies) {
  const ApplicabilityIndex index({DebPatch("curl-fix", "curl", "7.88.1-10+deb12u12")}, 1);
  const auto result =
      index.Evaluate(Installed({{"curl", "amd64", "7.88.1-10+deb12u5"}}), "debian-12");
  ASSERT_EQ(result.size(), 1u);
  const Applicable expected{"curl-fix",           "curl", "amd64", "7.88.1-10+deb12u5",
                            "7.88.1-10+deb12u12", "high", "amd64"};
  EXPECT_EQ(result[0], expected);
}

TEST(ApplicabilityTest, EqualOrHigherInstalledVersionDoesNot) {
  const ApplicabilityIndex index({DebPatch("curl-fix", "curl", "7.88.1-10+deb12u5")}, 1);
  EXPECT_TRUE(index.Evaluate(Installed({{"curl", "amd64", "7.88.1-10+deb12u5"}}), "").empty());
  EXPECT_TRUE(index.Evaluate(Installed({{"curl", "amd64", "7.88.1-10+deb12u6"}}), "").empty());
  // Equal by Debian's rules though spelled differently.
  EXPECT_TRUE(index.Evaluate(Installed({{"curl", "amd64", "0:7.88.01-10+deb12u5"}}), "").empty());
}

TEST(ApplicabilityTest, DebianOrderingEpochTildeAndRevision) {
  struct Case {
    const char* installed;
    const char* patch;
    bool applies;
  };
  const std::vector<Case> cases = {
      {"9.9", "1:0.1", true},        // any epoch beats none
      {"2:1.0", "1:9.9", false},     // a lower epoch never applies
      {"1.0~rc1-1", "1.0-1", true},  // a tilde sorts before the release
      {"1.0-1", "1.0~rc2-1", false},
      {"1.0-1~bpo12+1", "1.0-1", true},  // a backport is older than the release it follows
      {"1.0-1", "1.0-1+deb12u1", true},
      {"1.0-2", "1.0-10", true},  // numeric, not lexical
      {"1.10", "1.9", false},
      {"1.0", "1.0-0", false},  // an absent revision equals "0"
      {"a1.0", "1.0", false},   // dpkg puts a leading letter after digits
  };
  for (const Case& c : cases) {
    const ApplicabilityIndex index({DebPatch("p", "pkg", c.patch)}, 1);
    const auto result = index.Evaluate(Installed({{"pkg", "amd64", c.installed}}), "");
    EXPECT_EQ(result.size(), c.applies ? 1u : 0u) << c.installed << " -> " << c.patch;
  }
}

TEST(ApplicabilityTest, ArchitectureMustMatchOrBeAll) {
  const ApplicabilityIndex index({DebPatch("libc6-arm", "libc6", "2.36-9+deb12u9", "arm64"),
                                  DebPatch("tzdata-all", "tzdata", "2025b-0+deb12u1", "all"),
                                  DebPatch("docs-all", "libfoo-doc", "2.0", "all"),
                                  DebPatch("libbar-i386", "libbar", "2.0", "i386")},
                                 1);
  const bundler::Inventory inventory = Installed({
      {"libc6", "amd64", "2.36-9+deb12u4"},  // arm64 patch: no
      {"tzdata", "all", "2024a-0+deb12u1"},  // all patch for an all package: yes
      {"libfoo-doc", "amd64", "1.0"},        // all patch for an amd64 package: yes
      {"libbar", "amd64", "1.0"},            // i386 patch, amd64 installed: no
      {"libbar", "i386", "1.0"},             // multi-arch: the i386 copy: yes
      {"dpkg", "amd64", "1.21.22"},
  });
  const auto result = index.Evaluate(inventory, "debian-12");
  EXPECT_EQ(Ids(result), (Ids_{"docs-all", "libbar-i386", "tzdata-all"}));
  EXPECT_EQ(result[0].architecture, "amd64");
  EXPECT_EQ(result[0].patch_architecture, "all");
  EXPECT_EQ(result[1].architecture, "i386");
}

TEST(ApplicabilityTest, InstalledAllPackageTakesANativeArchitecturePatch) {
  const ApplicabilityIndex index(
      {DebPatch("foo-amd64", "foo", "2.0", "amd64"), DebPatch("bar-i386", "bar", "2.0", "i386")},
      1);
  const auto native = index.Evaluate(
      Installed({{"foo", "all", "1.0"}, {"bar", "all", "1.0"}, {"dpkg", "amd64", "1.21.22"}}), "");
  EXPECT_EQ(Ids(native), (Ids_{"foo-amd64"}));
  // Without dpkg the native architecture is unknown, so only "all" patches would fit.
  EXPECT_TRUE(index.Evaluate(Installed({{"foo", "all", "1.0"}}), "").empty());
}

TEST(ApplicabilityTest, NewestOfSeveralWinsWhateverTheCatalogOrder) {
  const std::vector<bundler::Patch> patches = {
      DebPatch("openssl-u2", "openssl", "3.0.11-1~deb12u2"),
      DebPatch("openssl-u10", "openssl", "3.0.15-1~deb12u1"),
      DebPatch("openssl-u1", "openssl", "3.0.11-1~deb12u1"),
      DebPatch("openssl-all-old", "openssl", "3.0.9-1", "all"),
  };
  const ApplicabilityIndex index(patches, 1);
  auto result = index.Evaluate(Installed({{"openssl", "amd64", "3.0.9-1"}}), "");
  ASSERT_EQ(result.size(), 1u);
  EXPECT_EQ(result[0].patch_id, "openssl-u10");
  EXPECT_EQ(result[0].patch_version, "3.0.15-1~deb12u1");
  // Already at the newest: nothing, and no older patch reappears.
  EXPECT_TRUE(index.Evaluate(Installed({{"openssl", "amd64", "3.0.15-1~deb12u1"}}), "").empty());
  // Equal versions: the smaller id decides, so the answer is stable.
  const ApplicabilityIndex tie({DebPatch("b", "x", "2.0"), DebPatch("a", "x", "2.0", "all")}, 1);
  EXPECT_EQ(Ids(tie.Evaluate(Installed({{"x", "amd64", "1.0"}}), "")), (Ids_{"a"}));
}

TEST(ApplicabilityTest, TargetOsFiltersWhenGiven) {
  const ApplicabilityIndex index({DebPatch("bash-12", "bash", "5.2.15-2+b7", "amd64", "debian-12"),
                                  DebPatch("bash-11", "bash", "5.2.99-1", "amd64", "debian-11")},
                                 1);
  const bundler::Inventory inventory = Installed({{"bash", "amd64", "5.2.15-2+b2"}});
  EXPECT_EQ(Ids(index.Evaluate(inventory, "debian-12")), (Ids_{"bash-12"}));
  EXPECT_EQ(Ids(index.Evaluate(inventory, "debian-11")), (Ids_{"bash-11"}));
  EXPECT_TRUE(index.Evaluate(inventory, "ubuntu-22.04").empty());
  // No target: every OS's patches count and the newest wins.
  EXPECT_EQ(Ids(index.Evaluate(inventory, "")), (Ids_{"bash-11"}));
}

TEST(ApplicabilityTest, FilePatchesAreNeverOfferedAndResultsSortedById) {
  bundler::Patch file = DebPatch("a-file", "curl", "99");
  file.kind = "file";
  const ApplicabilityIndex index(
      {DebPatch("z-curl", "curl", "8.0"), file, DebPatch("m-zlib", "zlib1g", "1:1.3"),
       DebPatch("b-absent", "not-installed", "1.0")},
      4);
  EXPECT_EQ(index.size(), 3u);
  EXPECT_EQ(index.catalog_version(), 4);
  const auto result = index.Evaluate(
      Installed({{"curl", "amd64", "7.0"}, {"zlib1g", "amd64", "1:1.2.13.dfsg-1"}}), "");
  EXPECT_EQ(Ids(result), (Ids_{"m-zlib", "z-curl"}));
}

TEST(ApplicabilityTest, ScriptPatchesApplyToEveryEndpointOfTheirTargetOs) {
  bundler::Patch script = DebPatch("hotfix-1", "", "1");
  script.kind = "script";
  script.target_os = "debian-12";
  const ApplicabilityIndex index({DebPatch("z-curl", "curl", "8.0"), script}, 1);
  EXPECT_EQ(index.size(), 2u);
  // No installed package is needed: a script patch is not decided by dpkg versions.
  const auto debian = index.Evaluate(bundler::Inventory{}, "debian-12");
  ASSERT_EQ(Ids(debian), (Ids_{"hotfix-1"}));
  EXPECT_EQ(debian.front().package, "hotfix-1");  // no package name: the id stands in
  EXPECT_EQ(debian.front().installed_version, "");
  EXPECT_TRUE(index.Evaluate(bundler::Inventory{}, "ubuntu-22.04").empty());
  EXPECT_EQ(Ids(index.Evaluate(Installed({{"curl", "amd64", "7.0"}}), "")),
            (Ids_{"hotfix-1", "z-curl"}));
}

TEST(ApplicabilityTest, EmptyCatalogOrInventoryGivesNothing) {
  const ApplicabilityIndex empty({}, 1);
  EXPECT_TRUE(empty.Evaluate(Installed({{"curl", "amd64", "7.0"}}), "").empty());
  const ApplicabilityIndex index({DebPatch("c", "curl", "8.0")}, 1);
  EXPECT_TRUE(index.Evaluate(bundler::Inventory{}, "").empty());
}

class ApplicabilityCacheTest : public ::testing::Test {
 protected:
  const bundler::Inventory first_ = Installed({{"curl", "amd64", "7.0"}, {"bash", "amd64", "5.0"}});
  const bundler::Inventory second_ =
      Installed({{"curl", "amd64", "9.0"}, {"bash", "amd64", "5.0"}});
  const std::string first_hash_ = bundler::InventoryHash(first_);
  const std::string second_hash_ = bundler::InventoryHash(second_);
};

TEST_F(ApplicabilityCacheTest, CountsHitsAndMissesPerDistinctInventory) {
  const ApplicabilityIndex index({DebPatch("curl-8", "curl", "8.0")}, 1);
  ApplicabilityCache cache;
  for (int endpoint = 0; endpoint < 100; ++endpoint) {
    const bool odd = endpoint % 2 == 1;
    const auto result =
        cache.Get(index, odd ? second_hash_ : first_hash_, odd ? &second_ : &first_, "debian-12");
    ASSERT_NE(result, nullptr);
    EXPECT_EQ(result->size(), odd ? 0u : 1u);
  }
  EXPECT_EQ(cache.misses(), 2u);
  EXPECT_EQ(cache.evaluations(), 2u);
  EXPECT_EQ(cache.hits(), 98u);
  EXPECT_EQ(cache.size(), 2u);
  // By hash alone once cached; a different target_os is a different key.
  EXPECT_NE(cache.Get(index, first_hash_, nullptr, "debian-12"), nullptr);
  EXPECT_EQ(cache.Get(index, first_hash_, nullptr, "debian-11"), nullptr);
  EXPECT_EQ(cache.hits(), 99u);
  EXPECT_EQ(cache.misses(), 3u);
  EXPECT_EQ(cache.evaluations(), 2u);
}

TEST_F(ApplicabilityCacheTest, SameAnswerObjectIsShared) {
  const ApplicabilityIndex index({DebPatch("curl-8", "curl", "8.0")}, 1);
  ApplicabilityCache cache;
  const auto a = cache.Get(index, first_hash_, &first_, "");
  const auto b = cache.Get(index, first_hash_, &first_, "");
  EXPECT_EQ(a.get(), b.get());
  EXPECT_EQ(*a, index.Evaluate(first_, ""));
}

TEST_F(ApplicabilityCacheTest, NewCatalogVersionInvalidates) {
  const ApplicabilityIndex v1({DebPatch("curl-8", "curl", "8.0")}, 1);
  const ApplicabilityIndex v2({DebPatch("curl-10", "curl", "10.0")}, 2);
  ApplicabilityCache cache;
  EXPECT_EQ(Ids(*cache.Get(v1, first_hash_, &first_, "")), (Ids_{"curl-8"}));
  EXPECT_EQ(Ids(*cache.Get(v1, second_hash_, &second_, "")), (Ids_{}));
  EXPECT_EQ(cache.size(), 2u);
  // The new version is not answered from the old entries.
  EXPECT_EQ(cache.Get(v2, first_hash_, nullptr, ""), nullptr);
  EXPECT_EQ(Ids(*cache.Get(v2, first_hash_, &first_, "")), (Ids_{"curl-10"}));
  EXPECT_EQ(cache.size(), 1u);  // the version 1 entries are gone
  EXPECT_EQ(Ids(*cache.Get(v2, second_hash_, &second_, "")), (Ids_{"curl-10"}));
  EXPECT_EQ(cache.evaluations(), 4u);
  // A stale index is still answered, but never cached over the newer entries.
  EXPECT_EQ(Ids(*cache.Get(v1, first_hash_, &first_, "")), (Ids_{"curl-8"}));
  EXPECT_EQ(cache.Get(v1, first_hash_, nullptr, ""), nullptr);
  EXPECT_EQ(Ids(*cache.Get(v2, first_hash_, nullptr, "")), (Ids_{"curl-10"}));
  EXPECT_EQ(cache.evaluations(), 5u);
}

TEST_F(ApplicabilityCacheTest, EvictsTheLeastRecentlyUsed) {
  const ApplicabilityIndex index({DebPatch("curl-8", "curl", "8.0")}, 1);
  const bundler::Inventory third = Installed({{"curl", "amd64", "1.0"}});
  const std::string third_hash = bundler::InventoryHash(third);
  ApplicabilityCache cache(2);
  ASSERT_NE(cache.Get(index, first_hash_, &first_, ""), nullptr);
  ASSERT_NE(cache.Get(index, second_hash_, &second_, ""), nullptr);
  ASSERT_NE(cache.Get(index, first_hash_, nullptr, ""), nullptr);  // first is now the newest use
  ASSERT_NE(cache.Get(index, third_hash, &third, ""), nullptr);    // evicts second
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_NE(cache.Get(index, first_hash_, nullptr, ""), nullptr);
  EXPECT_NE(cache.Get(index, third_hash, nullptr, ""), nullptr);
  EXPECT_EQ(cache.Get(index, second_hash_, nullptr, ""), nullptr);
}

TEST_F(ApplicabilityCacheTest, ConcurrentLookupsEvaluateEachKeyOnce) {
  const ApplicabilityIndex index({DebPatch("curl-8", "curl", "8.0")}, 1);
  ApplicabilityCache cache;
  constexpr int kThreads = 8;
  constexpr int kLookups = 2000;
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kLookups; ++i) {
        const bool odd = (i + t) % 2 == 1;
        const auto result =
            cache.Get(index, odd ? second_hash_ : first_hash_, odd ? &second_ : &first_, "");
        if (result == nullptr || result->size() != (odd ? 0u : 1u)) {
          wrong.fetch_add(1);
        }
      }
    });
  }
  for (std::thread& thread : threads) {
    thread.join();
  }
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(cache.evaluations(), 2u);
  EXPECT_EQ(cache.hits() + cache.misses(), size_t{kThreads} * kLookups);
}

}  // namespace
}  // namespace ferry::relay
