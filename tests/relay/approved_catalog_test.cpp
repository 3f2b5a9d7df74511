#include "relay/approved_catalog.hpp"

#include <gtest/gtest.h>

#include "tests/relay/api_fixture.hpp"

namespace ferry::relay {
namespace {

class ApprovedCatalogTest : public RelayApiFixture {};

// After a rotation that replaced the bundle key, bundle 1's signatures no longer meet the newest
// root's bundle threshold. Agents verify under that root, so the relay must not offer bundle 1's
// patches: it offers what the newer bundle signed.
TEST_F(ApprovedCatalogTest, PatchesSignedByRetiredKeysAreWithheld) {
  const crypto::SigningKey new_bundle_key = *crypto::SigningKey::Generate();
  crypto::TrustRoot v2 = *root_;
  v2.version = 2;
  v2.keys.erase(bundle_key_->id());
  v2.keys.emplace(new_bundle_key.id(), new_bundle_key.public_key());
  v2.bundle_role = {{new_bundle_key.id()}, 1};
  v2.text = *crypto::SignTrustRoot(v2, {root_key_});

  const std::string source = dir_ / "source2";
  testing::Run("mkdir -p '" + source + "'");
  testing::MakeDeb(source, "libbaz", "3.1-1", "amd64", 1000);
  bundler::BuildOptions options;
  options.roots = {*root_, v2};
  options.keys = {&new_bundle_key};
  options.channel = "stable";
  options.sequence = 2;
  options.source_dir = source;
  options.now = Now();
  options.out_path = dir_ / "b2.ferry";
  ASSERT_TRUE(bundler::BuildBundle(options).ok());

  auto before = ApprovedCatalog::Load(relay_->db());
  ASSERT_TRUE(before.ok()) << before.error().message();
  EXPECT_NE((*before)->Find(kFoo), nullptr);
  EXPECT_EQ((*before)->withheld(), 0u);

  auto imported = ImportBundle(*relay_, dir_ / "b2.ferry", ImportOptions{"operator:test", {}});
  ASSERT_TRUE(imported.ok()) << imported.error().message();
  Approve({"libbaz_3.1-1_amd64"});

  auto after = ApprovedCatalog::Load(relay_->db());
  ASSERT_TRUE(after.ok()) << after.error().message();
  EXPECT_EQ((*after)->root_version(), 2);
  EXPECT_EQ((*after)->Find(kFoo), nullptr);
  EXPECT_EQ((*after)->withheld(), 1u);
  const OfferedPatch* baz = (*after)->Find("libbaz_3.1-1_amd64");
  ASSERT_NE(baz, nullptr);
  EXPECT_EQ(baz->manifest_ref, "stable/2");
}

}  // namespace
}  // namespace ferry::relay
