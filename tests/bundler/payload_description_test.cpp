#include "bundler/payload_description.hpp"
#include "bundler/manifest.hpp"

#include <gtest/gtest.h>

#include <string>

namespace ferry::bundler {
namespace {

constexpr const char* kFull =
    R"({"id":"acme-agent-7.2.1","title":"ACME agent 7.2.1","kind":"script",
 "file":"acme-agent-7.2.1.sh","package":"acme-agent","version":"7.2.1","architecture":"all",
 "target_os":"debian-12","arguments":["--quiet"],"success_exit_codes":[0],
 "reboot_exit_codes":[3],"severity":"high","cves":["CVE-2026-1234"],
 "released":"2026-10-01T00:00:00Z","reboot":false})";

TEST(PayloadDescriptionTest, ParsesTheDocumentedExample) {
  auto d = ParsePayloadDescription(kFull, "acme.payload.json");
  ASSERT_TRUE(d.ok()) << d.error().message();
  EXPECT_EQ(d->id, "acme-agent-7.2.1");
  EXPECT_EQ(d->title, "ACME agent 7.2.1");
  EXPECT_EQ(d->kind, "script");
  EXPECT_EQ(d->file, "acme-agent-7.2.1.sh");
  EXPECT_EQ(d->package, "acme-agent");
  EXPECT_EQ(d->version, "7.2.1");
  EXPECT_EQ(d->architecture, "all");
  EXPECT_EQ(d->target_os, "debian-12");
  EXPECT_EQ(d->arguments, std::vector<std::string>{"--quiet"});
  EXPECT_EQ(d->success_exit_codes, std::vector<int>{0});
  EXPECT_EQ(d->reboot_exit_codes, std::vector<int>{3});
  EXPECT_EQ(d->severity, "high");
  EXPECT_EQ(d->cves, std::vector<std::string>{"CVE-2026-1234"});
  ASSERT_TRUE(d->released.has_value());
  EXPECT_EQ(FormatTime(*d->released), "2026-10-01T00:00:00Z");
  EXPECT_FALSE(d->reboot);
}

TEST(PayloadDescriptionTest, AppliesDefaults) {
  auto d = ParsePayloadDescription(
      R"({"id":"motd-banner","kind":"file","file":"motd","target_os":"debian-12","reboot":true})",
      "motd.payload.json");
  ASSERT_TRUE(d.ok()) << d.error().message();
  EXPECT_EQ(d->title, "motd-banner");
  EXPECT_EQ(d->package, "motd-banner");
  EXPECT_EQ(d->version, "0");
  EXPECT_EQ(d->architecture, "all");
  EXPECT_EQ(d->severity, "unknown");
  EXPECT_TRUE(d->arguments.empty());
  EXPECT_TRUE(d->cves.empty());
  EXPECT_TRUE(d->success_exit_codes.empty());
  EXPECT_FALSE(d->released.has_value());
  EXPECT_TRUE(d->reboot);
}

void ExpectInvalid(const std::string& json, const std::string& fragment) {
  auto d = ParsePayloadDescription(json, "p.payload.json");
  ASSERT_FALSE(d.ok()) << "accepted: " << json;
  EXPECT_EQ(d.error().kind(), ErrorKind::kInvalid);
  EXPECT_NE(d.error().message().find(fragment), std::string::npos) << d.error().message();
}

// A valid script description with one field replaced or added.
std::string With(const std::string& extra) {
  return R"({"id":"x1","kind":"script","file":"x.sh","target_os":"debian-12",)"
         R"("success_exit_codes":[0])" +
         extra + "}";
}

TEST(PayloadDescriptionTest, RefusesInvalidDescriptions) {
  ExpectInvalid("{", "p.payload.json");
  ExpectInvalid("[]", "p.payload.json: $: expected an object");
  ExpectInvalid(With(R"(,"colour":"red")"), "p.payload.json: $.colour: unknown field");
  ExpectInvalid(R"({"kind":"file","file":"f","target_os":"debian-12"})", "$.id: missing");
  ExpectInvalid(R"({"id":"x1","kind":"file","file":"f"})", "$.target_os: missing");
  ExpectInvalid(R"({"id":"bad id","kind":"file","file":"f","target_os":"debian-12"})", "$.id");
  ExpectInvalid(R"({"id":"-x","kind":"file","file":"f","target_os":"debian-12"})", "$.id");
  ExpectInvalid(R"({"id":"x1","kind":"deb","file":"f","target_os":"debian-12"})",
                "$.kind: \"deb\" is neither");
  ExpectInvalid(R"({"id":"x1","kind":"file","file":"../etc/passwd","target_os":"debian-12"})",
                "$.file");
  ExpectInvalid(R"({"id":"x1","kind":"file","file":"sub/f","target_os":"debian-12"})", "$.file");
  ExpectInvalid(R"({"id":"x1","kind":"file","file":"..","target_os":"debian-12"})", "$.file");
  ExpectInvalid(R"({"id":"x1","kind":"file","file":"","target_os":"debian-12"})", "$.file");
  ExpectInvalid(R"({"id":"x1","kind":"file","file":"y.payload.json","target_os":"debian-12"})",
                "names a description file");
  ExpectInvalid(R"({"id":"x1","kind":"file","file":"f","target_os":"Debian 12"})", "$.target_os");
  ExpectInvalid(R"({"id":"x1","kind":"script","file":"x.sh","target_os":"debian-12"})",
                "$.success_exit_codes: a script needs at least one");
  ExpectInvalid(With(R"(,"reboot_exit_codes":[0])"), "also a success exit code");
  ExpectInvalid(With(R"(,"reboot_exit_codes":[256])"), "$.reboot_exit_codes[0]: exit code 256");
  ExpectInvalid(With(R"(,"reboot_exit_codes":[-1])"), "outside 0..255");
  ExpectInvalid(With(R"(,"reboot_exit_codes":[1,1])"), "listed twice");
  ExpectInvalid(With(R"(,"reboot_exit_codes":[1.5])"), "expected an integer");
  ExpectInvalid(With(R"(,"reboot_exit_codes":3010)"), "expected an array");
  ExpectInvalid(R"({"id":"x1","kind":"file","file":"f","target_os":"debian-12",)"
                R"("arguments":["-q"]})",
                "only a script takes arguments");
  ExpectInvalid(R"({"id":"x1","kind":"file","file":"f","target_os":"debian-12",)"
                R"("success_exit_codes":[0]})",
                "only a script has exit codes");
  ExpectInvalid(With(R"(,"severity":"urgent")"), "$.severity");
  ExpectInvalid(With(R"(,"cves":["CVE-1-2"])"), "$.cves[0]");
  ExpectInvalid(With(R"(,"cves":["CVE-2026-1234","CVE-2026-1234"])"), "listed twice");
  ExpectInvalid(With(R"(,"released":"2026-10-01")"), "$.released");
  ExpectInvalid(With(R"(,"version":"v1")"), "$.version");
  ExpectInvalid(With(R"(,"architecture":"x86_64")"), "$.architecture");
  ExpectInvalid(With(R"(,"reboot":"no")"), "$.reboot: expected a boolean");
  ExpectInvalid(With(R"(,"title":"two\nlines")"), "$.title");
  ExpectInvalid(With(R"(,"arguments":["a\u0000b"])"), "$.arguments[0]");
  ExpectInvalid(With(R"(,"arguments":[1])"), "$.arguments[0]: expected a string");
}

TEST(PayloadDescriptionTest, EnforcesLimits) {
  std::string args = R"(,"arguments":[)";
  for (size_t i = 0; i <= kMaxPayloadArguments; ++i) {
    args += (i == 0 ? "" : ",") + std::string("\"a\"");
  }
  args += "]";
  ExpectInvalid(With(args), "more than 64 arguments");
  ExpectInvalid(With(R"(,"arguments":[")" + std::string(kMaxPayloadArgumentBytes + 1, 'a') + "\"]"),
                "$.arguments[0]: longer than");
  ExpectInvalid(With(R"(,"title":")" + std::string(kMaxPayloadDescriptionBytes, 't') + "\""),
                "larger than 65536 bytes");
  ExpectInvalid(R"({"id":")" + std::string(129, 'a') +
                    R"(","kind":"file","file":"f","target_os":"debian-12"})",
                "$.id");
  EXPECT_FALSE(IsSafeIdentifier(std::string(129, 'a')));
  EXPECT_TRUE(IsSafeIdentifier(std::string(128, 'a')));
  EXPECT_TRUE(IsSafeIdentifier("1:2.0~rc1+b_2-x"));
  EXPECT_TRUE(IsPlainFileName("setup.exe"));
  EXPECT_FALSE(IsPlainFileName("a/b"));
  EXPECT_FALSE(IsPlainFileName("."));
}

}  // namespace
}  // namespace ferry::bundler
