// `ferry-relay import --watch MOUNT` as a background process: bundles that appear on the media
// are imported in sequence order whatever order they arrive in, a tampered one is refused once
// and recorded, and SIGTERM stops the watcher cleanly. Every wait has a deadline: a broken
// watcher fails the test, never hangs it.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/json.hpp"
#include "tests/support/testing.hpp"

namespace ferry::relay {
namespace {

using Clock = std::chrono::steady_clock;
using testing::CommandResult;

constexpr const char* kChannel = "security";
constexpr const char* kMarker = "FERRY-WATCH-TEST-TAMPER-TARGET";

// Polls `condition` every 200 ms until it holds or `timeout` passes; returns whether it held.
bool Eventually(const std::function<bool()>& condition, std::chrono::seconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return condition();
}

class WatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(Bundle("keygen --out " + (dir_ / "root") + " --unencrypted").exit_code, 0);
    ASSERT_EQ(Bundle("keygen --out " + (dir_ / "b1") + " --unencrypted").exit_code, 0);
    const CommandResult root = Bundle(
        "root init --root-key " + (dir_ / "root.key") + " --threshold 1 --bundle-key " +
        (dir_ / "b1.pub") + " --bundle-threshold 1 --expires 30d --out " + (dir_ / "root.json"));
    ASSERT_EQ(root.exit_code, 0) << root.err;
    testing::Run("mkdir -p " + (dir_ / "src1") + " " + (dir_ / "src2") + " " + (dir_ / "src3") +
                 " " + (dir_ / "incoming") + " " + mount_);

    // Sequence 1: a full bundle. Sequence 2: a delta on it that adds a newer libfoo and leaves
    // out the payloads sequence 1 carried.
    testing::MakeDeb(dir_ / "src1", "libfoo", "1.0-1", "amd64", 20000);
    testing::MakeDeb(dir_ / "src1", "bar", "2.0-1", "all", 20000);
    ASSERT_NO_FATAL_FAILURE(Build(1, dir_ / "src1", "", dir_ / "incoming/full.ferry"));
    testing::Run("cp " + (dir_ / "src1") + "/*.deb " + (dir_ / "src2"));
    testing::MakeDeb(dir_ / "src2", "libfoo", "1.1-1", "amd64", 20000);
    ASSERT_NO_FATAL_FAILURE(Build(2, dir_ / "src2", "--base " + (dir_ / "incoming/full.ferry"),
                                  dir_ / "incoming/delta.ferry"));
    const CommandResult inspected = Bundle("inspect --json " + (dir_ / "incoming/delta.ferry"));
    ASSERT_NE(inspected.out.find("\"base_sequence\""), std::string::npos) << inspected.out;

    // Sequence 3 with one byte of its only payload flipped.
    std::string file(64 * 1024, 'x');
    file.replace(file.size() / 2, std::string(kMarker).size(), kMarker);
    testing::WriteAll(dir_ / "src3/note.txt", file);
    testing::WriteAll(dir_ / "src3/note.payload.json",
                      "{\"id\": \"note\", \"kind\": \"file\", \"file\": \"note.txt\", "
                      "\"target_os\": \"debian-12\"}");
    ASSERT_NO_FATAL_FAILURE(Build(3, dir_ / "src3", "", dir_ / "good-3.ferry"));
    std::string bytes = testing::ReadAll(dir_ / "good-3.ferry");
    const size_t at = bytes.find(kMarker);
    ASSERT_NE(at, std::string::npos);
    bytes[at + 5] ^= 0x20;
    testing::WriteAll(dir_ / "incoming/tampered.ferry", bytes);

    const CommandResult init = Relay("init --data " + data_ + " --root " + (dir_ / "root.json"));
    ASSERT_EQ(init.exit_code, 0) << init.err;
  }

  void TearDown() override {
    if (watcher_ > 0) {
      ::kill(watcher_, SIGKILL);
      ::waitpid(watcher_, nullptr, 0);
      watcher_ = -1;
    }
  }

  static CommandResult Bundle(const std::string& args) {
    return testing::Run(testing::BuildPath("bundler/ferry-bundle") + " " + args);
  }

  static CommandResult Relay(const std::string& args) {
    return testing::Run(testing::BuildPath("relay/ferry-relay") + " " + args);
  }

  void Build(int sequence, const std::string& source, const std::string& extra,
             const std::string& out) {
    const CommandResult built =
        Bundle("build --root " + (dir_ / "root.json") + " --key " + (dir_ / "b1.key") +
               " --channel " + kChannel + " --sequence " + std::to_string(sequence) + " --source " +
               source + " --expires 30d " + extra + " --out " + out);
    ASSERT_EQ(built.exit_code, 0) << built.err;
  }

  void StartWatcher() {
    watcher_ = testing::Spawn({testing::BuildPath("relay/ferry-relay"), "import", "--data", data_, "--watch",
                      mount_, "--interval", "1"},
                     dir_ / "watch.out", dir_ / "watch.err");
    ASSERT_GT(watcher_, 0);
    // The first line says it is watching; waiting for it keeps the test from racing the start.
    ASSERT_TRUE(Eventually(
        [&] { return testing::ReadAll(dir_ / "watch.out").find("watching") != std::string::npos; },
        std::chrono::seconds(10)))
        << WatcherOutput();
  }

  // Moves a prepared bundle onto the media in one rename, as a finished copy appears.
  void Arrive(const std::string& prepared, const std::string& name) {
    ASSERT_EQ(::rename((dir_ / ("incoming/" + prepared)).c_str(), (mount_ + "/" + name).c_str()), 0)
        << prepared;
  }

  std::string WatcherOutput() const {
    return "watcher stdout:\n" + testing::ReadAll(dir_ / "watch.out") + "watcher stderr:\n" +
           testing::ReadAll(dir_ / "watch.err");
  }

  json::Array Listing(const std::string& command) const {
    const CommandResult result = Relay(command + " --json --data " + data_);
    if (result.exit_code != 0) return {};
    auto parsed = json::Parse(result.out);
    if (!parsed.ok() || !parsed->is_array()) return {};
    return parsed->as_array();
  }

  // The subjects of events of one type, in log order.
  std::vector<std::string> EventSubjects(const std::string& type) const {
    std::vector<std::string> out;
    for (const json::Value& e : Listing("events --type " + type)) {
      out.push_back(e.as_object().at("subject").as_string());
    }
    return out;
  }

  testing::TempDir dir_;
  const std::string data_ = dir_ / "relay";
  const std::string mount_ = dir_ / "media";
  pid_t watcher_ = -1;
};

TEST_F(WatchTest, ImportsInSequenceOrderRefusesTamperedAndStopsOnSigterm) {
  ASSERT_NO_FATAL_FAILURE(StartWatcher());

  // The delta lands first and its name sorts first too: only the manifests give the order.
  ASSERT_NO_FATAL_FAILURE(Arrive("delta.ferry", "a-update.ferry"));
  ASSERT_NO_FATAL_FAILURE(Arrive("full.ferry", "b-base.ferry"));
  ASSERT_TRUE(Eventually([&] { return Listing("bundles").size() == 2; }, std::chrono::seconds(30)))
      << WatcherOutput();
  const json::Array bundles = Listing("bundles");
  ASSERT_EQ(bundles.size(), 2u);
  EXPECT_EQ(bundles[0].as_object().at("sequence").as_int(), 1);
  EXPECT_EQ(bundles[0].as_object().at("source").as_string(), "b-base.ferry");
  EXPECT_EQ(bundles[1].as_object().at("sequence").as_int(), 2);
  EXPECT_EQ(bundles[1].as_object().at("base_sequence").as_int(), 1);
  // In sequence order, and the delta was never tried before its base.
  const std::string channel = kChannel;
  EXPECT_EQ(EventSubjects("import.accepted"),
            (std::vector<std::string>{channel + "/1", channel + "/2"}));
  EXPECT_TRUE(EventSubjects("import.rejected").empty()) << WatcherOutput();
  EXPECT_EQ(Listing("patches").size(), 3u);

  ASSERT_NO_FATAL_FAILURE(Arrive("tampered.ferry", "c-tampered.ferry"));
  ASSERT_TRUE(Eventually([&] { return EventSubjects("import.rejected").size() == 1; },
                         std::chrono::seconds(30)))
      << WatcherOutput();
  const json::Array rejected = Listing("events --type import.rejected");
  ASSERT_EQ(rejected.size(), 1u);
  const json::Object& details = rejected[0].as_object().at("details").as_object();
  EXPECT_EQ(details.at("file").as_string(), "c-tampered.ferry");
  EXPECT_NE(details.at("reason").as_string().find("does not match its SHA-256"), std::string::npos)
      << details.at("reason").as_string();
  EXPECT_NE(testing::ReadAll(dir_ / "watch.err").find("error: "), std::string::npos)
      << WatcherOutput();

  // A refused file that does not change is not tried again at every scan.
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  EXPECT_EQ(EventSubjects("import.rejected").size(), 1u) << WatcherOutput();
  EXPECT_EQ(Listing("bundles").size(), 2u);
  EXPECT_EQ(testing::Run("find " + data_ + "/staging -mindepth 1 | wc -l").out, "0\n");

  ASSERT_EQ(::kill(watcher_, SIGTERM), 0);
  const std::optional<int> status = testing::WaitForExit(watcher_, std::chrono::seconds(5));
  ASSERT_TRUE(status.has_value()) << "the watcher ignored SIGTERM for 5 s\n" << WatcherOutput();
  watcher_ = -1;
  ASSERT_TRUE(WIFEXITED(*status)) << "status " << *status;
  EXPECT_EQ(WEXITSTATUS(*status), 0) << WatcherOutput();
  EXPECT_NE(testing::ReadAll(dir_ / "watch.out").find("stopped watching"), std::string::npos)
      << WatcherOutput();
  const CommandResult fsck = Relay("fsck --data " + data_);
  EXPECT_EQ(fsck.exit_code, 0) << fsck.out << fsck.err;
}

TEST_F(WatchTest, SigtermWhileIdleExitsZeroPromptly) {
  ASSERT_NO_FATAL_FAILURE(StartWatcher());
  const auto sent = Clock::now();
  ASSERT_EQ(::kill(watcher_, SIGTERM), 0);
  const std::optional<int> status = testing::WaitForExit(watcher_, std::chrono::seconds(5));
  ASSERT_TRUE(status.has_value()) << WatcherOutput();
  watcher_ = -1;
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << "status " << *status;
  EXPECT_LT(Clock::now() - sent, std::chrono::seconds(2));
}

// Media copied file by file can put a delta on it one scan before its base. The watcher refuses
// the delta (its base is not imported yet) and then never looks at it again while the file is
// unchanged, so sequence 2 is never imported. Disabled until the watcher retries refused bundles
// after a later import changes the catalog; see the report on relay/cli.cpp Watch().
TEST_F(WatchTest, DeltaArrivingOneScanBeforeItsBaseIsImportedOnceTheBaseIs) {
  ASSERT_NO_FATAL_FAILURE(StartWatcher());
  ASSERT_NO_FATAL_FAILURE(Arrive("delta.ferry", "a-update.ferry"));
  ASSERT_TRUE(Eventually([&] { return EventSubjects("import.rejected").size() == 1; },
                         std::chrono::seconds(30)))
      << WatcherOutput();
  ASSERT_NO_FATAL_FAILURE(Arrive("full.ferry", "b-base.ferry"));
  EXPECT_TRUE(Eventually([&] { return Listing("bundles").size() == 2; }, std::chrono::seconds(10)))
      << WatcherOutput();
}

}  // namespace
}  // namespace ferry::relay
