// ferry-verify, the real executable, against good and tampered evidence packages: every case of
// the evidence issue's section 4 must fail with exit code 1 and name its fault.

#include "evidence/verify.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>

#include "crypto/checkpoint.hpp"
#include "evidence/package.hpp"
#include "tests/evidence/evidence_fixture.hpp"

namespace ferry::evidence {
namespace {

using test::Member;
using testing::CommandResult;

class VerifyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    shared_ = new Shared{testing::TempDir(), test::NewKey(), test::StandardLog(), {}};
    Shared& s = *shared_;
    ASSERT_TRUE(crypto::WritePublicKeyFile(s.dir / "relay.pub", s.key.public_key()).ok());
    s.good = s.dir / "good.tar";
    test::Write(s.good, s.log, test::Request(18), s.key);
  }
  static void TearDownTestSuite() {
    delete shared_;
    shared_ = nullptr;
  }

  static CommandResult Verify(const std::string& args) {
    return testing::Run(testing::BuildPath("evidence/ferry-verify") + " --relay-key " +
                        (shared_->dir / "relay.pub") + " " + args);
  }

  // Expects exit 1 with `fault` on stderr's "error: " line.
  static void ExpectFault(const std::string& args, const std::string& fault) {
    const CommandResult r = Verify(args);
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_NE(r.err.find("error: " + fault), std::string::npos)
        << "expected: " << fault << "\ngot: " << r.err;
  }

  // Takes the good package apart, lets `edit` change it, and writes it as `name`.
  std::string Tampered(const std::string& name,
                       const std::function<void(std::vector<Member>&)>& edit) {
    int64_t mtime = 0;
    std::vector<Member> members = test::ReadMembers(shared_->good, &mtime);
    edit(members);
    const std::string path = dir_ / name;
    test::WriteMembers(path, members, mtime);
    return path;
  }

  // Events 1..10 into `first`, then 11..18 chained from it into `second`.
  static PackageSummary WriteChain(const std::string& first, const std::string& second) {
    const PackageSummary a = test::Write(first, shared_->log, test::Request(10), shared_->key);
    PackageRequest request = test::Request(18, 11);
    request.previous_checkpoint = a.checkpoint;
    return test::Write(second, shared_->log, request, shared_->key);
  }

  static std::vector<std::string> Lines(const std::string& text) {
    std::vector<std::string> lines;
    size_t start = 0;
    while (start < text.size()) {
      const size_t end = text.find('\n', start);
      lines.push_back(text.substr(start, end - start + 1));
      start = end + 1;
    }
    return lines;
  }
  static std::string Join(const std::vector<std::string>& lines) {
    std::string out;
    for (const std::string& line : lines) out += line;
    return out;
  }

  struct Shared {
    testing::TempDir dir;
    crypto::SigningKey key;
    std::vector<std::string> log;
    std::string good;
  };
  static Shared* shared_;
  testing::TempDir dir_;
};

VerifyTest::Shared* VerifyTest::shared_ = nullptr;

TEST_F(VerifyTest, AGoodExportVerifies) {
  const CommandResult r = Verify(shared_->good);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("events     1..18 of 18"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("OK: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("1 overdue, 1 excepted"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("label \"USB stick 7\""), std::string::npos) << r.out;

  const CommandResult j = Verify(shared_->good + " --json");
  ASSERT_EQ(j.exit_code, 0) << j.err;
  auto parsed = json::Parse(j.out);
  ASSERT_TRUE(parsed.ok()) << j.out;
  const json::Object& o = parsed->as_object();
  EXPECT_TRUE(o.at("ok").as_bool());
  EXPECT_TRUE(o.at("fault").is_null());
  EXPECT_EQ(o.at("tree_size").as_int(), 18);
  EXPECT_EQ(o.at("origin").as_string(), "ferry.relay/st-test/5ca1ab1e");
  const json::Object& figures = o.at("figures").as_object();
  EXPECT_EQ(figures.at("overdue").as_int(), 1);
  EXPECT_EQ(figures.at("excepted").as_int(), 1);
  EXPECT_EQ(figures.at("installed").as_int(), 2);
  EXPECT_EQ(figures.at("as_of").as_string(), FormatTime(test::kT0 + 10 * test::kHour));
}

TEST_F(VerifyTest, ADeletedEventIsNamedByItsSequenceNumber) {
  const std::string path = Tampered("deleted.tar", [](std::vector<Member>& m) {
    std::vector<std::string> lines = Lines(test::Find(m, "events.jsonl").content);
    lines.erase(lines.begin() + 7);  // event 8
    test::Find(m, "events.jsonl").content = Join(lines);
  });
  ExpectFault(path, "events.jsonl line 8: sequence 9 follows 7 (8 is missing)");
}

TEST_F(VerifyTest, ADuplicatedEventIsNamed) {
  const std::string path = Tampered("duplicated.tar", [](std::vector<Member>& m) {
    std::vector<std::string> lines = Lines(test::Find(m, "events.jsonl").content);
    lines.insert(lines.begin() + 5, lines[4]);
    test::Find(m, "events.jsonl").content = Join(lines);
  });
  ExpectFault(path, "events.jsonl line 6: sequence 5 again (a duplicate of line 5)");
}

TEST_F(VerifyTest, ReorderedEventsAreNamed) {
  const std::string path = Tampered("reordered.tar", [](std::vector<Member>& m) {
    std::vector<std::string> lines = Lines(test::Find(m, "events.jsonl").content);
    std::swap(lines[10], lines[11]);
    test::Find(m, "events.jsonl").content = Join(lines);
  });
  ExpectFault(path, "events.jsonl line 11: sequence 12 follows 10 (11 is missing)");
}

TEST_F(VerifyTest, AnEditedEventBreaksTheRoot) {
  const std::string path = Tampered("edited.tar", [](std::vector<Member>& m) {
    std::string& events = test::Find(m, "events.jsonl").content;
    const size_t at = events.find("\"result\":\"failed\"");
    ASSERT_NE(at, std::string::npos);
    events.replace(at, 17, "\"result\":\"refused\"");
  });
  ExpectFault(path, "events.jsonl: events 1..18 give the Merkle root ");
  EXPECT_NE(Verify(path).err.find("(an event was altered)"), std::string::npos);
}

TEST_F(VerifyTest, AnEventThatIsNoLongerCanonicalIsNamed) {
  const std::string path = Tampered("spaced.tar", [](std::vector<Member>& m) {
    std::string& events = test::Find(m, "events.jsonl").content;
    const size_t line3 = events.find("{\"actor\"", events.find("\"seq\":2"));
    events.insert(line3 + 1, " ");
  });
  ExpectFault(path, "events.jsonl line 3: ");
}

TEST_F(VerifyTest, EventsCutOffTheEndAreFound) {
  const std::string path = Tampered("cut.tar", [](std::vector<Member>& m) {
    std::vector<std::string> lines = Lines(test::Find(m, "events.jsonl").content);
    lines.resize(15);
    test::Find(m, "events.jsonl").content = Join(lines);
  });
  ExpectFault(path,
              "events.jsonl: ends at event 15, but the checkpoint covers 18 events (events "
              "16..18 are missing: cut off the end)");
}

TEST_F(VerifyTest, ACheckpointByAnotherKeyIsRefused) {
  const crypto::SigningKey other = test::NewKey();
  const std::string path = dir_ / "other-key.tar";
  test::Write(path, shared_->log, test::Request(18), other);
  ExpectFault(path, "checkpoint: signature not by the pinned relay key");
}

TEST_F(VerifyTest, AnEditedReportFigureIsNamedByLineAndField) {
  const std::string path = Tampered("figure.tar", [](std::vector<Member>& m) {
    std::string& csv = test::Find(m, "reports/by-severity.csv").content;
    // Line 3 is "high": 30 days, 3 pairs, 1 installed, 0 met, 1 late, 0 open, 1 overdue.
    const std::string row = "high,30,3,1,0,1,0,1,";
    const size_t at = csv.find(row);
    ASSERT_NE(at, std::string::npos) << csv;
    csv[at + row.size() - 2] = '2';
  });
  ExpectFault(path, "report by-severity.csv line 3 field overdue: package says 2, events give 1");
}

TEST_F(VerifyTest, AnEditedPageIsFound) {
  const std::string path = Tampered("page.tar", [](std::vector<Member>& m) {
    std::string& html = test::Find(m, "report.html").content;
    html.replace(html.find("overdue"), 7, "OVERDUE");
  });
  ExpectFault(path, "report.html line ");
}

TEST_F(VerifyTest, AnEditedMediaLabelIsCaughtByTheManifest) {
  const std::string path = Tampered("label.tar", [](std::vector<Member>& m) {
    std::string& media = test::Find(m, "media.json").content;
    media.replace(media.find("stick 7"), 7, "stick 8");
  });
  ExpectFault(path, "manifest: media.json has the SHA-256 ");
}

TEST_F(VerifyTest, AnExportOlderThanThePreviousIsARollback) {
  const std::string older = dir_ / "14.tar";
  test::Write(older, shared_->log, test::Request(14), shared_->key);
  ExpectFault(older + " --previous " + shared_->good,
              "rolled back: this export covers 14 events, the previous one 18");
}

TEST_F(VerifyTest, ForkedHistoriesAreFound) {
  std::vector<std::string> forked = shared_->log;
  forked[11] = test::Leaf(12, test::kT0 + 6 * test::kHour, "endpoint:ep-000000000000000b",
                          "install.reported", "crit-fix",
                          {{"endpoint", "ep-000000000000000b"}, {"result", "installed"}});
  const std::string a = dir_ / "a.tar";
  const std::string b = dir_ / "b.tar";
  test::Write(a, shared_->log, test::Request(14), shared_->key);
  test::Write(b, forked, test::Request(16), shared_->key);
  ASSERT_EQ(Verify(b).exit_code, 0);  // each is well signed on its own
  ExpectFault(b + " --previous " + a, "fork: the previous export's 14 events have the root ");
}

TEST_F(VerifyTest, TheNonceMustBeTheAuditorsOne) {
  PackageRequest request = test::Request(18);
  request.nonce = "audit-2026-q1";
  const std::string path = dir_ / "nonce.tar";
  test::Write(path, shared_->log, request, shared_->key);
  EXPECT_EQ(Verify(path + " --nonce audit-2026-q1").exit_code, 0);
  ExpectFault(path + " --nonce audit-2026-q2",
              "nonce: the export carries \"audit-2026-q1\", the auditor asked for "
              "\"audit-2026-q2\" (an old or replayed export)");
  // A replayed export made before the auditor asked carries no nonce at all.
  ExpectFault(shared_->good + " --nonce audit-2026-q2",
              "nonce: the export carries none, the auditor asked for \"audit-2026-q2\"");
}

TEST_F(VerifyTest, ConsecutiveExportsChain) {
  const std::string first = dir_ / "first.tar";
  const std::string second = dir_ / "second.tar";
  const PackageSummary b = WriteChain(first, second);
  EXPECT_EQ(b.previous_size, 10);
  const CommandResult r = Verify(second + " --previous " + first);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("events     11..18 of 18"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("extends the --previous package (10 events)"), std::string::npos);
  // The full log of 18 events has the same root as the chained tail.
  EXPECT_EQ(
      crypto::DigestHex(b.root),
      crypto::DigestHex(
          test::Write(dir_ / "full.tar", shared_->log, test::Request(18), shared_->key).root));
  // A package starting after the auditor's last one, without a checkpoint to bridge: incomplete.
  const std::string early = dir_ / "early.tar";
  test::Write(early, shared_->log, test::Request(5), shared_->key);
  ExpectFault(second + " --previous " + early,
              "cannot link to the previous package: it covers 5 events, this export starts at "
              "event 11");
}

TEST_F(VerifyTest, ATamperedPrefixOrProofIsFound) {
  const std::string second = dir_ / "second.tar";
  WriteChain(dir_ / "first.tar", second);
  int64_t mtime = 0;
  std::vector<Member> members = test::ReadMembers(second, &mtime);
  std::vector<Member> bad_prefix = members;
  std::string& prefix = test::Find(bad_prefix, "prefix").content;
  prefix[prefix.size() - 2] = prefix[prefix.size() - 2] == '0' ? '1' : '0';
  test::WriteMembers(dir_ / "bad-prefix.tar", bad_prefix, mtime);
  ExpectFault(dir_ / "bad-prefix.tar", "events.jsonl: events 1..18 give the Merkle root ");
  std::vector<Member> bad_proof = members;
  std::string& proof = test::Find(bad_proof, "consistency-proof").content;
  proof[proof.size() - 2] = proof[proof.size() - 2] == '0' ? '1' : '0';
  test::WriteMembers(dir_ / "bad-proof.tar", bad_proof, mtime);
  ExpectFault(dir_ / "bad-proof.tar", "fork: the consistency proof from the previous checkpoint");
}

// Every byte of a package is covered: flip one bit at offsets spread over every member's header,
// data and padding and over the end-of-archive marker; each copy must fail (exit 1).
TEST_F(VerifyTest, AFlippedBitAnywhereIsCaught) {
  const std::string bytes = testing::ReadAll(shared_->good);
  const crypto::PublicKey& key = shared_->key.public_key();
  std::vector<size_t> offsets;
  for (size_t at = 0; at < bytes.size(); at += 127) offsets.push_back(at);
  for (const Member& m : test::ReadMembers(shared_->good)) {
    for (size_t d : {0, 100, 124, 148, 156, 257, 511}) offsets.push_back(m.header_offset + d);
    const size_t data = m.header_offset + 512;
    offsets.push_back(data + m.content.size() / 2);
    offsets.push_back(data + m.content.size());  // padding, or the next header
  }
  offsets.push_back(bytes.size() - 1);
  offsets.push_back(bytes.size() - 1024);
  const std::string path = dir_ / "flipped.tar";
  size_t checked = 0;
  for (const size_t at : offsets) {
    if (at >= bytes.size()) continue;
    std::string copy = bytes;
    copy[at] = static_cast<char>(copy[at] ^ (1 << (at % 8)));
    testing::WriteAll(path, copy);
    auto result = VerifyPackage(path, key);
    ASSERT_TRUE(result.ok()) << "offset " << at << ": " << result.error().message();
    EXPECT_FALSE(result->ok()) << "a flipped bit at offset " << at << " went unnoticed";
    ++checked;
  }
  EXPECT_GT(checked, 300u);
  // And through the executable, at one place in each member.
  int runs = 0;
  for (const Member& m : test::ReadMembers(shared_->good)) {
    std::string copy = bytes;
    const size_t at = m.header_offset + 512 + m.content.size() / 3;
    copy[at] = static_cast<char>(copy[at] ^ 0x04);
    testing::WriteAll(path, copy);
    const CommandResult r = Verify(path);
    EXPECT_EQ(r.exit_code, 1) << m.name << ": " << r.out;
    EXPECT_NE(r.err.find("error: "), std::string::npos);
    ++runs;
  }
  EXPECT_GE(runs, 13);
}

TEST_F(VerifyTest, ATruncatedOrExtendedPackageIsRefused) {
  const std::string bytes = testing::ReadAll(shared_->good);
  const std::string path = dir_ / "short.tar";
  testing::WriteAll(path, bytes.substr(0, bytes.size() - 700));
  ExpectFault(path, "tar: ");
  testing::WriteAll(path, bytes + std::string(512, '\0'));
  ExpectFault(path, "tar: 512 bytes of trailing data after the end-of-archive marker");
}

TEST_F(VerifyTest, UsageAndIoErrorsHaveTheirExitCodes) {
  EXPECT_EQ(
      testing::Run(testing::BuildPath("evidence/ferry-verify") + " " + shared_->good).exit_code,
      2);  // no --relay-key
  EXPECT_EQ(Verify("").exit_code, 2);
  EXPECT_EQ(Verify(shared_->good + " --nonce ''").exit_code, 2);
  EXPECT_EQ(Verify(dir_ / "missing.tar").exit_code, 3);
  const CommandResult help = testing::Run(testing::BuildPath("evidence/ferry-verify") + " --help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("--relay-key RELAY.pub EVIDENCE.tar"), std::string::npos);
}

}  // namespace
}  // namespace ferry::evidence
