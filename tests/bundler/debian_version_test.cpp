#include "bundler/debian_version.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "bundler/apt_repo.hpp"

namespace ferry::bundler {
namespace {

int Sign(int v) { return (v > 0) - (v < 0); }

struct KnownPair {
  const char* a;
  const char* b;
  int expected;  // sign of compare(a, b), as `dpkg --compare-versions` reports it
};

// Each answer below was checked against dpkg 1.21.22.
constexpr std::array<KnownPair, 30> kKnownPairs = {{
    {"1.0~rc1", "1.0", -1},
    {"1.0", "1.0+b1", -1},
    {"1.0", "1.0.1", -1},
    {"1.0-1", "1.0-1+deb12u1", -1},
    {"1.0-1~bpo12+1", "1.0-1", -1},
    {"1:0.1", "9.9", 1},
    {"1.0a", "1.0", 1},
    {"1.0a", "1.0+", -1},  // letters sort before non-letters
    {"1.0~~", "1.0~", -1},
    {"1.0~", "1.0", -1},  // '~' sorts before the end of the string
    {"1.0~~a", "1.0~~", 1},
    {"001", "1", 0},
    {"1.01", "1.1", 0},
    {"2.0-1", "2.0-01", 0},
    {"0:1.0", "1.0", 0},
    {"1.0-0", "1.0", 0},
    {"10", "9", 1},
    {"1.10", "1.9", 1},
    {"1.0-1", "1.0-1.1", -1},
    {"2:1.0", "1:9.0", 1},
    {"1.0.0", "1.0", 1},
    {"1.0~alpha", "1.0~beta", -1},
    {"1.2.3-1ubuntu1", "1.2.3-1", 1},
    {"7.88.1-10+deb12u5", "7.88.1-10+deb12u12", -1},
    {"1.0+dfsg-1", "1.0-1", 1},
    {"1.0-1", "1.0-1a", -1},
    {"1:2.0", "1:2.0~", 1},
    {"1.0.a", "1.0.0", 1},
    {"0.9", "0.9.0", -1},
    {"1.0-2", "1.0-10", -1},
}};

TEST(DebianVersionTest, KnownPairsCompareLikeDpkg) {
  for (const KnownPair& pair : kKnownPairs) {
    EXPECT_EQ(Sign(CompareDebianVersions(pair.a, pair.b)), pair.expected)
        << pair.a << " vs " << pair.b;
    EXPECT_EQ(Sign(CompareDebianVersions(pair.b, pair.a)), -pair.expected)
        << pair.b << " vs " << pair.a;
  }
}

TEST(DebianVersionTest, ParsesEpochUpstreamAndRevision) {
  auto v = ParseDebianVersion("1:2.30-1+deb12u2");
  ASSERT_TRUE(v.ok()) << v.error().message();
  EXPECT_EQ(v->epoch, 1);
  EXPECT_EQ(v->upstream, "2.30");
  EXPECT_EQ(v->revision, "1+deb12u2");
  EXPECT_EQ(FormatDebianVersion(*v), "1:2.30-1+deb12u2");

  // The last '-' starts the revision; later ':' belong to the upstream part.
  v = ParseDebianVersion("1.0-a-b");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->upstream, "1.0-a");
  EXPECT_EQ(v->revision, "b");
  v = ParseDebianVersion("1:1:1");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->epoch, 1);
  EXPECT_EQ(v->upstream, "1:1");

  v = ParseDebianVersion("  3.4  ");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->epoch, 0);
  EXPECT_EQ(v->upstream, "3.4");
  EXPECT_EQ(v->revision, "");
  EXPECT_EQ(FormatDebianVersion(*v), "3.4");

  v = ParseDebianVersion("2147483647:1");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->epoch, 2147483647);
}

TEST(DebianVersionTest, RefusesWhatDpkgRefusesOrWarnsAbout) {
  for (const char* bad :
       {"", "   ", "a1.0", "~1", "1.0-", ":1.0", "a:1.0", "1:", "-1:1", "1.0 1", "1.0_1", "1.0-1_1",
        "1.0-1:1", "2147483648:1", "99999999999:1", "1.0-1-", "1:-1"}) {
    auto v = ParseDebianVersion(bad);
    EXPECT_FALSE(v.ok()) << "accepted \"" << bad << "\"";
    if (!v.ok()) {
      EXPECT_EQ(v.error().kind(), ErrorKind::kInvalid);
      EXPECT_NE(v.error().message().find("version \""), std::string::npos);
    }
  }
}

TEST(DebianVersionTest, LenientComparisonOfInvalidStrings) {
  // dpkg only warns about these and still compares them; so do we.
  EXPECT_GT(CompareDebianVersions("abc", "1"), 0);
  EXPECT_GT(CompareDebianVersions("1::", "1"), 0);
  // The blank version is below everything, '~' included, and equal only to itself.
  EXPECT_LT(CompareDebianVersions("", "~"), 0);
  EXPECT_LT(CompareDebianVersions("", "0"), 0);
  EXPECT_GT(CompareDebianVersions("0", " "), 0);
  EXPECT_EQ(CompareDebianVersions("", "  "), 0);
}

// --- Agreement with dpkg on real versions -------------------------------------------------------

constexpr size_t kMinimumPairs = 10000;
constexpr const char* kAptLists = "/var/lib/apt/lists";

// Every (package, version) in the Packages indexes apt downloaded, whatever their compression.
std::map<std::string, std::set<std::string>> ReadSystemVersions(std::vector<std::string>& files) {
  std::map<std::string, std::set<std::string>> versions;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(kAptLists, ec)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_regular_file() || name.find("_Packages") == std::string::npos) {
      continue;
    }
    auto text = ReadMaybeCompressedFile(entry.path().string(), kMaxPackagesIndexBytes);
    if (!text.ok()) {
      ADD_FAILURE() << text.error().message();
      continue;
    }
    files.push_back(name);
    std::string package;
    size_t pos = 0;
    const std::string& t = *text;
    while (pos < t.size()) {
      size_t end = t.find('\n', pos);
      if (end == std::string::npos) {
        end = t.size();
      }
      const std::string_view line(t.data() + pos, end - pos);
      if (line.substr(0, 9) == "Package: ") {
        package = std::string(line.substr(9));
      } else if (line.substr(0, 9) == "Version: ") {
        versions[package].insert(std::string(line.substr(9)));
      }
      pos = end + 1;
    }
  }
  return versions;
}

struct Pair {
  std::string a;
  std::string b;
};

TEST(DebianVersionTest, AgreesWithDpkgOnRealVersionPairs) {
  std::vector<std::string> files;
  const auto by_package = ReadSystemVersions(files);
  if (files.empty()) {
    GTEST_SKIP() << "no Packages files in " << kAptLists << " (run apt-get update to enable)";
  }
  std::vector<std::string> all;
  for (const auto& [package, versions] : by_package) {
    all.insert(all.end(), versions.begin(), versions.end());
  }
  std::sort(all.begin(), all.end());
  all.erase(std::unique(all.begin(), all.end()), all.end());
  ASSERT_GT(all.size(), 100u) << "too few versions in " << kAptLists;

  // Every version a Debian archive publishes must pass the strict parser.
  for (const std::string& v : all) {
    EXPECT_TRUE(ParseDebianVersion(v).ok()) << v;
  }

  std::mt19937_64 random(20261121);
  const auto pick = [&](size_t n) { return static_cast<size_t>(random() % n); };
  std::set<std::pair<std::string, std::string>> chosen;
  std::vector<Pair> pairs;
  const auto add = [&](const std::string& a, const std::string& b) {
    if (a.find('\'') == std::string::npos && b.find('\'') == std::string::npos &&
        chosen.emplace(a, b).second) {
      pairs.push_back({a, b});
    }
  };
  // Versions of the same package (security and point-release updates sit beside the release).
  for (const auto& [package, versions] : by_package) {
    for (auto i = versions.begin(); i != versions.end() && pairs.size() < 3000; ++i) {
      for (auto j = std::next(i); j != versions.end(); ++j) {
        add(*i, *j);
      }
    }
  }
  // Neighbours in byte order share long prefixes, so they differ late and in subtle ways.
  while (pairs.size() < 7000) {
    const size_t i = pick(all.size() - 1);
    add(all[i], all[i + 1]);
    add(all[i + 1], all[i]);
  }
  // Pairs that must compare equal by dpkg's rules although the strings differ.
  for (size_t k = 0; k < 300; ++k) {
    const std::string& v = all[pick(all.size())];
    if (v.find(':') == std::string::npos) {
      add(v, "0:" + v);
    }
    add(v, v);
  }
  while (pairs.size() < kMinimumPairs + 500) {
    add(all[pick(all.size())], all[pick(all.size())]);
  }
  ASSERT_GE(pairs.size(), kMinimumPairs);

  // One dpkg process per pair, asserting the relation we computed; two shells run side by side.
  const std::string dir = ::testing::TempDir() + "ferry_version_pairs_" + std::to_string(getpid());
  std::filesystem::create_directories(dir);
  constexpr int kShells = 2;
  std::array<std::FILE*, kShells> pipes{};
  for (int s = 0; s < kShells; ++s) {
    const std::string script = dir + "/pairs" + std::to_string(s) + ".sh";
    std::FILE* f = std::fopen(script.c_str(), "w");
    ASSERT_NE(f, nullptr);
    // A control line that must fail proves the harness notices a disagreement.
    std::fprintf(f, "dpkg --compare-versions 1 gt 2 || echo CONTROL\n");
    for (size_t i = static_cast<size_t>(s); i < pairs.size(); i += kShells) {
      const int mine = Sign(CompareDebianVersions(pairs[i].a, pairs[i].b));
      const char* relation = mine < 0 ? "lt" : (mine == 0 ? "eq" : "gt");
      std::fprintf(f, "dpkg --compare-versions '%s' %s '%s' || echo %zu\n", pairs[i].a.c_str(),
                   relation, pairs[i].b.c_str(), i);
    }
    ASSERT_EQ(std::fclose(f), 0);
    pipes[static_cast<size_t>(s)] = popen(("sh " + script + " 2>&1").c_str(), "r");
    ASSERT_NE(pipes[static_cast<size_t>(s)], nullptr);
  }
  int controls = 0;
  std::vector<std::string> disagreements;
  for (std::FILE* pipe : pipes) {
    char line[4096];
    while (std::fgets(line, sizeof line, pipe) != nullptr) {
      std::string text(line);
      if (!text.empty() && text.back() == '\n') {
        text.pop_back();
      }
      if (text == "CONTROL") {
        ++controls;
        continue;
      }
      char* end = nullptr;
      const unsigned long index = std::strtoul(text.c_str(), &end, 10);
      if (end != text.c_str() && *end == '\0' && index < pairs.size()) {
        disagreements.push_back(
            pairs[index].a + " vs " + pairs[index].b + ": we say " +
            std::to_string(CompareDebianVersions(pairs[index].a, pairs[index].b)));
      } else {
        disagreements.push_back("dpkg said: " + text);
      }
    }
    EXPECT_EQ(pclose(pipe), 0);
  }
  std::filesystem::remove_all(dir);
  EXPECT_EQ(controls, kShells) << "the dpkg harness did not report a known disagreement";
  EXPECT_TRUE(disagreements.empty()) << disagreements.size() << " of " << pairs.size()
                                     << " pairs disagree with dpkg, e.g. " << disagreements.front();
  std::printf("compared %zu version pairs from %zu Packages files with dpkg\n", pairs.size(),
              files.size());
}

}  // namespace
}  // namespace ferry::bundler
