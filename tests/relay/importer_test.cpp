// ImportBundle against hostile and out-of-order input: every refusal leaves the store exactly as
// it was, plus the one audit event that says why.

#include "relay/importer.hpp"

#include <gtest/gtest.h>

#include "bundler/build.hpp"
#include "bundler/bundle_reader.hpp"
#include "bundler/tar_reader.hpp"
#include "crypto/envelope.hpp"
#include "relay/catalog.hpp"
#include "relay/event_log.hpp"
#include "relay/fsck.hpp"
#include "relay/init.hpp"
#include "tests/support/testing.hpp"

namespace ferry::relay {
namespace {

class ImporterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_.version = 1;
    root_.expires = Now() + 365 * 86400;
    root_.keys.emplace(root_key_.id(), root_key_.public_key());
    root_.keys.emplace(bundle_key_.id(), bundle_key_.public_key());
    root_.root_role = {{root_key_.id()}, 1};
    root_.bundle_role = {{bundle_key_.id()}, 1};
    root_.text = *crypto::SignTrustRoot(root_, {&root_key_});
    testing::WriteAll(dir_ / "root.json", root_.text);
    testing::Run("mkdir -p '" + source_ + "'");
    testing::MakeDeb(source_, "libfoo1", "1.0-1", "amd64", 30000);
    testing::MakeDeb(source_, "bar", "2.0-1", "all", 20000);
    InitOptions init;
    init.data_dir = dir_ / "relay";
    init.root_path = dir_ / "root.json";
    init.site_id = "st-mary";
    auto report = InitializeRelay(init);
    ASSERT_TRUE(report.ok()) << report.error().message();
    auto relay = Relay::Open(init.data_dir, Relay::Access::kReadWrite);
    ASSERT_TRUE(relay.ok()) << relay.error().message();
    relay_ = std::make_unique<Relay>(std::move(*relay));
  }

  bundler::BuildOptions Options(int64_t sequence, const std::string& out) {
    bundler::BuildOptions options;
    options.roots = {root_};
    options.keys = {&bundle_key_};
    options.channel = "stable";
    options.sequence = sequence;
    options.source_dir = source_;
    options.now = Now();
    options.out_path = dir_ / out;
    return options;
  }

  std::string Build(int64_t sequence, const std::string& out) {
    auto built = bundler::BuildBundle(Options(sequence, out));
    EXPECT_TRUE(built.ok()) << built.error().message();
    return dir_ / out;
  }

  Result<ImportReport> Import(const std::string& path) {
    return ImportBundle(*relay_, path, ImportOptions{.actor = "operator:test"});
  }

  // Everything a refused import must leave untouched: payload files, staging and the catalog.
  std::string StoreSnapshot() {
    std::string snapshot = testing::Run("cd '" + relay_->dir().root +
                                        "' && find payloads staging -type f | sort")
                               .out;
    const auto bundles = ListBundles(relay_->db());
    for (const BundleRecord& b : *bundles) {
      snapshot += b.channel + "/" + std::to_string(b.sequence) + " " + b.manifest_sha256 + "\n";
    }
    const auto patches = ListPatches(relay_->db());
    for (const CatalogPatch& p : *patches) snapshot += p.patch.id + "\n";
    snapshot += *relay_->GetMeta(kMetaRatchet).value();
    snapshot += std::to_string(relay_->TrustedRoot()->version);
    return snapshot;
  }

  // Imports `path`, expecting a refusal naming `cause`, no change to the store and exactly one
  // new event, of type import.rejected, that carries the reason.
  void ExpectRefusedWithoutTrace(const std::string& path, const std::string& cause) {
    const std::string before = StoreSnapshot();
    const int64_t events_before = *EventCount(relay_->db());
    auto result = Import(path);
    ASSERT_FALSE(result.ok()) << "accepted " << path << ", expected: " << cause;
    EXPECT_EQ(result.error().kind(), ErrorKind::kInvalid) << result.error().message();
    EXPECT_NE(result.error().message().find(cause), std::string::npos) << result.error().message();
    EXPECT_EQ(StoreSnapshot(), before);
    auto events = ListEvents(relay_->db(), events_before + 1, 10);
    ASSERT_TRUE(events.ok());
    ASSERT_EQ(events->size(), 1u);
    EXPECT_EQ(events->front().type, "import.rejected");
    EXPECT_NE(events->front().details.at("reason").as_string().find(cause), std::string::npos);
    EXPECT_TRUE(CheckEventLog(relay_->db()).ok());
  }

  std::string Tampered(const std::string& path, const std::string& name,
                       const std::function<void(std::string&)>& change) {
    std::string bytes = testing::ReadAll(path);
    change(bytes);
    testing::WriteAll(dir_ / name, bytes);
    return dir_ / name;
  }

  testing::TempDir dir_;
  std::string source_ = dir_ / "source";
  crypto::SigningKey root_key_ = *crypto::SigningKey::Generate();
  crypto::SigningKey bundle_key_ = *crypto::SigningKey::Generate();
  crypto::TrustRoot root_;
  std::unique_ptr<Relay> relay_;
};

TEST_F(ImporterTest, ImportsVerifiedBytesIntoTheStoreOnce) {
  const std::string path = Build(1, "b1.ferry");
  auto result = Import(path);
  ASSERT_TRUE(result.ok()) << result.error().message();
  EXPECT_FALSE(result->already_present);
  EXPECT_EQ(result->payloads_written, 2u);
  auto patches = ListPatches(relay_->db());
  ASSERT_EQ(patches->size(), 2u);
  for (const CatalogPatch& entry : *patches) {
    const std::string stored = testing::ReadAll(relay_->payloads().PathOf(entry.patch.payload.sha256));
    EXPECT_EQ(crypto::Sha256Of(stored), entry.patch.payload.sha256);
  }
  EXPECT_EQ(*relay_->GetMetaInt(kMetaCatalogVersion, 0), 1);
  auto fsck = CheckRelay(*relay_, {});
  ASSERT_TRUE(fsck.ok());
  EXPECT_TRUE(fsck->ok()) << fsck->faults.front();
  // A second bundle carrying the same payloads stores nothing new.
  auto again = Import(Build(2, "b2.ferry"));
  ASSERT_TRUE(again.ok()) << again.error().message();
  EXPECT_EQ(again->payloads_written, 0u);
  EXPECT_EQ(testing::Run("find '" + relay_->dir().payloads() + "' -type f | wc -l").out, "2\n");
}

TEST_F(ImporterTest, ReimportingTheSameBundleIsANoOp) {
  const std::string path = Build(1, "b1.ferry");
  ASSERT_TRUE(Import(path).ok());
  const std::string before = StoreSnapshot();
  const int64_t events = *EventCount(relay_->db());
  auto again = Import(path);
  ASSERT_TRUE(again.ok()) << again.error().message();
  EXPECT_TRUE(again->already_present);
  EXPECT_EQ(StoreSnapshot(), before);
  EXPECT_EQ(*EventCount(relay_->db()), events);
}

TEST_F(ImporterTest, ReimportingRestoresAPayloadTheStoreLost) {
  const std::string path = Build(1, "b1.ferry");
  ASSERT_TRUE(Import(path).ok());
  const auto patches = ListPatches(relay_->db());
  const std::string lost = relay_->payloads().PathOf(patches->front().patch.payload.sha256);
  ASSERT_EQ(::unlink(lost.c_str()), 0);
  auto fsck = CheckRelay(*relay_, {});
  ASSERT_TRUE(fsck.ok());
  EXPECT_FALSE(fsck->ok());
  auto again = Import(path);
  ASSERT_TRUE(again.ok()) << again.error().message();
  EXPECT_TRUE(again->already_present);
  EXPECT_EQ(again->payloads_written, 1u);
  fsck = CheckRelay(*relay_, {});
  ASSERT_TRUE(fsck.ok());
  EXPECT_TRUE(fsck->ok());
}

TEST_F(ImporterTest, ALaterBundleUpdatesAPatchsMetadata) {
  ASSERT_TRUE(Import(Build(1, "b1.ferry")).ok());
  const std::string advisories = dir_ / "osv";
  testing::Run("mkdir -p '" + advisories + "'");
  testing::WriteAll(advisories + "/DSA-9.json", R"({"id": "DSA-9", "aliases": ["CVE-2026-9999"],
    "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
    "affected": [{"package": {"ecosystem": "Debian:12", "name": "libfoo1"},
      "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.0-1"}]}]}]})");
  bundler::BuildOptions options = Options(2, "b2.ferry");
  options.advisories_dir = advisories;
  ASSERT_TRUE(bundler::BuildBundle(options).ok());
  ASSERT_TRUE(Import(dir_ / "b2.ferry").ok());
  const auto patch = FindPatch(relay_->db(), "libfoo1_1.0-1_amd64");
  ASSERT_TRUE(patch.ok() && patch->has_value());
  EXPECT_EQ((*patch)->severity, "critical");
  EXPECT_EQ((*patch)->cves, std::vector<std::string>{"CVE-2026-9999"});
}

TEST_F(ImporterTest, ADamagedCopyOfAKnownBundleIsStillRefused) {
  const std::string path = Build(1, "b1.ferry");
  ASSERT_TRUE(Import(path).ok());
  const std::string damaged = Tampered(path, "damaged.ferry", [](std::string& b) { b[b.size() - 3000] ^= 1; });
  ExpectRefusedWithoutTrace(damaged, "does not match its SHA-256");
}

TEST_F(ImporterTest, HostileBundlesLeaveNothingButTheirEvent) {
  const std::string good = Build(1, "good.ferry");
  const std::string manifest_flip = Tampered(good, "m.ferry", [](std::string& b) {
    b[b.find("\"channel\":\"stable\"") + 12] = 'X';
  });
  ExpectRefusedWithoutTrace(manifest_flip, "signature threshold not met");
  const std::string payload_flip =
      Tampered(good, "p.ferry", [](std::string& b) { b[b.size() - 5000] ^= 0x10; });
  ExpectRefusedWithoutTrace(payload_flip, "does not match its SHA-256");
  const std::string truncated =
      Tampered(good, "t.ferry", [](std::string& b) { b.resize(b.size() - 20000); });
  ExpectRefusedWithoutTrace(truncated, "t.ferry");
  const std::string trailing = Tampered(good, "g.ferry", [](std::string& b) { b += "garbage"; });
  ExpectRefusedWithoutTrace(trailing, "trailing data");
  // An extra member where the end-of-archive marker was.
  const std::string extra = Tampered(good, "e.ferry", [](std::string& b) {
    b.resize(b.size() - 1024);
    b += testing::MakeTar({{"payloads/evil", "evil"}});
  });
  ExpectRefusedWithoutTrace(extra, "is not in the manifest");
  // Nothing was left in staging by any of them, and the relay still imports the good one.
  ASSERT_TRUE(Import(good).ok());
}

// The bundle issue's hostile cases, rebuilt from the members of a good bundle and sent through
// import: each one is refused naming its cause and leaves the store as it was.
TEST_F(ImporterTest, EveryHostileBundleShapeLeavesTheStoreAsItWas) {
  const std::string good = Build(1, "good.ferry");
  std::vector<testing::TarEntry> members;
  auto reader = bundler::TarReader::Open(good);
  ASSERT_TRUE(reader.ok());
  while (true) {
    auto member = reader->Next();
    ASSERT_TRUE(member.ok());
    if (!*member) break;
    members.push_back({(*member)->name, *reader->ReadSmall()});
  }
  const auto index_of = [&](const std::string& prefix) {
    for (size_t i = 0; i < members.size(); ++i) {
      if (members[i].name.starts_with(prefix)) return i;
    }
    return members.size();
  };
  const size_t manifest = index_of("manifest.json");
  const size_t payload = index_of("payloads/");
  ASSERT_LT(payload, members.size());
  const std::string manifest_text = members[manifest].data;

  struct Case {
    std::string name;
    std::function<void(std::vector<testing::TarEntry>&)> change;
    std::string cause;
  };
  // (One key counted twice is covered by the reader's tests; this relay's threshold is one.)
  const auto signed_by = [&](const crypto::SigningKey* key) {
    auto envelope = crypto::ParseEnvelope(manifest_text, "manifest");
    return *crypto::SignEnvelope(envelope->signed_value, {key});
  };
  const crypto::SigningKey stranger = *crypto::SigningKey::Generate();
  const std::vector<Case> cases = {
      {"signature-by-stranger", [&](auto& m) { m[manifest].data = signed_by(&stranger); },
       "signature threshold not met"},
      {"unknown-major", [&](auto& m) {
         auto envelope = crypto::ParseEnvelope(manifest_text, "manifest");
         json::Value value = envelope->signed_value;
         value.as_object()["format"] = "2.0";
         m[manifest].data = *crypto::SignEnvelope(value, {&bundle_key_});
       }, "major version 2 is not supported"},
      {"payload-size", [&](auto& m) { m[payload].data += "x"; }, "the manifest says"},
      {"member-not-in-manifest", [&](auto& m) { m.push_back({"payloads/" + std::string(64, 'b'), "x"}); },
       "is not in the manifest"},
      {"entry-without-member", [&](auto& m) { m.erase(m.begin() + static_cast<long>(payload)); },
       "missing from the bundle"},
      {"duplicate-member", [&](auto& m) { m.push_back(m[payload]); }, "duplicate member"},
      {"absolute-path", [&](auto& m) { m.insert(m.begin(), {"/etc/cron.d/x", "x"}); }, "an absolute path"},
      {"dot-dot", [&](auto& m) { m.insert(m.begin(), {"../x", "x"}); }, "'..'"},
      {"symlink", [&](auto& m) { m.push_back({"payloads/l", "", "symlink", "/etc/shadow"}); },
       "a symbolic link"},
      {"hardlink", [&](auto& m) { m.push_back({"payloads/h", "", "hardlink", "manifest.json"}); },
       "a hard link"},
      {"device", [&](auto& m) { m.push_back({"payloads/d", "", "chardev"}); }, "a character device"},
      {"fifo", [&](auto& m) { m.push_back({"payloads/f", "", "fifo"}); }, "a fifo"},
      {"manifest-over-cap", [&](auto& m) { m[manifest].data = std::string(size_t{17} << 20, ' '); },
       "exceeds the 16 MiB cap"},
      {"deep-json", [&](auto& m) { m[manifest].data = std::string(200, '[') + std::string(200, ']'); },
       "nesting deeper"},
      {"invalid-utf8", [&](auto& m) { m[manifest].data.replace(m[manifest].data.find("stable"), 1, "\xC3\x28"); },
       "invalid UTF-8"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    std::vector<testing::TarEntry> variant = members;
    c.change(variant);
    testing::WriteAll(dir_ / (c.name + ".ferry"), testing::MakeTar(variant));
    ExpectRefusedWithoutTrace(dir_ / (c.name + ".ferry"), c.cause);
  }
  // A header that declares a payload past 4 GiB, with nothing behind it.
  std::vector<testing::TarEntry> huge(members.begin(), members.begin() + static_cast<long>(payload) + 1);
  huge.back().declared_size = int64_t{5} << 30;
  testing::WriteAll(dir_ / "huge.ferry", testing::MakeTar(huge, false));
  ExpectRefusedWithoutTrace(dir_ / "huge.ferry", "more than the whole file holds");
}

TEST_F(ImporterTest, SignaturesFromKeysTheRootDoesNotNameAreRefused) {
  const crypto::SigningKey stranger = *crypto::SigningKey::Generate();
  bundler::BuildOptions options = Options(1, "stranger.ferry");
  crypto::TrustRoot other = root_;
  other.keys.emplace(stranger.id(), stranger.public_key());
  other.bundle_role = {{stranger.id()}, 1};
  other.text = *crypto::SignTrustRoot(other, {&root_key_});
  other = *crypto::ParseTrustRoot(other.text);
  options.roots = {other};
  options.keys = {&stranger};
  ASSERT_TRUE(bundler::BuildBundle(options).ok());
  // The forged root claims version 1 with different contents: the pinned v1 wins.
  ExpectRefusedWithoutTrace(dir_ / "stranger.ferry", "root");
}

TEST_F(ImporterTest, RollbackAndSequenceReuseAreRefused) {
  ASSERT_TRUE(Import(Build(5, "b5.ferry")).ok());
  ExpectRefusedWithoutTrace(Build(4, "b4.ferry"), "rollback: sequence 4");
  testing::MakeDeb(source_, "baz", "1.0", "amd64", 1000);
  ExpectRefusedWithoutTrace(Build(5, "b5-other.ferry"), "already imported with a different manifest");
}

TEST_F(ImporterTest, ExpiredBundlesAreRefused) {
  bundler::BuildOptions options = Options(1, "old.ferry");
  options.now = Now() - 10 * 86400;
  options.expires_in = 86400;
  ASSERT_TRUE(bundler::BuildBundle(options).ok());
  ExpectRefusedWithoutTrace(dir_ / "old.ferry", "manifest expired at");
}

TEST_F(ImporterTest, TheTimeRatchetOutlivesTheClock) {
  // Bundle 1 was created 12 hours ahead of this clock (within the allowed skew)...
  bundler::BuildOptions first = Options(1, "ahead.ferry");
  first.now = Now() + 12 * 3600;
  ASSERT_TRUE(bundler::BuildBundle(first).ok());
  ASSERT_TRUE(Import(dir_ / "ahead.ferry").ok());
  // ...so bundle 2, valid by the clock but expiring before that accepted creation time, is stale.
  bundler::BuildOptions second = Options(2, "stale.ferry");
  second.now = Now() - 86400;
  second.expires_in = 86400 + 6 * 3600;
  ASSERT_TRUE(bundler::BuildBundle(second).ok());
  ExpectRefusedWithoutTrace(dir_ / "stale.ferry", "manifest expired at");
}

TEST_F(ImporterTest, BundlesFromTheFarFutureAreRefused) {
  bundler::BuildOptions options = Options(1, "future.ferry");
  options.now = Now() + 3 * 86400;
  ASSERT_TRUE(bundler::BuildBundle(options).ok());
  ExpectRefusedWithoutTrace(dir_ / "future.ferry", "ahead of this relay's clock");
}

TEST_F(ImporterTest, SiteBindingIsEnforced) {
  bundler::BuildOptions options = Options(1, "other-site.ferry");
  options.site = "general-hospital";
  ASSERT_TRUE(bundler::BuildBundle(options).ok());
  ExpectRefusedWithoutTrace(dir_ / "other-site.ferry", "bound to site \"general-hospital\"");
  options.site = "st-mary";
  options.out_path = dir_ / "our-site.ferry";
  ASSERT_TRUE(bundler::BuildBundle(options).ok());
  EXPECT_TRUE(Import(dir_ / "our-site.ferry").ok());
}

TEST_F(ImporterTest, DeltaNeedsItsBase) {
  const std::string base = Build(1, "base.ferry");
  testing::MakeDeb(source_, "libfoo1", "1.1-1", "amd64", 30000);
  bundler::BuildOptions options = Options(2, "delta.ferry");
  options.base_path = base;
  ASSERT_TRUE(bundler::BuildBundle(options).ok());
  ExpectRefusedWithoutTrace(dir_ / "delta.ferry", "needs base sequence 1");
  ASSERT_TRUE(Import(base).ok());
  auto delta = Import(dir_ / "delta.ferry");
  ASSERT_TRUE(delta.ok()) << delta.error().message();
  EXPECT_EQ(delta->payloads_written, 1u);
  EXPECT_EQ(ListPatches(relay_->db())->size(), 3u);
}

TEST_F(ImporterTest, ARootRotationCarriedByABundleBecomesTheRelaysTrust) {
  const crypto::SigningKey new_key = *crypto::SigningKey::Generate();
  crypto::TrustRoot next = root_;
  next.version = 2;
  next.keys.erase(bundle_key_.id());
  next.keys.emplace(new_key.id(), new_key.public_key());
  next.bundle_role = {{new_key.id()}, 1};
  next.text = *crypto::SignTrustRoot(next, {&root_key_});
  next = *crypto::ParseTrustRoot(next.text);
  bundler::BuildOptions options = Options(1, "rotated.ferry");
  options.roots = {root_, next};
  options.keys = {&new_key};
  ASSERT_TRUE(bundler::BuildBundle(options).ok());
  auto result = Import(dir_ / "rotated.ferry");
  ASSERT_TRUE(result.ok()) << result.error().message();
  EXPECT_EQ(result->new_root_version, 2);
  EXPECT_EQ(relay_->TrustedRoot()->version, 2);
  // The retired key no longer signs for this relay.
  ExpectRefusedWithoutTrace(Build(2, "retired.ferry"), "signature threshold not met");
}

TEST_F(ImporterTest, RecoveryFinishesCommittedImportsAndDropsTheRest) {
  // A staging directory no committed import owns: what a crash before the commit leaves.
  const std::string orphan = fs::JoinPath(relay_->dir().staging(), NewImportId());
  testing::Run("mkdir -p '" + orphan + "' && echo partial > '" + orphan + "/" + std::string(64, 'a') + "'");
  ASSERT_TRUE(RecoverInterruptedImports(*relay_).ok());
  EXPECT_FALSE(fs::Exists(orphan));
  auto fsck = CheckRelay(*relay_, {});
  ASSERT_TRUE(fsck.ok());
  EXPECT_TRUE(fsck->ok());
}

TEST_F(ImporterTest, EventsCannotBeRewritten) {
  ASSERT_TRUE(Import(Build(1, "b1.ferry")).ok());
  EXPECT_FALSE(relay_->db().Execute("UPDATE events SET actor = 'someone-else'").ok());
  EXPECT_FALSE(relay_->db().Execute("DELETE FROM events WHERE seq = 1").ok());
  EXPECT_TRUE(CheckEventLog(relay_->db()).ok());
}

}  // namespace
}  // namespace ferry::relay
