#include "common/time.hpp"

#include <gtest/gtest.h>

namespace ferry {
namespace {

TEST(Time, FormatsAndParsesKnownInstants) {
  EXPECT_EQ(FormatTime(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(FormatTime(951782400), "2000-02-29T00:00:00Z");
  EXPECT_EQ(FormatTime(1795297193), "2026-11-21T21:39:53Z");
  EXPECT_EQ(*ParseTime("2026-11-21T21:39:53Z"), 1795297193);
  EXPECT_EQ(*ParseTime("2000-02-29T00:00:00Z"), 951782400);
}

TEST(Time, RefusesOtherForms) {
  for (const char* text : {"2026-11-21 21:39:53Z", "2026-11-21T21:39:53", "2026-11-21T21:39:53+00:00",
                           "2026-02-30T00:00:00Z", "2025-02-29T00:00:00Z", "2026-13-01T00:00:00Z",
                           "2026-11-21T24:00:00Z", "2026-11-21T21:39:53.5Z"}) {
    EXPECT_FALSE(ParseTime(text).ok()) << text;
  }
}

TEST(Duration, ReadsUnits) {
  EXPECT_EQ(*ParseDuration("30d"), 30 * 86400);
  EXPECT_EQ(*ParseDuration("12h"), 12 * 3600);
  EXPECT_EQ(*ParseDuration("2w"), 14 * 86400);
  EXPECT_EQ(*ParseDuration("90s"), 90);
  for (const char* text : {"", "d", "0d", "-1d", "1.5d", "10y", "1d2h", "999999999999d"}) {
    EXPECT_FALSE(ParseDuration(text).ok()) << text;
  }
}

}  // namespace
}  // namespace ferry
