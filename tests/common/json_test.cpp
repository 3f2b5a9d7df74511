#include "common/json.hpp"

#include <gtest/gtest.h>

namespace ferry::json {
namespace {

std::string CanonicalOf(std::string_view text) {
  auto parsed = Parse(text);
  EXPECT_TRUE(parsed.ok()) << (parsed.ok() ? "" : parsed.error().message());
  if (!parsed.ok()) return "";
  auto canonical = Canonical(*parsed);
  EXPECT_TRUE(canonical.ok()) << (canonical.ok() ? "" : canonical.error().message());
  return canonical.ok() ? *canonical : "";
}

std::string ParseError(std::string_view text, ParseLimits limits = {}) {
  auto parsed = Parse(text, limits);
  EXPECT_FALSE(parsed.ok()) << text;
  return parsed.ok() ? "" : parsed.error().message();
}

TEST(CanonicalJson, SortsKeysByBytesAndDropsWhitespace) {
  EXPECT_EQ(CanonicalOf(R"( { "b" : 1, "a" : [ true, false, null ], "B": {} } )"),
            R"({"B":{},"a":[true,false,null],"b":1})");
}

TEST(CanonicalJson, SortsNonAsciiKeysAfterAscii) {
  // U+00E9 is 0xC3 0xA9 in UTF-8, above every ASCII byte; U+1F600 (0xF0...) after it.
  EXPECT_EQ(CanonicalOf("{\"\xF0\x9F\x98\x80\":1,\"\xC3\xA9\":2,\"z\":3}"),
            "{\"z\":3,\"\xC3\xA9\":2,\"\xF0\x9F\x98\x80\":1}");
}

TEST(CanonicalJson, EscapesOnlyQuoteBackslashAndControls) {
  EXPECT_EQ(CanonicalOf(R"(["\u0041\/\"\\\b\f\n\r\t\u0001\u001f\u007f"])"),
            "[\"A/\\\"\\\\\\b\\f\\n\\r\\t\\u0001\\u001f\x7f\"]");
}

TEST(CanonicalJson, WritesNonAsciiAsUtf8) {
  EXPECT_EQ(CanonicalOf(R"(["\u00e9\ud83d\ude00"])"), "[\"\xC3\xA9\xF0\x9F\x98\x80\"]");
}

TEST(CanonicalJson, NormalisesIntegers) {
  EXPECT_EQ(CanonicalOf("[0,-0,9007199254740991,-9007199254740991,12]"),
            "[0,0,9007199254740991,-9007199254740991,12]");
}

TEST(CanonicalJson, RefusesNonIntegerNumbers) {
  for (const char* text : {"[1.5]", "[1e3]", "[9007199254740992]"}) {
    auto parsed = Parse(text);
    ASSERT_TRUE(parsed.ok()) << text;
    EXPECT_FALSE(Canonical(*parsed).ok()) << text;
  }
}

TEST(CanonicalJson, NestingRoundTrips) {
  const std::string text = R"({"a":{"b":{"c":[[[],{}],[{"d":"e"}]]}}})";
  EXPECT_EQ(CanonicalOf(text), text);
}

TEST(JsonParse, RefusesDuplicateKeys) {
  EXPECT_NE(ParseError(R"({"a":1,"a":2})").find("duplicate key \"a\""), std::string::npos);
}

TEST(JsonParse, RefusesInvalidUtf8) {
  EXPECT_NE(ParseError("[\"\xC3\x28\"]").find("invalid UTF-8"), std::string::npos);
  ParseError("[\"\xC0\xAF\"]");              // overlong '/'
  ParseError("[\"\xED\xA0\x80\"]");          // encoded surrogate
  ParseError("[\"\xF4\x90\x80\x80\"]");      // past U+10FFFF
  ParseError("[\"\xE2\x82\"]");              // truncated sequence
}

TEST(JsonParse, RefusesLoneSurrogateEscapes) {
  ParseError(R"(["\ud800"])");
  ParseError(R"(["\udc00"])");
  ParseError(R"(["\ud800\u0041"])");
}

TEST(JsonParse, RefusesDeepNesting) {
  const std::string deep = std::string(65, '[') + std::string(65, ']');
  EXPECT_NE(ParseError(deep).find("nesting deeper"), std::string::npos);
  const std::string ok = std::string(64, '[') + std::string(64, ']');
  EXPECT_TRUE(Parse(ok).ok());
}

TEST(JsonParse, RefusesOversizedInput) {
  EXPECT_NE(ParseError("[1,2,3]", ParseLimits{.max_bytes = 4}).find("exceeds the limit"),
            std::string::npos);
}

TEST(JsonParse, RefusesMalformedText) {
  for (const char* text : {"", "[", "[1,]", "{\"a\"}", "01", "[+1]", "[1.]", "tru", "[1] x",
                           "\"a\x01\"", "[\"\\x\"]", "{1:2}", "[.5]", "[-]"}) {
    ParseError(text);
  }
}

TEST(JsonParse, ErrorsNameTheByteOffset) {
  EXPECT_NE(ParseError("[1, x]").find("at byte 4"), std::string::npos);
}

TEST(ObjectReader, RefusesUnknownFieldsAndWrongTypes) {
  auto value = Parse(R"({"name":"x","count":3,"extra":true})");
  ASSERT_TRUE(value.ok());
  auto reader = ObjectReader::Open(*value, "doc");
  ASSERT_TRUE(reader.ok());
  EXPECT_EQ(*reader->String("name"), "x");
  EXPECT_FALSE(reader->String("count").ok());
  auto finish = reader->Finish();
  ASSERT_FALSE(finish.ok());
  EXPECT_EQ(finish.error().message(), "doc.extra: unknown field");
  EXPECT_EQ(reader->Int("missing").error().message(), "doc.missing: missing");
}

}  // namespace
}  // namespace ferry::json
