// The whole flow through the real executables: a bundle built from real .deb files, a relay
// initialised, importing, approving and serving over TLS, and ferry-agent enrolling and running
// --once against private dpkg roots with real dpkg. A loopback proxy breaks the network on
// purpose.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <thread>

#include "bundler/build.hpp"
#include "common/file.hpp"
#include "common/json.hpp"
#include "crypto/trust_root.hpp"
#include "endpoint/dpkg_installer.hpp"
#include "endpoint/local_inventory.hpp"
#include "tests/endpoint/fixtures.hpp"
#include "tests/support/tcp_proxy.hpp"
#include "tests/support/testing.hpp"

namespace ferry::endpoint {
namespace {

using std::chrono::milliseconds;
using testing::CommandResult;

std::string Quote(const std::string& text) { return "'" + text + "'"; }

class AgentEndToEndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    relay_bin_ = testing::BuildPath("relay/ferry-relay");
    agent_bin_ = testing::BuildPath("endpoint/ferry-agent");
    ASSERT_TRUE(fs::Exists(relay_bin_) && fs::Exists(agent_bin_)) << "build ferry-relay and "
                                                                     "ferry-agent first";
    root_ = fixtures::MakeRoot(1, root_key_, bundle_key_);
    testing::WriteAll(dir_ / "root.json", root_.text);

    testing::Run("mkdir -p " + Quote(dir_ / "src") + " " + Quote(dir_ / "old"));
    testing::MakeDeb(dir_ / "old", "libfoo1", "1.0-1", "amd64", 2000);
    testing::MakeDeb(dir_ / "old", "bar", "2.0-1", "all", 1000);
    new_foo_ = testing::MakeDeb(dir_ / "src", "libfoo1", "1.1-1", "amd64", 3'000'000);
    testing::MakeDeb(dir_ / "src", "bar", "2.1-1", "all", 1000);

    fixtures::BuildBundle({root_}, bundle_key_, 1, dir_ / "src", dir_ / "b1.ferry");

    data_ = dir_ / "relay";
    ASSERT_EQ(Relay("init --data " + Quote(data_) + " --root " + Quote(dir_ / "root.json") +
                    " --ip 127.0.0.1")
                  .exit_code,
              0);
    ASSERT_EQ(Relay("import --data " + Quote(data_) + " " + Quote(dir_ / "b1.ferry")).exit_code, 0);
    ASSERT_EQ(Relay("approve --data " + Quote(data_) + " --all").exit_code, 0);
    StartRelay();
  }

  void TearDown() override { StopRelay(); }

  void StartRelay() {
    const std::string out = dir_ / "serve.out";
    ::unlink(out.c_str());
    relay_pid_ = testing::Spawn({relay_bin_, "serve", "--data", data_, "--listen", "127.0.0.1:0"},
                                out, dir_ / "serve.err");
    for (int i = 0; i < 200 && port_ == 0; ++i) {
      const std::string text = fs::Exists(out) ? testing::ReadAll(out) : "";
      if (const size_t at = text.find("listening on 127.0.0.1:");
          at != std::string::npos && text.find('\n', at) != std::string::npos) {
        port_ = static_cast<uint16_t>(std::stoi(text.substr(at + 23)));
      }
      std::this_thread::sleep_for(milliseconds(50));
    }
    ASSERT_NE(port_, 0) << testing::ReadAll(dir_ / "serve.err");
  }

  void StopRelay() {
    if (relay_pid_ > 0) {
      ::kill(relay_pid_, SIGTERM);
      if (!testing::WaitForExit(relay_pid_, milliseconds(15000))) {
        ::kill(relay_pid_, SIGKILL);
        testing::WaitForExit(relay_pid_, milliseconds(5000));
      }
      relay_pid_ = -1;
    }
  }

  CommandResult Relay(const std::string& arguments) {
    return testing::Run("timeout 120 " + Quote(relay_bin_) + " " + arguments);
  }

  CommandResult Agent(const std::string& arguments) {
    return testing::Run("timeout 300 " + Quote(agent_bin_) + " " + arguments);
  }

  std::string Token() {
    const CommandResult made = Relay("token create --data " + Quote(data_));
    EXPECT_EQ(made.exit_code, 0) << made.err;
    return made.out.substr(0, made.out.find('\n'));
  }

  // A private dpkg root holding the given old packages, installed with real dpkg.
  std::string MakeDpkgRoot(const std::string& name, const std::vector<std::string>& packages) {
    const std::string root = dir_ / name;
    EXPECT_TRUE(CreateDpkgRoot(root).ok());
    for (const std::string& package : packages) {
      auto installed = InstallDeb(dir_ / ("old/" + package), endpoint::DpkgRoot{root});
      EXPECT_TRUE(installed.ok() && installed->result == InstallResult::kInstalled) << package;
    }
    return root;
  }

  std::string Version(const std::string& root, const std::string& package) {
    auto inventory = ReadLocalInventory(endpoint::DpkgRoot{root});
    EXPECT_TRUE(inventory.ok());
    for (const auto& entry : inventory->packages) {
      if (entry.name == package) return entry.version;
    }
    return "";
  }

  CommandResult Enroll(const std::string& state, uint16_t port, const std::string& ca = "") {
    return Agent("enroll --relay https://127.0.0.1:" + std::to_string(port) + " --ca " +
                 Quote(ca.empty() ? data_ + "/tls/ca.pem" : ca) + " --root " +
                 Quote(dir_ / "root.json") + " --token " + Token() + " --state " + Quote(state) +
                 " --hostname test-host");
  }

  json::Value StatusJson(const std::string& state) {
    const CommandResult shown = Agent("status --state " + Quote(state) + " --json");
    EXPECT_EQ(shown.exit_code, 0) << shown.err;
    auto value = json::Parse(shown.out);
    EXPECT_TRUE(value.ok()) << shown.out;
    return value.ok() ? *value : json::Value();
  }

  // result of each install.reported event for `patch`, in order.
  std::vector<std::string> ReportedResults(const std::string& patch) {
    const CommandResult events =
        Relay("events --data " + Quote(data_) + " --type install.reported --json");
    EXPECT_EQ(events.exit_code, 0) << events.err;
    std::vector<std::string> results;
    auto value = json::Parse(events.out);
    if (!value.ok()) return results;
    for (const json::Value& event : value->as_array()) {
      if (event.as_object().at("subject").as_string() == patch) {
        results.push_back(event.as_object().at("details").as_object().at("result").as_string());
      }
    }
    return results;
  }

  testing::TempDir dir_;
  crypto::SigningKey root_key_ = *crypto::SigningKey::Generate();
  crypto::SigningKey bundle_key_ = *crypto::SigningKey::Generate();
  crypto::TrustRoot root_;
  std::string relay_bin_;
  std::string agent_bin_;
  std::string data_;
  std::string new_foo_;
  pid_t relay_pid_ = -1;
  uint16_t port_ = 0;
};

TEST_F(AgentEndToEndTest, EnrolsInstallsWithDpkgAndReports) {
  const std::string root = MakeDpkgRoot("dpkg1", {"libfoo1_1.0-1_amd64.deb", "bar_2.0-1_all.deb"});
  const std::string state = dir_ / "state1";
  const CommandResult enrolled = Enroll(state, port_);
  ASSERT_EQ(enrolled.exit_code, 0) << enrolled.err;
  EXPECT_NE(enrolled.out.find("enrolled as ep-"), std::string::npos) << enrolled.out;

  const CommandResult run =
      Agent("run --once --state " + Quote(state) + " --dpkg-root " + Quote(root));
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(Version(root, "libfoo1"), "1.1-1");
  EXPECT_EQ(Version(root, "bar"), "2.1-1");
  EXPECT_NE(run.err.find("signatures verified against root v1"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("reports: 2 accepted"), std::string::npos) << run.err;

  const json::Value status = StatusJson(state);
  const json::Object& object = status.as_object();
  EXPECT_EQ(object.at("patches").as_object().at("libfoo1_1.1-1_amd64").as_object().at("result"),
            json::Value("installed"));
  EXPECT_EQ(object.at("pending").as_array().size(), 0u);  // the relay saw the new inventory
  EXPECT_EQ(object.at("outbox").as_object().at("waiting"), json::Value(0));
  EXPECT_EQ(ReportedResults("libfoo1_1.1-1_amd64"), std::vector<std::string>{"installed"});
  EXPECT_EQ(ReportedResults("bar_2.1-1_all"), std::vector<std::string>{"installed"});
  // The cache is emptied once installed.
  EXPECT_TRUE(fs::ListDirectory(state + "/cache")->empty());

  // Nothing more to do; and the identity is never replaced.
  const CommandResult again =
      Agent("run --once --state " + Quote(state) + " --dpkg-root " + Quote(root));
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.err.find("0 patches offered"), std::string::npos) << again.err;
  EXPECT_EQ(Enroll(state, port_).exit_code, 2);
}

TEST_F(AgentEndToEndTest, ARelayServingOtherBytesIsRefusedAndReported) {
  const std::string root = MakeDpkgRoot("dpkg2", {"libfoo1_1.0-1_amd64.deb"});
  const std::string state = dir_ / "state2";
  ASSERT_EQ(Enroll(state, port_).exit_code, 0);
  // Replace the payload in the relay's store by bytes of the same size.
  const std::string hash = crypto::DigestHex(*crypto::Sha256OfFile(new_foo_));
  const std::string stored = data_ + "/payloads/" + hash.substr(0, 2) + "/" + hash;
  ASSERT_TRUE(fs::Exists(stored));
  std::string bytes = testing::ReadAll(stored);
  bytes[bytes.size() - 100] ^= 0x01;
  testing::Run("chmod u+w " + Quote(stored));
  testing::WriteAll(stored, bytes);

  const CommandResult run =
      Agent("run --once --state " + Quote(state) + " --dpkg-root " + Quote(root));
  EXPECT_EQ(run.exit_code, 1) << run.err;
  EXPECT_NE(run.err.find("does not match its SHA-256 in the signed manifest"), std::string::npos)
      << run.err;
  EXPECT_EQ(Version(root, "libfoo1"), "1.0-1");
  EXPECT_EQ(ReportedResults("libfoo1_1.1-1_amd64"), std::vector<std::string>{"refused"});
  const json::Value status = StatusJson(state);
  const json::Object& record =
      status.as_object().at("patches").as_object().at("libfoo1_1.1-1_amd64").as_object();
  EXPECT_EQ(record.at("result"), json::Value("refused"));
  EXPECT_TRUE(record.count("retry_after") == 1);
  // No byte of the refused payload stays in the cache.
  EXPECT_TRUE(fs::ListDirectory(state + "/cache")->empty());
  // The refusal is not retried at every poll.
  const CommandResult again =
      Agent("run --once --state " + Quote(state) + " --dpkg-root " + Quote(root));
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.err.find("next attempt after"), std::string::npos) << again.err;
  EXPECT_EQ(ReportedResults("libfoo1_1.1-1_amd64").size(), 1u);
}

TEST_F(AgentEndToEndTest, AnotherCaIsRefusedAtEnrolment) {
  const std::string other = dir_ / "other-relay";
  ASSERT_EQ(Relay("init --data " + Quote(other) + " --root " + Quote(dir_ / "root.json")).exit_code,
            0);
  const std::string state = dir_ / "state3";
  const CommandResult enrolled = Enroll(state, port_, other + "/tls/ca.pem");
  EXPECT_EQ(enrolled.exit_code, 3) << enrolled.err;
  EXPECT_NE(enrolled.err.find("certificate is refused"), std::string::npos) << enrolled.err;
  EXPECT_FALSE(fs::Exists(state + "/agent.json"));

  // A root that is not the one the bundles are signed under, or an expired one, is refused
  // before any connection: an unreachable relay does not matter then.
  testing::WriteAll(dir_ / "bad-root.json", "{}");
  const CommandResult bad_root =
      Agent("enroll --relay https://127.0.0.1:1 --ca " + Quote(data_ + "/tls/ca.pem") + " --root " +
            Quote(dir_ / "bad-root.json") + " --token x --state " + Quote(state));
  EXPECT_EQ(bad_root.exit_code, 1) << bad_root.err;
  EXPECT_NE(bad_root.err.find("bad-root.json"), std::string::npos) << bad_root.err;
}

TEST_F(AgentEndToEndTest, ADroppedDownloadResumesWithARange) {
  testing::TcpProxy proxy(port_);
  const std::string root = MakeDpkgRoot("dpkg4", {"libfoo1_1.0-1_amd64.deb"});
  const std::string state = dir_ / "state4";
  ASSERT_EQ(Enroll(state, proxy.port()).exit_code, 0);
  const uint64_t size = testing::ReadAll(new_foo_).size();
  ASSERT_GT(size, 400'000u) << "the payload must dwarf the TLS and JSON traffic before it";
  proxy.CutNextConnectionAfter(size / 2);
  const CommandResult run =
      Agent("run --once --state " + Quote(state) + " --dpkg-root " + Quote(root));
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(proxy.cuts(), 1);
  EXPECT_NE(run.err.find("resuming"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("(resumed at byte "), std::string::npos) << run.err;
  EXPECT_EQ(Version(root, "libfoo1"), "1.1-1");
  EXPECT_NE(testing::ReadAll(dir_ / "serve.err").find(" 206 "), std::string::npos);
}

TEST_F(AgentEndToEndTest, ResultsWaitOnDiskWhileTheRelayIsAway) {
  testing::TcpProxy proxy(port_);
  const std::string root = MakeDpkgRoot("dpkg5", {"libfoo1_1.0-1_amd64.deb", "bar_2.0-1_all.deb"});
  const std::string state = dir_ / "state5";
  ASSERT_EQ(Enroll(state, proxy.port()).exit_code, 0);

  // The relay goes away as the first dpkg starts. Both payloads were fetched and verified
  // before any install, so both install; neither report can be sent.
  const std::string err = dir_ / "run5.err";
  const pid_t agent = testing::Spawn(
      {agent_bin_, "run", "--once", "--state", state, "--dpkg-root", root}, dir_ / "run5.out", err);
  bool installing = false;
  for (int i = 0; i < 60000 && !installing; ++i) {
    installing =
        fs::Exists(err) && testing::ReadAll(err).find(": installing ") != std::string::npos;
    if (!installing) std::this_thread::sleep_for(milliseconds(1));
  }
  ASSERT_TRUE(installing) << testing::ReadAll(err);
  proxy.SetDown(true);
  const std::optional<int> ended = testing::WaitForExit(agent, milliseconds(120000));
  ASSERT_TRUE(ended.has_value());
  EXPECT_EQ(WEXITSTATUS(*ended), 3) << testing::ReadAll(err);
  EXPECT_NE(testing::ReadAll(err).find("error: relay lost during the run"), std::string::npos)
      << testing::ReadAll(err);
  EXPECT_EQ(Version(root, "libfoo1"), "1.1-1");
  EXPECT_EQ(Version(root, "bar"), "2.1-1");
  EXPECT_TRUE(ReportedResults("libfoo1_1.1-1_amd64").empty());
  json::Value status = StatusJson(state);
  EXPECT_EQ(status.as_object().at("outbox").as_object().at("waiting"), json::Value(2))
      << testing::ReadAll(err);

  // Still away: nothing is lost, exit 3.
  const CommandResult away =
      Agent("run --once --state " + Quote(state) + " --dpkg-root " + Quote(root));
  EXPECT_EQ(away.exit_code, 3) << away.err;
  status = StatusJson(state);
  EXPECT_EQ(status.as_object().at("outbox").as_object().at("waiting"), json::Value(2));

  // Back: the reports go out and the outbox empties.
  proxy.SetDown(false);
  const CommandResult back =
      Agent("run --once --state " + Quote(state) + " --dpkg-root " + Quote(root));
  EXPECT_EQ(back.exit_code, 0) << back.err;
  EXPECT_EQ(ReportedResults("libfoo1_1.1-1_amd64"), std::vector<std::string>{"installed"});
  EXPECT_EQ(ReportedResults("bar_2.1-1_all"), std::vector<std::string>{"installed"});
  status = StatusJson(state);
  EXPECT_EQ(status.as_object().at("outbox").as_object().at("waiting"), json::Value(0));
}

TEST_F(AgentEndToEndTest, FollowsARootRotationThatArrivesWithABundle) {
  const std::string root = MakeDpkgRoot("dpkg7", {"libfoo1_1.0-1_amd64.deb"});
  const std::string state = dir_ / "state7";
  ASSERT_EQ(Enroll(state, port_).exit_code, 0);
  ASSERT_EQ(Agent("run --once --state " + Quote(state) + " --dpkg-root " + Quote(root)).exit_code,
            0);
  EXPECT_EQ(Version(root, "libfoo1"), "1.1-1");

  // Root v2 replaces the bundle key; bundle 2, signed by the new key only, carries the chain.
  crypto::SigningKey new_bundle_key = *crypto::SigningKey::Generate();
  crypto::TrustRoot v2 = root_;
  v2.version = 2;
  v2.keys.erase(bundle_key_.id());
  v2.keys.emplace(new_bundle_key.id(), new_bundle_key.public_key());
  v2.bundle_role = {{new_bundle_key.id()}, 1};
  v2.text = *crypto::SignTrustRoot(v2, {&root_key_});
  testing::Run("mkdir -p " + Quote(dir_ / "src2"));
  testing::MakeDeb(dir_ / "src2", "libfoo1", "1.2-1", "amd64", 4000);
  fixtures::BuildBundle({root_, v2}, new_bundle_key, 2, dir_ / "src2", dir_ / "b2.ferry");
  ASSERT_EQ(Relay("import --data " + Quote(data_) + " " + Quote(dir_ / "b2.ferry")).exit_code, 0);
  ASSERT_EQ(Relay("approve --data " + Quote(data_) + " --all").exit_code, 0);

  // The serving relay notices the import within its refresh interval (half a second).
  CommandResult run;
  for (int i = 0; i < 40; ++i) {
    run = Agent("run --once --state " + Quote(state) + " --dpkg-root " + Quote(root));
    if (run.exit_code != 0 || run.err.find(", root v2,") != std::string::npos) break;
    std::this_thread::sleep_for(milliseconds(250));
  }
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.err.find("trust: root v2 accepted"), std::string::npos) << run.err;
  EXPECT_EQ(Version(root, "libfoo1"), "1.2-1");
  EXPECT_EQ(testing::ReadAll(state + "/roots/2.json"), v2.text);
  EXPECT_EQ(StatusJson(state).as_object().at("root_version"), json::Value(2));
}

TEST_F(AgentEndToEndTest, SigtermStopsTheLoopBetweenSteps) {
  const std::string root = MakeDpkgRoot("dpkg6", {});
  const std::string state = dir_ / "state6";
  ASSERT_EQ(Enroll(state, port_).exit_code, 0);
  const std::string err = dir_ / "loop.err";
  const pid_t agent = testing::Spawn({agent_bin_, "run", "--state", state, "--dpkg-root", root},
                                     dir_ / "loop.out", err);
  bool waiting = false;
  for (int i = 0; i < 3000 && !waiting; ++i) {
    waiting =
        fs::Exists(err) && testing::ReadAll(err).find("next check-in in") != std::string::npos;
    if (!waiting) std::this_thread::sleep_for(milliseconds(10));
  }
  ASSERT_TRUE(waiting) << testing::ReadAll(err);
  ::kill(agent, SIGTERM);
  const std::optional<int> ended = testing::WaitForExit(agent, milliseconds(10000));
  ASSERT_TRUE(ended.has_value()) << "the agent did not stop on SIGTERM";
  EXPECT_TRUE(WIFEXITED(*ended));
  EXPECT_EQ(WEXITSTATUS(*ended), 0);
  EXPECT_NE(testing::ReadAll(err).find("stopping"), std::string::npos);
}

TEST_F(AgentEndToEndTest, AnEndpointCannotReadOrReportForAnother) {
  const std::string first = dir_ / "state-first";
  const std::string second = dir_ / "state-second";
  ASSERT_EQ(Enroll(first, port_).exit_code, 0);
  ASSERT_EQ(Enroll(second, port_).exit_code, 0);
  const std::string first_id = json::Parse(testing::ReadAll(first + "/agent.json"))
                                   ->as_object()
                                   .at("endpoint_id")
                                   .as_string();
  const std::string url = "https://127.0.0.1:" + std::to_string(port_);
  // curl, as an independent client, with the relay's CA and one endpoint's certificate.
  const auto curl_as = [&](const std::string& state, const std::string& arguments) {
    return testing::Run("curl -sS --max-time 20 -o /dev/null -w '%{http_code}' --cacert " +
                        Quote(data_ + "/tls/ca.pem") + " --cert " + Quote(state + "/client.pem") +
                        " --key " + Quote(state + "/client.key") + " " + arguments)
        .out;
  };

  EXPECT_EQ(curl_as(first, url + "/v1/endpoints/" + first_id), "200");
  EXPECT_EQ(curl_as(second, url + "/v1/endpoints/" + first_id), "403");
  const std::string forged =
      "{\"endpoint_id\":\"" + first_id +
      "\",\"reports\":[{\"report_id\":\"forged-0001\",\"patch_id\":\"bar_2.1-1_all\","
      "\"result\":\"failed\",\"started\":\"2026-11-21T00:00:00Z\","
      "\"finished\":\"2026-11-21T00:00:01Z\",\"log_excerpt\":\"\"}]}";
  EXPECT_EQ(curl_as(second, "-H 'Content-Type: application/json' --data-binary '" + forged + "' " +
                                url + "/v1/reports"),
            "403");
  EXPECT_TRUE(ReportedResults("bar_2.1-1_all").empty());
  // No certificate at all: 401.
  EXPECT_EQ(testing::Run("curl -sS -o /dev/null -w '%{http_code}' --cacert " +
                         Quote(data_ + "/tls/ca.pem") + " " + url + "/v1/endpoints/" + first_id)
                .out,
            "401");
}

TEST_F(AgentEndToEndTest, CurlFetchesAByteRangeOfAPayloadCheckedAgainstTheCa) {
  const std::string state = dir_ / "state-reader";
  ASSERT_EQ(Enroll(state, port_).exit_code, 0);
  const std::string sha =
      testing::Run("sha256sum " + Quote(new_foo_) + " | cut -c1-64").out.substr(0, 64);
  const std::string url = "https://127.0.0.1:" + std::to_string(port_) + "/v1/payloads/" + sha;
  const CommandResult range = testing::Run(
      "curl -sS -r 1000-1999 -o " + Quote(dir_ / "slice") + " -w '%{http_code}' --cacert " +
      Quote(data_ + "/tls/ca.pem") + " --cert " + Quote(state + "/client.pem") + " --key " +
      Quote(state + "/client.key") + " " + url);
  EXPECT_EQ(range.out, "206") << range.err;
  EXPECT_EQ(testing::ReadAll(dir_ / "slice"), testing::ReadAll(new_foo_).substr(1000, 1000));

  // curl refuses the relay when given a CA that did not sign its certificate.
  testing::TempDir other;
  ASSERT_EQ(Relay("init --data " + Quote(other / "relay") + " --root " + Quote(dir_ / "root.json"))
                .exit_code,
            0);
  const CommandResult wrong_ca = testing::Run("curl -sS -o /dev/null --cacert " +
                                              Quote(other / "relay/tls/ca.pem") + " " + url);
  EXPECT_EQ(wrong_ca.exit_code, 60) << wrong_ca.err;  // CURLE_PEER_FAILED_VERIFICATION
}

}  // namespace
}  // namespace ferry::endpoint
