// BuildBundle end to end: sources of every kind, advisories, deltas and root rotation, each checked
// by reading the written bundle back through the verifier.

#include "bundler/build.hpp"

#include <gtest/gtest.h>

#include <map>

#include "bundler/bundle_reader.hpp"
#include "crypto/hash.hpp"
#include "tests/support/testing.hpp"

namespace ferry::bundler {
namespace {

constexpr UnixTime kNow = 1795000000;

class BuildTest : public ::testing::Test {
 protected:
  BuildTest() {
    root_.version = 1;
    root_.expires = kNow + 365 * 86400;
    root_.keys.emplace(root_key_.id(), root_key_.public_key());
    root_.keys.emplace(bundle_key_.id(), bundle_key_.public_key());
    root_.root_role = {{root_key_.id()}, 1};
    root_.bundle_role = {{bundle_key_.id()}, 1};
    root_.text = *crypto::SignTrustRoot(root_, {&root_key_});
    testing::Run("mkdir -p '" + source_ + "'");
  }

  BuildOptions Options(int64_t sequence, const std::string& out) {
    BuildOptions options;
    options.roots = {root_};
    options.keys = {&bundle_key_};
    options.channel = "stable";
    options.sequence = sequence;
    options.source_dir = source_;
    options.now = kNow;
    options.out_path = dir_ / out;
    return options;
  }

  Result<VerifiedBundle> Verify(const std::string& name, const crypto::TrustRoot& pinned) {
    VerifyOptions options;
    options.now = kNow + 60;
    return VerifyBundle(dir_ / name, pinned, options);
  }

  std::map<std::string, Patch> PatchesById(const Manifest& manifest) {
    std::map<std::string, Patch> out;
    for (const Patch& patch : manifest.patches) out[patch.id] = patch;
    return out;
  }

  testing::TempDir dir_;
  std::string source_ = dir_ / "source";
  crypto::SigningKey root_key_ = *crypto::SigningKey::Generate();
  crypto::SigningKey bundle_key_ = *crypto::SigningKey::Generate();
  crypto::TrustRoot root_;
};

TEST_F(BuildTest, ReadsNamesFromControlFilesNotFileNames) {
  const std::string deb = testing::MakeDeb(source_, "zlib1g", "1:1.2.13.dfsg-1", "amd64");
  testing::Run("mv '" + deb + "' '" + source_ + "/misleading_9.9_arm64.deb'");
  auto built = BuildBundle(Options(1, "b.ferry"));
  ASSERT_TRUE(built.ok()) << built.error().message();
  const auto patches = PatchesById(built->manifest);
  ASSERT_TRUE(patches.count("zlib1g_1:1.2.13.dfsg-1_amd64"));
  const Patch& patch = patches.at("zlib1g_1:1.2.13.dfsg-1_amd64");
  EXPECT_EQ(patch.architecture, "amd64");
  EXPECT_EQ(patch.payload.file_name, "misleading_9.9_arm64.deb");
  EXPECT_EQ(patch.payload.sha256, *crypto::Sha256OfFile(source_ + "/misleading_9.9_arm64.deb"));
  EXPECT_TRUE(Verify("b.ferry", root_).ok());
}

TEST_F(BuildTest, AttachesAdvisoriesToTheVersionsThatFixThem) {
  testing::MakeDeb(source_, "openssl", "3.0.11-1~deb12u2");
  testing::MakeDeb(source_, "curl", "7.88.1-10+deb12u4");
  const std::string advisories = dir_ / "osv";
  testing::Run("mkdir -p '" + advisories + "'");
  testing::WriteAll(advisories + "/DSA-1.json", R"({
    "id": "DSA-1", "aliases": ["CVE-2023-5678", "CVE-2023-1111"], "published": "2023-11-06T10:00:00Z",
    "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
    "affected": [{"package": {"ecosystem": "Debian:12", "name": "openssl"},
      "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.0.11-1~deb12u2"}]}]}]})");
  // Fixed only in a later curl than the one we carry: must not attach.
  testing::WriteAll(advisories + "/DSA-2.json", R"({
    "id": "DSA-2", "aliases": ["CVE-2024-2222"], "published": "2024-01-01T00:00:00Z",
    "affected": [{"package": {"ecosystem": "Debian:12", "name": "curl"},
      "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "7.88.1-10+deb12u5"}]}]}]})");
  BuildOptions options = Options(1, "b.ferry");
  options.advisories_dir = advisories;
  auto built = BuildBundle(options);
  ASSERT_TRUE(built.ok()) << built.error().message();
  const auto patches = PatchesById(built->manifest);
  const Patch& openssl = patches.at("openssl_3.0.11-1~deb12u2_amd64");
  EXPECT_EQ(openssl.cves, (std::vector<std::string>{"CVE-2023-1111", "CVE-2023-5678"}));
  EXPECT_EQ(openssl.severity, "critical");
  EXPECT_EQ(openssl.cvss, "9.8");
  ASSERT_TRUE(openssl.released.has_value());
  EXPECT_EQ(FormatTime(*openssl.released), "2023-11-06T10:00:00Z");
  const Patch& curl = patches.at("curl_7.88.1-10+deb12u4_amd64");
  EXPECT_TRUE(curl.cves.empty());
  EXPECT_EQ(curl.severity, "unknown");
}

TEST_F(BuildTest, NewerVersionsSupersedeOlderOnes) {
  testing::MakeDeb(source_, "bash", "5.2.15-2");
  testing::MakeDeb(source_, "bash", "5.2.15-2+b2");
  testing::MakeDeb(source_, "bash", "5.2.15-2+b2", "arm64");
  auto built = BuildBundle(Options(1, "b.ferry"));
  ASSERT_TRUE(built.ok()) << built.error().message();
  const auto patches = PatchesById(built->manifest);
  EXPECT_EQ(patches.at("bash_5.2.15-2+b2_amd64").supersedes,
            std::vector<std::string>{"bash_5.2.15-2_amd64"});
  EXPECT_TRUE(patches.at("bash_5.2.15-2_amd64").supersedes.empty());
  EXPECT_TRUE(patches.at("bash_5.2.15-2+b2_arm64").supersedes.empty());
}

TEST_F(BuildTest, ReadsALocalAptRepository) {
  const std::string repo = source_;
  testing::Run("mkdir -p '" + repo + "/pool/main/h' '" + repo + "/dists/bookworm/main/binary-amd64'");
  testing::MakeDeb(repo + "/pool/main/h", "hello", "2.10-3");
  testing::MakeDeb(repo + "/pool/main/h", "hello", "2.10-2");
  const auto scanned = testing::Run("cd '" + repo + "' && dpkg-scanpackages --multiversion pool " +
                                    "> dists/bookworm/main/binary-amd64/Packages");
  ASSERT_EQ(scanned.exit_code, 0) << scanned.err;
  auto built = BuildBundle(Options(1, "apt.ferry"));
  ASSERT_TRUE(built.ok()) << built.error().message();
  const auto patches = PatchesById(built->manifest);
  ASSERT_EQ(patches.size(), 2u);
  EXPECT_EQ(patches.at("hello_2.10-3_amd64").supersedes,
            std::vector<std::string>{"hello_2.10-2_amd64"});
  EXPECT_TRUE(Verify("apt.ferry", root_).ok());
}

TEST_F(BuildTest, RefusesAnAptRepositoryWhosePoolDisagreesWithItsIndex) {
  testing::Run("mkdir -p '" + source_ + "/pool' '" + source_ + "/dists/stable/main/binary-all'");
  const std::string deb = testing::MakeDeb(source_ + "/pool", "tiny", "1.0", "all");
  testing::Run("cd '" + source_ + "' && dpkg-scanpackages pool > dists/stable/main/binary-all/Packages");
  // The mirror's file changes after the index was written: same size, other bytes.
  std::string bytes = testing::ReadAll(deb);
  bytes[bytes.size() - 10] ^= 1;
  testing::WriteAll(deb, bytes);
  auto built = BuildBundle(Options(1, "bad.ferry"));
  ASSERT_FALSE(built.ok());
  EXPECT_NE(built.error().message().find("differs from the APT index"), std::string::npos)
      << built.error().message();
  EXPECT_FALSE(testing::Run("test -e '" + (dir_ / "bad.ferry") + "'").exit_code == 0);
}

TEST_F(BuildTest, CarriesGenericInstallers) {
  testing::WriteAll(source_ + "/agent.sh", "#!/bin/sh\nexit 0\n");
  testing::WriteAll(source_ + "/agent.payload.json", R"({"id": "acme-agent-7.2", "kind": "script",
    "file": "agent.sh", "target_os": "debian-12", "arguments": ["--quiet"],
    "success_exit_codes": [0], "reboot_exit_codes": [3010 ]})");
  auto built = BuildBundle(Options(1, "g.ferry"));
  // 3010 is outside 0..255, which a POSIX exit status can never be.
  ASSERT_FALSE(built.ok());
  testing::WriteAll(source_ + "/agent.payload.json", R"({"id": "acme-agent-7.2", "kind": "script",
    "file": "agent.sh", "target_os": "debian-12", "arguments": ["--quiet"],
    "success_exit_codes": [0], "reboot_exit_codes": [100]})");
  built = BuildBundle(Options(1, "g.ferry"));
  ASSERT_TRUE(built.ok()) << built.error().message();
  const Patch& patch = built->manifest.patches.at(0);
  EXPECT_EQ(patch.kind, "script");
  ASSERT_TRUE(patch.installer.has_value());
  EXPECT_EQ(patch.installer->arguments, std::vector<std::string>{"--quiet"});
  EXPECT_EQ(patch.installer->reboot_exit_codes, std::vector<int64_t>{100});
  EXPECT_TRUE(Verify("g.ferry", root_).ok());
}

TEST_F(BuildTest, DeltaLeavesOutWhatTheBaseCarried) {
  testing::MakeDeb(source_, "alpha", "1.0", "amd64", 50000);
  testing::MakeDeb(source_, "beta", "1.0", "amd64", 50000);
  ASSERT_TRUE(BuildBundle(Options(1, "full.ferry")).ok());
  testing::MakeDeb(source_, "beta", "1.1", "amd64", 60000);
  BuildOptions options = Options(2, "delta.ferry");
  options.base_path = dir_ / "full.ferry";
  auto built = BuildBundle(options);
  ASSERT_TRUE(built.ok()) << built.error().message();
  EXPECT_EQ(built->manifest.base_sequence, 1);
  EXPECT_EQ(built->manifest.omitted.size(), 2u);
  EXPECT_EQ(built->carried_payloads, 1u);
  auto verified = Verify("delta.ferry", root_);
  ASSERT_TRUE(verified.ok()) << verified.error().message();
  EXPECT_EQ(verified->payload_count, 1u);
  EXPECT_TRUE(verified->head.manifest.is_delta());

  BuildOptions wrong_channel = Options(3, "other.ferry");
  wrong_channel.channel = "testing";
  wrong_channel.base_path = dir_ / "full.ferry";
  auto refused = BuildBundle(wrong_channel);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().kind(), ErrorKind::kUsage);
}

TEST_F(BuildTest, BundlesCarryARotatedRootToSitesPinnedAtTheOldOne) {
  testing::MakeDeb(source_, "gamma", "1.0");
  const crypto::SigningKey new_bundle_key = *crypto::SigningKey::Generate();
  crypto::TrustRoot next = root_;
  next.version = 2;
  next.keys.erase(bundle_key_.id());
  next.keys.emplace(new_bundle_key.id(), new_bundle_key.public_key());
  next.bundle_role = {{new_bundle_key.id()}, 1};
  next.text = *crypto::SignTrustRoot(next, {&root_key_});
  next = *crypto::ParseTrustRoot(next.text);

  BuildOptions options = Options(1, "rotated.ferry");
  options.roots = {next, root_};
  options.keys = {&new_bundle_key};
  auto built = BuildBundle(options);
  ASSERT_TRUE(built.ok()) << built.error().message();
  EXPECT_EQ(built->manifest.root_version, 2);
  auto verified = Verify("rotated.ferry", root_);
  ASSERT_TRUE(verified.ok()) << verified.error().message();
  EXPECT_EQ(verified->root.version, 2);

  // The retired key can no longer sign for the channel.
  options.keys = {&bundle_key_};
  options.out_path = dir_ / "retired.ferry";
  auto refused = BuildBundle(options);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message().find("is not a bundle key of root version 2"),
            std::string::npos);
}

TEST_F(BuildTest, FailedBuildsLeaveNoOutput) {
  testing::WriteAll(source_ + "/broken.deb", "this is not a debian package");
  auto built = BuildBundle(Options(1, "never.ferry"));
  ASSERT_FALSE(built.ok());
  EXPECT_NE(built.error().message().find("broken.deb"), std::string::npos);
  EXPECT_NE(testing::Run("ls '" + dir_.path() + "' | grep -q ferry").exit_code, 0);
}

}  // namespace
}  // namespace ferry::bundler
