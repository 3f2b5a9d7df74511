// The agent against a relay that lies: a scripted TLS server (the real OpenSSL handshake, the
// agent's real client certificate) plays a compromised relay, and the agent must refuse, report
// and install nothing. The honest flow runs against the real relay in agent_e2e_test.cpp.

#include "endpoint/agent.hpp"

#include <gtest/gtest.h>

#include <map>

#include "bundler/build.hpp"
#include "bundler/bundle_reader.hpp"
#include "common/file.hpp"
#include "crypto/envelope.hpp"
#include "endpoint/client_identity.hpp"
#include "endpoint/local_inventory.hpp"
#include "relay/tls_identity.hpp"
#include "tests/endpoint/fixtures.hpp"
#include "tests/endpoint/tls_test_server.hpp"
#include "tests/support/testing.hpp"

namespace ferry::endpoint {
namespace {

using test_server::Http;
using test_server::Reply;
using test_server::Seen;
using test_server::TlsTestServer;

struct Offer {
  std::string id;
  std::string version;
  std::string ref = "stable/1";
};

class HostileRelayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tls_ = fixtures::MakeRelayTls(dir_ / "tls-home", {"localhost"}, {"127.0.0.1"});

    root_ = fixtures::MakeRoot(1, root_key_, bundle_key_);
    testing::Run("mkdir -p '" + dir_ / "src" + "'");
    deb_ = testing::MakeDeb(dir_ / "src", "libfoo1", "1.1-1", "amd64", 3000);
    fixtures::BuildBundle({root_}, bundle_key_, 1, dir_ / "src", dir_ / "b1.ferry");
    auto head = bundler::ReadBundleHead(dir_ / "b1.ferry");
    ASSERT_TRUE(head.ok());
    manifests_["stable/1"] = head->manifest_text;
    patch_ = head->manifest.patches.front();

    server_ = std::make_unique<TlsTestServer>(tls_.server_cert, tls_.server_key, tls_.ca_cert,
                                              [this](const Seen& seen) { return Answer(seen); });
    MakeEnrolledState();
    ASSERT_TRUE(CreateDpkgRoot(dir_ / "dpkg").ok());
  }

  // What `ferry-agent enroll` leaves, made by hand so no real relay is involved.
  void MakeEnrolledState() {
    auto state = AgentState::OpenForEnrollment(state_dir_);
    ASSERT_TRUE(state.ok());
    const StatePaths& paths = state->paths();
    auto identity = MakeClientKeyAndCsr("ferry-agent");
    auto cert = relay::SignClientCertificate(tls_, identity->csr_pem, "ep-0123456789abcdef", Now(),
                                             relay::kDefaultClientLifetime);
    ASSERT_TRUE(cert.ok());
    testing::WriteAll(paths.ca(), testing::ReadAll(tls_.ca_cert));
    testing::WriteAll(paths.key(), identity->key_pem);
    testing::WriteAll(paths.cert(), *cert);
    ASSERT_TRUE(state->SaveRoot(root_).ok());
    AgentConfig config;
    config.relay_url = "https://127.0.0.1:" + std::to_string(server_->port());
    config.endpoint_id = "ep-0123456789abcdef";
    config.hostname = "test-host";
    config.target_os = "debian-12";
    config.root_version = 1;
    config.poll_seconds = 900;
    config.enrolled = Now();
    ASSERT_TRUE(state->SaveConfig(config).ok());
  }

  std::string CheckinAnswer() {
    json::Array patches;
    std::map<std::string, bool> refs;
    for (const Offer& offer : offers_) {
      patches.push_back(json::Object{{"id", offer.id},
                                     {"kind", "deb"},
                                     {"package", "libfoo1"},
                                     {"version", offer.version},
                                     {"architecture", "amd64"},
                                     {"severity", "high"},
                                     {"reboot", false},
                                     {"manifest", offer.ref},
                                     {"payload_sha256", crypto::DigestHex(patch_.payload.sha256)},
                                     {"payload_size", patch_.payload.size}});
      refs[offer.ref] = true;
    }
    json::Array manifests;
    for (const auto& [ref, unused] : refs) {
      const std::string announced = announced_hash_.empty()
                                        ? crypto::DigestHex(crypto::Sha256Of(manifests_[ref]))
                                        : announced_hash_;
      manifests.push_back(json::Object{{"ref", ref}, {"sha256", announced}});
    }
    return *json::Canonical(json::Object{{"catalog_version", 1},
                                         {"poll_seconds", 900},
                                         {"root_version", root_version_},
                                         {"patches", std::move(patches)},
                                         {"manifests", std::move(manifests)}});
  }

  Reply Answer(const Seen& seen) {
    const std::string line = seen.head.substr(0, seen.head.find('\r'));
    if (line.starts_with("POST /v1/checkin ")) {
      const bool full = seen.body.find("\"inventory\":") != std::string::npos;
      checkins_.push_back(full ? "full" : "hash");
      if ((!full && ask_for_inventory_) || always_need_inventory_) {
        return Reply{Http(200, R"({"need_inventory":true})")};
      }
      return Reply{Http(200, CheckinAnswer())};
    }
    if (line.starts_with("GET /v1/roots/")) {
      const auto it = roots_.find(std::stoll(line.substr(14)));
      return Reply{it == roots_.end() ? Http(404, R"({"error":"unknown root"})")
                                      : Http(200, it->second)};
    }
    if (line.starts_with("GET /v1/manifests/")) {
      const std::string ref = line.substr(18, line.find(' ', 18) - 18);
      return Reply{Http(200, manifests_[ref])};
    }
    if (line.starts_with("GET /v1/payloads/")) {
      ++payload_requests_;
      return Reply{Http(200, testing::ReadAll(deb_))};
    }
    if (line.starts_with("POST /v1/reports ")) {
      auto body = json::Parse(seen.body);
      json::Array accepted;
      for (const json::Value& report : body->as_object().at("reports").as_array()) {
        reports_.push_back(report.as_object());
        accepted.push_back(report.as_object().at("report_id"));
      }
      return Reply{Http(200, *json::Canonical(json::Object{{"accepted", accepted}}))};
    }
    return Reply{Http(404, R"({"error":"no such path"})")};
  }

  Result<CycleReport> RunOnce() {
    RunOptions options;
    options.state_dir = state_dir_;
    options.dpkg_root = dir_ / "dpkg";
    auto agent = Agent::Open(options, [this](const std::string& line) { log_ += line + "\n"; });
    if (!agent.ok()) return agent.error();
    return agent->RunCycle();
  }

  // The one report sent, which must refuse the patch for `cause`.
  void ExpectRefusalReported(const std::string& cause) {
    ASSERT_EQ(reports_.size(), 1u) << log_;
    EXPECT_EQ(reports_.front().at("result"), json::Value("refused"));
    EXPECT_NE(reports_.front().at("log_excerpt").as_string().find(cause), std::string::npos)
        << reports_.front().at("log_excerpt").as_string();
    EXPECT_EQ(payload_requests_, 0) << "nothing is downloaded for a patch nobody signed";
    auto inventory = ReadLocalInventory(DpkgRoot{dir_ / "dpkg"});
    ASSERT_TRUE(inventory.ok());
    EXPECT_TRUE(inventory->packages.empty());
  }

  testing::TempDir dir_;
  std::string state_dir_ = dir_ / "state";
  relay::TlsFiles tls_;
  crypto::SigningKey root_key_ = *crypto::SigningKey::Generate();
  crypto::SigningKey bundle_key_ = *crypto::SigningKey::Generate();
  crypto::SigningKey intruder_ = *crypto::SigningKey::Generate();
  crypto::TrustRoot root_;
  std::string deb_;
  bundler::Patch patch_;
  std::unique_ptr<TlsTestServer> server_;

  // What the scripted relay says.
  std::vector<Offer> offers_;
  std::map<std::string, std::string> manifests_;
  std::map<int64_t, std::string> roots_;
  int64_t root_version_ = 1;
  std::string announced_hash_;
  bool ask_for_inventory_ = false;
  bool always_need_inventory_ = false;

  // What it saw.
  std::vector<std::string> checkins_;
  std::vector<json::Object> reports_;
  int payload_requests_ = 0;
  std::string log_;
};

TEST_F(HostileRelayTest, InstallsWhatTheSignersSigned) {
  offers_ = {{patch_.id, patch_.version}};
  auto cycle = RunOnce();
  ASSERT_TRUE(cycle.ok()) << cycle.error().message();
  EXPECT_EQ(cycle->installed, 1u) << log_;
  ASSERT_EQ(reports_.size(), 1u);
  EXPECT_EQ(reports_.front().at("result"), json::Value("installed"));
  EXPECT_TRUE(server_->seen().front().client_certificate);
}

TEST_F(HostileRelayTest, ARelayCannotRotateTheAgentsTrust) {
  // A root v2 that is valid on its own but not signed by v1's root keys, naming the intruder as
  // bundle signer, and a manifest the intruder signed under it.
  const crypto::TrustRoot forged = fixtures::MakeRoot(2, intruder_, intruder_);
  roots_[2] = forged.text;
  root_version_ = 2;
  auto envelope = crypto::ParseEnvelope(manifests_["stable/1"], "manifest");
  json::Value signed_value = envelope->signed_value;
  signed_value.as_object()["root_version"] = int64_t{2};
  manifests_["stable/1"] = *crypto::SignEnvelope(signed_value, {&intruder_});
  offers_ = {{patch_.id, patch_.version}};

  auto cycle = RunOnce();
  ASSERT_TRUE(cycle.ok()) << cycle.error().message();
  EXPECT_EQ(cycle->refused, 1u);
  EXPECT_NE(log_.find("trust: trust root v2"), std::string::npos) << log_;
  EXPECT_FALSE(fs::Exists(state_dir_ + "/roots/2.json"));
  EXPECT_EQ(ReadAgentConfig(StatePaths{state_dir_})->root_version, 1);
  ExpectRefusalReported("agent trusts only up to 1");
}

TEST_F(HostileRelayTest, AManifestSignedByAnUnknownKeyIsRefused) {
  auto envelope = crypto::ParseEnvelope(manifests_["stable/1"], "manifest");
  manifests_["stable/1"] = *crypto::SignEnvelope(envelope->signed_value, {&intruder_});
  offers_ = {{patch_.id, patch_.version}};
  auto cycle = RunOnce();
  ASSERT_TRUE(cycle.ok());
  ExpectRefusalReported("signature threshold not met");
}

TEST_F(HostileRelayTest, TheRelaysSummaryIsOnlyAHint) {
  offers_ = {{patch_.id, "9.9-9"}};
  ASSERT_TRUE(RunOnce().ok());
  ExpectRefusalReported("the relay says version \"9.9-9\"");
}

TEST_F(HostileRelayTest, APatchNoManifestNamesIsRefused) {
  offers_ = {{"libfoo1_9.9-9_amd64", patch_.version}};
  ASSERT_TRUE(RunOnce().ok());
  ExpectRefusalReported("not in the signed manifest");
}

TEST_F(HostileRelayTest, ManifestBytesMustBeThoseAnnounced) {
  announced_hash_ = std::string(64, 'c');
  offers_ = {{patch_.id, patch_.version}};
  ASSERT_TRUE(RunOnce().ok());
  ExpectRefusalReported("do not match the SHA-256 the relay announced");
}

TEST_F(HostileRelayTest, SendsTheInventoryOnlyWhenTheRelayNeedsIt) {
  ASSERT_TRUE(RunOnce().ok());  // first check-in: the relay cannot know it yet
  ASSERT_TRUE(RunOnce().ok());  // unchanged: the hash is enough
  ask_for_inventory_ = true;    // the relay lost it
  ASSERT_TRUE(RunOnce().ok());
  EXPECT_EQ(checkins_, (std::vector<std::string>{"full", "hash", "hash", "full"})) << log_;
  // A relay that asks again for what it was just sent is refused rather than looped with.
  checkins_.clear();
  always_need_inventory_ = true;
  auto cycle = RunOnce();
  ASSERT_FALSE(cycle.ok());
  EXPECT_EQ(cycle.error().kind(), ErrorKind::kInvalid);
  EXPECT_NE(cycle.error().message().find("asked again"), std::string::npos)
      << cycle.error().message();
  EXPECT_EQ(checkins_, (std::vector<std::string>{"hash", "full"}));
}

}  // namespace
}  // namespace ferry::endpoint
