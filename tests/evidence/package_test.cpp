// The package format: plain tar that standard tools read, a manifest `sha256sum -c` checks,
// deterministic contents, and a strict reader that refuses what the writer never produces.

#include "evidence/package.hpp"

#include <gtest/gtest.h>

#include "crypto/checkpoint.hpp"
#include "tests/evidence/evidence_fixture.hpp"

namespace ferry::evidence {
namespace {

using testing::CommandResult;

TEST(PackageTest, StandardToolsReadThePackageAndCheckTheManifest) {
  testing::TempDir dir;
  const crypto::SigningKey key = test::NewKey();
  const std::vector<std::string> log = test::StandardLog();
  PackageRequest request = test::Request(18);
  request.nonce = "n-1";
  const PackageSummary summary = test::Write(dir / "e.tar", log, request, key);

  const CommandResult list = testing::Run("tar -tf " + (dir / "e.tar"));
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_EQ(list.out,
            "checkpoint\nmedia.json\nmanifest\nevents.jsonl\nreports/summary.csv\n"
            "reports/by-severity.csv\nreports/patches.csv\nreports/endpoints.csv\n"
            "reports/deployments.csv\nreports/overdue.csv\nreports/failures.csv\n"
            "reports/exceptions.csv\nreports/rejected-imports.csv\nreport.html\n");
  const CommandResult check = testing::Run("mkdir " + (dir / "x") + " && cd " + (dir / "x") +
                                           " && tar -xf ../e.tar && sha256sum -c --quiet manifest");
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;

  // events.jsonl line i is leaf i and a newline; the checkpoint signs its root and the manifest.
  std::string events;
  for (const std::string& leaf : log) events += leaf + "\n";
  EXPECT_EQ(testing::ReadAll(dir / "x/events.jsonl"), events);
  const std::string manifest = testing::ReadAll(dir / "x/manifest");
  auto checkpoint = crypto::VerifyCheckpoint(testing::ReadAll(dir / "x/checkpoint"), request.origin,
                                             key.public_key());
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.error().message();
  EXPECT_EQ(checkpoint->size, 18u);
  EXPECT_EQ(checkpoint->root, summary.root);
  EXPECT_EQ(checkpoint->extensions,
            (std::vector<std::string>{
                "manifest-sha256 " + crypto::DigestHex(crypto::Sha256Of(manifest)), "nonce n-1"}));
}

TEST(PackageTest, ExportingTwiceGivesTheSameEventsRootAndReports) {
  testing::TempDir dir;
  const crypto::SigningKey key = test::NewKey();
  const std::vector<std::string> log = test::StandardLog();
  PackageRequest later = test::Request(18);
  later.exported_at += 3600;
  later.label = "another stick";
  const PackageSummary a = test::Write(dir / "a.tar", log, test::Request(18), key);
  const PackageSummary b = test::Write(dir / "b.tar", log, later, key);
  EXPECT_EQ(a.root, b.root);
  const std::vector<test::Member> ma = test::ReadMembers(dir / "a.tar");
  const std::vector<test::Member> mb = test::ReadMembers(dir / "b.tar");
  ASSERT_EQ(ma.size(), mb.size());
  for (size_t i = 0; i < ma.size(); ++i) {
    // Only the media record (and through the manifest, the signed note) says when and on what.
    if (ma[i].name == "media.json" || ma[i].name == "manifest" || ma[i].name == "checkpoint") {
      continue;
    }
    EXPECT_EQ(ma[i].content, mb[i].content) << ma[i].name;
  }
  // The writer refuses to overwrite.
  auto again = WritePackage(dir / "a.tar", test::Request(18), test::SourceOf(log), key);
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.error().message().find("refusing to overwrite"), std::string::npos);
}

TEST(PackageTest, AForkedLogIsRefusedAtExport) {
  testing::TempDir dir;
  const crypto::SigningKey key = test::NewKey();
  std::vector<std::string> log = test::StandardLog();
  const PackageSummary a = test::Write(dir / "a.tar", log, test::Request(10), key);
  log[3] = test::Leaf(4, test::kT0, "operator:mallory", "patch.revoked", "high-fix", {});
  PackageRequest request = test::Request(18);
  request.previous_checkpoint = a.checkpoint;
  auto forked = WritePackage(dir / "b.tar", request, test::SourceOf(log), key);
  ASSERT_FALSE(forked.ok());
  EXPECT_EQ(forked.error().kind(), ErrorKind::kInvalid);
  EXPECT_NE(forked.error().message().find("fork: the first 10 events"), std::string::npos);
  EXPECT_FALSE(fs::Exists(dir / "b.tar"));
}

TEST(PackageTest, MemberTextsRoundTripAndRefuseOtherForms) {
  std::vector<crypto::Sha256Digest> frontier{crypto::Sha256Of("a"), crypto::Sha256Of("b"),
                                             crypto::Sha256Of("c")};
  const std::string prefix = PrefixText(13, frontier);
  EXPECT_EQ(prefix.substr(0, 16), "events 1-8 ca978");
  auto parsed = ParsePrefix(prefix);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  EXPECT_EQ(parsed->size, 13u);
  EXPECT_EQ(parsed->frontier, frontier);
  // Ranges that are not the log's subtrees, or upper-case hex, are refused.
  EXPECT_FALSE(ParsePrefix("events 1-3 " + crypto::DigestHex(frontier[0]) + "\n").ok());
  std::string upper = prefix;
  upper[12] = 'A';
  EXPECT_FALSE(ParsePrefix(upper).ok());

  const std::string proof = ConsistencyText({3, 7, {crypto::Sha256Of("x")}});
  auto read = ParseConsistency(proof);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->old_size, 3u);
  EXPECT_EQ(read->new_size, 7u);
  EXPECT_FALSE(ParseConsistency("old-size 03\nnew-size 7\n").ok());

  Media media;
  media.exported_at = test::kT0;
  media.exported_by = "operator:alice";
  media.relay_key_id = std::string(64, 'b');
  media.origin = "ferry-relay/x";
  media.first = 1;
  media.tree_size = 5;
  const std::string text = MediaJson(media);
  EXPECT_TRUE(ParseMediaJson(text).ok());
  EXPECT_FALSE(ParseMediaJson(text.substr(0, text.size() - 1)).ok());  // not the canonical form
  EXPECT_TRUE(ValidateNonce("audit 2026-01").ok());
  EXPECT_FALSE(ValidateNonce(" x").ok());
  EXPECT_FALSE(ValidateNonce("tab\there").ok());
  EXPECT_FALSE(ValidateLabel("").ok());
}

TEST(UstarTest, TheReaderRefusesWhatTheWriterNeverWrites) {
  testing::TempDir dir;
  // GNU tar's own output: user names and another header layout are not the package's form.
  testing::WriteAll(dir / "f", "x");
  ASSERT_EQ(testing::Run("cd " + dir.path() + " && tar --format=gnu -cf g.tar f").exit_code, 0);
  auto reader = UstarReader::Open(dir / "g.tar");
  ASSERT_TRUE(reader.ok());
  auto next = reader->Next();
  ASSERT_FALSE(next.ok());
  EXPECT_NE(next.error().message().find("tar: header of member 1 (f)"), std::string::npos)
      << next.error().message();
  // A hand-made archive holding a symbolic link.
  testing::WriteAll(dir / "l.tar", testing::MakeTar({{"link", "", "symlink", "target"}}));
  auto links = UstarReader::Open(dir / "l.tar");
  ASSERT_TRUE(links.ok());
  EXPECT_FALSE(links->Next().ok());
}

}  // namespace
}  // namespace ferry::evidence
