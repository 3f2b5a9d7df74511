// Enrolment tokens: shown once, stored as a hash, usable once, before they expire.

#include "relay/tokens.hpp"

#include <gtest/gtest.h>

#include "crypto/hash.hpp"
#include "relay/event_log.hpp"
#include "relay/schema.hpp"
#include "tests/support/testing.hpp"

namespace ferry::relay {
namespace {

class TokensTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = sql::Database::Open(dir_ / "ferry.db", sql::Database::Mode::kReadWrite);
    ASSERT_TRUE(db.ok()) << db.error().message();
    db_ = std::make_unique<sql::Database>(std::move(*db));
    ASSERT_TRUE(Migrate(*db_).ok());
  }

  // Runs `body` inside a write transaction and commits.
  template <typename Body>
  auto InTransaction(Body body) {
    EXPECT_TRUE(db_->Begin().ok());
    auto result = body();
    EXPECT_TRUE(db_->Commit().ok());
    return result;
  }

  testing::TempDir dir_;
  std::unique_ptr<sql::Database> db_;
};

TEST_F(TokensTest, ATokenIsRandomAndOnlyItsHashIsKept) {
  const UnixTime before = Now();
  auto token = CreateEnrollmentToken(*db_, 3600, "operator:alice");
  ASSERT_TRUE(token.ok()) << token.error().message();
  ASSERT_EQ(token->token.size(), 36u);
  EXPECT_EQ(token->token.substr(0, 4), "fet_");
  EXPECT_EQ(token->token.find_first_not_of("0123456789abcdef", 4), std::string::npos);
  const std::string hash = crypto::DigestHex(crypto::Sha256Of(token->token));
  EXPECT_EQ(token->token_id, hash.substr(0, 12));
  EXPECT_GE(token->expires_at, before + 3600);
  EXPECT_LE(token->expires_at, Now() + 3600);
  auto other = CreateEnrollmentToken(*db_, 3600, "operator:alice");
  EXPECT_NE(other->token, token->token);

  // Neither the token nor its random part is anywhere in the database file or its WAL.
  ASSERT_TRUE(db_->Execute("PRAGMA wal_checkpoint(TRUNCATE)").ok());
  const std::string bytes = testing::ReadAll(dir_ / "ferry.db");
  EXPECT_EQ(bytes.find(token->token.substr(4)), std::string::npos);
  EXPECT_NE(bytes.find(hash), std::string::npos);

  const auto events = ListEvents(*db_, 1, 10, std::string("token.created"));
  ASSERT_EQ(events->size(), 2u);
  EXPECT_EQ((*events)[0].actor, "operator:alice");
  EXPECT_EQ((*events)[0].subject, token->token_id);
  EXPECT_EQ((*events)[0].details, (json::Object{{"expires", FormatTime(token->expires_at)}}));

  const auto listed = ListEnrollmentTokens(*db_);
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ(listed->front().created_by, "operator:alice");
  EXPECT_FALSE(listed->front().used_at.has_value());
}

TEST_F(TokensTest, LifetimesAreBounded) {
  EXPECT_EQ(CreateEnrollmentToken(*db_, 0, "operator:a").error().kind(), ErrorKind::kUsage);
  EXPECT_EQ(CreateEnrollmentToken(*db_, kMaxTokenLifetime + 1, "operator:a").error().kind(),
            ErrorKind::kUsage);
  EXPECT_TRUE(CreateEnrollmentToken(*db_, kMaxTokenLifetime, "operator:a").ok());
  EXPECT_EQ(*EventCount(*db_), 1);
}

TEST_F(TokensTest, ATokenIsConsumedOnceAndNotAfterItExpires) {
  auto token = CreateEnrollmentToken(*db_, 3600, "operator:a");
  const UnixTime now = Now();
  EXPECT_EQ(*FindUsableToken(*db_, token->token, now), token->token_id);
  EXPECT_FALSE(FindUsableToken(*db_, token->token, token->expires_at)->has_value());
  EXPECT_FALSE(FindUsableToken(*db_, "fet_" + std::string(32, 'A'), now)->has_value());
  EXPECT_FALSE(FindUsableToken(*db_, token->token + "0", now)->has_value());

  // Outside a transaction consuming is refused: the check and the change must be one step.
  EXPECT_FALSE(ConsumeEnrollmentToken(*db_, token->token, "ep-0000000000000001", now).ok());
  const auto first = InTransaction(
      [&] { return ConsumeEnrollmentToken(*db_, token->token, "ep-0000000000000001", now); });
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(*first, token->token_id);
  const auto second = InTransaction(
      [&] { return ConsumeEnrollmentToken(*db_, token->token, "ep-0000000000000002", now); });
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(second->has_value());
  const auto listed = ListEnrollmentTokens(*db_);
  EXPECT_EQ(listed->front().used_by, "ep-0000000000000001");
  EXPECT_EQ(listed->front().used_at, now);
}

}  // namespace
}  // namespace ferry::relay
