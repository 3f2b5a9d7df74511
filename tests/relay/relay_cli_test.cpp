// ferry-relay as an operator uses it, through the real executable: init, import, the listings,
// approvals, applicability for a dpkg status file, fsck and the configuration file. Every
// failure must be one line "error: ..." with the documented exit code and change nothing.

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <map>
#include <memory>
#include <set>

#include "common/json.hpp"
#include "tests/support/testing.hpp"

namespace ferry::relay {
namespace {

using testing::CommandResult;

constexpr const char* kChannel = "security";

// Generic payloads with the severities the approval tests select on.
struct GenericPayload {
  const char* id;
  const char* severity;
};
constexpr GenericPayload kGenericPayloads[] = {
    {"crit-fix", "critical"}, {"high-fix", "high"}, {"low-fix", "low"}};

// A marker that makes the tampered payload easy to find inside the bundle's tar stream.
constexpr const char* kMarker = "FERRY-CLI-TEST-TAMPER-TARGET";

class RelayCliTest : public ::testing::Test {
 protected:
  // Keys, the trust root and the bundles are the same for every test: built once.
  static void SetUpTestSuite() {
    shared_ = std::make_unique<testing::TempDir>();
    const testing::TempDir& s = *shared_;
    ASSERT_EQ(Bundle("keygen --out " + (s / "root") + " --unencrypted").exit_code, 0);
    ASSERT_EQ(Bundle("keygen --out " + (s / "b1") + " --unencrypted").exit_code, 0);
    const CommandResult root =
        Bundle("root init --root-key " + (s / "root.key") + " --threshold 1 --bundle-key " +
               (s / "b1.pub") + " --bundle-threshold 1 --expires 30d --out " + (s / "root.json"));
    ASSERT_EQ(root.exit_code, 0) << root.err;

    // Bundle 1: .deb packages for the applicability test plus generic payloads with severities.
    const std::string src1 = s / "src1";
    testing::Run("mkdir -p '" + src1 + "' '" + (s / "src2") + "'");
    testing::MakeDeb(src1, "libfoo", "2.0-1", "amd64");
    testing::MakeDeb(src1, "bar", "1:1.5-2", "all");
    testing::MakeDeb(src1, "baz", "3.0~rc1-1", "amd64");
    testing::MakeDeb(src1, "epo", "1:0.5-1", "amd64");
    testing::MakeDeb(src1, "tld", "1.0-1", "amd64");
    testing::MakeDeb(src1, "qux", "1.0-1", "amd64");
    testing::MakeDeb(src1, "archy", "2.0-1", "amd64");
    for (const GenericPayload& p : kGenericPayloads) {
      testing::WriteAll(src1 + "/" + p.id + ".txt", std::string("contents of ") + p.id + "\n");
      testing::WriteAll(src1 + "/" + p.id + ".payload.json",
                        std::string("{\"id\": \"") + p.id + "\", \"kind\": \"file\", \"file\": \"" +
                            p.id + ".txt\", \"target_os\": \"debian-12\", \"severity\": \"" +
                            p.severity + "\"}");
    }
    ASSERT_EQ(BuildBundle(1, src1, s / "bundle-1.ferry").exit_code, 0);

    // Bundle 2: one new 256 KiB payload, and a copy of the bundle with one byte of it flipped.
    std::string note(256 * 1024, '\0');
    uint32_t state = 12345;
    for (char& c : note) {
      state = state * 1103515245u + 12345u;
      c = static_cast<char>('a' + (state >> 16) % 26);
    }
    note.replace(note.size() / 2, std::string(kMarker).size(), kMarker);
    testing::WriteAll(s / "src2/note.txt", note);
    testing::WriteAll(s / "src2/note.payload.json",
                      "{\"id\": \"site-note\", \"kind\": \"file\", \"file\": \"note.txt\", "
                      "\"target_os\": \"debian-12\"}");
    ASSERT_EQ(BuildBundle(2, s / "src2", s / "bundle-2.ferry").exit_code, 0);
    std::string bytes = testing::ReadAll(s / "bundle-2.ferry");
    const size_t at = bytes.find(kMarker);
    ASSERT_NE(at, std::string::npos);
    bytes[at + 3] ^= 0x01;
    testing::WriteAll(s / "tampered-2.ferry", bytes);
  }

  static void TearDownTestSuite() { shared_.reset(); }

  void SetUp() override { data_ = dir_ / "relay"; }

  static CommandResult Bundle(const std::string& args) {
    return testing::Run(testing::BuildPath("bundler/ferry-bundle") + " " + args);
  }

  static CommandResult BuildBundle(int sequence, const std::string& source,
                                   const std::string& out) {
    const CommandResult built =
        Bundle("build --root " + Shared("root.json") + " --key " + Shared("b1.key") +
               " --channel " + kChannel + " --sequence " + std::to_string(sequence) + " --source " +
               source + " --expires 30d --out " + out);
    EXPECT_EQ(built.exit_code, 0) << built.err;
    return built;
  }

  static std::string Shared(const std::string& name) { return *shared_ / name; }

  static CommandResult Relay(const std::string& args) {
    return testing::Run(testing::BuildPath("relay/ferry-relay") + " " + args);
  }

  // ferry-relay COMMAND --data DIR ARGS.
  CommandResult OnRelay(const std::string& command, const std::string& args = "") const {
    return Relay(command + " --data " + data_ + " " + args);
  }

  void InitRelay() {
    const CommandResult init = OnRelay("init", "--root " + Shared("root.json"));
    ASSERT_EQ(init.exit_code, 0) << init.err;
  }

  void InitAndImportFirst() {
    ASSERT_NO_FATAL_FAILURE(InitRelay());
    const CommandResult imported = OnRelay("import", Shared("bundle-1.ferry"));
    ASSERT_EQ(imported.exit_code, 0) << imported.err;
  }

  // Runs a listing with --json; it must succeed and print one JSON document.
  json::Value Json(const std::string& command, const std::string& args = "") const {
    const CommandResult result = OnRelay(command, "--json " + args);
    EXPECT_EQ(result.exit_code, 0) << command << ": " << result.err;
    auto parsed = json::Parse(result.out);
    EXPECT_TRUE(parsed.ok()) << command << " --json printed: " << result.out;
    return parsed.ok() ? std::move(*parsed) : json::Value();
  }

  std::vector<json::Value> EventsOfType(const std::string& type) const {
    std::vector<json::Value> out;
    const json::Value events = Json("events");
    if (!events.is_array()) return out;
    for (const json::Value& e : events.as_array()) {
      if (e.as_object().at("type").as_string() == type) out.push_back(e);
    }
    return out;
  }

  // Patch id -> approved, from `patches --json`.
  std::map<std::string, bool> Approvals() const {
    std::map<std::string, bool> out;
    const json::Value patches = Json("patches");
    if (!patches.is_array()) return out;
    for (const json::Value& p : patches.as_array()) {
      out[p.as_object().at("id").as_string()] = p.as_object().at("approved").as_bool();
    }
    return out;
  }

  // Every file under payloads/ and staging/, one per line.
  std::string StoreFiles() const {
    return testing::Run("cd '" + data_ + "' && find payloads staging -type f | sort").out;
  }

  // Every file of the data directory with its mode and contents' hash.
  std::string DirectorySnapshot() const {
    return testing::Run("cd '" + data_ + "' && find . -printf '%p %m %s\\n' | sort && " +
                        "find . -type f -exec sha256sum {} + | sort")
        .out;
  }

  static void ExpectOneLineError(const CommandResult& result, int code, const std::string& cause) {
    EXPECT_EQ(result.exit_code, code) << result.err;
    EXPECT_TRUE(result.err.starts_with("error: ")) << result.err;
    EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
    EXPECT_NE(result.err.find(cause), std::string::npos)
        << "expected \"" << cause << "\" in " << result.err;
  }

  static int ModeOf(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return -1;
    return static_cast<int>(st.st_mode & 07777);
  }

  static inline std::unique_ptr<testing::TempDir> shared_;
  testing::TempDir dir_;
  std::string data_;
};

TEST_F(RelayCliTest, InitPrintsWhereTheCaAndPublicKeyAreAndKeepsSecretsPrivate) {
  const CommandResult init = OnRelay("init", "--root " + Shared("root.json"));
  ASSERT_EQ(init.exit_code, 0) << init.err;
  EXPECT_NE(init.out.find(data_ + "/tls/ca.pem"), std::string::npos) << init.out;
  EXPECT_NE(init.out.find(data_ + "/identity.pub"), std::string::npos) << init.out;
  EXPECT_EQ(testing::Run("test -s " + data_ + "/tls/ca.pem").exit_code, 0);
  EXPECT_EQ(testing::Run("openssl x509 -noout -in " + data_ + "/tls/ca.pem").exit_code, 0);
  EXPECT_EQ(testing::Run("test -s " + data_ + "/identity.pub").exit_code, 0);

  EXPECT_EQ(ModeOf(data_ + "/identity.key"), 0600);
  EXPECT_EQ(ModeOf(data_ + "/operator.token"), 0600);
  EXPECT_EQ(ModeOf(data_ + "/tls/ca.key"), 0600);
  EXPECT_EQ(ModeOf(data_ + "/tls/server.key"), 0600);
  EXPECT_EQ(ModeOf(data_) & 0007, 0) << "the data directory must not be world-accessible";

  const json::Value status = Json("status");
  ASSERT_TRUE(status.is_object());
  EXPECT_EQ(status.as_object().at("trust_root_version").as_int(), 1);
  EXPECT_EQ(status.as_object().at("bundles").as_int(), 0);
  EXPECT_EQ(EventsOfType("relay.initialised").size(), 1u);
}

TEST_F(RelayCliTest, SecondInitExitsTwoAndChangesNothing) {
  ASSERT_NO_FATAL_FAILURE(InitRelay());
  const std::string before = DirectorySnapshot();
  ASSERT_NE(before.find("identity.key"), std::string::npos);
  ExpectOneLineError(OnRelay("init", "--root " + Shared("root.json")), 2, "already initialised");
  ExpectOneLineError(OnRelay("init", "--root " + Shared("root.json") + " --site-id other"), 2,
                     "already initialised");
  EXPECT_EQ(DirectorySnapshot(), before);
}

TEST_F(RelayCliTest, GoodBundleImportsAndListingsShowIt) {
  ASSERT_NO_FATAL_FAILURE(InitRelay());
  const CommandResult imported = OnRelay("import", Shared("bundle-1.ferry"));
  ASSERT_EQ(imported.exit_code, 0) << imported.err;
  EXPECT_NE(imported.out.find("sequence 1"), std::string::npos) << imported.out;

  const json::Value bundles = Json("bundles");
  ASSERT_TRUE(bundles.is_array());
  ASSERT_EQ(bundles.as_array().size(), 1u);
  const json::Object& bundle = bundles.as_array()[0].as_object();
  EXPECT_EQ(bundle.at("channel").as_string(), kChannel);
  EXPECT_EQ(bundle.at("sequence").as_int(), 1);
  EXPECT_EQ(bundle.at("patches").as_int(), 10);
  EXPECT_EQ(bundle.at("source").as_string(), "bundle-1.ferry");
  EXPECT_EQ(bundle.count("base_sequence"), 0u);

  const json::Value patches = Json("patches");
  ASSERT_TRUE(patches.is_array());
  ASSERT_EQ(patches.as_array().size(), 10u);
  std::set<std::string> ids;
  int64_t payload_bytes = 0;
  for (const json::Value& p : patches.as_array()) {
    const json::Object& patch = p.as_object();
    ids.insert(patch.at("id").as_string());
    payload_bytes += patch.at("size").as_int();
    EXPECT_FALSE(patch.at("approved").as_bool());
    EXPECT_EQ(patch.at("sequence").as_int(), 1);
    // Every listed payload is in the store under its hash.
    const std::string sha = patch.at("sha256").as_string();
    EXPECT_EQ(
        testing::Run("test -f " + data_ + "/payloads/" + sha.substr(0, 2) + "/" + sha).exit_code, 0)
        << sha;
  }
  EXPECT_TRUE(ids.count("libfoo_2.0-1_amd64")) << *json::Canonical(patches);
  EXPECT_TRUE(ids.count("crit-fix"));

  const json::Value status = Json("status");
  ASSERT_TRUE(status.is_object());
  const json::Object& s = status.as_object();
  EXPECT_EQ(s.at("bundles").as_int(), 1);
  EXPECT_EQ(s.at("patches").as_int(), 10);
  EXPECT_EQ(s.at("approved_patches").as_int(), 0);
  EXPECT_EQ(s.at("payloads").as_int(), 10);
  EXPECT_EQ(s.at("payload_bytes").as_int(), payload_bytes);
  EXPECT_EQ(s.at("channels"), json::Value(json::Object{{kChannel, int64_t{1}}}));
  EXPECT_EQ(s.at("catalog_version").as_int(), 1);

  const json::Value events = Json("events");
  ASSERT_TRUE(events.is_array());
  EXPECT_EQ(s.at("events").as_int(), static_cast<int64_t>(events.as_array().size()));
  const auto accepted = EventsOfType("import.accepted");
  ASSERT_EQ(accepted.size(), 1u);
  EXPECT_EQ(accepted[0].as_object().at("subject").as_string(), std::string(kChannel) + "/1");
  EXPECT_EQ(accepted[0].as_object().at("details").as_object().at("manifest_sha256"),
            bundle.at("manifest_sha256"));

  // The same bundle again is a successful no-op.
  const std::string store = StoreFiles();
  const CommandResult again = OnRelay("import", Shared("bundle-1.ferry"));
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("already imported"), std::string::npos) << again.out;
  EXPECT_EQ(StoreFiles(), store);
  EXPECT_EQ(Json("bundles"), bundles);
  EXPECT_EQ(Json("events"), events);
}

TEST_F(RelayCliTest, TamperedBundleExitsOneAndLeavesOnlyTheEvent) {
  ASSERT_NO_FATAL_FAILURE(InitAndImportFirst());
  const std::string store = StoreFiles();
  const json::Value bundles = Json("bundles");
  const json::Value patches = Json("patches");
  ASSERT_TRUE(EventsOfType("import.rejected").empty());

  ExpectOneLineError(OnRelay("import", Shared("tampered-2.ferry")), 1,
                     "does not match its SHA-256");
  EXPECT_EQ(StoreFiles(), store);
  EXPECT_EQ(Json("bundles"), bundles);
  EXPECT_EQ(Json("patches"), patches);
  EXPECT_EQ(Json("status").as_object().at("catalog_version").as_int(), 1);
  const auto rejected = EventsOfType("import.rejected");
  ASSERT_EQ(rejected.size(), 1u);
  const json::Object& details = rejected[0].as_object().at("details").as_object();
  EXPECT_EQ(details.at("file").as_string(), "tampered-2.ferry");
  EXPECT_NE(details.at("reason").as_string().find("does not match its SHA-256"), std::string::npos)
      << details.at("reason").as_string();

  // The genuine bundle 2 still imports afterwards: the refusal used up nothing.
  const CommandResult good = OnRelay("import", Shared("bundle-2.ferry"));
  EXPECT_EQ(good.exit_code, 0) << good.err;
  EXPECT_EQ(Json("bundles").as_array().size(), 2u);
  EXPECT_EQ(OnRelay("fsck").exit_code, 0);
}

TEST_F(RelayCliTest, ApproveAndRevokeLeaveEvents) {
  ASSERT_NO_FATAL_FAILURE(InitAndImportFirst());
  const CommandResult one = OnRelay("approve", "libfoo_2.0-1_amd64");
  ASSERT_EQ(one.exit_code, 0) << one.err;
  auto approvals = Approvals();
  EXPECT_TRUE(approvals.at("libfoo_2.0-1_amd64"));
  EXPECT_EQ(std::count_if(approvals.begin(), approvals.end(), [](auto& a) { return a.second; }), 1);
  auto approved_events = EventsOfType("patch.approved");
  ASSERT_EQ(approved_events.size(), 1u);
  EXPECT_EQ(approved_events[0].as_object().at("subject").as_string(), "libfoo_2.0-1_amd64");
  EXPECT_TRUE(approved_events[0].as_object().at("actor").as_string().starts_with("operator:"));

  // "high" means high or worse.
  ASSERT_EQ(OnRelay("approve", "--severity high").exit_code, 0);
  approvals = Approvals();
  EXPECT_TRUE(approvals.at("crit-fix"));
  EXPECT_TRUE(approvals.at("high-fix"));
  EXPECT_FALSE(approvals.at("low-fix"));
  EXPECT_FALSE(approvals.at("tld_1.0-1_amd64"));
  EXPECT_EQ(EventsOfType("patch.approved").size(), 3u);

  ASSERT_EQ(OnRelay("approve", "--all").exit_code, 0);
  approvals = Approvals();
  EXPECT_TRUE(std::all_of(approvals.begin(), approvals.end(), [](auto& a) { return a.second; }));
  // Already approved patches are not approved (nor logged) twice.
  EXPECT_EQ(EventsOfType("patch.approved").size(), approvals.size());
  EXPECT_EQ(Json("status").as_object().at("approved_patches").as_int(), 10);

  ASSERT_EQ(OnRelay("revoke", "high-fix").exit_code, 0);
  EXPECT_FALSE(Approvals().at("high-fix"));
  ASSERT_EQ(OnRelay("revoke", "--severity critical").exit_code, 0);
  EXPECT_FALSE(Approvals().at("crit-fix"));
  const auto revoked = EventsOfType("patch.revoked");
  ASSERT_EQ(revoked.size(), 2u);
  EXPECT_EQ(revoked[0].as_object().at("subject").as_string(), "high-fix");
  EXPECT_EQ(revoked[1].as_object().at("subject").as_string(), "crit-fix");

  const json::Value approved_only = Json("patches", "--approved");
  ASSERT_TRUE(approved_only.is_array());
  EXPECT_EQ(approved_only.as_array().size(), 8u);
  ASSERT_EQ(OnRelay("revoke", "--all").exit_code, 0);
  EXPECT_EQ(Json("patches", "--approved").as_array().size(), 0u);
  EXPECT_EQ(EventsOfType("patch.revoked").size(), 10u);
}

TEST_F(RelayCliTest, ApproveOfAnUnknownIdExitsTwoAndApprovesNothing) {
  ASSERT_NO_FATAL_FAILURE(InitAndImportFirst());
  const json::Value events = Json("events");
  ExpectOneLineError(OnRelay("approve", "libfoo_2.0-1_amd64 no-such-patch"), 2, "no-such-patch");
  ExpectOneLineError(OnRelay("approve", "--severity dire"), 2, "dire");
  ExpectOneLineError(OnRelay("approve"), 2, "--all");
  const auto approvals = Approvals();
  EXPECT_EQ(approvals.size(), 10u);
  EXPECT_TRUE(std::none_of(approvals.begin(), approvals.end(), [](auto& a) { return a.second; }));
  EXPECT_EQ(Json("events"), events);
}

TEST_F(RelayCliTest, ApplicableListsExactlyThePatchesWithHigherVersions) {
  ASSERT_NO_FATAL_FAILURE(InitAndImportFirst());
  // Written by hand as dpkg writes it; the comments say what each stanza must produce.
  const std::string status =
      // lower installed version: libfoo 2.0-1 applies
      "Package: libfoo\nStatus: install ok installed\nPriority: optional\nSection: libs\n"
      "Architecture: amd64\nVersion: 1.9-1\nDescription: foo\n multi-line description\n\n"
      // equal version, patch built for "all": does not apply
      "Package: bar\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1:1.5-2\n\n"
      // installed 3.0-1 is above the patch's 3.0~rc1-1: does not apply
      "Package: baz\nStatus: install ok installed\nArchitecture: amd64\nVersion: 3.0-1\n\n"
      // epoch 1 beats any epoch-0 version: epo 1:0.5-1 applies
      "Package: epo\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.0-1\n\n"
      // ~ sorts before everything: tld 1.0-1 applies over 1.0~beta-1
      "Package: tld\nStatus: hold ok installed\nArchitecture: amd64\nVersion: 1.0~beta-1\n\n"
      // removed, only configuration files remain: does not apply
      "Package: qux\nStatus: deinstall ok config-files\nArchitecture: amd64\nVersion: 0.5-1\n\n"
      // another architecture: does not apply
      "Package: archy\nStatus: install ok installed\nArchitecture: arm64\nVersion: 1.0-1\n\n"
      // no patch for it at all
      "Package: coreutils\nStatus: install ok installed\nArchitecture: amd64\nVersion: 9.1-1\n";
  testing::WriteAll(dir_ / "status", status);
  const json::Value answer = Json("applicable", "--dpkg-status " + (dir_ / "status"));
  ASSERT_TRUE(answer.is_object());
  EXPECT_EQ(answer.as_object().at("installed_packages").as_int(), 7);
  std::set<std::string> got;
  for (const json::Value& a : answer.as_object().at("applicable").as_array()) {
    const json::Object& entry = a.as_object();
    got.insert(entry.at("package").as_string() + " " + entry.at("installed_version").as_string() +
               " -> " + entry.at("patch_version").as_string());
    EXPECT_FALSE(entry.at("approved").as_bool());
  }
  const std::set<std::string> expected = {"libfoo 1.9-1 -> 2.0-1", "epo 2.0-1 -> 1:0.5-1",
                                          "tld 1.0~beta-1 -> 1.0-1"};
  EXPECT_EQ(got, expected) << *json::Canonical(answer);

  // Approval shows in the answer; applicability itself does not depend on it.
  ASSERT_EQ(OnRelay("approve", "libfoo_2.0-1_amd64").exit_code, 0);
  const json::Value again = Json("applicable", "--dpkg-status " + (dir_ / "status"));
  ASSERT_TRUE(again.is_object());
  size_t approved = 0;
  for (const json::Value& a : again.as_object().at("applicable").as_array()) {
    if (a.as_object().at("approved").as_bool()) {
      ++approved;
      EXPECT_EQ(a.as_object().at("patch_id").as_string(), "libfoo_2.0-1_amd64");
    }
  }
  EXPECT_EQ(approved, 1u);
  EXPECT_EQ(again.as_object().at("applicable").as_array().size(), 3u);

  // A status file dpkg could not have written is refused with its line.
  testing::WriteAll(dir_ / "bad-status", "Package: x\nStatus: install ok sideways\n");
  const CommandResult bad = OnRelay("applicable", "--dpkg-status " + (dir_ / "bad-status"));
  ExpectOneLineError(bad, 1, "bad-status:");
}

TEST_F(RelayCliTest, FsckIsCleanThenNamesEachFault) {
  ASSERT_NO_FATAL_FAILURE(InitAndImportFirst());
  const CommandResult clean = OnRelay("fsck");
  EXPECT_EQ(clean.exit_code, 0) << clean.out << clean.err;
  EXPECT_NE(clean.out.find("clean"), std::string::npos) << clean.out;

  const json::Value patches = Json("patches");
  ASSERT_TRUE(patches.is_array());
  const std::string sha = patches.as_array()[0].as_object().at("sha256").as_string();
  const std::string payload = data_ + "/payloads/" + sha.substr(0, 2) + "/" + sha;
  const std::string original = testing::ReadAll(payload);
  ASSERT_FALSE(original.empty());

  // A deleted payload.
  ASSERT_EQ(testing::Run("rm " + payload).exit_code, 0);
  CommandResult fsck = OnRelay("fsck");
  ExpectOneLineError(fsck, 1, sha + ": missing from the store");
  EXPECT_NE(fsck.out.find("fault: payload " + sha), std::string::npos) << fsck.out;
  testing::WriteAll(payload, original);
  ASSERT_EQ(OnRelay("fsck").exit_code, 0);

  // One changed byte, same size.
  std::string changed = original;
  changed[changed.size() / 2] ^= 0x01;
  testing::WriteAll(payload, changed);
  ExpectOneLineError(OnRelay("fsck"), 1, sha + ": contents do not match");
  // --quick checks sizes only, so it cannot see this one.
  EXPECT_EQ(OnRelay("fsck", "--quick").exit_code, 0);
  testing::WriteAll(payload, original);
  ASSERT_EQ(OnRelay("fsck").exit_code, 0);

  // A file nobody references.
  const std::string orphan = "abababababababababababababababababababababababababababababababab";
  testing::WriteAll(data_ + "/payloads/ab/" + orphan, "stray\n");
  fsck = OnRelay("fsck", "--json");
  EXPECT_EQ(fsck.exit_code, 1) << fsck.err;
  ExpectOneLineError(fsck, 1, "payloads/ab/" + orphan + ": orphan");
  auto report = json::Parse(fsck.out);
  ASSERT_TRUE(report.ok()) << fsck.out;
  EXPECT_EQ(report->as_object().at("ok"), json::Value(false));
  EXPECT_EQ(report->as_object().at("faults").as_array().size(), 1u);
  ASSERT_EQ(testing::Run("rm " + data_ + "/payloads/ab/" + orphan).exit_code, 0);

  fsck = OnRelay("fsck", "--json");
  EXPECT_EQ(fsck.exit_code, 0) << fsck.err;
  report = json::Parse(fsck.out);
  ASSERT_TRUE(report.ok()) << fsck.out;
  EXPECT_EQ(report->as_object().at("ok"), json::Value(true));
  EXPECT_EQ(report->as_object().at("payloads_checked").as_int(), 10);
}

TEST_F(RelayCliTest, ConfigFileNamesTheDataDirectory) {
  testing::WriteAll(dir_ / "relay.conf",
                    "# written by the operator\n\n  data_dir = " + data_ + "   # the store\n");
  const std::string config = " --config " + (dir_ / "relay.conf");
  const CommandResult init = Relay("init --root " + Shared("root.json") + config);
  ASSERT_EQ(init.exit_code, 0) << init.err;
  EXPECT_EQ(testing::Run("test -f " + data_ + "/ferry.db").exit_code, 0);
  const CommandResult imported = Relay("import" + config + " " + Shared("bundle-1.ferry"));
  ASSERT_EQ(imported.exit_code, 0) << imported.err;

  const CommandResult status = Relay("status --json" + config);
  ASSERT_EQ(status.exit_code, 0) << status.err;
  auto parsed = json::Parse(status.out);
  ASSERT_TRUE(parsed.ok()) << status.out;
  EXPECT_EQ(parsed->as_object().at("data_dir").as_string(), data_);
  EXPECT_EQ(parsed->as_object().at("bundles").as_int(), 1);
  // --data still wins over the file.
  EXPECT_EQ(Relay("status --data " + (dir_ / "elsewhere") + config).exit_code, 3);

  testing::WriteAll(dir_ / "empty.conf", "# nothing here\n");
  ExpectOneLineError(Relay("status --config " + (dir_ / "empty.conf")), 2, "no data_dir");
  // A misspelt setting is refused, not ignored.
  testing::WriteAll(dir_ / "typo.conf", "data_dir = " + data_ + "\ndata_dri = /srv/ferry\n");
  ExpectOneLineError(Relay("status --config " + (dir_ / "typo.conf")), 2, "data_dri");
  testing::WriteAll(dir_ / "broken.conf", "data_dir /var/lib/ferry\n");
  ExpectOneLineError(Relay("status --config " + (dir_ / "broken.conf")), 2, "broken.conf:1");
}

}  // namespace
}  // namespace ferry::relay
