// `ferry-relay token`, `endpoints` and `endpoint revoke` through the real executable, beside a
// RelayApi on the same data directory as a serving relay would run it.

#include <gtest/gtest.h>

#include <thread>

#include "tests/relay/api_fixture.hpp"

namespace ferry::relay {
namespace {

using testing::CommandResult;

class EndpointCommandsTest : public RelayApiFixture {
 protected:
  CommandResult OnRelay(const std::string& command, const std::string& args = "") const {
    return testing::Run(testing::BuildPath("relay/ferry-relay") + " " + command + " --data " +
                        data_ + " " + args);
  }

  json::Value Json(const std::string& command, const std::string& args = "") const {
    const CommandResult result = OnRelay(command, "--json " + args);
    EXPECT_EQ(result.exit_code, 0) << command << ": " << result.err;
    auto parsed = json::Parse(result.out);
    EXPECT_TRUE(parsed.ok()) << command << " --json printed: " << result.out;
    return parsed.ok() ? std::move(*parsed) : json::Value();
  }
};

TEST_F(EndpointCommandsTest, TokenCreatePrintsATokenThatEnrolsOnce) {
  const CommandResult created = OnRelay("token create", "--expires 2h");
  ASSERT_EQ(created.exit_code, 0) << created.err;
  ASSERT_EQ(created.out.size(), 37u) << created.out;  // the token and a newline, nothing else
  const std::string token = created.out.substr(0, 36);
  EXPECT_NE(created.err.find("expires"), std::string::npos) << created.err;

  auto key = endpoint::MakeClientKeyAndCsr("x");
  const HttpResponse enrolled = Call("POST", "/v1/enroll", EnrollBody(token, key->csr_pem));
  ASSERT_EQ(enrolled.status, 200) << enrolled.body;
  const std::string id = Field(enrolled, "endpoint_id");

  const json::Value made = Json("token create");
  const json::Object& fresh = made.as_object();
  EXPECT_EQ(fresh.size(), 3u);
  EXPECT_EQ(fresh.at("token").as_string().substr(0, 4), "fet_");
  const auto expires = ParseTime(fresh.at("expires").as_string());
  ASSERT_TRUE(expires.ok());
  EXPECT_NEAR(static_cast<double>(*expires - Now()), 86400.0, 5.0);  // the default, a day

  const json::Value listed = Json("token list");
  ASSERT_EQ(listed.as_array().size(), 2u);
  const json::Object& used = listed.as_array()[0].as_object();
  EXPECT_EQ(used.at("state").as_string(), "used");
  EXPECT_EQ(used.at("used_by").as_string(), id);
  EXPECT_EQ(listed.as_array()[1].as_object().at("state").as_string(), "unused");
  EXPECT_EQ(listed.as_array()[1].as_object().at("token_id").as_string(),
            fresh.at("token_id").as_string());
  // The list never shows a token.
  const CommandResult text = OnRelay("token list");
  EXPECT_EQ(text.exit_code, 0);
  EXPECT_EQ(text.out.find("fet_"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find(id), std::string::npos) << text.out;
}

TEST_F(EndpointCommandsTest, TokenOptionsAreChecked) {
  EXPECT_EQ(OnRelay("token create", "--expires 31d").exit_code, 2);
  EXPECT_EQ(OnRelay("token create", "--expires soon").exit_code, 2);
  EXPECT_EQ(OnRelay("token create", "stray").exit_code, 2);
  EXPECT_EQ(OnRelay("token", "").exit_code, 2);
  EXPECT_EQ(OnRelay("token delete", "").exit_code, 2);
  EXPECT_EQ(Json("token list").as_array().size(), 0u);
}

TEST_F(EndpointCommandsTest, EndpointsListsWhatTheRelayKnows) {
  const Enrolment patched = Enrol("ward-3-pc");
  const Enrolment quiet = Enrol("lab-7");
  ASSERT_EQ(Call("POST", "/v1/checkin", CheckinBody(patched.id, OldInventory(), true),
                 patched.fingerprint)
                .status,
            200);
  ASSERT_EQ(Call("POST", "/v1/reports",
                 ReportsBody(patched.id, {Report("r-0001-abcd", kFoo, "reboot_required")}),
                 patched.fingerprint)
                .status,
            200);
  api_->Drain();  // last_seen reaches the database

  const json::Value listed = Json("endpoints");
  ASSERT_EQ(listed.as_array().size(), 2u);
  for (const json::Value& entry : listed.as_array()) {
    const json::Object& e = entry.as_object();
    if (e.at("endpoint_id").as_string() == patched.id) {
      EXPECT_EQ(e.at("hostname").as_string(), "ward-3-pc");
      EXPECT_EQ(e.at("inventory_sha256").as_string(), Sha256Hex(OldInventory()));
      EXPECT_EQ(e.at("needs").as_int(), 1);
      EXPECT_TRUE(e.count("last_seen"));
      EXPECT_EQ(e.at("certificate_sha256").as_string(), patched.fingerprint);
      const json::Object& report = e.at("last_report").as_object();
      EXPECT_EQ(report.at("result").as_string(), "reboot_required");
      EXPECT_EQ(report.at("patch_id").as_string(), kFoo);
    } else {
      EXPECT_EQ(e.at("endpoint_id").as_string(), quiet.id);
      EXPECT_FALSE(e.count("needs"));
      EXPECT_FALSE(e.count("last_report"));
      EXPECT_FALSE(e.count("inventory_sha256"));
    }
  }
  const CommandResult text = OnRelay("endpoints");
  EXPECT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("reboot_required " + std::string(kFoo)), std::string::npos) << text.out;
}

TEST_F(EndpointCommandsTest, RevokeReachesARunningApiWithinSeconds) {
  OpenApi(RelayApiOptions{.refresh_interval = std::chrono::milliseconds(200)});
  const Enrolment ep = Enrol();
  ASSERT_EQ(Call("GET", "/v1/roots/1", "", ep.fingerprint).status, 200);

  const CommandResult revoked = OnRelay("endpoint revoke", ep.id);
  ASSERT_EQ(revoked.exit_code, 0) << revoked.err;
  EXPECT_NE(revoked.out.find("revoked " + ep.id), std::string::npos) << revoked.out;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  int status = 200;
  while (status == 200 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    status = Call("GET", "/v1/roots/1", "", ep.fingerprint).status;
  }
  EXPECT_EQ(status, 401);

  const CommandResult again = OnRelay("endpoint revoke", ep.id);
  EXPECT_EQ(again.exit_code, 0);
  EXPECT_NE(again.out.find("already revoked"), std::string::npos) << again.out;
  EXPECT_EQ(EventsOfType("endpoint.revoked").size(), 1u);
  const Event event = EventsOfType("endpoint.revoked")[0];
  EXPECT_EQ(event.subject, ep.id);
  EXPECT_EQ(event.details,
            (json::Object{{"hostname", "ward-3-pc"}, {"certificate_sha256", ep.fingerprint}}));
  EXPECT_EQ(Json("endpoints").as_array()[0].as_object().count("revoked"), 1u);

  EXPECT_EQ(OnRelay("endpoint revoke", "ep-0000000000000000").exit_code, 2);
  EXPECT_EQ(OnRelay("endpoint revoke", "../etc").exit_code, 2);
  EXPECT_EQ(OnRelay("endpoint revoke", "").exit_code, 2);
  EXPECT_EQ(OnRelay("endpoint forget", ep.id).exit_code, 2);
}

}  // namespace
}  // namespace ferry::relay
