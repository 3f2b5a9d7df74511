#pragma once

// A relay data directory with one imported bundle (libfoo1, bar and libbaz as real .deb files,
// libfoo1 approved) and a RelayApi over it, plus helpers that build API requests the way an
// agent sends them. Shared by the API and command tests.

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "bundler/build.hpp"
#include "bundler/inventory.hpp"
#include "common/json.hpp"
#include "crypto/envelope.hpp"
#include "crypto/hash.hpp"
#include "endpoint/client_identity.hpp"
#include "relay/api.hpp"
#include "relay/catalog.hpp"
#include "relay/endpoint_registry.hpp"
#include "relay/event_log.hpp"
#include "relay/importer.hpp"
#include "relay/init.hpp"
#include "relay/relay.hpp"
#include "relay/tls_identity.hpp"
#include "relay/tokens.hpp"
#include "tests/support/testing.hpp"

namespace ferry::relay {

constexpr const char* kFoo = "libfoo1_1.0-1_amd64";
constexpr const char* kBar = "bar_2.0-1_all";
constexpr const char* kBaz = "libbaz_3.0-1_amd64";  // imported, never approved here
constexpr const char* kTokenRefused = "the enrolment token is unknown, used or expired";

struct Enrolment {
  std::string id;
  std::string certificate;
  std::string fingerprint;
  std::string key;
};

class RelayApiFixture : public ::testing::Test {
 protected:
  // The keys, root and bundle are the same for every test: built once.
  static void SetUpTestSuite() {
    shared_ = new testing::TempDir();
    root_key_ = new crypto::SigningKey(*crypto::SigningKey::Generate());
    bundle_key_ = new crypto::SigningKey(*crypto::SigningKey::Generate());
    root_ = new crypto::TrustRoot();
    root_->version = 1;
    root_->expires = Now() + 365 * 86400;
    root_->keys.emplace(root_key_->id(), root_key_->public_key());
    root_->keys.emplace(bundle_key_->id(), bundle_key_->public_key());
    root_->root_role = {{root_key_->id()}, 1};
    root_->bundle_role = {{bundle_key_->id()}, 1};
    root_->text = *crypto::SignTrustRoot(*root_, {root_key_});
    testing::WriteAll(*shared_ / "root.json", root_->text);
    const std::string source = *shared_ / "source";
    testing::Run("mkdir -p '" + source + "'");
    testing::MakeDeb(source, "libfoo1", "1.0-1", "amd64", 30000);
    testing::MakeDeb(source, "bar", "2.0-1", "all", 20000);
    testing::MakeDeb(source, "libbaz", "3.0-1", "amd64", 1000);
    bundler::BuildOptions options;
    options.roots = {*root_};
    options.keys = {bundle_key_};
    options.channel = "stable";
    options.sequence = 1;
    options.source_dir = source;
    options.now = Now();
    options.out_path = *shared_ / "b1.ferry";
    auto built = bundler::BuildBundle(options);
    ASSERT_TRUE(built.ok()) << built.error().message();
  }

  static void TearDownTestSuite() {
    delete root_;
    delete bundle_key_;
    delete root_key_;
    delete shared_;
  }

  void SetUp() override {
    InitOptions init;
    init.data_dir = data_;
    init.root_path = *shared_ / "root.json";
    auto report = InitializeRelay(init);
    ASSERT_TRUE(report.ok()) << report.error().message();
    auto relay = Relay::Open(data_, Relay::Access::kReadWrite);
    ASSERT_TRUE(relay.ok()) << relay.error().message();
    relay_ = std::make_unique<Relay>(std::move(*relay));
    auto imported =
        ImportBundle(*relay_, *shared_ / "b1.ferry", ImportOptions{"operator:test", {}});
    ASSERT_TRUE(imported.ok()) << imported.error().message();
    Approve({kFoo});
    OpenApi();
  }

  void OpenApi(RelayApiOptions options = {.background_thread = false}) {
    api_.reset();
    auto api = RelayApi::Open(data_, options);
    ASSERT_TRUE(api.ok()) << api.error().message();
    api_ = std::move(*api);
  }

  void Approve(const std::vector<std::string>& ids) {
    PatchSelection selection;
    selection.ids = ids;
    auto approved = ApprovePatches(relay_->db(), selection, "operator:test");
    ASSERT_TRUE(approved.ok()) << approved.error().message();
  }

  std::string NewToken(int64_t lifetime = 3600) {
    auto token = CreateEnrollmentToken(relay_->db(), lifetime, "operator:test");
    EXPECT_TRUE(token.ok()) << token.error().message();
    return token.ok() ? token->token : std::string();
  }

  HttpResponse Call(const std::string& method, const std::string& target,
                    const std::string& body = "",
                    const std::optional<std::string>& fingerprint = std::nullopt,
                    std::vector<std::pair<std::string, std::string>> headers = {}) {
    HttpRequest request;
    request.method = method;
    request.target = target;
    request.body = body;
    request.client_certificate_sha256 = fingerprint;
    request.headers = std::move(headers);
    request.peer = "127.0.0.1:4242";
    return api_->Handle(request);
  }

  static json::Value JsonOf(const HttpResponse& response) {
    auto value = json::Parse(response.body);
    EXPECT_TRUE(value.ok()) << response.body;
    return value.ok() ? *value : json::Value();
  }

  static std::string Field(const HttpResponse& response, const std::string& key) {
    const json::Value value = JsonOf(response);
    if (!value.is_object() || !value.as_object().count(key) ||
        !value.as_object().at(key).is_string()) {
      return "<no string field " + key + " in " + response.body + ">";
    }
    return value.as_object().at(key).as_string();
  }

  static std::string HeaderOf(const HttpResponse& response, const std::string& name) {
    for (const auto& [key, value] : response.headers) {
      if (key == name) {
        return value;
      }
    }
    return "<none>";
  }

  static std::string EnrollBody(const std::string& token, const std::string& csr,
                                const std::string& hostname = "ward-3-pc") {
    return *json::Canonical(json::Object{
        {"token", token}, {"csr", csr}, {"hostname", hostname}, {"target_os", "debian-12"}});
  }

  Enrolment Enrol(const std::string& hostname = "ward-3-pc") {
    Enrolment enrolment;
    auto key = endpoint::MakeClientKeyAndCsr("pending");
    EXPECT_TRUE(key.ok());
    const HttpResponse response =
        Call("POST", "/v1/enroll", EnrollBody(NewToken(), key->csr_pem, hostname));
    EXPECT_EQ(response.status, 200) << response.body;
    enrolment.id = Field(response, "endpoint_id");
    enrolment.certificate = Field(response, "certificate");
    enrolment.key = key->key_pem;
    auto fingerprint = CertificatePemFingerprint(enrolment.certificate);
    EXPECT_TRUE(fingerprint.ok());
    enrolment.fingerprint = fingerprint.ok() ? *fingerprint : "";
    return enrolment;
  }

  static std::string InventoryText(std::vector<bundler::InstalledPackage> packages) {
    auto inventory = bundler::MakeInventory(std::move(packages));
    EXPECT_TRUE(inventory.ok());
    return bundler::InventoryCanonical(*inventory);
  }

  // Installed below every patch of the bundle: libfoo1, bar and libbaz all apply.
  static std::string OldInventory() {
    return InventoryText({{"libfoo1", "amd64", "0.9-1"},
                          {"bar", "all", "1.0-1"},
                          {"libbaz", "amd64", "2.0-1"},
                          {"dpkg", "amd64", "1.21.22"}});
  }

  static std::string Sha256Hex(std::string_view text) {
    return crypto::DigestHex(crypto::Sha256Of(text));
  }

  static std::string CheckinBody(const std::string& id, const std::string& inventory,
                                 bool include_inventory) {
    json::Object body{{"endpoint_id", id},
                      {"inventory_sha256", Sha256Hex(inventory)},
                      {"target_os", "debian-12"},
                      {"agent_version", "0.2.0"}};
    if (include_inventory) {
      body["inventory"] = inventory;
    }
    return *json::Canonical(body);
  }

  std::vector<Event> EventsOfType(const std::string& type) {
    auto events = ListEvents(relay_->db(), 1, 100000, type);
    EXPECT_TRUE(events.ok());
    return events.ok() ? *events : std::vector<Event>();
  }

  int64_t CountRows(const std::string& sql) {
    auto query = relay_->db().Prepare(sql);
    EXPECT_TRUE(query.ok());
    auto row = query->Step();
    EXPECT_TRUE(row.ok() && *row);
    return query->Int(0);
  }

  static std::string ReportsBody(const std::string& id, const json::Array& reports) {
    return *json::Canonical(json::Object{{"endpoint_id", id}, {"reports", reports}});
  }

  static json::Object Report(const std::string& report_id, const std::string& patch_id,
                             const std::string& result = "installed") {
    return json::Object{{"report_id", report_id},
                        {"patch_id", patch_id},
                        {"result", result},
                        {"exit_code", 0},
                        {"started", "2026-01-02T03:04:05Z"},
                        {"finished", "2026-01-02T03:04:35Z"},
                        {"log_excerpt", "Setting up " + patch_id + " ...\n"}};
  }

  static inline testing::TempDir* shared_ = nullptr;
  static inline crypto::SigningKey* root_key_ = nullptr;
  static inline crypto::SigningKey* bundle_key_ = nullptr;
  static inline crypto::TrustRoot* root_ = nullptr;

  testing::TempDir dir_;
  std::string data_ = dir_ / "relay";
  std::unique_ptr<Relay> relay_;
  std::unique_ptr<RelayApi> api_;
};

}  // namespace ferry::relay
