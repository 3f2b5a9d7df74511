// The state directory: private permissions, one agent at a time, enrolment never replaced,
// documents read back strictly.

#include "endpoint/agent_state.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "common/file.hpp"
#include "tests/support/testing.hpp"

namespace ferry::endpoint {
namespace {

int ModeOf(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<int>(st.st_mode & 07777) : -1;
}

AgentConfig SampleConfig() {
  AgentConfig config;
  config.relay_url = "https://127.0.0.1:8443";
  config.endpoint_id = "ep-0123456789abcdef";
  config.hostname = "web-01";
  config.target_os = "debian-12";
  config.root_version = 1;
  config.poll_seconds = 900;
  config.enrolled = 1795000000;
  return config;
}

TEST(AgentState, EnrolmentMakesAPrivateLockedDirectory) {
  testing::TempDir dir;
  const std::string state_dir = dir / "state";
  auto state = AgentState::OpenForEnrollment(state_dir);
  ASSERT_TRUE(state.ok()) << state.error().message();
  EXPECT_EQ(ModeOf(state_dir), 0700);
  for (const char* sub : {"roots", "cache", "outbox"}) {
    EXPECT_EQ(ModeOf(state_dir + "/" + sub), 0700) << sub;
  }
  // A second process (here: a second open) cannot take the same directory.
  auto second = AgentState::OpenForEnrollment(state_dir);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().kind(), ErrorKind::kIo);
  EXPECT_NE(second.error().message().find("another ferry-agent"), std::string::npos);

  ASSERT_TRUE(state->SaveConfig(SampleConfig()).ok());
  EXPECT_EQ(ModeOf(state_dir + "/agent.json"), 0600);
  state = Error(ErrorKind::kIo, "released");  // drops the lock

  auto again = AgentState::OpenForEnrollment(state_dir);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().kind(), ErrorKind::kUsage);
  EXPECT_NE(again.error().message().find("already enrolled"), std::string::npos);

  auto opened = AgentState::Open(state_dir);
  ASSERT_TRUE(opened.ok()) << opened.error().message();
  auto config = opened->LoadConfig();
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->endpoint_id, "ep-0123456789abcdef");
}

TEST(AgentState, TightensAPermissiveDirectory) {
  testing::TempDir dir;
  const std::string state_dir = dir / "state";
  ASSERT_EQ(::mkdir(state_dir.c_str(), 0755), 0);
  auto state = AgentState::OpenForEnrollment(state_dir);
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(ModeOf(state_dir), 0700);
}

TEST(AgentState, RunNeedsAnEnrolledDirectory) {
  testing::TempDir dir;
  auto missing = AgentState::Open(dir / "nowhere");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind(), ErrorKind::kUsage);
  auto empty = AgentState::Open(dir.path());
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().kind(), ErrorKind::kUsage);
  EXPECT_NE(empty.error().message().find("enroll"), std::string::npos);
}

TEST(AgentState, ConfigAndStatusRoundTripStrictly) {
  const AgentConfig config = SampleConfig();
  const std::string text = *json::Canonical(AgentConfigToJson(config));
  auto back = AgentConfigFromJson(text, "agent.json");
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ(back->relay_url, config.relay_url);
  EXPECT_EQ(back->enrolled, config.enrolled);
  std::string extra = text;
  extra.insert(1, "\"surprise\":1,");
  EXPECT_FALSE(AgentConfigFromJson(extra, "agent.json").ok());
  std::string bad_url = text;
  bad_url.replace(bad_url.find("https://127.0.0.1:8443"), 22, "http://127.0.0.1:8443");
  EXPECT_FALSE(AgentConfigFromJson(bad_url, "agent.json").ok());

  AgentStatus status;
  status.last_checkin = 1795000000;
  status.catalog_version = 4;
  status.pending.push_back({"p1", "deb", "libfoo1", "1.2-1", "high", false});
  status.patches["p1"] =
      PatchRecord{"failed", "libfoo1", "1.2-1",    1795000100,
                  1,        2,         1795014500, "the installer failed (exit code 1)"};
  status.reboot_required = true;
  status.reboot_patches = {"p0"};
  status.time_floor = 1794999000;
  const std::string status_text = *json::Canonical(AgentStatusToJson(status));
  auto status_back = AgentStatusFromJson(status_text, "status.json");
  ASSERT_TRUE(status_back.ok()) << status_back.error().message();
  EXPECT_EQ(status_back->patches.at("p1").retry_after, 1795014500);
  EXPECT_EQ(status_back->patches.at("p1").failures, 2);
  EXPECT_EQ(status_back->pending.size(), 1u);
  EXPECT_TRUE(status_back->reboot_required);
  EXPECT_EQ(status_back->time_floor, 1794999000);
  EXPECT_FALSE(status_back->last_attempt.has_value());
  EXPECT_FALSE(AgentStatusFromJson("{}", "status.json").ok());
}

TEST(AgentState, KeepsAtMostTheNewestPatchRecords) {
  testing::TempDir dir;
  auto state = AgentState::OpenForEnrollment(dir / "state");
  ASSERT_TRUE(state.ok());
  AgentStatus status;
  for (size_t i = 0; i < kMaxPatchRecords + 5; ++i) {
    PatchRecord record;
    record.result = "installed";
    record.finished = 1795000000 + static_cast<int64_t>(i);
    status.patches["p" + std::to_string(i)] = record;
  }
  ASSERT_TRUE(state->SaveStatus(status).ok());
  EXPECT_EQ(status.patches.size(), kMaxPatchRecords);
  EXPECT_EQ(status.patches.count("p0"), 0u);
  EXPECT_EQ(status.patches.count("p4"), 0u);
  EXPECT_EQ(status.patches.count("p5"), 1u);
  EXPECT_EQ(ModeOf(dir / "state/status.json"), 0600);
}

}  // namespace
}  // namespace ferry::endpoint
