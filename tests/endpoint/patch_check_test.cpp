// The agent's own verification of what a relay offers, fed real manifests signed by the bundler
// library (BuildBundle over real .deb files) and tampered variants of them.

#include "endpoint/patch_check.hpp"

#include <gtest/gtest.h>

#include "bundler/build.hpp"
#include "bundler/bundle_reader.hpp"
#include "crypto/envelope.hpp"
#include "tests/support/testing.hpp"

namespace ferry::endpoint {
namespace {

constexpr int64_t kDay = 86400;

void ExpectInvalid(const Status& status, const std::string& part) {
  ASSERT_FALSE(status.ok()) << "accepted; expected: " << part;
  EXPECT_EQ(status.error().kind(), ErrorKind::kInvalid) << status.error().message();
  EXPECT_NE(status.error().message().find(part), std::string::npos) << status.error().message();
}

template <typename T>
void ExpectInvalid(const Result<T>& result, const std::string& part) {
  ASSERT_FALSE(result.ok()) << "accepted; expected: " << part;
  EXPECT_EQ(result.error().kind(), ErrorKind::kInvalid) << result.error().message();
  EXPECT_NE(result.error().message().find(part), std::string::npos) << result.error().message();
}

class PatchCheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    now_ = Now();
    root_ = MakeRoot(1, {&root_key_}, {&bundle_key_}, now_ + 365 * kDay);
    testing::Run("mkdir -p '" + source_ + "'");
    deb_path_ = testing::MakeDeb(source_, "libfoo1", "1.2-1", "amd64", 5000);
    manifest_text_ = Build(root_, {&bundle_key_}, 30 * kDay, "b1.ferry");
    auto manifest = VerifyManifest(manifest_text_, root_, now_);
    ASSERT_TRUE(manifest.ok()) << manifest.error().message();
    manifest_ = *manifest;
    ASSERT_EQ(manifest_.patches.size(), 1u);
  }

  crypto::TrustRoot MakeRoot(int64_t version, const std::vector<const crypto::SigningKey*>& roots,
                             const std::vector<const crypto::SigningKey*>& bundles,
                             UnixTime expires) {
    crypto::TrustRoot root;
    root.version = version;
    root.expires = expires;
    for (const auto* key : roots) {
      root.keys.emplace(key->id(), key->public_key());
      root.root_role.keyids.push_back(key->id());
    }
    for (const auto* key : bundles) {
      root.keys.emplace(key->id(), key->public_key());
      root.bundle_role.keyids.push_back(key->id());
    }
    root.root_role.threshold = 1;
    root.bundle_role.threshold = 1;
    return root;
  }

  // Builds a bundle over source_ and returns its manifest.json exactly as stored.
  std::string Build(crypto::TrustRoot& root, const std::vector<const crypto::SigningKey*>& keys,
                    int64_t expires_in, const std::string& name) {
    if (root.text.empty()) {
      root.text = *crypto::SignTrustRoot(root, {&root_key_});
    }
    bundler::BuildOptions options;
    options.roots = {root};
    options.keys = keys;
    options.channel = "stable";
    options.sequence = 1;
    options.source_dir = source_;
    options.now = now_ - 60;
    options.expires_in = expires_in;
    options.out_path = dir_ / name;
    auto built = bundler::BuildBundle(options);
    EXPECT_TRUE(built.ok()) << built.error().message();
    auto head = bundler::ReadBundleHead(dir_ / name);
    EXPECT_TRUE(head.ok());
    return head->manifest_text;
  }

  // The manifest re-signed by `keys` after `change` edited its signed JSON.
  std::string Resigned(const std::function<void(json::Object&)>& change,
                       const std::vector<const crypto::SigningKey*>& keys) {
    auto envelope = crypto::ParseEnvelope(manifest_text_, "manifest");
    json::Value value = envelope->signed_value;
    change(value.as_object());
    return *crypto::SignEnvelope(value, keys);
  }

  OfferedPatch Offered() const {
    const bundler::Patch& patch = manifest_.patches.front();
    return OfferedPatch{
        patch.id,       patch.kind,   patch.package, patch.version,        patch.architecture,
        patch.severity, patch.reboot, "stable/1",    patch.payload.sha256, patch.payload.size};
  }

  testing::TempDir dir_;
  std::string source_ = dir_ / "source";
  UnixTime now_ = 0;
  crypto::SigningKey root_key_ = *crypto::SigningKey::Generate();
  crypto::SigningKey bundle_key_ = *crypto::SigningKey::Generate();
  crypto::SigningKey other_key_ = *crypto::SigningKey::Generate();
  crypto::TrustRoot root_;
  std::string deb_path_;
  std::string manifest_text_;
  bundler::Manifest manifest_;
};

TEST_F(PatchCheckTest, AcceptsTheBundlersManifest) {
  EXPECT_EQ(manifest_.channel, "stable");
  EXPECT_EQ(manifest_.patches.front().package, "libfoo1");
  EXPECT_EQ(manifest_.patches.front().version, "1.2-1");
  auto matched = MatchOfferedPatch(Offered(), manifest_, "debian-12");
  ASSERT_TRUE(matched.ok()) << matched.error().message();
  EXPECT_EQ((*matched)->id, manifest_.patches.front().id);
}

TEST_F(PatchCheckTest, RefusesAnEditedManifestWhateverTheField) {
  // The relay changes the version it offers inside the manifest without the signers' keys.
  std::string edited = manifest_text_;
  const size_t at = edited.find("\"1.2-1\"");
  ASSERT_NE(at, std::string::npos);
  edited.replace(at, 7, "\"9.9-9\"");
  ExpectInvalid(VerifyManifest(edited, root_, now_), "signature threshold not met");

  // Re-signed with a key the root does not name for bundles.
  ExpectInvalid(VerifyManifest(Resigned([](json::Object&) {}, {&other_key_}), root_, now_),
                "signature threshold not met");
  // The root key is not a bundle key either.
  ExpectInvalid(VerifyManifest(Resigned([](json::Object&) {}, {&root_key_}), root_, now_),
                "signature threshold not met");
  // No signatures at all.
  auto envelope = crypto::ParseEnvelope(manifest_text_, "manifest");
  const std::string unsigned_text = *json::Canonical(
      json::Object{{"signatures", json::Array{}}, {"signed", envelope->signed_value}});
  ExpectInvalid(VerifyManifest(unsigned_text, root_, now_), "signature threshold not met");
}

TEST_F(PatchCheckTest, RefusesExpiredManifestsAndRoots) {
  std::string short_lived = Build(root_, {&bundle_key_}, 3600, "short.ferry");
  ASSERT_TRUE(VerifyManifest(short_lived, root_, now_).ok());
  ExpectInvalid(VerifyManifest(short_lived, root_, now_ + 7200), "expired at");

  crypto::TrustRoot expired = root_;
  expired.expires = now_ - 1;
  ExpectInvalid(VerifyManifest(manifest_text_, expired, now_), "newest trusted root");
}

TEST_F(PatchCheckTest, RefusesManifestsNamingANewerRootOrTheWrongType) {
  const std::string ahead =
      Resigned([](json::Object& signed_value) { signed_value["root_version"] = int64_t{2}; },
               {&bundle_key_});
  ExpectInvalid(VerifyManifest(ahead, root_, now_), "trusts only up to 1");

  // A signed root passed off as a manifest.
  ExpectInvalid(VerifyManifest(root_.text, root_, now_), "type");
  ExpectInvalid(VerifyManifest("{", root_, now_), "manifest");
  ExpectInvalid(VerifyManifest(std::string(bundler::kMaxManifestSize + 1, ' '), root_, now_),
                "16 MiB");
}

TEST_F(PatchCheckTest, ARotationThatDropsAKeyStopsItsManifests) {
  crypto::SigningKey new_bundle = *crypto::SigningKey::Generate();
  crypto::TrustRoot v2 = MakeRoot(2, {&root_key_}, {&new_bundle}, now_ + 365 * kDay);
  v2.text = *crypto::SignTrustRoot(v2, {&root_key_});
  auto accepted = crypto::VerifyRootUpdate(root_, v2.text);
  ASSERT_TRUE(accepted.ok()) << accepted.error().message();
  // The old manifest, signed by the removed key, no longer verifies under root v2.
  ExpectInvalid(VerifyManifest(manifest_text_, *accepted, now_), "signature threshold not met");
  // A v2 not signed by v1's root keys is refused outright.
  crypto::SigningKey usurper = *crypto::SigningKey::Generate();
  crypto::TrustRoot forged = MakeRoot(2, {&usurper}, {&usurper}, now_ + 365 * kDay);
  forged.text = *crypto::SignTrustRoot(forged, {&usurper});
  EXPECT_FALSE(crypto::VerifyRootUpdate(root_, forged.text).ok());
}

TEST_F(PatchCheckTest, TheRelaysSummaryMustAgreeWithTheSignedPatch) {
  struct Case {
    const char* what;
    std::function<void(OfferedPatch&)> change;
  };
  const Case cases[] = {
      {"not in the signed manifest", [](OfferedPatch& p) { p.id = "other_1_amd64"; }},
      {"kind", [](OfferedPatch& p) { p.kind = "script"; }},
      {"package", [](OfferedPatch& p) { p.package = "libbar1"; }},
      {"version", [](OfferedPatch& p) { p.version = "1.2-2"; }},
      {"architecture", [](OfferedPatch& p) { p.architecture = "all"; }},
      {"payload SHA-256", [](OfferedPatch& p) { p.payload_sha256[0] ^= 1; }},
      {"payload size", [](OfferedPatch& p) { ++p.payload_size; }},
  };
  for (const Case& c : cases) {
    OfferedPatch offered = Offered();
    c.change(offered);
    ExpectInvalid(MatchOfferedPatch(offered, manifest_, "debian-12"), c.what);
  }
  ExpectInvalid(MatchOfferedPatch(Offered(), manifest_, "debian-11"), "signed for debian-12");
}

TEST_F(PatchCheckTest, DebControlMustNameTheSignedPackage) {
  auto control = bundler::ReadDebControl(deb_path_);
  ASSERT_TRUE(control.ok());
  const bundler::Patch& patch = manifest_.patches.front();
  EXPECT_TRUE(CheckDebControl(*control, patch).ok());
  const std::string other = testing::MakeDeb(dir_.path(), "libfoo1", "1.3-1", "amd64", 10);
  ExpectInvalid(CheckDebControl(*bundler::ReadDebControl(other), patch), "Version");
  const std::string renamed = testing::MakeDeb(dir_.path(), "libevil", "1.2-1", "amd64", 10);
  ExpectInvalid(CheckDebControl(*bundler::ReadDebControl(renamed), patch), "Package");
  const std::string arch = testing::MakeDeb(dir_.path(), "libfoo1", "1.2-1", "i386", 10);
  ExpectInvalid(CheckDebControl(*bundler::ReadDebControl(arch), patch), "Architecture");
}

TEST_F(PatchCheckTest, RefusesDowngradesAndTheSameVersion) {
  const bundler::Patch& patch = manifest_.patches.front();  // libfoo1 1.2-1 amd64
  const auto inventory = [](std::vector<bundler::InstalledPackage> packages) {
    return *bundler::MakeInventory(std::move(packages));
  };
  EXPECT_TRUE(CheckUpgrade(patch, inventory({})).ok());
  EXPECT_TRUE(CheckUpgrade(patch, inventory({{"libfoo1", "amd64", "1.1-1"}})).ok());
  EXPECT_TRUE(CheckUpgrade(patch, inventory({{"libfoo1", "amd64", "1.2~rc1-1"}})).ok());
  // Another architecture's copy is another package for dpkg.
  EXPECT_TRUE(CheckUpgrade(patch, inventory({{"libfoo1", "i386", "2.0-1"}})).ok());
  ExpectInvalid(CheckUpgrade(patch, inventory({{"libfoo1", "amd64", "1.2-1"}})),
                "already installed");
  ExpectInvalid(CheckUpgrade(patch, inventory({{"libfoo1", "amd64", "1:0.1-1"}})),
                "would downgrade libfoo1 from 1:0.1-1 to 1.2-1");
  ExpectInvalid(CheckUpgrade(patch, inventory({{"libfoo1", "all", "1.3-1"}})), "downgrade");
}

TEST_F(PatchCheckTest, PayloadFilesAreCheckedBySizeThenHash) {
  const bundler::PayloadRef& payload = manifest_.patches.front().payload;
  EXPECT_TRUE(CheckPayloadFile(deb_path_, payload).ok());
  std::string bytes = testing::ReadAll(deb_path_);
  bytes[bytes.size() / 2] ^= 0x20;
  testing::WriteAll(dir_ / "flipped.deb", bytes);
  ExpectInvalid(CheckPayloadFile(dir_ / "flipped.deb", payload), "does not match its SHA-256");
  testing::WriteAll(dir_ / "short.deb", bytes.substr(1));
  ExpectInvalid(CheckPayloadFile(dir_ / "short.deb", payload), "the signed manifest says");
  auto missing = CheckPayloadFile(dir_ / "missing.deb", payload);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind(), ErrorKind::kIo);
}

TEST_F(PatchCheckTest, EnrollmentRootMustBeSelfSignedAndCurrent) {
  auto good = CheckEnrollmentRoot(root_.text, "root.json", now_);
  ASSERT_TRUE(good.ok()) << good.error().message();
  EXPECT_EQ(good->version, 1);
  ExpectInvalid(CheckEnrollmentRoot(root_.text, "root.json", root_.expires), "expired at");
  // Signed by a key outside its own root role.
  crypto::TrustRoot stranger = MakeRoot(1, {&root_key_}, {&bundle_key_}, now_ + kDay);
  const std::string not_self_signed = *crypto::SignTrustRoot(stranger, {&other_key_});
  ExpectInvalid(CheckEnrollmentRoot(not_self_signed, "root.json", now_), "root.json");
  ExpectInvalid(CheckEnrollmentRoot(manifest_text_, "root.json", now_), "root.json");
  ExpectInvalid(
      CheckEnrollmentRoot(std::string(crypto::kMaxTrustRootBytes + 1, ' '), "root.json", now_),
      "1 MiB");
}

}  // namespace
}  // namespace ferry::endpoint
