// The whole flow with every part real: ferry-bundle signs a bundle of .deb files made with
// dpkg-deb, ferry-relay imports it and serves it over TLS, ferry-agent enrolls, checks in,
// verifies, downloads and installs with dpkg into private dpkg roots, and reports. A TCP proxy
// between agent and relay breaks the network where a test needs it to.

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <regex>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "endpoint/dpkg_installer.hpp"
#include "endpoint/local_inventory.hpp"
#include "tests/support/tcp_proxy.hpp"
#include "tests/support/testing.hpp"

namespace ferry {
namespace {

using testing::Run;

const std::string& Bundle() {
  static const std::string path = testing::BuildPath("bundler/ferry-bundle");
  return path;
}
const std::string& Relay() {
  static const std::string path = testing::BuildPath("relay/ferry-relay");
  return path;
}
const std::string& Agent() {
  static const std::string path = testing::BuildPath("endpoint/ferry-agent");
  return path;
}

std::string Quote(const std::string& text) { return "'" + text + "'"; }

// Keys, a root, old and new versions of two packages and one signed bundle with the new ones,
// made once for the whole suite: every test starts its own relay from them.
struct Media {
  std::unique_ptr<testing::TempDir> dir;
  std::string root_json;
  std::string bundle;
  std::string old_tool, old_lib;     // installed at first
  std::string new_tool, new_lib;     // what the bundle carries
};

const Media& SharedMedia() {
  static const Media media = [] {
    Media m;
    m.dir = std::make_unique<testing::TempDir>();
    const testing::TempDir& d = *m.dir;
    Run("mkdir -p " + Quote(d / "old") + " " + Quote(d / "new"));
    // The tool is large enough that a download can be cut in its middle.
    m.old_tool = testing::MakeDeb(d / "old", "ferry-e2e-tool", "1.0-1", "amd64", 4000);
    m.old_lib = testing::MakeDeb(d / "old", "libferry-e2e", "2.1-1", "amd64", 4000);
    m.new_tool = testing::MakeDeb(d / "new", "ferry-e2e-tool", "1.0-2", "amd64", 3 << 20);
    m.new_lib = testing::MakeDeb(d / "new", "libferry-e2e", "2.1-1+deb12u1", "amd64", 6000);
    const std::string keys = d / "keys";
    m.root_json = d / "root.json";
    m.bundle = d / "bundle-1.ferry";
    const auto must = [](const std::string& command) {
      const testing::CommandResult result = Run(command);
      if (result.exit_code != 0) throw std::runtime_error(command + ": " + result.err);
    };
    must(Bundle() + " keygen --unencrypted --out " + Quote(keys + "-root"));
    must(Bundle() + " keygen --unencrypted --out " + Quote(keys + "-bundle"));
    must(Bundle() + " root init --root-key " + Quote(keys + "-root.key") +
         " --threshold 1 --bundle-key " + Quote(keys + "-bundle.pub") +
         " --bundle-threshold 1 --expires 365d --out " + Quote(m.root_json));
    must(Bundle() + " build --root " + Quote(m.root_json) + " --key " +
         Quote(keys + "-bundle.key") + " --channel e2e --sequence 1 --source " +
         Quote(d / "new") + " --expires 30d --out " + Quote(m.bundle));
    return m;
  }();
  return media;
}

// A relay data directory with the shared bundle imported and everything approved, and its
// `serve` running on a loopback port.
class RelayProcess {
 public:
  explicit RelayProcess(const testing::TempDir& dir) : data_(dir / "relay") {
    const Media& media = SharedMedia();
    Must(Relay() + " init --data " + Quote(data_) + " --root " + Quote(media.root_json));
    Must(Relay() + " import --data " + Quote(data_) + " " + Quote(media.bundle));
    Must(Relay() + " approve --data " + Quote(data_) + " --all");
    out_ = dir / "serve.out";
    err_ = dir / "serve.err";
    pid_ = testing::Spawn({Relay(), "serve", "--data", data_, "--listen", "127.0.0.1:0"}, out_,
                          err_);
    const std::regex listening("listening on 127\\.0\\.0\\.1:([0-9]+)");
    for (int i = 0; i < 200 && port_ == 0; ++i) {
      std::smatch match;
      const std::string out = testing::ReadAll(out_);
      if (std::regex_search(out, match, listening)) port_ = std::stoi(match[1]);
      if (port_ == 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (port_ == 0) throw std::runtime_error("relay did not start: " + testing::ReadAll(err_));
  }

  ~RelayProcess() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    if (!testing::WaitForExit(pid_, std::chrono::seconds(15))) {
      ::kill(pid_, SIGKILL);
      testing::WaitForExit(pid_, std::chrono::seconds(5));
    }
  }

  // The exit status of a SIGTERM'd relay: it must drain and stop cleanly.
  int Stop() {
    ::kill(pid_, SIGTERM);
    const std::optional<int> status = testing::WaitForExit(pid_, std::chrono::seconds(15));
    pid_ = 0;
    return status ? *status : -1;
  }

  const std::string& data() const { return data_; }
  int port() const { return port_; }
  std::string url(int port = 0) const {
    return "https://127.0.0.1:" + std::to_string(port ? port : port_);
  }
  std::string ca() const { return data_ + "/tls/ca.pem"; }
  std::string log() const { return testing::ReadAll(err_); }

  std::string Token() {
    const testing::CommandResult token = Run(Relay() + " token create --data " + Quote(data_));
    EXPECT_EQ(token.exit_code, 0) << token.err;
    std::string text = token.out;
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    return text;
  }

  std::string Events(const std::string& type) {
    return Run(Relay() + " events --data " + Quote(data_) + " --type " + type).out;
  }

 private:
  static void Must(const std::string& command) {
    const testing::CommandResult result = Run(command);
    if (result.exit_code != 0) throw std::runtime_error(command + ": " + result.err);
  }

  std::string data_, out_, err_;
  pid_t pid_ = 0;
  int port_ = 0;
};

// One endpoint: a private dpkg root with the old versions installed, and an agent state dir.
struct Endpoint {
  std::string dpkg_root;
  std::string state;

  std::string Installed(const std::string& package) const {
    return Run("dpkg-query --admindir=" + Quote(dpkg_root + "/var/lib/dpkg") +
               " -W -f='${Version}' " + package)
        .out;
  }
  testing::CommandResult RunOnce() const {
    return Run(Agent() + " run --once --state " + Quote(state) + " --dpkg-root " +
               Quote(dpkg_root));
  }
  std::string Status() const {
    return Run(Agent() + " status --json --state " + Quote(state)).out;
  }
  std::string EndpointId() const {
    std::smatch match;
    const std::string text = testing::ReadAll(state + "/agent.json");
    static const std::regex id("\"(ep-[0-9a-f]{16})\"");
    return std::regex_search(text, match, id) ? match[1].str() : "";
  }
};

class FlowTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SharedMedia();
    relay_ = std::make_unique<RelayProcess>(dir_);
  }

  Endpoint MakeEndpoint(const std::string& name) {
    Endpoint endpoint{dir_ / (name + "-root"), dir_ / (name + "-state")};
    EXPECT_TRUE(endpoint::CreateDpkgRoot(endpoint.dpkg_root).ok());
    for (const std::string& deb : {SharedMedia().old_tool, SharedMedia().old_lib}) {
      auto installed = endpoint::InstallDeb(deb, endpoint::DpkgRoot{endpoint.dpkg_root});
      EXPECT_TRUE(installed.ok() && installed->result == endpoint::InstallResult::kInstalled);
    }
    return endpoint;
  }

  testing::CommandResult Enroll(const Endpoint& endpoint, const std::string& url,
                                const std::string& ca) {
    return testing::Run(Agent() + " enroll --relay " + url + " --ca " + Quote(ca) + " --root " +
               Quote(SharedMedia().root_json) + " --token " + relay_->Token() + " --state " +
               Quote(endpoint.state));
  }

  Endpoint Enrolled(const std::string& name, int port = 0) {
    Endpoint endpoint = MakeEndpoint(name);
    const testing::CommandResult enrolled = Enroll(endpoint, relay_->url(port), relay_->ca());
    EXPECT_EQ(enrolled.exit_code, 0) << enrolled.err;
    return endpoint;
  }

  // curl as an independent client, checking the relay against its CA.
  testing::CommandResult Curl(const Endpoint& as, const std::string& arguments) {
    return testing::Run("curl -sS --max-time 20 --cacert " + Quote(relay_->ca()) + " --cert " +
               Quote(as.state + "/client.pem") + " --key " + Quote(as.state + "/client.key") +
               " " + arguments);
  }

  std::string PayloadPath(const std::string& deb) {
    const std::string sha = testing::Run("sha256sum " + Quote(deb) + " | cut -c1-64").out.substr(0, 64);
    return relay_->data() + "/payloads/" + sha.substr(0, 2) + "/" + sha;
  }

  testing::TempDir dir_;
  std::unique_ptr<RelayProcess> relay_;
};

TEST_F(FlowTest, EndpointsArePatchedWithRealDpkgAndReport) {
  const Endpoint first = Enrolled("first");
  const Endpoint second = Enrolled("second");
  ASSERT_EQ(first.Installed("ferry-e2e-tool"), "1.0-1");

  for (const Endpoint* endpoint : {&first, &second}) {
    const testing::CommandResult ran = endpoint->RunOnce();
    EXPECT_EQ(ran.exit_code, 0) << ran.err;
    EXPECT_EQ(endpoint->Installed("ferry-e2e-tool"), "1.0-2");
    EXPECT_EQ(endpoint->Installed("libferry-e2e"), "2.1-1+deb12u1");
  }
  // The relay recorded two results per endpoint, each as an audit event by that endpoint.
  const std::string reported = relay_->Events("install.reported");
  for (const Endpoint* endpoint : {&first, &second}) {
    const std::string actor = "endpoint:" + endpoint->EndpointId();
    size_t count = 0;
    for (size_t at = reported.find(actor); at != std::string::npos;
         at = reported.find(actor, at + 1)) {
      ++count;
    }
    EXPECT_EQ(count, 2u) << reported;
  }
  EXPECT_NE(relay_->Events("endpoint.enrolled").find(first.EndpointId()), std::string::npos);

  // Nothing is left to do: a second run installs nothing and the relay offers nothing.
  const testing::CommandResult again = first.RunOnce();
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(again.err.find("installing"), std::string::npos) << again.err;
  EXPECT_NE(first.Status().find("ferry-e2e-tool"), std::string::npos);
}

TEST_F(FlowTest, ARelayServingOtherBytesIsRefusedAndReported) {
  const Endpoint endpoint = Enrolled("victim");
  // The relay's store is damaged or the relay is hostile: same size, other bytes.
  const std::string stored = PayloadPath(SharedMedia().new_tool);
  testing::Run("chmod u+w " + Quote(stored) + " && printf 'X' | dd of=" + Quote(stored) +
      " bs=1 seek=5000 conv=notrunc status=none");

  const testing::CommandResult ran = endpoint.RunOnce();
  EXPECT_EQ(ran.exit_code, 1) << ran.err;
  EXPECT_NE(ran.err.find("SHA-256"), std::string::npos) << ran.err;
  EXPECT_EQ(endpoint.Installed("ferry-e2e-tool"), "1.0-1");  // never handed to dpkg
  EXPECT_EQ(endpoint.Installed("libferry-e2e"), "2.1-1+deb12u1");  // the good one went in
  EXPECT_NE(relay_->Events("install.reported").find("\"result\":\"refused\""), std::string::npos);
}

TEST_F(FlowTest, ARelayWithAnotherCaIsRefused) {
  testing::TempDir other;
  ASSERT_EQ(testing::Run(Relay() + " init --data " + Quote(other / "relay") + " --root " +
                Quote(SharedMedia().root_json))
                .exit_code,
            0);
  const Endpoint endpoint = MakeEndpoint("misled");
  const testing::CommandResult enrolled =
      Enroll(endpoint, relay_->url(), other / "relay/tls/ca.pem");
  EXPECT_EQ(enrolled.exit_code, 3) << enrolled.err;
  EXPECT_NE(enrolled.err.find("certificate"), std::string::npos) << enrolled.err;
  EXPECT_FALSE(testing::Run("test -e " + Quote(endpoint.state + "/client.pem")).exit_code == 0);
}

TEST_F(FlowTest, ADroppedDownloadResumesWithARange) {
  testing::TcpProxy proxy(static_cast<uint16_t>(relay_->port()));
  const Endpoint endpoint = Enrolled("resumer", proxy.port());
  // The check-in and the manifest are a few KiB: the cut falls inside the 3 MiB payload.
  proxy.CutNextConnectionAfter(256 << 10);

  const testing::CommandResult ran = endpoint.RunOnce();
  EXPECT_EQ(proxy.cuts(), 1);
  EXPECT_EQ(ran.exit_code, 0) << ran.err;
  EXPECT_NE(ran.err.find("resumed at byte"), std::string::npos) << ran.err;
  EXPECT_EQ(endpoint.Installed("ferry-e2e-tool"), "1.0-2");
  EXPECT_NE(relay_->log().find(" 206 "), std::string::npos) << relay_->log();
}

TEST_F(FlowTest, AResultWaitsOnDiskWhileTheRelayIsAway) {
  testing::TcpProxy proxy(static_cast<uint16_t>(relay_->port()));
  const Endpoint endpoint = Enrolled("patient", proxy.port());

  // The relay goes away the moment dpkg starts, so the install happens but its report cannot
  // be delivered.
  const std::string out = dir_ / "agent.out";
  const std::string err = dir_ / "agent.err";
  const pid_t agent = testing::Spawn({Agent(), "run", "--once", "--state", endpoint.state,
                                      "--dpkg-root", endpoint.dpkg_root},
                                     out, err);
  bool went_down = false;
  for (int i = 0; i < 3000 && !went_down; ++i) {
    if (testing::ReadAll(err).find(": installing ") != std::string::npos) {
      proxy.SetDown(true);
      went_down = true;
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
  ASSERT_TRUE(went_down) << testing::ReadAll(err);
  const std::optional<int> status = testing::WaitForExit(agent, std::chrono::seconds(60));
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(WEXITSTATUS(*status), 3) << testing::ReadAll(err);
  EXPECT_EQ(endpoint.Installed("ferry-e2e-tool"), "1.0-2");
  EXPECT_EQ(relay_->Events("install.reported"), "");
  EXPECT_EQ(testing::Run("ls " + Quote(endpoint.state + "/outbox") + " | grep -c json").out, "2\n");

  proxy.SetDown(false);
  const testing::CommandResult back = endpoint.RunOnce();
  EXPECT_EQ(back.exit_code, 0) << back.err;
  EXPECT_EQ(testing::Run("ls " + Quote(endpoint.state + "/outbox") + " | grep -c json").out, "0\n");
  EXPECT_NE(relay_->Events("install.reported").find(endpoint.EndpointId()), std::string::npos);
}

TEST_F(FlowTest, AnEndpointCannotReadOrReportForAnother) {
  const Endpoint first = Enrolled("first");
  const Endpoint second = Enrolled("second");
  const std::string first_id = first.EndpointId();
  ASSERT_FALSE(first_id.empty());
  const std::string code = " -o /dev/null -w '%{http_code}' ";

  EXPECT_EQ(Curl(first, code + relay_->url() + "/v1/endpoints/" + first_id).out, "200");
  EXPECT_EQ(Curl(second, code + relay_->url() + "/v1/endpoints/" + first_id).out, "403");
  const std::string report =
      "{\"endpoint_id\":\"" + first_id +
      "\",\"reports\":[{\"report_id\":\"forged-0001\",\"patch_id\":\"x\",\"result\":\"failed\","
      "\"started\":\"2026-11-21T00:00:00Z\",\"finished\":\"2026-11-21T00:00:01Z\","
      "\"log_excerpt\":\"\"}]}";
  EXPECT_EQ(Curl(second, code + "-H 'Content-Type: application/json' --data-binary '" + report +
                             "' " + relay_->url() + "/v1/reports")
                .out,
            "403");
  // No certificate at all: 401.
  EXPECT_EQ(testing::Run("curl -sS --cacert " + Quote(relay_->ca()) + code + relay_->url() +
                "/v1/endpoints/" + first_id)
                .out,
            "401");
}

TEST_F(FlowTest, CurlFetchesAByteRangeOfAPayload) {
  const Endpoint endpoint = Enrolled("reader");
  const std::string& deb = SharedMedia().new_tool;
  const std::string sha = testing::Run("sha256sum " + Quote(deb) + " | cut -c1-64").out.substr(0, 64);
  const testing::CommandResult range =
      Curl(endpoint, "-r 1000-1999 -o " + Quote(dir_ / "slice") + " -w '%{http_code}' " +
                         relay_->url() + "/v1/payloads/" + sha);
  EXPECT_EQ(range.out, "206") << range.err;
  EXPECT_EQ(testing::ReadAll(dir_ / "slice"), testing::ReadAll(deb).substr(1000, 1000));

  // The same request against a CA that did not sign the relay's certificate fails in curl too.
  testing::TempDir other;
  testing::Run(Relay() + " init --data " + Quote(other / "relay") + " --root " +
      Quote(SharedMedia().root_json));
  const testing::CommandResult wrong_ca =
      testing::Run("curl -sS --cacert " + Quote(other / "relay/tls/ca.pem") + " " + relay_->url() +
          "/v1/payloads/" + sha + " -o /dev/null");
  EXPECT_EQ(wrong_ca.exit_code, 60) << wrong_ca.err;  // CURLE_PEER_FAILED_VERIFICATION
}

TEST_F(FlowTest, SigtermDrainsAndStopsTheRelay) {
  EXPECT_EQ(relay_->Stop(), 0);
}

}  // namespace
}  // namespace ferry
