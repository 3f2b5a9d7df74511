#include "bundler/dpkg_status.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "common/file.hpp"

namespace ferry::bundler {
namespace {

std::string Stanza(const std::string& package, const std::string& status,
                   const std::string& architecture = "amd64",
                   const std::string& version = "1.0-1") {
  std::string out = "Package: " + package + "\n";
  if (!status.empty()) {
    out += "Status: " + status + "\n";
  }
  out += "Priority: optional\nSection: libs\nInstalled-Size: 12\n";
  if (!architecture.empty()) {
    out += "Architecture: " + architecture + "\n";
  }
  if (!version.empty()) {
    out += "Version: " + version + "\n";
  }
  out += "Description: test package\n A longer description.\n .\n Second paragraph.\n";
  return out;
}

TEST(DpkgStatusTest, KeepsInstalledAndHeldPackagesInFileOrder) {
  const std::string text = Stanza("zlib1g", "install ok installed", "amd64", "1:1.2.13.dfsg-1") +
                           "\n" + Stanza("adduser", "hold ok installed", "all", "3.134") + "\n" +
                           Stanza("libc6", "install ok installed", "i386", "2.36-9+deb12u4");
  auto packages = ParseDpkgStatus(text, "status");
  ASSERT_TRUE(packages.ok()) << packages.error().message();
  const std::vector<InstalledPackage> expected = {
      {"zlib1g", "amd64", "1:1.2.13.dfsg-1"},
      {"adduser", "all", "3.134"},
      {"libc6", "i386", "2.36-9+deb12u4"},
  };
  EXPECT_EQ(*packages, expected);
}

TEST(DpkgStatusTest, SkipsEveryStateThatIsNotFullyInstalled) {
  const std::vector<std::string> skipped = {
      "deinstall ok config-files",
      "purge ok not-installed",
      "install ok half-installed",
      "install ok unpacked",
      "install ok half-configured",
      "install ok triggers-awaited",
      "install ok triggers-pending",
      "install reinstreq installed",
      "install reinstreq half-installed",
      "deinstall ok installed",
      "purge ok installed",
      "unknown ok not-installed",
      "unknown ok installed",
  };
  std::string text = Stanza("kept", "install ok installed");
  for (size_t i = 0; i < skipped.size(); ++i) {
    text += "\n" + Stanza("skipped" + std::to_string(i), skipped[i]);
  }
  auto packages = ParseDpkgStatus(text, "status");
  ASSERT_TRUE(packages.ok()) << packages.error().message();
  ASSERT_EQ(packages->size(), 1u);
  EXPECT_EQ((*packages)[0].name, "kept");
}

TEST(DpkgStatusTest, NotInstalledStanzasNeedNoVersionOrArchitecture) {
  // dpkg keeps a bare record of a purged package that still has a selection.
  const std::string text = "Package: gone\nStatus: purge ok not-installed\nPriority: optional\n\n" +
                           Stanza("here", "install ok installed");
  auto packages = ParseDpkgStatus(text, "status");
  ASSERT_TRUE(packages.ok()) << packages.error().message();
  ASSERT_EQ(packages->size(), 1u);
  EXPECT_EQ((*packages)[0].name, "here");
}

TEST(DpkgStatusTest, EmptyFileHasNoPackages) {
  auto packages = ParseDpkgStatus("", "status");
  ASSERT_TRUE(packages.ok()) << packages.error().message();
  EXPECT_TRUE(packages->empty());
}

struct Malformed {
  const char* name;
  std::string text;
  const char* expected;  // a fragment of the error message, with the line number
};

TEST(DpkgStatusTest, RefusesMalformedStanzasNamingTheLine) {
  const std::string good =
      Stanza("good", "install ok installed") + "\n";  // 11 lines, then a blank one
  const std::vector<Malformed> cases = {
      {"no package", good + "Status: install ok installed\nVersion: 1\nArchitecture: all\n",
       "status:13: stanza has no Package field"},
      {"no status", good + Stanza("nostatus", ""), "status:13: package \"nostatus\" has no Status"},
      {"two words", good + Stanza("p", "install installed"), "status:13: package \"p\": Status"},
      {"four words", good + Stanza("p", "install ok ok installed"), "not three words"},
      {"unknown want", good + Stanza("p", "keep ok installed"), "unknown word"},
      {"unknown flag", good + Stanza("p", "install broken installed"), "unknown word"},
      {"unknown state", good + Stanza("p", "install ok configured"), "unknown word"},
      {"no version", good + Stanza("p", "install ok installed", "amd64", ""),
       "status:13: installed package \"p\" has no Version field"},
      {"no architecture", good + Stanza("p", "install ok installed", "", "1.0"),
       "status:13: installed package \"p\" has no Architecture field"},
      {"bad version", good + Stanza("p", "install ok installed", "amd64", "1.0 beta"),
       "status:13: package p: version \"1.0 beta\" is not valid"},
      {"empty revision", good + Stanza("p", "install ok installed", "amd64", "1.0-"),
       "version \"1.0-\" is not valid"},
      {"bad epoch", good + Stanza("p", "install ok installed", "amd64", "x:1.0"),
       "version \"x:1.0\" is not valid"},
      {"huge epoch", good + Stanza("p", "install ok installed", "amd64", "99999999999:1.0"),
       "is not valid"},
      {"bad architecture", good + Stanza("p", "install ok installed", "AMD64", "1.0"),
       "architecture \"AMD64\" is not valid"},
      {"any architecture", good + Stanza("p", "install ok installed", "any", "1.0"),
       "architecture \"any\" is not valid"},
      {"bad name", good + Stanza("-p", "install ok installed"), "package name \"-p\" is not valid"},
      {"installed twice", good + Stanza("good", "install ok installed"),
       "status:13: package good:amd64 is installed twice (also at line 1)"},
      {"syntax", good + " continuation without a field\n", "status:13:"},
      {"duplicate field", good + "Package: p\nPackage: q\nStatus: install ok installed\n",
       "status:14: duplicate field Package"},
  };
  for (const Malformed& c : cases) {
    auto packages = ParseDpkgStatus(c.text, "status");
    ASSERT_FALSE(packages.ok()) << c.name;
    EXPECT_EQ(packages.error().kind(), ErrorKind::kInvalid) << c.name;
    EXPECT_NE(packages.error().message().find(c.expected), std::string::npos)
        << c.name << ": " << packages.error().message();
    EXPECT_EQ(packages.error().message().find('\n'), std::string::npos) << c.name;
  }
}

TEST(DpkgStatusTest, SameNameOnTwoArchitecturesIsMultiArchNotADuplicate) {
  const std::string text = Stanza("libc6", "install ok installed", "amd64", "2.36-9") + "\n" +
                           Stanza("libc6", "install ok installed", "i386", "2.36-9");
  auto packages = ParseDpkgStatus(text, "status");
  ASSERT_TRUE(packages.ok()) << packages.error().message();
  EXPECT_EQ(packages->size(), 2u);
}

TEST(DpkgStatusTest, AcceptsVersionsDpkgOnlyWarnsAbout) {
  EXPECT_TRUE(IsValidInstalledVersion("1.0"));
  EXPECT_TRUE(IsValidInstalledVersion("2:1.0~rc1+dfsg-1+deb12u1"));
  EXPECT_TRUE(IsValidInstalledVersion("1:2:3"));    // ':' may follow the epoch
  EXPECT_TRUE(IsValidInstalledVersion("1.0-1-2"));  // the last '-' splits
  EXPECT_TRUE(IsValidInstalledVersion("a1.0"));     // dpkg warns, still installs
  EXPECT_FALSE(IsValidInstalledVersion(""));
  EXPECT_FALSE(IsValidInstalledVersion(":1.0"));
  EXPECT_FALSE(IsValidInstalledVersion("1:"));
  EXPECT_FALSE(IsValidInstalledVersion("-1"));
  EXPECT_FALSE(IsValidInstalledVersion("1.0-1:2"));  // no ':' in a revision
  EXPECT_FALSE(IsValidInstalledVersion("1.0_1"));
  EXPECT_FALSE(IsValidInstalledVersion(std::string(kMaxVersionBytes + 1, '1')));
  EXPECT_TRUE(IsValidInstalledVersion(std::string(kMaxVersionBytes, '1')));
  EXPECT_TRUE(IsValidPackageName("g++-12"));
  EXPECT_TRUE(IsValidPackageName("libstdc++6"));
  EXPECT_FALSE(IsValidPackageName("+x"));
  EXPECT_FALSE(IsValidPackageName("a b"));
  EXPECT_FALSE(IsValidPackageName(std::string(kMaxPackageNameBytes + 1, 'a')));
  EXPECT_TRUE(IsValidArchitecture("all"));
  EXPECT_TRUE(IsValidArchitecture("musl-linux-arm64"));
  EXPECT_FALSE(IsValidArchitecture("source"));
  EXPECT_FALSE(IsValidArchitecture(""));
}

TEST(DpkgStatusTest, RefusesTooManyStanzas) {
  std::string text;
  text.reserve((kMaxInstalledPackages + 1) * 48);
  for (size_t i = 0; i <= kMaxInstalledPackages; ++i) {
    text += "Package: p" + std::to_string(i) + "\nStatus: purge ok not-installed\n\n";
  }
  auto packages = ParseDpkgStatus(text, "status");
  ASSERT_FALSE(packages.ok());
  EXPECT_NE(packages.error().message().find("more than 100000 packages"), std::string::npos)
      << packages.error().message();
}

TEST(DpkgStatusTest, RefusesTextOverTheSizeCap) {
  const std::string text(kMaxDpkgStatusBytes + 1, '\n');
  auto packages = ParseDpkgStatus(text, "status");
  ASSERT_FALSE(packages.ok());
  EXPECT_NE(packages.error().message().find("status: larger than"), std::string::npos)
      << packages.error().message();
}

TEST(DpkgStatusTest, ThisMachinesStatusFileParses) {
  constexpr const char* kPath = "/var/lib/dpkg/status";
  if (!std::filesystem::exists(kPath)) {
    GTEST_SKIP() << "no " << kPath;
  }
  auto text = fs::ReadFile(kPath, kMaxDpkgStatusBytes);
  ASSERT_TRUE(text.ok()) << text.error().message();
  auto packages = ParseDpkgStatus(*text, kPath);
  ASSERT_TRUE(packages.ok()) << packages.error().message();
  EXPECT_GT(packages->size(), 100u);
  bool has_dpkg = false;
  for (const InstalledPackage& package : *packages) {
    EXPECT_TRUE(CheckInstalledPackage(package).ok()) << package.name;
    has_dpkg = has_dpkg || package.name == "dpkg";
  }
  EXPECT_TRUE(has_dpkg);
}

}  // namespace
}  // namespace ferry::bundler
