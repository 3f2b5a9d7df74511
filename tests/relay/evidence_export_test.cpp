// `ferry-relay evidence export` and `exception` through the real executables, checked with the
// real ferry-verify: a good export verifies, exporting twice gives the same events and root,
// consecutive --since-last exports chain, and every refusal is one line with its exit code.

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>

#include "common/file.hpp"
#include "common/json.hpp"
#include "relay/event_log.hpp"
#include "tests/support/testing.hpp"

namespace ferry::relay {
namespace {

using testing::CommandResult;

class EvidenceExportTest : public ::testing::Test {
 protected:
  // One initialised relay with an imported, approved bundle, copied for every test.
  static void SetUpTestSuite() {
    shared_ = std::make_unique<testing::TempDir>();
    const testing::TempDir& s = *shared_;
    ASSERT_EQ(Bundle("keygen --out " + (s / "root") + " --unencrypted").exit_code, 0);
    ASSERT_EQ(Bundle("keygen --out " + (s / "b1") + " --unencrypted").exit_code, 0);
    ASSERT_EQ(
        Bundle("root init --root-key " + (s / "root.key") + " --threshold 1 --bundle-key " +
               (s / "b1.pub") + " --bundle-threshold 1 --expires 30d --out " + (s / "root.json"))
            .exit_code,
        0);
    testing::Run("mkdir -p " + (s / "src"));
    const std::pair<const char*, const char*> payloads[] = {{"crit-fix", "critical"},
                                                            {"high-fix", "high"}};
    for (const auto& [id, severity] : payloads) {
      testing::WriteAll(s / ("src/" + std::string(id) + ".txt"), std::string("fix ") + id + "\n");
      testing::WriteAll(s / ("src/" + std::string(id) + ".payload.json"),
                        std::string("{\"id\": \"") + id + "\", \"kind\": \"file\", \"file\": \"" +
                            id + ".txt\", \"target_os\": \"debian-12\", \"severity\": \"" +
                            severity + "\", \"released\": \"2020-01-05T00:00:00Z\"}");
    }
    const CommandResult built =
        Bundle("build --root " + (s / "root.json") + " --key " + (s / "b1.key") +
               " --channel security --sequence 1 --source " + (s / "src") +
               " --expires 30d --out " + (s / "bundle.ferry"));
    ASSERT_EQ(built.exit_code, 0) << built.err;
    const std::string relay = s / "relay";
    ASSERT_EQ(Relay("init --data " + relay + " --root " + (s / "root.json") + " --site-id st-x")
                  .exit_code,
              0);
    ASSERT_EQ(Relay("import --data " + relay + " " + (s / "bundle.ferry")).exit_code, 0);
    const CommandResult approved = Relay("approve --data " + relay + " --all");
    ASSERT_EQ(approved.exit_code, 0) << approved.err;
  }
  static void TearDownTestSuite() { shared_.reset(); }

  void SetUp() override {
    data_ = dir_ / "relay";
    ASSERT_EQ(testing::Run("cp -a " + (*shared_ / "relay") + " " + data_).exit_code, 0);
  }

  static CommandResult Bundle(const std::string& args) {
    return testing::Run(testing::BuildPath("bundler/ferry-bundle") + " " + args);
  }
  static CommandResult Relay(const std::string& args) {
    return testing::Run(testing::BuildPath("relay/ferry-relay") + " " + args);
  }
  CommandResult OnRelay(const std::string& command, const std::string& args) const {
    return Relay(command + " --data " + data_ + " " + args);
  }
  CommandResult Verify(const std::string& args) const {
    return testing::Run(testing::BuildPath("evidence/ferry-verify") + " --relay-key " + data_ +
                        "/identity.pub " + args);
  }
  CommandResult Export(const std::string& name, const std::string& args = "") const {
    return OnRelay("evidence export", "--out " + (dir_ / name) + " " + args);
  }

  // Appends what endpoints would report, as the API does, through the event log.
  void AppendEndpointEvents(const std::string& id, const std::string& result) const {
    auto db = sql::Database::Open(data_ + "/ferry.db", sql::Database::Mode::kReadWrite);
    ASSERT_TRUE(db.ok()) << db.error().message();
    const std::string actor = "endpoint:" + id;
    ASSERT_TRUE(AppendEvent(*db, actor, "endpoint.enrolled", id,
                            {{"hostname", "host-" + id}, {"target_os", "debian-12"}})
                    .ok());
    ASSERT_TRUE(AppendEvent(*db, actor, "endpoint.needs", id,
                            {{"patches", json::Array{"crit-fix", "high-fix"}}})
                    .ok());
    ASSERT_TRUE(AppendEvent(*db, actor, "install.reported", "crit-fix",
                            {{"endpoint", id},
                             {"result", result},
                             {"severity", "critical"},
                             {"finished", FormatTime(Now())}})
                    .ok());
  }

  std::string Member(const std::string& package, const std::string& name) const {
    return testing::Run("tar -xOf " + (dir_ / package) + " " + name).out;
  }

  static void ExpectOneLineError(const CommandResult& r, int code, const std::string& cause) {
    EXPECT_EQ(r.exit_code, code) << r.out << r.err;
    EXPECT_TRUE(r.err.starts_with("error: ")) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find(cause), std::string::npos) << "expected \"" << cause << "\" in " << r.err;
  }

  static inline std::unique_ptr<testing::TempDir> shared_;
  testing::TempDir dir_;
  std::string data_;
};

TEST_F(EvidenceExportTest, AnExportVerifiesAndTwiceGivesTheSameEventsAndRoot) {
  AppendEndpointEvents("ep-00000000000000a1", "installed");
  AppendEndpointEvents("ep-00000000000000a2", "failed");
  const CommandResult first = Export("one.tar", "--label 'USB stick 7' --nonce q1-2026");
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_NE(first.out.find("exported events 1..10 of 10"), std::string::npos) << first.out;
  const CommandResult verified = Verify((dir_ / "one.tar") + " --nonce q1-2026");
  EXPECT_EQ(verified.exit_code, 0) << verified.out << verified.err;
  EXPECT_NE(verified.out.find("1 installed (1 late), 1 failed"), std::string::npos) << verified.out;

  const CommandResult second = Export("two.tar");
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_EQ(Verify(dir_ / "two.tar").exit_code, 0);
  EXPECT_EQ(Member("one.tar", "events.jsonl"), Member("two.tar", "events.jsonl"));
  EXPECT_EQ(Member("one.tar", "report.html"), Member("two.tar", "report.html"));
  const std::string checkpoint_one = Member("one.tar", "checkpoint");
  const std::string checkpoint_two = Member("two.tar", "checkpoint");
  // Origin, size and root: the first three lines.
  const auto head = [](const std::string& note) {
    size_t at = 0;
    for (int i = 0; i < 3; ++i) at = note.find('\n', at) + 1;
    return note.substr(0, at);
  };
  EXPECT_EQ(head(checkpoint_one), head(checkpoint_two));
  // The origin names the site and the relay key: ferry.relay/st-x/<8 hex of the key id>.
  EXPECT_TRUE(head(checkpoint_one).starts_with("ferry.relay/st-x/")) << checkpoint_one;
  EXPECT_EQ(head(checkpoint_one).substr(25, 4), "\n10\n") << checkpoint_one;
  // The second export chains from the first, even over the same events.
  EXPECT_EQ(Member("two.tar", "previous-checkpoint"), checkpoint_one);
  EXPECT_EQ(Verify((dir_ / "two.tar") + " --previous " + (dir_ / "one.tar")).exit_code, 0);

  // The relay recorded both, with the media record.
  const CommandResult list = OnRelay("evidence list", "--json");
  ASSERT_EQ(list.exit_code, 0) << list.err;
  auto exports = json::Parse(list.out);
  ASSERT_TRUE(exports.ok()) << list.out;
  ASSERT_EQ(exports->as_array().size(), 2u);
  const json::Object& one = exports->as_array()[0].as_object();
  EXPECT_EQ(one.at("label").as_string(), "USB stick 7");
  EXPECT_EQ(one.at("nonce").as_string(), "q1-2026");
  EXPECT_EQ(one.at("tree_size").as_int(), 10);
  EXPECT_EQ(one.at("root_sha256"), exports->as_array()[1].as_object().at("root_sha256"));
  // An export appends no event of its own.
  EXPECT_NE(OnRelay("events", "").out.find("install.reported"), std::string::npos);
  EXPECT_EQ(OnRelay("events", "--from 11").out, "");
}

TEST_F(EvidenceExportTest, SinceLastExportsChain) {
  ASSERT_EQ(Export("a.tar").exit_code, 0);
  AppendEndpointEvents("ep-00000000000000b1", "installed");
  const CommandResult b = Export("b.tar", "--since-last");
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_NE(b.out.find("exported events 5..7 of 7"), std::string::npos) << b.out;
  EXPECT_NE(b.out.find("chains from      the previous export (4 events)"), std::string::npos);
  const CommandResult linked = Verify((dir_ / "b.tar") + " --previous " + (dir_ / "a.tar"));
  EXPECT_EQ(linked.exit_code, 0) << linked.out << linked.err;
  EXPECT_NE(linked.out.find("events     5..7 of 7"), std::string::npos) << linked.out;

  AppendEndpointEvents("ep-00000000000000b2", "installed");
  ASSERT_EQ(Export("c.tar", "--since-last").exit_code, 0);
  EXPECT_EQ(Verify((dir_ / "c.tar") + " --previous " + (dir_ / "b.tar")).exit_code, 0);
  // Skipping a link of the chain: the auditor is told which export to supply.
  ExpectOneLineError(Verify((dir_ / "c.tar") + " --previous " + (dir_ / "a.tar")), 1,
                     "supply that export as --previous");
  // And a full export still links to the oldest one.
  ASSERT_EQ(Export("d.tar").exit_code, 0);
  EXPECT_EQ(Verify((dir_ / "d.tar") + " --previous " + (dir_ / "a.tar")).exit_code, 0);
  // Verifying the older one against the newer is a rollback.
  ExpectOneLineError(Verify((dir_ / "a.tar") + " --previous " + (dir_ / "d.tar")), 1,
                     "rolled back: this export covers 4 events, the previous one 10");

  ExpectOneLineError(Export("e.tar", "--since-last"), 2, "nothing to export");
}

TEST_F(EvidenceExportTest, FromNCarriesTheTailAndThePrefix) {
  AppendEndpointEvents("ep-00000000000000c1", "installed");
  const CommandResult r = Export("tail.tar", "--from 6");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Member("tail.tar", "events.jsonl").substr(0, 40).find("\"seq\":6"), std::string::npos);
  EXPECT_NE(Member("tail.tar", "events.jsonl").find("\"seq\":6,"), std::string::npos);
  EXPECT_EQ(Member("tail.tar", "prefix").substr(0, 11), "events 1-4 ");
  const CommandResult verified = Verify(dir_ / "tail.tar");
  EXPECT_EQ(verified.exit_code, 0) << verified.out << verified.err;
  EXPECT_NE(verified.out.find("events     6..7 of 7"), std::string::npos) << verified.out;
}

TEST_F(EvidenceExportTest, RefusalsAreOneLineWithTheirExitCodes) {
  testing::WriteAll(dir_ / "taken.tar", "keep me");
  ExpectOneLineError(Export("taken.tar"), 3, "already exists; refusing to overwrite");
  EXPECT_EQ(testing::ReadAll(dir_ / "taken.tar"), "keep me");
  ExpectOneLineError(Export("x.tar", "--since-last --from 2"), 2, "not both");
  ExpectOneLineError(Export("x.tar", "--from 99"), 2, "--from 99: the log holds events 1 to 4");
  ExpectOneLineError(Export("x.tar", "--nonce ' padded'"), 2, "--nonce");
  ExpectOneLineError(OnRelay("evidence export", ""), 2, "missing required option --out");
  ExpectOneLineError(OnRelay("evidence frobnicate", ""), 2, "unknown command");
  EXPECT_FALSE(fs::Exists(dir_ / "x.tar"));
  EXPECT_EQ(testing::Run("ls " + dir_.path() + " | grep -c tmp").out, "0\n");
}

TEST_F(EvidenceExportTest, ExceptionsAreEventsTheReportsHonour) {
  const CommandResult added = OnRelay("exception add",
                                      "--patch high-fix --until 30d --reason 'vendor fix pending, "
                                      "\"compensating\" control'");
  ASSERT_EQ(added.exit_code, 0) << added.err;
  EXPECT_NE(added.out.find("high-fix on every endpoint may stay uninstalled until"),
            std::string::npos)
      << added.out;
  const CommandResult listed = OnRelay("exception list", "--json");
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  auto exceptions = json::Parse(listed.out);
  ASSERT_TRUE(exceptions.ok()) << listed.out;
  ASSERT_EQ(exceptions->as_array().size(), 1u);
  const json::Object& e = exceptions->as_array()[0].as_object();
  EXPECT_TRUE(e.at("active").as_bool());
  EXPECT_EQ(e.count("endpoint"), 0u);  // every endpoint
  EXPECT_EQ(e.at("patch").as_string(), "high-fix");

  ExpectOneLineError(OnRelay("exception add", "--patch nope --until 30d --reason r"), 2,
                     "no patch \"nope\" in the catalog");
  ExpectOneLineError(
      OnRelay("exception add", "--patch high-fix --until 2020-01-01T00:00:00Z --reason r"), 2,
      "is not in the future");
  ExpectOneLineError(OnRelay("exception add",
                             "--patch high-fix --endpoint ep-0000000000000000 "
                             "--until 30d --reason r"),
                     2, "no endpoint \"ep-0000000000000000\" is enrolled");
  ExpectOneLineError(OnRelay("exception add", "--patch high-fix --until soon --reason r"), 2,
                     "--until \"soon\"");

  ASSERT_EQ(Export("ex.tar").exit_code, 0);
  EXPECT_NE(Member("ex.tar", "reports/exceptions.csv").find(",high-fix,*,"), std::string::npos);
  EXPECT_EQ(Verify(dir_ / "ex.tar").exit_code, 0);
}

TEST_F(EvidenceExportTest, ApprovalEventsCarryTheReleaseDate) {
  const std::string events = OnRelay("events", "--type patch.approved --json").out;
  EXPECT_NE(events.find("\"released\": \"2020-01-05T00:00:00Z\""), std::string::npos) << events;
}

}  // namespace
}  // namespace ferry::relay
