// The agent's reading of relay answers: exactly the documented shapes, nothing else.

#include "endpoint/relay_api.hpp"

#include <gtest/gtest.h>

namespace ferry::endpoint {
namespace {

const std::string kHash(64, 'a');

std::string Answer(const std::string& patches_extra = "", const std::string& top_extra = "",
                   const std::string& ref = "stable/3") {
  return R"({"catalog_version":7,"poll_seconds":900,"root_version":2,)"
         R"("patches":[{"id":"libfoo1_1.2-1_amd64","kind":"deb","package":"libfoo1",)"
         R"("version":"1.2-1","architecture":"amd64","severity":"high","reboot":false,)"
         R"("manifest":"stable/3","payload_sha256":")" +
         kHash + R"(","payload_size":5000)" + patches_extra + R"(}],)" +
         R"("manifests":[{"ref":")" + ref + R"(","sha256":")" + std::string(64, 'b') + R"("}])" +
         top_extra + "}";
}

TEST(RelayApi, ReadsACheckinAnswer) {
  auto answer = ParseCheckinAnswer(Answer());
  ASSERT_TRUE(answer.ok()) << answer.error().message();
  EXPECT_FALSE(answer->need_inventory);
  EXPECT_EQ(answer->catalog_version, 7);
  EXPECT_EQ(answer->root_version, 2);
  ASSERT_EQ(answer->patches.size(), 1u);
  const OfferedPatch& patch = answer->patches.front();
  EXPECT_EQ(patch.id, "libfoo1_1.2-1_amd64");
  EXPECT_EQ(patch.manifest, "stable/3");
  EXPECT_EQ(patch.payload_size, 5000u);
  EXPECT_EQ(crypto::DigestHex(patch.payload_sha256), kHash);
  ASSERT_EQ(answer->manifests.size(), 1u);
  EXPECT_EQ(crypto::DigestHex(answer->manifests.front().sha256), std::string(64, 'b'));

  auto need = ParseCheckinAnswer(R"({"need_inventory":true})");
  ASSERT_TRUE(need.ok());
  EXPECT_TRUE(need->need_inventory);
}

TEST(RelayApi, RefusesCheckinAnswersOfAnyOtherShape) {
  const std::string bad[] = {
      Answer(R"(,"extra":1)"),
      Answer("", R"(,"extra":1)"),
      Answer("", "", "other/3"),  // the patch names a manifest the answer does not list
      Answer("", "", "stable/03"),
      R"({"need_inventory":false})",
      R"({"need_inventory":true,"catalog_version":1})",
      R"({"catalog_version":7,"poll_seconds":900,"root_version":0,"patches":[],"manifests":[]})",
      R"({"catalog_version":7,"poll_seconds":900,"patches":[],"manifests":[]})",
      R"([])",
      "",
      "{\"catalog_version\":7,",
  };
  for (const std::string& text : bad) {
    auto answer = ParseCheckinAnswer(text);
    EXPECT_FALSE(answer.ok()) << text;
    if (!answer.ok()) {
      EXPECT_EQ(answer.error().kind(), ErrorKind::kInvalid) << text;
    }
  }
  // Field by field: each broken value is refused.
  const std::pair<std::string, std::string> fields[] = {
      {"\"kind\":\"deb\"", "\"kind\":\"rpm\""},
      {"\"severity\":\"high\"", "\"severity\":\"urgent\""},
      {"\"package\":\"libfoo1\"", "\"package\":\"../etc\""},
      {"\"payload_size\":5000", "\"payload_size\":-1"},
      {"\"payload_size\":5000", "\"payload_size\":4294967297"},
      {"\"reboot\":false", "\"reboot\":0"},
      {"\"manifest\":\"stable/3\"", "\"manifest\":\"stable\""},
      {kHash, std::string(64, 'A')},
      {kHash, std::string(63, 'a')},
  };
  for (const auto& [from, to] : fields) {
    std::string text = Answer();
    text.replace(text.find(from), from.size(), to);
    EXPECT_FALSE(ParseCheckinAnswer(text).ok()) << to;
  }
  // The same patch twice.
  std::string twice = Answer();
  const size_t start = twice.find("[{\"id\"") + 1;
  const size_t end = twice.find("}]", start) + 1;
  twice.insert(end, "," + twice.substr(start, end - start));
  EXPECT_FALSE(ParseCheckinAnswer(twice).ok());
}

TEST(RelayApi, EnrollAnswerAndReportsAnswer) {
  auto enrolled = ParseEnrollAnswer(
      R"({"endpoint_id":"ep-0123456789abcdef","certificate":"PEM","poll_seconds":900})");
  ASSERT_TRUE(enrolled.ok()) << enrolled.error().message();
  EXPECT_EQ(enrolled->endpoint_id, "ep-0123456789abcdef");
  for (const char* id : {"ep-0123456789ABCDEF", "ep-0123", "xx-0123456789abcdef", "../x"}) {
    EXPECT_FALSE(ParseEnrollAnswer(std::string(R"({"endpoint_id":")") + id +
                                   R"(","certificate":"PEM","poll_seconds":900})")
                     .ok())
        << id;
  }
  auto accepted = ParseReportsAnswer(R"({"accepted":["abcdef0123","r-2"]})");
  ASSERT_TRUE(accepted.ok());
  EXPECT_EQ(accepted->size(), 2u);
  EXPECT_FALSE(ParseReportsAnswer(R"({"accepted":[1]})").ok());
  EXPECT_FALSE(ParseReportsAnswer(R"({"accepted":[],"more":true})").ok());
}

TEST(RelayApi, RequestsAreCanonicalJson) {
  auto checkin = CheckinRequestJson({"ep-0123456789abcdef", kHash, "debian-12", std::nullopt});
  ASSERT_TRUE(checkin.ok());
  EXPECT_EQ(*checkin, R"({"agent_version":"0.2.0","endpoint_id":"ep-0123456789abcdef",)"
                      R"("inventory_sha256":")" +
                          kHash + R"(","target_os":"debian-12"})");
  auto with_inventory =
      CheckinRequestJson({"ep-0123456789abcdef", kHash, "debian-12", std::string("[]")});
  EXPECT_NE(with_inventory->find(R"("inventory":"[]")"), std::string::npos);

  Report report{"0123456789abcdef", "libfoo1_1.2-1_amd64", "failed", 2, 1795000000,
                1795000060,         "dpkg: error\n"};
  auto body = ReportsRequestJson("ep-0123456789abcdef", {report});
  ASSERT_TRUE(body.ok());
  EXPECT_EQ(*body, R"({"endpoint_id":"ep-0123456789abcdef","reports":[{"exit_code":2,)"
                   R"("finished":"2026-11-18T11:07:40Z","log_excerpt":"dpkg: error\n",)"
                   R"("patch_id":"libfoo1_1.2-1_amd64","report_id":"0123456789abcdef",)"
                   R"("result":"failed","started":"2026-11-18T11:06:40Z"}]})");
  auto back = ReportFromJson(ReportToJson(report), "report");
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ(back->exit_code, 2);
  EXPECT_EQ(back->finished, report.finished);
  report.result = "maybe";
  EXPECT_FALSE(ReportFromJson(ReportToJson(report), "report").ok());
}

TEST(RelayApi, IdentifierShapes) {
  EXPECT_TRUE(IsManifestRef("debian-12-security/12"));
  EXPECT_FALSE(IsManifestRef("debian-12-security/0"));
  EXPECT_FALSE(IsManifestRef("/1"));
  EXPECT_FALSE(IsManifestRef("a/b/1"));
  EXPECT_FALSE(IsManifestRef("a/1x"));
  EXPECT_TRUE(IsReportId("0123456789abcdef0123456789abcdef"));
  EXPECT_FALSE(IsReportId("short"));
  EXPECT_FALSE(IsReportId("UPPER-CASE-ID"));
  EXPECT_TRUE(IsValidHostname("web-01.ward3.example"));
  EXPECT_FALSE(IsValidHostname("web 01"));
  EXPECT_FALSE(IsValidHostname(std::string(254, 'a')));
  EXPECT_EQ(ClampPollSeconds(5), 60);
  EXPECT_EQ(ClampPollSeconds(900), 900);
  EXPECT_EQ(ClampPollSeconds(1000000), 86400);
}

}  // namespace
}  // namespace ferry::endpoint
