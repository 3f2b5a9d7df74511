#include "endpoint/local_inventory.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "tests/support/testing.hpp"

namespace ferry::endpoint {
namespace {

using bundler::InstalledPackage;

constexpr const char* kStatus =
    "Package: zlib1g\n"
    "Status: install ok installed\n"
    "Architecture: amd64\n"
    "Version: 1:1.2.13.dfsg-1\n"
    "Description: compression library\n"
    " with a continuation line\n"
    "\n"
    "Package: old-config\n"
    "Status: deinstall ok config-files\n"
    "Architecture: amd64\n"
    "Version: 1.0\n"
    "\n"
    "Package: base-files\n"
    "Status: hold ok installed\n"
    "Architecture: amd64\n"
    "Version: 12.4+deb12u5\n"
    "\n"
    "Package: half\n"
    "Status: install reinstreq half-installed\n"
    "Architecture: all\n"
    "Version: 2\n";

TEST(LocalInventoryTest, CreatedRootHasAnEmptyDatabase) {
  testing::TempDir dir;
  const std::string root = dir / "root";
  ASSERT_TRUE(CreateDpkgRoot(root).ok());
  for (const char* sub :
       {"var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers", "var/log"}) {
    struct stat st {};
    EXPECT_EQ(::stat((root + "/" + sub).c_str(), &st), 0) << sub;
    EXPECT_TRUE(S_ISDIR(st.st_mode)) << sub;
  }
  EXPECT_EQ(testing::ReadAll(root + "/var/lib/dpkg/available"), "");
  Result<bundler::Inventory> inventory = ReadLocalInventory(DpkgRoot{root});
  ASSERT_TRUE(inventory.ok()) << inventory.error().message();
  EXPECT_TRUE(inventory->packages.empty());
}

TEST(LocalInventoryTest, CreatingAgainKeepsTheDatabase) {
  testing::TempDir dir;
  const std::string root = dir / "root";
  ASSERT_TRUE(CreateDpkgRoot(root).ok());
  testing::WriteAll(root + "/var/lib/dpkg/status", kStatus);
  ASSERT_TRUE(CreateDpkgRoot(root).ok());
  EXPECT_EQ(testing::ReadAll(root + "/var/lib/dpkg/status"), kStatus);
}

TEST(LocalInventoryTest, CreateRefusesAFileInTheWay) {
  testing::TempDir dir;
  testing::WriteAll(dir / "file", "x");
  Status created = CreateDpkgRoot(dir / "file");
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.error().kind(), ErrorKind::kIo);
  EXPECT_FALSE(CreateDpkgRoot("").ok());
}

TEST(LocalInventoryTest, ReadsOnlyInstalledPackagesSorted) {
  testing::TempDir dir;
  const std::string root = dir / "root";
  ASSERT_TRUE(CreateDpkgRoot(root).ok());
  testing::WriteAll(root + "/var/lib/dpkg/status", kStatus);
  Result<bundler::Inventory> inventory = ReadLocalInventory(DpkgRoot{root});
  ASSERT_TRUE(inventory.ok()) << inventory.error().message();
  const std::vector<InstalledPackage> expected = {
      {"base-files", "amd64", "12.4+deb12u5"},
      {"zlib1g", "amd64", "1:1.2.13.dfsg-1"},
  };
  EXPECT_EQ(inventory->packages, expected);
}

TEST(LocalInventoryTest, AcceptsARelativeRoot) {
  testing::TempDir dir;
  ASSERT_TRUE(CreateDpkgRoot(dir / "root").ok());
  testing::WriteAll(dir / "root/var/lib/dpkg/status", kStatus);
  char cwd[4096];
  ASSERT_NE(::getcwd(cwd, sizeof cwd), nullptr);
  ASSERT_EQ(::chdir(dir.path().c_str()), 0);
  Result<std::string> resolved = ResolveDpkgRoot(DpkgRoot{"root"});
  Result<bundler::Inventory> inventory = ReadLocalInventory(DpkgRoot{"./root"});
  ASSERT_EQ(::chdir(cwd), 0);
  ASSERT_TRUE(resolved.ok()) << resolved.error().message();
  EXPECT_EQ(*resolved, dir / "root");
  ASSERT_TRUE(inventory.ok()) << inventory.error().message();
  EXPECT_EQ(inventory->packages.size(), 2u);
}

TEST(LocalInventoryTest, MalformedStatusIsInvalidAndNamesTheFile) {
  testing::TempDir dir;
  const std::string root = dir / "root";
  ASSERT_TRUE(CreateDpkgRoot(root).ok());
  testing::WriteAll(root + "/var/lib/dpkg/status",
                    "Package: broken\nStatus: install ok installed\nno colon here\n");
  Result<bundler::Inventory> inventory = ReadLocalInventory(DpkgRoot{root});
  ASSERT_FALSE(inventory.ok());
  EXPECT_EQ(inventory.error().kind(), ErrorKind::kInvalid);
  EXPECT_NE(inventory.error().message().find(root + "/var/lib/dpkg/status"), std::string::npos)
      << inventory.error().message();
}

TEST(LocalInventoryTest, MissingRootOrDatabaseIsAnIoError) {
  testing::TempDir dir;
  Result<bundler::Inventory> missing = ReadLocalInventory(DpkgRoot{dir / "nowhere"});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind(), ErrorKind::kIo);
  EXPECT_NE(missing.error().message().find(dir / "nowhere"), std::string::npos);

  Result<bundler::Inventory> bare = ReadLocalInventory(DpkgRoot{dir.path()});
  ASSERT_FALSE(bare.ok());
  EXPECT_EQ(bare.error().kind(), ErrorKind::kIo);
  EXPECT_NE(bare.error().message().find("no dpkg database"), std::string::npos)
      << bare.error().message();
}

TEST(LocalInventoryTest, HostInventoryComesFromDpkgsOwnDatabase) {
  Result<bundler::Inventory> host = ReadLocalInventory(DpkgRoot{});
  ASSERT_TRUE(host.ok()) << host.error().message();
  const testing::CommandResult arch = testing::Run("dpkg --print-architecture");
  ASSERT_EQ(arch.exit_code, 0);
  EXPECT_EQ(std::string(bundler::NativeArchitecture(*host)) + "\n", arch.out);
  const testing::CommandResult count = testing::Run(
      "dpkg-query -W -f '${db:Status-Status} ${db:Status-Want}\\n' | "
      "grep -c -E '^installed (install|hold)$'");
  EXPECT_EQ(std::to_string(host->packages.size()) + "\n", count.out);
  EXPECT_EQ(DpkgAdminDir(DpkgRoot{}), "/var/lib/dpkg");
}

}  // namespace
}  // namespace ferry::endpoint
