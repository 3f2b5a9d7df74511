// The ferry-bundle command line as operators and scripts see it: exit codes, one-line errors,
// nothing written on failure.

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "common/json.hpp"
#include "tests/support/testing.hpp"

namespace ferry::bundler {
namespace {

using testing::CommandResult;

class BundleCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::WriteAll(dir_ / "pass", "test passphrase\n");
    ASSERT_EQ(Bundle("keygen --out " + (dir_ / "root") + " --unencrypted").exit_code, 0);
    ASSERT_EQ(Bundle("keygen --out " + (dir_ / "b1") + " --passphrase-file " + (dir_ / "pass"))
                  .exit_code,
              0);
    ASSERT_EQ(Bundle("root init --root-key " + (dir_ / "root.key") + " --threshold 1 --bundle-key " +
                     (dir_ / "b1.pub") + " --bundle-threshold 1 --expires 30d --out " +
                     (dir_ / "root.json"))
                  .exit_code,
              0);
    testing::Run("mkdir -p " + (dir_ / "src"));
    testing::MakeDeb(dir_ / "src", "pkg", "1.0-1");
  }

  CommandResult Bundle(const std::string& args) {
    return testing::Run(testing::BuildPath("bundler/ferry-bundle") + " " + args);
  }

  CommandResult Build(const std::string& out, const std::string& extra = "") {
    return Bundle("build --root " + (dir_ / "root.json") + " --key " + (dir_ / "b1.key") +
                  " --passphrase-file " + (dir_ / "pass") + " --channel c --sequence 1 --source " +
                  (dir_ / "src") + " --out " + out + " " + extra);
  }

  // A failure prints exactly one line, "error: <cause>", on stderr.
  static void ExpectOneLineError(const CommandResult& result, int code, const std::string& cause) {
    EXPECT_EQ(result.exit_code, code) << result.err;
    EXPECT_TRUE(result.err.starts_with("error: ")) << result.err;
    EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
    EXPECT_NE(result.err.find(cause), std::string::npos) << result.err;
  }

  testing::TempDir dir_;
};

TEST_F(BundleCliTest, BuildsAndVerifiesWithExitZero) {
  const auto built = Build(dir_ / "ok.ferry");
  ASSERT_EQ(built.exit_code, 0) << built.err;
  const auto verified = Bundle("verify --root " + (dir_ / "root.json") + " " + (dir_ / "ok.ferry"));
  EXPECT_EQ(verified.exit_code, 0) << verified.err;
  EXPECT_NE(verified.out.find("OK"), std::string::npos);
  EXPECT_NE(verified.out.find("pkg_1.0-1_amd64"), std::string::npos);
  EXPECT_EQ(testing::Run("tar -tf " + (dir_ / "ok.ferry")).exit_code, 0);
}

TEST_F(BundleCliTest, JsonOutputIsJson) {
  ASSERT_EQ(Build(dir_ / "ok.ferry").exit_code, 0);
  const auto verified =
      Bundle("verify --json --root " + (dir_ / "root.json") + " " + (dir_ / "ok.ferry"));
  ASSERT_EQ(verified.exit_code, 0);
  auto parsed = json::Parse(verified.out);
  ASSERT_TRUE(parsed.ok()) << verified.out;
  EXPECT_EQ(parsed->as_object().at("verified"), json::Value(true));
  EXPECT_EQ(parsed->as_object().at("patches").as_array().size(), 1u);
  const auto inspected = Bundle("inspect --json " + (dir_ / "ok.ferry"));
  ASSERT_EQ(inspected.exit_code, 0);
  parsed = json::Parse(inspected.out);
  ASSERT_TRUE(parsed.ok()) << inspected.out;
  EXPECT_EQ(parsed->as_object().at("verified"), json::Value(false));
}

TEST_F(BundleCliTest, TamperedBundleExitsOne) {
  ASSERT_EQ(Build(dir_ / "ok.ferry").exit_code, 0);
  std::string bytes = testing::ReadAll(dir_ / "ok.ferry");
  bytes[bytes.size() - 2000] ^= 0x40;
  testing::WriteAll(dir_ / "bad.ferry", bytes);
  ExpectOneLineError(Bundle("verify --root " + (dir_ / "root.json") + " " + (dir_ / "bad.ferry")), 1,
                     "does not match its SHA-256");
}

TEST_F(BundleCliTest, ExpiredBundleExitsOne) {
  ASSERT_EQ(Build(dir_ / "old.ferry", "--expires 1d").exit_code, 0);
  // Built "two days ago" through SOURCE_DATE_EPOCH, the reproducible-builds convention.
  const auto old = testing::Run("SOURCE_DATE_EPOCH=$(( $(date +%s) - 172800 )) " +
                                testing::BuildPath("bundler/ferry-bundle") + " build --root " +
                                (dir_ / "root.json") + " --key " + (dir_ / "b1.key") +
                                " --passphrase-file " + (dir_ / "pass") +
                                " --channel c --sequence 2 --expires 1d --source " + (dir_ / "src") +
                                " --out " + (dir_ / "expired.ferry"));
  ASSERT_EQ(old.exit_code, 0) << old.err;
  ExpectOneLineError(
      Bundle("verify --root " + (dir_ / "root.json") + " " + (dir_ / "expired.ferry")), 1,
      "manifest expired at");
}

TEST_F(BundleCliTest, UsageErrorsExitTwo) {
  ExpectOneLineError(Bundle(""), 2, "no command given");
  ExpectOneLineError(Bundle("frobnicate"), 2, "unknown command");
  ExpectOneLineError(Bundle("verify --bogus x"), 2, "unknown option --bogus");
  ExpectOneLineError(Bundle("verify x.ferry"), 2, "missing required option --root");
  ExpectOneLineError(Build(dir_ / "x.ferry", "--expires 30years"), 2, "duration");
  // An encrypted key with no passphrase source and no terminal.
  ExpectOneLineError(Bundle("keygen --out " + (dir_ / "k")), 2, "--passphrase-file");
}

TEST_F(BundleCliTest, MissingFilesExitThree) {
  ExpectOneLineError(Bundle("verify --root " + (dir_ / "nope.json") + " " + (dir_ / "x.ferry")), 3,
                     "nope.json");
  ExpectOneLineError(Bundle("inspect " + (dir_ / "absent.ferry")), 3, "absent.ferry");
}

TEST_F(BundleCliTest, WrongPassphraseIsRefusedAndWritesNothing) {
  testing::WriteAll(dir_ / "wrong", "not it\n");
  const auto result = Bundle("build --root " + (dir_ / "root.json") + " --key " + (dir_ / "b1.key") +
                             " --passphrase-file " + (dir_ / "wrong") +
                             " --channel c --sequence 1 --source " + (dir_ / "src") + " --out " +
                             (dir_ / "w.ferry"));
  ExpectOneLineError(result, 1, "wrong passphrase");
  EXPECT_NE(testing::Run("test -e " + (dir_ / "w.ferry")).exit_code, 0);
}

TEST_F(BundleCliTest, KeygenWritesSecretsPrivatelyAndNeverOverwrites) {
  struct stat st {};
  ASSERT_EQ(::stat((dir_ / "b1.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const std::string before = testing::ReadAll(dir_ / "b1.key");
  const auto again = Bundle("keygen --out " + (dir_ / "b1") + " --unencrypted");
  EXPECT_EQ(again.exit_code, 3) << again.err;
  EXPECT_EQ(testing::ReadAll(dir_ / "b1.key"), before);
}

TEST_F(BundleCliTest, RootRotationNeedsBothThresholds) {
  ASSERT_EQ(Bundle("keygen --out " + (dir_ / "root2") + " --unencrypted").exit_code, 0);
  // Signed only by the new root key: a relay trusting v1 would refuse it, so nothing is written.
  const auto refused = Bundle("root rotate --root " + (dir_ / "root.json") + " --sign-key " +
                              (dir_ / "root2.key") + " --root-key " + (dir_ / "root2.pub") +
                              " --expires 30d --out " + (dir_ / "v2.json"));
  ExpectOneLineError(refused, 2, "signing keys do not make an acceptable rotation");
  EXPECT_NE(testing::Run("test -e " + (dir_ / "v2.json")).exit_code, 0);
  const auto accepted = Bundle("root rotate --root " + (dir_ / "root.json") + " --sign-key " +
                               (dir_ / "root.key") + " " + (dir_ / "root2.key") + " --root-key " +
                               (dir_ / "root2.pub") + " --expires 30d --out " + (dir_ / "v2.json"));
  ASSERT_EQ(accepted.exit_code, 0) << accepted.err;
  const auto shown = Bundle("root show --json " + (dir_ / "v2.json"));
  ASSERT_EQ(shown.exit_code, 0);
  EXPECT_EQ(json::Parse(shown.out)->as_object().at("version"), json::Value(2));
}

}  // namespace
}  // namespace ferry::bundler
