#include "bundler/cvss.hpp"

#include <gtest/gtest.h>

#include <string>

namespace ferry::bundler {
namespace {

struct KnownScore {
  const char* vector;
  const char* score;
  const char* severity;
};

// Scores from FIRST's CVSS v3.1 calculator and NVD entries.
constexpr KnownScore kKnownScores[] = {
    {"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "9.8", "critical"},
    {"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N", "7.5", "high"},
    {"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N", "5.3", "medium"},
    {"CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", "6.1", "medium"},  // scope changed
    {"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", "0.0", "none"},
    {"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", "10.0", "critical"},
    {"CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H", "8.8", "high"},
    {"CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", "7.8", "high"},
    {"CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N", "5.9", "medium"},
    {"CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N", "1.8", "low"},
    {"CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:C/C:L/I:L/A:L", "4.3", "medium"},
    {"CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:L/I:L/A:N", "6.4", "medium"},  // PR:L weighs 0.68 if S:C
    {"CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "9.8", "critical"},
    // Temporal and environmental metrics do not move the base score.
    {"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:P/RL:O/RC:C/CR:H/MAV:L", "9.8", "critical"},
    // Any order is accepted.
    {"CVSS:3.1/S:U/C:H/I:N/A:N/AV:N/AC:L/PR:N/UI:N", "7.5", "high"},
};

TEST(CvssTest, KnownBaseScores) {
  for (const KnownScore& known : kKnownScores) {
    auto score = CvssV3BaseScore(known.vector);
    ASSERT_TRUE(score.ok()) << known.vector << ": " << score.error().message();
    EXPECT_EQ(CvssScoreText(*score), known.score) << known.vector;
    EXPECT_EQ(SeverityForScore(*score), known.severity) << known.vector;
  }
}

TEST(CvssTest, SeverityBoundaries) {
  EXPECT_EQ(SeverityForScore(0.0), "none");
  EXPECT_EQ(SeverityForScore(0.1), "low");
  EXPECT_EQ(SeverityForScore(3.9), "low");
  EXPECT_EQ(SeverityForScore(4.0), "medium");
  EXPECT_EQ(SeverityForScore(6.9), "medium");
  EXPECT_EQ(SeverityForScore(7.0), "high");
  EXPECT_EQ(SeverityForScore(8.9), "high");
  EXPECT_EQ(SeverityForScore(9.0), "critical");
  EXPECT_EQ(SeverityForScore(10.0), "critical");
  EXPECT_EQ(CvssScoreText(4.0), "4.0");
}

TEST(CvssTest, RefusesMalformedVectors) {
  for (const char* bad : {
           "",
           "AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",           // no prefix
           "CVSS:2.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",  // other version
           "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
           "CVSS:3.1/",                                          // nothing
           "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H",           // A missing
           "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/",      // trailing slash
           "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/A:H",   // repeated
           "CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",       // bad value
           "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:HH",      // long value
           "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:h",       // case matters
           "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/ZZ:N",  // unknown metric
           "CVSS:3.1/AV:N//AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",      // empty part
           "CVSS:3.1/AV=N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
       }) {
    auto score = CvssV3BaseScore(bad);
    EXPECT_FALSE(score.ok()) << "accepted " << bad;
    if (!score.ok()) {
      EXPECT_EQ(score.error().kind(), ErrorKind::kInvalid);
    }
  }
}

}  // namespace
}  // namespace ferry::bundler
