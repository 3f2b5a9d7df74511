#include "bundler/osv.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace ferry::bundler {
namespace {

namespace stdfs = std::filesystem;

// Shaped like the records osv.dev publishes for Debian security advisories.
constexpr const char* kDsa = R"({
  "schema_version": "1.6.0",
  "id": "DSA-5500-1",
  "summary": "openssl - security update",
  "details": "Several vulnerabilities were discovered.",
  "modified": "2023-09-22T10:00:00Z",
  "published": "2023-09-21T00:00:00Z",
  "aliases": [],
  "upstream": ["DEBIAN-CVE-2023-1111", "CVE-2023-2222", "DEBIAN-CVE-2023-1111"],
  "related": ["CVE-2020-9999"],
  "affected": [
    {"package": {"ecosystem": "Debian:12", "name": "openssl"},
     "ranges": [{"type": "ECOSYSTEM",
                 "events": [{"introduced": "0"}, {"fixed": "3.0.11-1~deb12u1"}]}],
     "ecosystem_specific": {"urgency": "high**"}},
    {"package": {"ecosystem": "Debian:11", "name": "openssl"},
     "ranges": [{"type": "ECOSYSTEM",
                 "events": [{"introduced": "0"}, {"fixed": "1.1.1w-0+deb11u1"}]}]}
  ],
  "references": [{"type": "ADVISORY", "url": "https://www.debian.org/security/2023/dsa-5500"}],
  "future_field": {"nested": [1.5, 2e3, null, true]}
})";

constexpr const char* kGhsa = R"({
  "id": "GHSA-aaaa-bbbb-cccc",
  "aliases": ["CVE-2024-0001"],
  "modified": "2024-01-05T00:00:00Z",
  "published": "2024-01-02T03:04:05.678+01:00",
  "severity": [
    {"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N"},
    {"type": "CVSS_V4", "score": "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"}
  ],
  "affected": [{"package": {"ecosystem": "PyPI", "name": "example"},
                "ranges": [{"type": "ECOSYSTEM",
                            "events": [{"introduced": "1.0rc1"}, {"fixed": "1.2"}]}]}],
  "database_specific": {"severity": "MODERATE", "cwe_ids": ["CWE-79"], "score": 6.1}
})";

TEST(OsvTest, ParsesADebianAdvisory) {
  auto advisory = ParseOsvAdvisory(kDsa, "DSA-5500-1.json");
  ASSERT_TRUE(advisory.ok()) << advisory.error().message();
  EXPECT_EQ(advisory->id, "DSA-5500-1");
  EXPECT_EQ(advisory->cves, (std::vector<std::string>{"CVE-2023-1111", "CVE-2023-2222"}));
  EXPECT_EQ(advisory->severity, "high");
  EXPECT_FALSE(advisory->cvss_score.has_value());
  EXPECT_FALSE(advisory->cvss_vector.has_value());
  ASSERT_TRUE(advisory->published.has_value());
  EXPECT_EQ(FormatTime(*advisory->published), "2023-09-21T00:00:00Z");
  EXPECT_EQ(advisory->summary, "openssl - security update");
  ASSERT_EQ(advisory->fixes.size(), 2u);
  EXPECT_EQ(advisory->fixes[0].ecosystem, "Debian:12");
  EXPECT_EQ(advisory->fixes[0].package, "openssl");
  EXPECT_EQ(advisory->fixes[0].fixed_version, "3.0.11-1~deb12u1");
  EXPECT_EQ(advisory->fixes[1].fixed_version, "1.1.1w-0+deb11u1");
  ASSERT_EQ(advisory->affected_ranges.size(), 2u);
  EXPECT_EQ(advisory->affected_ranges[0].introduced, "0");
  EXPECT_FALSE(advisory->withdrawn);
}

TEST(OsvTest, CvssVectorWinsOverWordsAndTimesAreRfc3339) {
  auto advisory = ParseOsvAdvisory(kGhsa, "ghsa.json");
  ASSERT_TRUE(advisory.ok()) << advisory.error().message();
  EXPECT_EQ(advisory->cves, (std::vector<std::string>{"CVE-2024-0001"}));
  EXPECT_EQ(advisory->severity, "medium");
  EXPECT_EQ(advisory->cvss_score.value(), "6.1");
  EXPECT_EQ(advisory->cvss_vector.value(), "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N");
  EXPECT_EQ(FormatTime(advisory->published.value()), "2024-01-02T02:04:05Z");
  EXPECT_EQ(advisory->summary, "");
  // PyPI versions are not Debian versions, but they are kept as written.
  ASSERT_EQ(advisory->fixes.size(), 1u);
  EXPECT_EQ(advisory->fixes[0].fixed_version, "1.2");
}

TEST(OsvTest, SeverityFallbacks) {
  const auto severity_of = [](const std::string& json) {
    auto advisory = ParseOsvAdvisory(json, "x.json");
    EXPECT_TRUE(advisory.ok()) << advisory.error().message();
    return advisory.ok() ? advisory->severity : std::string("<error>");
  };
  EXPECT_EQ(severity_of(R"({"id":"A-1"})"), "unknown");
  EXPECT_EQ(severity_of(R"({"id":"A-1","database_specific":{"severity":"CRITICAL"}})"), "critical");
  EXPECT_EQ(severity_of(R"({"id":"A-1","database_specific":{"severity":7}})"), "unknown");
  EXPECT_EQ(severity_of(R"({"id":"USN-1-1","severity":[{"type":"Ubuntu","score":"medium"}]})"),
            "medium");
  EXPECT_EQ(severity_of(R"({"id":"A-1","affected":[{"ecosystem_specific":{"urgency":
            "unimportant"}},{"ecosystem_specific":{"urgency":"not yet assigned"}}]})"),
            "low");
  EXPECT_EQ(severity_of(R"({"id":"A-1","affected":[{"ecosystem_specific":{"severity":"LOW"}},
            {"database_specific":{"severity":"HIGH"}}]})"),
            "high");
  // A per-package CVSS vector counts like a top-level one.
  EXPECT_EQ(severity_of(R"({"id":"A-1","affected":[{"severity":[{"type":"CVSS_V3",
            "score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]}]})"),
            "critical");
  EXPECT_EQ(NormalizeSeverityWord(" Important "), "high");
  EXPECT_EQ(NormalizeSeverityWord("negligible"), "low");
  EXPECT_EQ(NormalizeSeverityWord("end-of-life"), "unknown");
}

TEST(OsvTest, ParsesRfc3339Times) {
  EXPECT_EQ(FormatTime(ParseRfc3339("2021-03-04T05:06:07Z").value()), "2021-03-04T05:06:07Z");
  EXPECT_EQ(FormatTime(ParseRfc3339("2021-03-04t05:06:07.123456z").value()),
            "2021-03-04T05:06:07Z");
  EXPECT_EQ(FormatTime(ParseRfc3339("2021-03-04T00:30:00-02:30").value()), "2021-03-04T03:00:00Z");
  EXPECT_EQ(FormatTime(ParseRfc3339("2021-01-01T00:30:00+01:00").value()), "2020-12-31T23:30:00Z");
  for (const char* bad :
       {"", "2021-03-04", "2021-03-04T05:06:07", "2021-03-04 05:06:07Z", "2021-03-04T05:06:07.Z",
        "2021-03-04T05:06:07+0100", "2021-02-30T05:06:07Z", "2021-03-04T05:06:07+24:00",
        "2021-03-04T05:06:07Zjunk"}) {
    EXPECT_FALSE(ParseRfc3339(bad).ok()) << bad;
  }
}

void ExpectInvalid(const std::string& json, const std::string& fragment) {
  auto advisory = ParseOsvAdvisory(json, "bad.json");
  ASSERT_FALSE(advisory.ok()) << "accepted: " << json;
  EXPECT_EQ(advisory.error().kind(), ErrorKind::kInvalid);
  EXPECT_NE(advisory.error().message().find(fragment), std::string::npos)
      << advisory.error().message();
}

TEST(OsvTest, RefusesMalformedFieldsItReads) {
  ExpectInvalid("not json", "bad.json");
  ExpectInvalid("[]", "bad.json: $: expected an object");
  ExpectInvalid("{}", "bad.json: $.id: missing");
  ExpectInvalid(R"({"id": 5})", "$.id: expected a string");
  ExpectInvalid(R"({"id": "has space"})", "not a valid advisory id");
  ExpectInvalid(R"({"id": "A-1", "aliases": "CVE-2024-1"})", "$.aliases: expected an array");
  ExpectInvalid(R"({"id": "A-1", "aliases": ["CVE-24-1"]})", "not a valid CVE id");
  ExpectInvalid(R"({"id": "A-1", "published": "yesterday"})", "$.published");
  ExpectInvalid(R"({"id": "A-1", "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N"}]})",
                "$.severity[0].score");
  ExpectInvalid(R"({"id": "A-1", "affected": [{"package": {"ecosystem": "Debian:12",
      "name": "x"}, "ranges": [{"type": "ECOSYSTEM", "events": [{"fixed": "v1"}]}]}]})",
                "$.affected[0].ranges[0].events[0].fixed");
  ExpectInvalid(R"({"id": "A-1", "affected": [{"package": {"ecosystem": "Debian:12"}}]})",
                "needs an ecosystem and a name");
  ExpectInvalid(R"({"id": "A-1", "affected": [{"package": {"ecosystem": "Debian:12",
      "name": "x"}, "ranges": [{"type": "ECOSYSTEM"}]}]})",
                "$.affected[0].ranges[0].events: missing");
  ExpectInvalid(R"({"id": "A-1", "affected": {"package": "x"}})", "$.affected: expected an array");
}

TEST(OsvTest, RefusesOversizedDocuments) {
  std::string big = R"({"id": "A-1", "details": ")" + std::string(kMaxOsvFileBytes, 'x') + "\"}";
  auto advisory = ParseOsvAdvisory(big, "big.json");
  ASSERT_FALSE(advisory.ok());
  EXPECT_NE(advisory.error().message().find("big.json"), std::string::npos);
}

TEST(OsvTest, EcosystemMapping) {
  EXPECT_EQ(TargetOsForEcosystem("Debian:12"), "debian-12");
  EXPECT_EQ(TargetOsForEcosystem("Debian:11"), "debian-11");
  EXPECT_EQ(TargetOsForEcosystem("Debian"), "debian");
  EXPECT_EQ(TargetOsForEcosystem("Ubuntu:22.04:LTS"), "ubuntu-22.04");
  EXPECT_EQ(TargetOsForEcosystem("Ubuntu:Pro:18.04:LTS"), "ubuntu-18.04");
  EXPECT_EQ(TargetOsForEcosystem("Ubuntu:24.10"), "ubuntu-24.10");
  EXPECT_EQ(TargetOsForEcosystem("Alpine:v3.18"), "alpine-v3.18");
  EXPECT_EQ(TargetOsForEcosystem("PyPI"), "pypi");
  EXPECT_TRUE(EcosystemMatchesTargetOs("Debian:12", "debian-12"));
  EXPECT_FALSE(EcosystemMatchesTargetOs("Debian:12", "debian-11"));
  EXPECT_TRUE(EcosystemMatchesTargetOs("Debian", "debian-12"));
  EXPECT_TRUE(EcosystemMatchesTargetOs("Debian", "debian"));
  EXPECT_FALSE(EcosystemMatchesTargetOs("Debian", "debianx-12"));
  EXPECT_FALSE(EcosystemMatchesTargetOs("Debian", "ubuntu-22.04"));
  EXPECT_TRUE(EcosystemMatchesTargetOs("Ubuntu:22.04:LTS", "ubuntu-22.04"));
}

std::vector<std::string> Ids(const std::vector<const Advisory*>& advisories) {
  std::vector<std::string> ids;
  for (const Advisory* a : advisories) {
    ids.push_back(a->id);
  }
  return ids;
}

TEST(OsvTest, AdvisoriesFixedByVersion) {
  std::vector<Advisory> advisories;
  advisories.push_back(ParseOsvAdvisory(kDsa, "dsa.json").value());
  advisories.push_back(ParseOsvAdvisory(R"({"id": "DEBIAN-CVE-2023-3333",
      "upstream": ["CVE-2023-3333"],
      "affected": [{"package": {"ecosystem": "Debian", "name": "openssl"},
        "ranges": [{"type": "ECOSYSTEM",
                    "events": [{"introduced": "0"}, {"fixed": "3.0.10-1"}]}]}]})",
                                        "any.json")
                           .value());
  // Vulnerable again from 3.1.0 until 3.1.2: a version in between is not fixed although it is
  // above the first fix. Events are deliberately out of order.
  advisories.push_back(ParseOsvAdvisory(R"({"id": "DEBIAN-CVE-2023-4444",
      "affected": [{"package": {"ecosystem": "Debian:12", "name": "openssl"},
        "ranges": [{"type": "ECOSYSTEM", "events": [{"fixed": "3.1.2-1"}, {"introduced": "3.1.0-1"},
                   {"introduced": "0"}, {"fixed": "3.0.9-1"}]}]}]})",
                                        "again.json")
                           .value());
  advisories.push_back(ParseOsvAdvisory(R"({"id": "DSA-9-1", "withdrawn": "2023-10-01T00:00:00Z",
      "affected": [{"package": {"ecosystem": "Debian:12", "name": "openssl"},
        "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.0-1"}]}]}]})",
                                        "withdrawn.json")
                           .value());
  ASSERT_TRUE(advisories[3].withdrawn);

  using V = std::vector<std::string>;
  EXPECT_EQ(Ids(AdvisoriesFixedBy(advisories, "openssl", "3.0.11-1~deb12u1", "debian-12")),
            (V{"DSA-5500-1", "DEBIAN-CVE-2023-3333", "DEBIAN-CVE-2023-4444"}));
  // Below the DSA's fix (the '~' sorts first).
  EXPECT_EQ(Ids(AdvisoriesFixedBy(advisories, "openssl", "3.0.11-1~deb12u0", "debian-12")),
            (V{"DEBIAN-CVE-2023-3333", "DEBIAN-CVE-2023-4444"}));
  EXPECT_EQ(Ids(AdvisoriesFixedBy(advisories, "openssl", "3.1.1-1", "debian-12")),
            (V{"DSA-5500-1", "DEBIAN-CVE-2023-3333"}));
  EXPECT_EQ(Ids(AdvisoriesFixedBy(advisories, "openssl", "3.1.2-1", "debian-12")),
            (V{"DSA-5500-1", "DEBIAN-CVE-2023-3333", "DEBIAN-CVE-2023-4444"}));
  EXPECT_EQ(Ids(AdvisoriesFixedBy(advisories, "openssl", "1.1.1w-0+deb11u1", "debian-11")),
            (V{"DSA-5500-1"}));
  EXPECT_TRUE(AdvisoriesFixedBy(advisories, "openssl", "1.1.1w-0+deb11u1", "debian-12").empty());
  EXPECT_TRUE(AdvisoriesFixedBy(advisories, "openssl", "9.9", "ubuntu-22.04").empty());
  EXPECT_TRUE(AdvisoriesFixedBy(advisories, "libssl3", "9.9", "debian-12").empty());
}

TEST(OsvTest, LoadsJsonFilesInNameOrderAndRefusesDuplicateIds) {
  std::string pattern = ::testing::TempDir() + "ferry_osv_XXXXXX";
  ASSERT_NE(mkdtemp(pattern.data()), nullptr);
  const stdfs::path dir = pattern;
  const auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir / name) << text;
  };
  write("b.json", R"({"id": "B-1"})");
  write("a.json", R"({"id": "A-1"})");
  write("readme.txt", "not an advisory");
  stdfs::create_directory(dir / "sub.json");
  ASSERT_EQ(mkfifo((dir / "fifo.json").c_str(), 0600), 0);  // would block if opened
  auto loaded = LoadAdvisories(dir.string());
  ASSERT_TRUE(loaded.ok()) << loaded.error().message();
  ASSERT_EQ(loaded->size(), 2u);
  EXPECT_EQ((*loaded)[0].id, "A-1");
  EXPECT_EQ((*loaded)[1].id, "B-1");

  write("c.json", R"({"id": "A-1"})");
  loaded = LoadAdvisories(dir.string());
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.error().message().find("c.json: advisory A-1 is also defined in a.json"),
            std::string::npos)
      << loaded.error().message();

  write("c.json", R"({"id": )");
  loaded = LoadAdvisories(dir.string());
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.error().message().find("c.json"), std::string::npos);
  stdfs::remove_all(dir);

  loaded = LoadAdvisories((dir / "absent").string());
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.error().kind(), ErrorKind::kIo);
}

}  // namespace
}  // namespace ferry::bundler
