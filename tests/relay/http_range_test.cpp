// Range, If-None-Match and If-Range decisions as pure functions (RFC 9110 sections 13 and 14).

#include "relay/http_range.hpp"

#include <gtest/gtest.h>

namespace ferry::relay {
namespace {

void ExpectPartial(std::string_view header, uint64_t size, uint64_t first, uint64_t length) {
  const RangeDecision decision = EvaluateRange(header, size);
  EXPECT_EQ(decision.outcome, RangeOutcome::kPartial) << header;
  EXPECT_EQ(decision.range.first, first) << header;
  EXPECT_EQ(decision.range.length, length) << header;
}

void ExpectOutcome(std::string_view header, uint64_t size, RangeOutcome outcome) {
  EXPECT_EQ(EvaluateRange(header, size).outcome, outcome) << header << " of " << size;
}

TEST(HttpRangeTest, OneRangeOfEachForm) {
  ExpectPartial("bytes=0-99", 1000, 0, 100);
  ExpectPartial("bytes=0-0", 1000, 0, 1);
  ExpectPartial("bytes=999-999", 1000, 999, 1);
  ExpectPartial("bytes=500-", 1000, 500, 500);
  ExpectPartial("bytes=0-", 1000, 0, 1000);
  ExpectPartial("bytes=-1", 1000, 999, 1);
  ExpectPartial("bytes=-1000", 1000, 0, 1000);
  ExpectPartial(" bytes=10-19 ", 1000, 10, 10);
  ExpectPartial("BYTES=10-19", 1000, 10, 10);  // the unit is case-insensitive
}

TEST(HttpRangeTest, TheEndIsClampedAndALongSuffixIsTheWholeFile) {
  ExpectPartial("bytes=900-5000", 1000, 900, 100);
  ExpectPartial("bytes=-5000", 1000, 0, 1000);
  ExpectPartial("bytes=0-99999999999999999999999999", 1000, 0, 1000);  // saturates
  ExpectPartial("bytes=-99999999999999999999999999", 1000, 0, 1000);
}

TEST(HttpRangeTest, UnsatisfiableRanges) {
  ExpectOutcome("bytes=1000-", 1000, RangeOutcome::kUnsatisfiable);
  ExpectOutcome("bytes=1000-2000", 1000, RangeOutcome::kUnsatisfiable);
  ExpectOutcome("bytes=99999999999999999999999-", 1000, RangeOutcome::kUnsatisfiable);
  ExpectOutcome("bytes=-0", 1000, RangeOutcome::kUnsatisfiable);
  ExpectOutcome("bytes=0-", 0, RangeOutcome::kUnsatisfiable);
  ExpectOutcome("bytes=-5", 0, RangeOutcome::kUnsatisfiable);
}

TEST(HttpRangeTest, WhatCannotBeHonouredIsIgnored) {
  for (const char* header :
       {"", "bytes", "bytes=", "bytes=-", "bytes=a-b", "bytes=5-1", "bytes=0-1,5-6",
        "bytes=0-1, 5-6", "bytes=1-2,", "items=0-1", "bytes 0-1", "bytes=0x10-20", "bytes=+1-2",
        "bytes=1 -2", "bytes=--1"}) {
    ExpectOutcome(header, 1000, RangeOutcome::kWhole);
  }
  ExpectOutcome("bytes=0-1" + std::string(kMaxRangeHeader, ' ') + "x", 1000, RangeOutcome::kWhole);
}

TEST(HttpRangeTest, ContentRangeHeaders) {
  EXPECT_EQ(ContentRangeHeader({0, 100}, 1000), "bytes 0-99/1000");
  EXPECT_EQ(ContentRangeHeader({999, 1}, 1000), "bytes 999-999/1000");
  EXPECT_EQ(UnsatisfiedRangeHeader(1000), "bytes */1000");
}

TEST(HttpRangeTest, IfNoneMatchUsesTheWeakComparison) {
  const std::string etag = "\"abc\"";
  EXPECT_TRUE(IfNoneMatchMatches("\"abc\"", etag));
  EXPECT_TRUE(IfNoneMatchMatches("*", etag));
  EXPECT_TRUE(IfNoneMatchMatches(" * ", etag));
  EXPECT_TRUE(IfNoneMatchMatches("W/\"abc\"", etag));
  EXPECT_TRUE(IfNoneMatchMatches("\"x\", \"abc\"", etag));
  EXPECT_TRUE(IfNoneMatchMatches("\"x\",\"y\" ,W/\"abc\"", etag));
  EXPECT_TRUE(IfNoneMatchMatches("\"x\",,\"abc\",", etag));
  EXPECT_FALSE(IfNoneMatchMatches("\"abcd\"", etag));
  EXPECT_FALSE(IfNoneMatchMatches("abc", etag));
  EXPECT_FALSE(IfNoneMatchMatches("", etag));
  EXPECT_FALSE(IfNoneMatchMatches("\"abc", etag));
  EXPECT_FALSE(IfNoneMatchMatches("\"a bc\"", etag));
  // A malformed list matches nothing, even when a good tag is in it.
  EXPECT_FALSE(IfNoneMatchMatches("\"abc\" junk", etag));
  EXPECT_FALSE(IfNoneMatchMatches("*, \"abc\"", etag));
}

TEST(HttpRangeTest, IfRangeNeedsTheExactStrongTag) {
  EXPECT_TRUE(IfRangeAllows("\"abc\"", "\"abc\""));
  EXPECT_TRUE(IfRangeAllows(" \"abc\" ", "\"abc\""));
  EXPECT_FALSE(IfRangeAllows("W/\"abc\"", "\"abc\""));
  EXPECT_FALSE(IfRangeAllows("\"other\"", "\"abc\""));
  EXPECT_FALSE(IfRangeAllows("Sat, 29 Oct 1994 19:43:31 GMT", "\"abc\""));
}

}  // namespace
}  // namespace ferry::relay
