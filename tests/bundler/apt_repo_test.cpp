#include "bundler/apt_repo.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace ferry::bundler {
namespace {

namespace stdfs = std::filesystem;

constexpr const char* kSha = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

class AptRepoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "ferry_apt_repo_XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    root_ = pattern;
  }
  void TearDown() override { stdfs::remove_all(root_); }

  void Write(const std::string& relative, const std::string& content) {
    const stdfs::path path = stdfs::path(root_) / relative;
    stdfs::create_directories(path.parent_path());
    std::ofstream out(path, std::ios::binary);
    out << content;
    ASSERT_TRUE(out.good());
  }

  void Run(const std::string& command) {
    const std::string full = "cd '" + root_ + "' && (" + command + ") 2>/dev/null";
    ASSERT_EQ(std::system(full.c_str()), 0) << full;
  }

  // A real .deb in pool/, built by dpkg-deb.
  void BuildDeb(const std::string& package, const std::string& version, const std::string& arch) {
    const std::string tree = "tree/" + package + "_" + version;
    Write(tree + "/DEBIAN/control", "Package: " + package + "\nVersion: " + version +
                                        "\nArchitecture: " + arch +
                                        "\nMaintainer: T <t@example.org>\nDescription: the " +
                                        package + " package\n more text\n");
    Write(tree + "/usr/share/doc/" + package + "/copyright", "test\n");
    const std::string out = "pool/main/" + package.substr(0, 1) + "/" + package + "/" + package +
                            "_" + version + "_" + arch + ".deb";
    stdfs::create_directories((stdfs::path(root_) / out).parent_path());
    Run("dpkg-deb --root-owner-group --build " + tree + " " + out + " >/dev/null");
  }

  std::string root_;
};

TEST_F(AptRepoTest, ReadsARepositoryMadeByDpkgScanpackages) {
  BuildDeb("hello", "1.0-1", "amd64");
  BuildDeb("hello", "1.0-2", "amd64");
  BuildDeb("zlib-tool", "2:0.5", "all");
  BuildDeb("fix", "1.1", "amd64");
  Run("mkdir -p dists/bookworm/main/binary-amd64 dists/bookworm-security/main/binary-amd64 "
      "dists/bookworm/main/debian-installer/binary-amd64");
  // Plain Packages for the release.
  Run("dpkg-scanpackages --multiversion pool/main/h pool/main/z "
      "> dists/bookworm/main/binary-amd64/Packages");
  // The security suite, gzip only, repeating hello 1.0-2 (deduplicated) and adding fix.
  Run("dpkg-scanpackages --multiversion pool/main > sec && gzip -9 -c sec "
      "> dists/bookworm-security/main/binary-amd64/Packages.gz && rm sec");
  // Installer udebs and a suite symlink are not read.
  Write("dists/bookworm/main/debian-installer/binary-amd64/Packages", "garbage that fails\n");
  stdfs::create_directory_symlink("bookworm", stdfs::path(root_) / "dists" / "stable");

  ASSERT_TRUE(LooksLikeAptRepository(root_));
  auto packages = ReadAptRepository(root_);
  ASSERT_TRUE(packages.ok()) << packages.error().message();
  ASSERT_EQ(packages->size(), 4u);
  const AptPackage& fix = (*packages)[0];
  EXPECT_EQ(fix.package, "fix");
  EXPECT_EQ(fix.suite, "bookworm-security");
  EXPECT_EQ((*packages)[1].package, "hello");
  EXPECT_EQ((*packages)[1].version, "1.0-1");
  EXPECT_EQ((*packages)[2].version, "1.0-2");
  EXPECT_EQ((*packages)[2].suite, "bookworm");  // first seen in the sorted walk
  const AptPackage& zlib = (*packages)[3];
  EXPECT_EQ(zlib.package, "zlib-tool");
  EXPECT_EQ(zlib.version, "2:0.5");
  EXPECT_EQ(zlib.architecture, "all");
  EXPECT_EQ(zlib.filename, "pool/main/z/zlib-tool/zlib-tool_2:0.5_all.deb");
  EXPECT_EQ(zlib.description, "the zlib-tool package");
  EXPECT_EQ(zlib.size, stdfs::file_size(stdfs::path(root_) / zlib.filename));
  EXPECT_EQ(zlib.sha256.size(), 64u);
  // The SHA256 is the file's: compare with sha256sum.
  const std::string sums = root_ + "/sums";
  Run("sha256sum " + zlib.filename + " > sums");
  std::ifstream in(sums);
  std::string expected;
  in >> expected;
  EXPECT_EQ(zlib.sha256, expected);
}

TEST_F(AptRepoTest, ReadsXzIndexesAndPrefersThePlainOne) {
  const std::string stanza = std::string("Package: aa\nVersion: 1\nArchitecture: all\n") +
                             "Filename: pool/aa_1_all.deb\nSize: 10\nSHA256: " + kSha + "\n";
  Write("dists/s/main/binary-all/Packages", stanza);
  Write("dists/s/main/binary-all/Packages.xz", "not xz at all: would fail if read");
  Write("dists/t/contrib/binary-arm64/plain",
        "Package: bb\nVersion: 2\nArchitecture: arm64\n"
        "Filename: pool/b_2_arm64.deb\nSize: 3\nSHA256: " +
            std::string(kSha) + "\n");
  Run("xz -c dists/t/contrib/binary-arm64/plain > dists/t/contrib/binary-arm64/Packages.xz && "
      "rm dists/t/contrib/binary-arm64/plain");
  auto packages = ReadAptRepository(root_);
  ASSERT_TRUE(packages.ok()) << packages.error().message();
  ASSERT_EQ(packages->size(), 2u);
  EXPECT_EQ((*packages)[0].package, "aa");
  EXPECT_EQ((*packages)[0].description, "");
  EXPECT_EQ((*packages)[1].package, "bb");
  EXPECT_EQ((*packages)[1].suite, "t");
  EXPECT_EQ((*packages)[1].size, 3u);
}

void ExpectInvalid(const Result<std::vector<AptPackage>>& result, const std::string& fragment) {
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().kind(), ErrorKind::kInvalid) << result.error().message();
  EXPECT_NE(result.error().message().find(fragment), std::string::npos) << result.error().message();
}

TEST_F(AptRepoTest, RefusesUnsafeOrIncompleteStanzas) {
  const std::string index = "dists/s/main/binary-amd64/Packages";
  const auto with = [&](const std::string& filename, const std::string& size,
                        const std::string& sha) {
    return "Package: aa\nVersion: 1.0\nArchitecture: amd64\nFilename: " + filename +
           "\nSize: " + size + "\nSHA256: " + sha + "\n";
  };
  Write(index, with("/etc/passwd", "1", kSha));
  ExpectInvalid(ReadAptRepository(root_), "dists/s/main/binary-amd64/Packages:1: Filename");
  Write(index,
        "Package: zz\nVersion: 1\nArchitecture: all\nFilename: pool/z.deb\nSize: 1\n"
        "SHA256: " +
            std::string(kSha) + "\n\n" + with("pool/../../x.deb", "1", kSha));
  ExpectInvalid(ReadAptRepository(root_), "Packages:8: Filename \"pool/../../x.deb\"");
  Write(index, with("pool/a.deb", "-1", kSha));
  ExpectInvalid(ReadAptRepository(root_), "Size \"-1\"");
  Write(index, with("pool/a.deb", "99999999999999999999999", kSha));
  ExpectInvalid(ReadAptRepository(root_), "Size");
  Write(index, with("pool/a.deb", "1", "abc"));
  ExpectInvalid(ReadAptRepository(root_), "SHA256 is not 64 hexadecimal digits");
  Write(index, "Package: aa\nVersion: 1.0\nArchitecture: amd64\nFilename: pool/a.deb\nSize: 1\n");
  ExpectInvalid(ReadAptRepository(root_), "missing SHA256 field");
  Write(index, "Package: aa\nArchitecture: amd64\nFilename: pool/a.deb\nSize: 1\n");
  ExpectInvalid(ReadAptRepository(root_), "missing Version field");
  Write(index, with("pool/a.deb", "1", kSha) + "\n" + with("pool/b.deb", "2", kSha));
  ExpectInvalid(ReadAptRepository(root_), "listed earlier with a different SHA256 or Size");
}

TEST_F(AptRepoTest, RefusesCorruptCompressedIndexAndNonRepository) {
  ExpectInvalid(ReadAptRepository(root_), "no dists/ directory");
  EXPECT_FALSE(LooksLikeAptRepository(root_));
  Write("dists/s/main/binary-amd64/plain", std::string(4000, 'x'));
  Run("gzip -c dists/s/main/binary-amd64/plain > dists/s/main/binary-amd64/Packages.gz");
  // Chop the gzip stream in half.
  stdfs::resize_file(stdfs::path(root_) / "dists/s/main/binary-amd64/Packages.gz", 20);
  auto result = ReadAptRepository(root_);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().kind(), ErrorKind::kInvalid) << result.error().message();
}

TEST_F(AptRepoTest, DecompressionIsCapped) {
  Write("big", std::string(100000, 'a'));
  Run("gzip -k big");
  auto whole = ReadMaybeCompressedFile(root_ + "/big.gz", 100000);
  ASSERT_TRUE(whole.ok()) << whole.error().message();
  EXPECT_EQ(whole->size(), 100000u);
  auto capped = ReadMaybeCompressedFile(root_ + "/big.gz", 99999);
  ASSERT_FALSE(capped.ok());
  EXPECT_NE(capped.error().message().find("more than 99999 bytes"), std::string::npos);
  Write("empty", "");
  auto empty = ReadMaybeCompressedFile(root_ + "/empty", 10);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
  auto plain = ReadMaybeCompressedFile(root_ + "/big", 100000);
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(*plain, std::string(100000, 'a'));
  auto missing = ReadMaybeCompressedFile(root_ + "/absent", 10);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind(), ErrorKind::kIo);
}

// Every index apt downloaded on this machine, laid out as a mirror, must read cleanly: real
// stanzas pass the name, version, architecture, Filename, Size and SHA256 checks.
TEST_F(AptRepoTest, ReadsTheSystemIndexesAsAMirror) {
  size_t stanzas = 0;
  std::error_code ec;
  for (const auto& entry : stdfs::directory_iterator("/var/lib/apt/lists", ec)) {
    const std::string name = entry.path().filename().string();
    const size_t at = name.find("_dists_");
    if (!entry.is_regular_file() || name.find("_Packages") == std::string::npos ||
        at == std::string::npos) {
      continue;
    }
    auto text = ReadMaybeCompressedFile(entry.path().string(), kMaxPackagesIndexBytes);
    ASSERT_TRUE(text.ok()) << text.error().message();
    // deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages.lz4 -> dists/bookworm/...
    std::string relative = name.substr(at + 1, name.find("_Packages") - at - 1);
    std::replace(relative.begin(), relative.end(), '_', '/');
    Write(relative + "/Packages", *text);
    for (size_t pos = text->find("Package: "); pos != std::string::npos;
         pos = text->find("\nPackage: ", pos + 1)) {
      ++stanzas;
    }
  }
  if (stanzas == 0) {
    GTEST_SKIP() << "no Packages files in /var/lib/apt/lists";
  }
  auto packages = ReadAptRepository(root_);
  ASSERT_TRUE(packages.ok()) << packages.error().message();
  // Point releases repeat a few entries across suites; those collapse into one.
  EXPECT_GT(packages->size(), stanzas * 9 / 10);
  EXPECT_LE(packages->size(), stanzas);
  for (const AptPackage& p : *packages) {
    ASSERT_EQ(p.filename.rfind("pool/", 0), 0u) << p.filename;
  }
}

TEST(SafeRelativePathTest, Rules) {
  EXPECT_TRUE(IsSafeRelativePath("pool/main/h/hello/hello_1.0_amd64.deb"));
  EXPECT_TRUE(IsSafeRelativePath("a.deb"));
  EXPECT_TRUE(IsSafeRelativePath("pool/x/..deb"));
  EXPECT_FALSE(IsSafeRelativePath(""));
  EXPECT_FALSE(IsSafeRelativePath("/pool/a.deb"));
  EXPECT_FALSE(IsSafeRelativePath("../a.deb"));
  EXPECT_FALSE(IsSafeRelativePath("pool/../../a.deb"));
  EXPECT_FALSE(IsSafeRelativePath("pool/.."));
  EXPECT_FALSE(IsSafeRelativePath("pool//a.deb"));
  EXPECT_FALSE(IsSafeRelativePath("pool/./a.deb"));
  EXPECT_FALSE(IsSafeRelativePath("pool/a.deb/"));
  EXPECT_FALSE(IsSafeRelativePath("pool\\a.deb"));
  EXPECT_FALSE(IsSafeRelativePath("pool/a\n.deb"));
}

}  // namespace
}  // namespace ferry::bundler
