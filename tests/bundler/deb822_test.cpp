#include "bundler/deb822.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "bundler/apt_repo.hpp"

namespace ferry::bundler {
namespace {

TEST(Deb822Test, ParsesStanzasFieldsAndContinuations) {
  const std::string text =
      "Package: hello\n"
      "Version: 2.10-3\n"
      "Description: example package\n"
      " The longer description.\n"
      " .\n"
      " Second paragraph.   \n"
      "\n"
      "\n"
      "package: world\n"
      "Depends:libc6 (>= 2.34),\n"
      "\tlibfoo\n";
  auto stanzas = ParseDeb822(text, "Packages");
  ASSERT_TRUE(stanzas.ok()) << stanzas.error().message();
  ASSERT_EQ(stanzas->size(), 2u);
  const Stanza& first = (*stanzas)[0];
  EXPECT_EQ(first.line(), 1u);
  EXPECT_EQ(first.Get("Package").value(), "hello");
  EXPECT_EQ(first.Get("VERSION").value(), "2.10-3");
  EXPECT_EQ(first.Get("description").value(),
            "example package\n The longer description.\n .\n Second paragraph.");
  EXPECT_EQ(FirstLine(*first.Get("Description")), "example package");
  EXPECT_FALSE(first.Get("Depends").has_value());
  ASSERT_EQ(first.fields().size(), 3u);
  EXPECT_EQ(first.fields()[1].first, "Version");

  const Stanza& second = (*stanzas)[1];
  EXPECT_EQ(second.line(), 9u);
  EXPECT_EQ(second.Get("Package").value(), "world");
  EXPECT_EQ(second.fields()[0].first, "package");  // spelled as in the file
  EXPECT_EQ(second.Get("Depends").value(), "libc6 (>= 2.34),\n\tlibfoo");
}

TEST(Deb822Test, EmptyValuesAndMultiLineFieldsStartingEmpty) {
  auto stanzas = ParseDeb822("SHA256:\n abc 12 main/Packages\n def 34 main/Sources\nEmpty:\n", "R");
  ASSERT_TRUE(stanzas.ok()) << stanzas.error().message();
  ASSERT_EQ(stanzas->size(), 1u);
  EXPECT_EQ((*stanzas)[0].Get("SHA256").value(), "\n abc 12 main/Packages\n def 34 main/Sources");
  EXPECT_EQ((*stanzas)[0].Get("Empty").value(), "");
}

TEST(Deb822Test, CommentsAreSkippedOnlyAtColumnZero) {
  const std::string text =
      "# leading comment\n"
      "Source: foo\n"
      "# between fields\n"
      "Build-Depends: a,\n"
      "# inside a multi-line field\n"
      " b\n"
      "Description: x\n"
      " # this is data, not a comment\n";
  auto stanzas = ParseDeb822(text, "control");
  ASSERT_TRUE(stanzas.ok()) << stanzas.error().message();
  ASSERT_EQ(stanzas->size(), 1u);
  EXPECT_EQ((*stanzas)[0].Get("Build-Depends").value(), "a,\n b");
  EXPECT_EQ((*stanzas)[0].Get("Description").value(), "x\n # this is data, not a comment");
  EXPECT_EQ((*stanzas)[0].fields().size(), 3u);
}

TEST(Deb822Test, BlankLinesWithSpacesSeparateStanzasAndEmptyTextHasNone) {
  auto stanzas = ParseDeb822("A: 1\n \t \nB: 2", "x");
  ASSERT_TRUE(stanzas.ok()) << stanzas.error().message();
  EXPECT_EQ(stanzas->size(), 2u);
  auto none = ParseDeb822("\n\n# only a comment\n", "x");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

void ExpectError(const std::string& text, const std::string& fragment,
                 const Deb822Limits& limits = {}) {
  auto stanzas = ParseDeb822(text, "dists/x/Packages", limits);
  ASSERT_FALSE(stanzas.ok()) << "accepted: " << text;
  EXPECT_EQ(stanzas.error().kind(), ErrorKind::kInvalid);
  EXPECT_NE(stanzas.error().message().find(fragment), std::string::npos)
      << stanzas.error().message();
}

TEST(Deb822Test, RefusesMalformedInputWithFileAndLine) {
  ExpectError("Package: a\nno colon here\n", "dists/x/Packages:2: expected \"Field: value\"");
  ExpectError(" continuation first\n", "dists/x/Packages:1: continuation line outside a field");
  ExpectError("A: 1\n\n continuation after blank\n", ":3: continuation line outside a field");
  ExpectError("Package: a\npackage: b\n", ":2: duplicate field package");
  ExpectError(": value\n", ":1: invalid field name");
  ExpectError("-Name: value\n", "invalid field name");
  ExpectError("Na me: value\n", "invalid field name");
  ExpectError(std::string("A: x\0y\n", 7), ":1: NUL byte");
}

TEST(Deb822Test, EnforcesLimits) {
  Deb822Limits limits;
  limits.max_bytes = 16;
  ExpectError("Package: abcdefghijklmnop\n", "larger than 16 bytes", limits);
  limits = Deb822Limits{};
  limits.max_line_bytes = 8;
  ExpectError("A: 1\nB: 123456789\n", ":2: line longer than 8 bytes", limits);
  limits = Deb822Limits{};
  limits.max_fields = 2;
  ExpectError("A: 1\nB: 2\nC: 3\n", ":3: stanza has more than 2 fields", limits);
  limits = Deb822Limits{};
  limits.max_value_bytes = 10;
  ExpectError("A: 12345\n 67890\n", ":2: field A is longer than 10 bytes", limits);
}

TEST(Deb822Test, VisitorErrorsStopTheWalk) {
  int seen = 0;
  const Status status = ForEachDeb822Stanza("A: 1\n\nA: 2\n\nA: 3\n", "x", [&](Stanza&& s) {
    ++seen;
    if (s.Get("A") == "2") {
      return Status(InvalidError("stop at two"));
    }
    return Ok();
  });
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().message(), "stop at two");
  EXPECT_EQ(seen, 2);
}

// The default limits must let every real index through: Debian's own Packages files have lines
// past 64 KiB (long Provides fields).
TEST(Deb822Test, ParsesTheSystemPackagesIndexes) {
  size_t files = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/var/lib/apt/lists", ec)) {
    if (!entry.is_regular_file() ||
        entry.path().filename().string().find("_Packages") == std::string::npos) {
      continue;
    }
    auto text = ReadMaybeCompressedFile(entry.path().string(), kMaxPackagesIndexBytes);
    ASSERT_TRUE(text.ok()) << text.error().message();
    size_t expected = (text->rfind("Package: ", 0) == 0) ? 1 : 0;
    for (size_t pos = text->find("\nPackage: "); pos != std::string::npos;
         pos = text->find("\nPackage: ", pos + 1)) {
      ++expected;
    }
    size_t stanzas = 0;
    const Status status =
        ForEachDeb822Stanza(*text, entry.path().string(), [&](Stanza&& stanza) -> Status {
          ++stanzas;
          if (!stanza.Get("Package") || !stanza.Get("Version") || !stanza.Get("Filename")) {
            return InvalidError("stanza at line " + std::to_string(stanza.line()) +
                                " lacks Package, Version or Filename");
          }
          return Ok();
        });
    ASSERT_TRUE(status.ok()) << status.error().message();
    EXPECT_EQ(stanzas, expected) << entry.path();
    ++files;
  }
  if (files == 0) {
    GTEST_SKIP() << "no Packages files in /var/lib/apt/lists";
  }
}

}  // namespace
}  // namespace ferry::bundler
