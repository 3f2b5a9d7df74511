#include "relay/event_log.hpp"

#include <gtest/gtest.h>

#include "relay/schema.hpp"
#include "tests/support/testing.hpp"

namespace ferry::relay {
namespace {

class EventLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = sql::Database::Open(dir_ / "events.db", sql::Database::Mode::kReadWrite);
    ASSERT_TRUE(db.ok()) << db.error().message();
    db_ = std::make_unique<sql::Database>(std::move(*db));
    ASSERT_TRUE(Migrate(*db_).ok());
  }

  testing::TempDir dir_;
  std::unique_ptr<sql::Database> db_;
};

TEST_F(EventLogTest, LeavesAreCanonicalAndRoundTrip) {
  Event event;
  event.seq = 7;
  event.time = 1795297193;
  event.actor = "operator:alice";
  event.type = "patch.approved";
  event.subject = "openssl_3.0.11-1~deb12u2_amd64";
  event.details = json::Object{{"severity", "high"}};
  const std::string leaf = EventLeaf(event);
  EXPECT_EQ(leaf,
            R"({"actor":"operator:alice","details":{"severity":"high"},"seq":7,)"
            R"("subject":"openssl_3.0.11-1~deb12u2_amd64","time":"2026-11-21T21:39:53Z",)"
            R"("type":"patch.approved"})");
  auto parsed = ParseEventLeaf(leaf);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  EXPECT_EQ(EventLeaf(*parsed), leaf);
  // The same event with whitespace is not its canonical leaf.
  EXPECT_FALSE(ParseEventLeaf(" " + leaf).ok());
}

TEST_F(EventLogTest, AppendsWithConsecutiveSequenceNumbers) {
  for (int i = 0; i < 5; ++i) {
    auto event = AppendEvent(*db_, "relay", "test.event", "s" + std::to_string(i), {});
    ASSERT_TRUE(event.ok()) << event.error().message();
    EXPECT_EQ(event->seq, i + 1);
  }
  auto events = ListEvents(*db_, 2, 2);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 2u);
  EXPECT_EQ((*events)[0].subject, "s1");
  EXPECT_EQ((*events)[1].seq, 3);
  EXPECT_TRUE(CheckEventLog(*db_).ok());
}

TEST_F(EventLogTest, TheDatabaseRefusesToEditOrDeleteEvents) {
  ASSERT_TRUE(AppendEvent(*db_, "relay", "test.event", "x", {}).ok());
  const Status update = db_->Execute("UPDATE events SET type = 'forged'");
  ASSERT_FALSE(update.ok());
  EXPECT_NE(update.error().message().find("append-only"), std::string::npos);
  EXPECT_FALSE(db_->Execute("DELETE FROM events").ok());
  EXPECT_EQ(*EventCount(*db_), 1);
}

TEST_F(EventLogTest, CheckNamesTheMissingSequenceNumber) {
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(AppendEvent(*db_, "relay", "t", "x", {}).ok());
  // Simulate tampering underneath the triggers: drop them, delete event 2.
  ASSERT_TRUE(db_->Execute("DROP TRIGGER events_no_delete; DELETE FROM events WHERE seq = 2").ok());
  const Status checked = CheckEventLog(*db_);
  ASSERT_FALSE(checked.ok());
  EXPECT_NE(checked.error().message().find("sequence 2 is missing"), std::string::npos);
}

}  // namespace
}  // namespace ferry::relay
