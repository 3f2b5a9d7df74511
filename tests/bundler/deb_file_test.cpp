#include "bundler/deb_file.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace ferry::bundler {
namespace {

namespace stdfs = std::filesystem;

class DebFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "ferry_deb_file_XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { stdfs::remove_all(dir_); }

  void Write(const std::string& relative, const std::string& content) {
    const stdfs::path path = stdfs::path(dir_) / relative;
    stdfs::create_directories(path.parent_path());
    std::ofstream out(path, std::ios::binary);
    out << content;
    ASSERT_TRUE(out.good());
  }

  void Run(const std::string& command) {
    const std::string full = "cd '" + dir_ + "' && (" + command + ") >/dev/null 2>&1";
    ASSERT_EQ(std::system(full.c_str()), 0) << full;
  }

  // Builds tree/NAME with the given control file and one payload file, then NAME.deb via
  // dpkg-deb with `options` (e.g. "-Zgzip" or "--nocheck").
  std::string BuildDeb(const std::string& name, const std::string& control,
                       const std::string& options = "") {
    Write(name + "/DEBIAN/control", control);
    Write(name + "/usr/share/doc/" + name + "/README", "hello\n");
    Run("dpkg-deb --root-owner-group " + options + " --build " + name + " " + name + ".deb");
    return dir_ + "/" + name + ".deb";
  }

  std::string dir_;
};

constexpr const char* kControl =
    "Package: ferry-sample\n"
    "Version: 1:2.4.1-3+deb12u1\n"
    "Architecture: amd64\n"
    "Maintainer: Ferry Test <test@example.org>\n"
    "Section: admin\n"
    "Priority: optional\n"
    "Source: ferry-src (2.4.1-3)\n"
    "Description: sample package for Ferry\n"
    " It has a long description.\n"
    " .\n"
    " With paragraphs.\n";

TEST_F(DebFileTest, ReadsIdentityFromTheControlFileNotTheName) {
  const std::string built = BuildDeb("pkg", kControl);
  // A misleading file name must not matter.
  const std::string renamed = dir_ + "/other_9.9_i386.deb";
  stdfs::rename(built, renamed);
  auto control = ReadDebControl(renamed);
  ASSERT_TRUE(control.ok()) << control.error().message();
  EXPECT_EQ(control->package, "ferry-sample");
  EXPECT_EQ(control->version, "1:2.4.1-3+deb12u1");
  EXPECT_EQ(control->architecture, "amd64");
  EXPECT_EQ(control->description, "sample package for Ferry");
  EXPECT_EQ(control->maintainer, "Ferry Test <test@example.org>");
  EXPECT_EQ(control->section, "admin");
  ASSERT_TRUE(control->source.has_value());
  EXPECT_EQ(*control->source, "ferry-src (2.4.1-3)");
}

TEST_F(DebFileTest, ReadsEveryControlCompression) {
  const std::string minimal =
      "Package: tiny\nVersion: 0.1\nArchitecture: all\nMaintainer: T <t@example.org>\n"
      "Description: tiny\n";
  for (const char* compression : {"gzip", "xz", "zstd", "none"}) {
    SCOPED_TRACE(compression);
    const std::string name = std::string("tiny-") + compression;
    const std::string path = BuildDeb(name, minimal, std::string("-Z") + compression);
    auto control = ReadDebControl(path);
    ASSERT_TRUE(control.ok()) << control.error().message();
    EXPECT_EQ(control->package, "tiny");
    EXPECT_EQ(control->version, "0.1");
    EXPECT_EQ(control->architecture, "all");
    EXPECT_FALSE(control->source.has_value());
    EXPECT_EQ(control->section, "");
  }
}

void ExpectInvalid(const Result<DebControl>& result, const std::string& fragment) {
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().kind(), ErrorKind::kInvalid) << result.error().message();
  EXPECT_NE(result.error().message().find(fragment), std::string::npos) << result.error().message();
}

TEST_F(DebFileTest, RefusesAFileThatIsNotADeb) {
  Write("notes.deb", "Package: looks-like-control\nVersion: 1.0\nArchitecture: all\n");
  ExpectInvalid(ReadDebControl(dir_ + "/notes.deb"), "not a Debian package");
  Write("empty.deb", "");
  ExpectInvalid(ReadDebControl(dir_ + "/empty.deb"), "not a Debian package");
}

TEST_F(DebFileTest, MissingFileIsAnIoError) {
  auto result = ReadDebControl(dir_ + "/absent.deb");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().kind(), ErrorKind::kIo);
}

TEST_F(DebFileTest, RefusesControlWithoutVersion) {
  const std::string path = BuildDeb(
      "nover", "Package: nover\nArchitecture: all\nMaintainer: T <t@example.org>\nDescription: x\n",
      "--nocheck");
  ExpectInvalid(ReadDebControl(path), "missing Version field");
}

TEST_F(DebFileTest, RefusesInvalidVersionPackageAndArchitecture) {
  ExpectInvalid(ReadDebControl(BuildDeb("badver",
                                        "Package: badver\nVersion: v1.0\nArchitecture: all\n"
                                        "Maintainer: T <t@example.org>\nDescription: x\n",
                                        "--nocheck")),
                "does not start with a digit");
  ExpectInvalid(ReadDebControl(BuildDeb("badname",
                                        "Package: Bad_Name\nVersion: 1.0\nArchitecture: all\n"
                                        "Maintainer: T <t@example.org>\nDescription: x\n",
                                        "--nocheck")),
                "invalid package name");
  ExpectInvalid(ReadDebControl(BuildDeb("badarch",
                                        "Package: badarch\nVersion: 1.0\nArchitecture: AMD 64\n"
                                        "Maintainer: T <t@example.org>\nDescription: x\n",
                                        "--nocheck")),
                "invalid architecture");
}

TEST_F(DebFileTest, RefusesWrongArStructure) {
  Write("debian-binary", "2.0\n");
  Write("control", "Package: aa\nVersion: 1.0\nArchitecture: all\n");
  Write("data", "payload");
  Run("tar -czf control.tar.gz ./control && tar -czf data.tar.gz ./data");

  // debian-binary not first.
  Run("ar rc wrong-order.deb control.tar.gz debian-binary data.tar.gz");
  ExpectInvalid(ReadDebControl(dir_ + "/wrong-order.deb"), "first member is not debian-binary");

  // No control member before the data member.
  Run("ar rc no-control.deb debian-binary data.tar.gz");
  ExpectInvalid(ReadDebControl(dir_ + "/no-control.deb"), "no control.tar member");

  // An unsupported format version.
  Write("v3/debian-binary", "3.0\n");
  Run("cd v3 && cp ../control.tar.gz . && ar rc ../v3.deb debian-binary control.tar.gz");
  ExpectInvalid(ReadDebControl(dir_ + "/v3.deb"), "2.x format version");

  // A control archive without ./control.
  Run("tar -czf other.tar.gz ./data && mkdir -p noctl && cp other.tar.gz noctl/control.tar.gz && "
      "cp debian-binary noctl/ && cd noctl && ar rc ../noctl.deb debian-binary control.tar.gz");
  ExpectInvalid(ReadDebControl(dir_ + "/noctl.deb"), "no ./control file");

  // Hand-made but valid: members named as GNU ar names them are read too.
  Run("ar rc handmade.deb debian-binary control.tar.gz data.tar.gz");
  auto control = ReadDebControl(dir_ + "/handmade.deb");
  ASSERT_TRUE(control.ok()) << control.error().message();
  EXPECT_EQ(control->package, "aa");
}

TEST_F(DebFileTest, EnforcesSizeCaps) {
  Write("debian-binary", "2.0\n");
  // A control file just over 1 MiB.
  Write("big/control", "Package: big\nVersion: 1.0\nArchitecture: all\nX-Filler: " +
                           std::string(kMaxControlFileBytes, 'a') + "\n");
  Run("cd big && tar -czf ../big-control.tar.gz ./control && cd .. && mkdir -p m1 && "
      "cp debian-binary m1/ && cp big-control.tar.gz m1/control.tar.gz && cd m1 && "
      "ar rc ../big-control.deb debian-binary control.tar.gz");
  ExpectInvalid(ReadDebControl(dir_ + "/big-control.deb"), "./control is larger than 1048576");
  // An uncompressed control.tar over 16 MiB (a huge maintainer script beside ./control).
  Write("huge/control", "Package: huge\nVersion: 1.0\nArchitecture: all\n");
  Write("huge/postinst", std::string(kMaxControlArchiveBytes, '#'));
  Run("cd huge && tar -cf ../control.tar ./control ./postinst && cd .. && "
      "ar rc huge.deb debian-binary control.tar");
  ExpectInvalid(ReadDebControl(dir_ + "/huge.deb"), "control.tar: larger than 16777216 bytes");
}

TEST_F(DebFileTest, RefusesTruncatedDeb) {
  const std::string path = BuildDeb("trunc", kControl);
  // Cut inside the control member: the header promises more bytes than the file holds.
  stdfs::resize_file(path, 200);
  auto result = ReadDebControl(path);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().kind(), ErrorKind::kInvalid) << result.error().message();
}

TEST_F(DebFileTest, RefusesControlFileWithTwoStanzas) {
  const std::string path = BuildDeb(
      "two", "Package: two\nVersion: 1.0\nArchitecture: all\n\nPackage: three\n", "--nocheck");
  ExpectInvalid(ReadDebControl(path), "expected one stanza, found 2");
}

// Real archive packages (whatever apt left in its cache) must read exactly as dpkg-deb reads them.
TEST_F(DebFileTest, AgreesWithDpkgDebOnCachedPackages) {
  std::vector<std::string> debs;
  std::error_code ec;
  for (const auto& entry : stdfs::directory_iterator("/var/cache/apt/archives", ec)) {
    if (entry.is_regular_file() && entry.path().extension() == ".deb") {
      debs.push_back(entry.path().string());
    }
  }
  if (debs.empty()) {
    GTEST_SKIP() << "no .deb files in /var/cache/apt/archives";
  }
  std::sort(debs.begin(), debs.end());
  constexpr size_t kSample = 40;
  const size_t step = std::max<size_t>(1, debs.size() / kSample);
  std::string expected;
  std::string ours;
  std::string command;
  for (size_t i = 0; i < debs.size(); i += step) {
    auto control = ReadDebControl(debs[i]);
    ASSERT_TRUE(control.ok()) << control.error().message();
    ours += control->package + " " + control->version + " " + control->architecture + " " +
            control->source.value_or("-") + "\n";
    command += "f='" + debs[i] +
               "'; s=$(dpkg-deb -f \"$f\" Source); echo \"$(dpkg-deb -f \"$f\" Package) "
               "$(dpkg-deb -f \"$f\" Version) $(dpkg-deb -f \"$f\" Architecture) ${s:--}\"; ";
  }
  Run("{ " + command + "} > expected.txt");
  std::ifstream in(stdfs::path(dir_) / "expected.txt");
  expected.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  EXPECT_EQ(ours, expected);
}

TEST(DebNamesTest, PackageAndArchitectureRules) {
  EXPECT_TRUE(IsValidDebianPackageName("libc6"));
  EXPECT_TRUE(IsValidDebianPackageName("g++-12"));
  EXPECT_TRUE(IsValidDebianPackageName("0ad"));
  EXPECT_FALSE(IsValidDebianPackageName("a"));
  EXPECT_FALSE(IsValidDebianPackageName("-foo"));
  EXPECT_FALSE(IsValidDebianPackageName("Foo"));
  EXPECT_FALSE(IsValidDebianPackageName("foo_bar"));
  EXPECT_TRUE(IsValidDebianArchitecture("all"));
  EXPECT_TRUE(IsValidDebianArchitecture("amd64"));
  EXPECT_TRUE(IsValidDebianArchitecture("linux-any"));
  EXPECT_FALSE(IsValidDebianArchitecture(""));
  EXPECT_FALSE(IsValidDebianArchitecture("x86_64"));
  EXPECT_FALSE(IsValidDebianArchitecture("../etc"));
}

}  // namespace
}  // namespace ferry::bundler
