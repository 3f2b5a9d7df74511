#include "relay/tokens.hpp"

#include <array>

#include "common/encoding.hpp"
#include "crypto/hash.hpp"
#include "crypto/secure.hpp"
#include "relay/event_log.hpp"

namespace ferry::relay {
namespace {

constexpr std::string_view kTokenPrefix = "fet_";
constexpr size_t kTokenRandomBytes = 16;
constexpr size_t kTokenIdDigits = 12;

bool IsTokenShape(std::string_view token) {
  return token.starts_with(kTokenPrefix) &&
         IsLowerHex(token.substr(kTokenPrefix.size()), 2 * kTokenRandomBytes);
}

std::string TokenHash(std::string_view token) { return crypto::DigestHex(crypto::Sha256Of(token)); }

TokenRecord TokenFromRow(const sql::Statement& row) {
  return TokenRecord{row.Text(0), row.Int(1),         row.Int(2),
                     row.Text(3), row.OptionalInt(4), row.OptionalText(5)};
}

}  // namespace

Result<NewToken> CreateEnrollmentToken(sql::Database& db, int64_t lifetime,
                                       const std::string& actor) {
  if (lifetime < 1 || lifetime > kMaxTokenLifetime) {
    return UsageError("a token lifetime must be between 1s and 30d");
  }
  std::array<uint8_t, kTokenRandomBytes> random{};
  crypto::RandomBytes(random);
  NewToken created;
  created.token = std::string(kTokenPrefix) + HexEncode(random);
  crypto::SecureWipe(random.data(), random.size());
  const std::string hash = TokenHash(created.token);
  created.token_id = hash.substr(0, kTokenIdDigits);
  const UnixTime now = Now();
  created.expires_at = now + lifetime;

  FERRY_RETURN_IF_ERROR(db.Begin());
  const auto body = [&]() -> Status {
    FERRY_ASSIGN_OR_RETURN(
        sql::Statement insert,
        db.Prepare("INSERT INTO enrollment_tokens (token_sha256, token_id, created_at, expires_at, "
                   "created_by) VALUES (?, ?, ?, ?, ?)"));
    insert.Bind(1, hash).Bind(2, created.token_id).Bind(3, now).Bind(4, created.expires_at);
    insert.Bind(5, actor);
    FERRY_RETURN_IF_ERROR(insert.Run());
    FERRY_ASSIGN_OR_RETURN(const Event event,
                           AppendEvent(db, actor, "token.created", created.token_id,
                                       json::Object{{"expires", FormatTime(created.expires_at)}}));
    (void)event;
    return db.Commit();
  };
  Status done = body();
  if (!done.ok()) {
    db.Rollback();
    return std::move(done).error().Context("creating an enrolment token");
  }
  return created;
}

Result<std::vector<TokenRecord>> ListEnrollmentTokens(sql::Database& db) {
  FERRY_ASSIGN_OR_RETURN(
      sql::Statement query,
      db.Prepare("SELECT token_id, created_at, expires_at, created_by, used_at, used_by "
                 "FROM enrollment_tokens ORDER BY rowid"));
  std::vector<TokenRecord> tokens;
  while (true) {
    FERRY_ASSIGN_OR_RETURN(const bool row, query.Step());
    if (!row) {
      break;
    }
    tokens.push_back(TokenFromRow(query));
  }
  return tokens;
}

Result<std::optional<std::string>> FindUsableToken(sql::Database& db, std::string_view token,
                                                   UnixTime now) {
  if (!IsTokenShape(token)) {
    return std::optional<std::string>();
  }
  FERRY_ASSIGN_OR_RETURN(
      sql::Statement query,
      db.Prepare("SELECT token_id FROM enrollment_tokens "
                 "WHERE token_sha256 = ? AND used_at IS NULL AND expires_at > ?"));
  query.Bind(1, TokenHash(token)).Bind(2, now);
  FERRY_ASSIGN_OR_RETURN(const bool row, query.Step());
  if (!row) {
    return std::optional<std::string>();
  }
  return std::optional<std::string>(query.Text(0));
}

Result<std::optional<std::string>> ConsumeEnrollmentToken(sql::Database& db, std::string_view token,
                                                          const std::string& endpoint_id,
                                                          UnixTime now) {
  if (!db.InTransaction()) {
    return IoError("consuming an enrolment token needs an open write transaction");
  }
  FERRY_ASSIGN_OR_RETURN(const std::optional<std::string> token_id,
                         FindUsableToken(db, token, now));
  if (!token_id) {
    return token_id;
  }
  FERRY_ASSIGN_OR_RETURN(
      sql::Statement update,
      db.Prepare("UPDATE enrollment_tokens SET used_at = ?, used_by = ? WHERE token_id = ?"));
  update.Bind(1, now).Bind(2, endpoint_id).Bind(3, *token_id);
  FERRY_RETURN_IF_ERROR(update.Run());
  return token_id;
}

}  // namespace ferry::relay
