// The outbox keeps every report on disk until the relay confirms it, and never loops on one the
// relay refuses.

#include "endpoint/outbox.hpp"

#include <gtest/gtest.h>

#include <set>

#include "common/file.hpp"
#include "tests/support/testing.hpp"

namespace ferry::endpoint {
namespace {

Report MakeReport(const std::string& patch, UnixTime finished, size_t excerpt = 10) {
  return Report{
      NewReportId(), patch, "installed", 0, finished - 5, finished, std::string(excerpt, 'x')};
}

class OutboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(testing::Run("mkdir -p '" + dir_ / "outbox" + "'").exit_code, 0);
  }

  std::vector<std::string> Files(const std::string& sub = "") {
    auto names = fs::ListDirectory(dir_ / ("outbox" + sub));
    return names.ok() ? *names : std::vector<std::string>{};
  }

  testing::TempDir dir_;
  Outbox outbox_{dir_ / "outbox"};
  std::vector<std::string> log_;
  Outbox::Logger logger_ = [this](const std::string& line) { log_.push_back(line); };
};

TEST_F(OutboxTest, ReportIdsAreRandomHex) {
  const std::string a = NewReportId();
  EXPECT_EQ(a.size(), 32u);
  EXPECT_TRUE(IsReportId(a));
  EXPECT_NE(a, NewReportId());
}

TEST_F(OutboxTest, KeepsReportsUntilTheRelayListsThem) {
  const Report first = MakeReport("p1", 1795000100);
  const Report second = MakeReport("p2", 1795000000);
  ASSERT_TRUE(outbox_.Add(first).ok());
  ASSERT_TRUE(outbox_.Add(second).ok());
  EXPECT_EQ(Files().size(), 2u);
  // The same id twice is a bug, never a silent overwrite.
  EXPECT_FALSE(outbox_.Add(first).ok());

  auto pending = outbox_.Pending(logger_);
  ASSERT_TRUE(pending.ok());
  ASSERT_EQ(pending->size(), 2u);
  EXPECT_EQ(pending->front().patch_id, "p2");  // oldest first

  // The relay confirms only the first: the other stays for the next flush.
  std::vector<size_t> batch_sizes;
  auto flushed = outbox_.Flush(
      [&](const std::vector<Report>& batch) -> Result<ReportsReply> {
        batch_sizes.push_back(batch.size());
        return ReportsReply{false, "", {first.report_id, "unknown-id-123"}};
      },
      logger_);
  ASSERT_TRUE(flushed.ok()) << flushed.error().message();
  EXPECT_EQ(flushed->accepted, 1u);
  EXPECT_EQ(flushed->remaining, 1u);
  EXPECT_EQ(batch_sizes, std::vector<size_t>{2});
  EXPECT_EQ(Files(), std::vector<std::string>{second.report_id + ".json"});
  EXPECT_EQ(*outbox_.Count(), 1u);
}

TEST_F(OutboxTest, ARelayThatIsAwayChangesNothing) {
  ASSERT_TRUE(outbox_.Add(MakeReport("p1", 1795000000)).ok());
  auto flushed = outbox_.Flush(
      [](const std::vector<Report>&) -> Result<ReportsReply> {
        return IoError("https://relay:8443: cannot connect: Connection refused");
      },
      logger_);
  ASSERT_FALSE(flushed.ok());
  EXPECT_EQ(flushed.error().kind(), ErrorKind::kIo);
  EXPECT_EQ(*outbox_.Count(), 1u);
}

TEST_F(OutboxTest, ARefusedReportIsIsolatedAndSetAside) {
  std::vector<Report> reports;
  for (int i = 0; i < 7; ++i) {
    reports.push_back(MakeReport("p" + std::to_string(i), 1795000000 + i));
    ASSERT_TRUE(outbox_.Add(reports.back()).ok());
  }
  const std::string bad = reports[4].report_id;
  int requests = 0;
  auto flushed = outbox_.Flush(
      [&](const std::vector<Report>& batch) -> Result<ReportsReply> {
        ++requests;
        ReportsReply reply;
        for (const Report& report : batch) {
          if (report.report_id == bad) {
            return ReportsReply{true, "unknown patch id \"p4\"", {}};
          }
          reply.accepted.push_back(report.report_id);
        }
        return reply;
      },
      logger_);
  ASSERT_TRUE(flushed.ok()) << flushed.error().message();
  EXPECT_EQ(flushed->accepted, 6u);
  EXPECT_EQ(flushed->rejected, 1u);
  EXPECT_LE(requests, 8);  // halving: log2(7) rounds, never a loop
  EXPECT_TRUE(Files().size() == 1u && Files().front() == "rejected");
  EXPECT_EQ(Files("/rejected"), std::vector<std::string>{bad + ".json"});
  EXPECT_EQ(*outbox_.RejectedCount(), 1u);
  ASSERT_FALSE(log_.empty());
  EXPECT_NE(log_.back().find("unknown patch id"), std::string::npos) << log_.back();

  // Nothing is left to send, and the rejected report is not sent again.
  int later = 0;
  auto again = outbox_.Flush(
      [&](const std::vector<Report>&) -> Result<ReportsReply> {
        ++later;
        return ReportsReply{};
      },
      logger_);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(later, 0);
}

TEST_F(OutboxTest, BatchesRespectTheCountAndSizeCaps) {
  for (int i = 0; i < 250; ++i) {
    ASSERT_TRUE(outbox_.Add(MakeReport("p" + std::to_string(i), 1795000000 + i, 8192)).ok());
  }
  std::vector<size_t> sizes;
  auto flushed = outbox_.Flush(
      [&](const std::vector<Report>& batch) -> Result<ReportsReply> {
        sizes.push_back(batch.size());
        auto body = ReportsRequestJson("ep-0123456789abcdef", batch);
        EXPECT_LE(body->size(), kMaxReportsBody);
        EXPECT_LE(batch.size(), kMaxReportsPerRequest);
        ReportsReply reply;
        for (const Report& report : batch) reply.accepted.push_back(report.report_id);
        return reply;
      },
      logger_);
  ASSERT_TRUE(flushed.ok());
  EXPECT_EQ(flushed->accepted, 250u);
  EXPECT_GE(sizes.size(), 3u);
  EXPECT_EQ(*outbox_.Count(), 0u);
}

TEST_F(OutboxTest, AnUnreadableFileIsSetAsideNotSent) {
  const Report good = MakeReport("p1", 1795000000);
  ASSERT_TRUE(outbox_.Add(good).ok());
  const std::string broken = "0123456789abcdef0123456789abcdef";
  testing::WriteAll(dir_ / ("outbox/" + broken + ".json"), "{\"report_id\":");
  // A file whose name and content disagree is not trusted either.
  Report other = MakeReport("p2", 1795000001);
  const std::string misnamed = "fedcba9876543210fedcba9876543210";
  testing::WriteAll(dir_ / ("outbox/" + misnamed + ".json"), *json::Canonical(ReportToJson(other)));
  // Temporary files of an interrupted write are not reports.
  testing::WriteAll(dir_ / ("outbox/" + good.report_id + ".json.tmp.123"), "junk");
  auto pending = outbox_.Pending(logger_);
  ASSERT_TRUE(pending.ok());
  ASSERT_EQ(pending->size(), 1u);
  EXPECT_EQ(pending->front().report_id, good.report_id);
  EXPECT_EQ(*outbox_.RejectedCount(), 2u);
  EXPECT_EQ(*outbox_.Count(), 1u);
}

}  // namespace
}  // namespace ferry::endpoint
