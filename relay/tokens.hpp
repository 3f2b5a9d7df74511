#pragma once

// One-time enrolment tokens. The token itself is shown once, to the operator who creates it;
// the relay keeps only its SHA-256, and names it by the first 12 hex digits of that hash.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"
#include "common/time.hpp"
#include "relay/sqlite.hpp"

namespace ferry::relay {

inline constexpr int64_t kDefaultTokenLifetime = 24 * 3600;
inline constexpr int64_t kMaxTokenLifetime = 30 * 24 * 3600;

struct NewToken {
  std::string token;     // "fet_" + 32 lowercase hex digits: 128 random bits
  std::string token_id;  // the first 12 hex digits of SHA-256(token)
  UnixTime expires_at = 0;
};

struct TokenRecord {
  std::string token_id;
  UnixTime created_at = 0;
  UnixTime expires_at = 0;
  std::string created_by;
  std::optional<UnixTime> used_at;
  std::optional<std::string> used_by;  // the endpoint id it enrolled
};

// Creates a token valid for `lifetime` seconds (1 s to kMaxTokenLifetime, else a usage error),
// stores its hash and appends token.created, in one transaction.
Result<NewToken> CreateEnrollmentToken(sql::Database& db, int64_t lifetime,
                                       const std::string& actor);

// Every token, in the order they were created.
Result<std::vector<TokenRecord>> ListEnrollmentTokens(sql::Database& db);

// The token's id when `token` is known, unused and not expired at `now`; nullopt otherwise
// (unknown, used, expired and malformed tokens are not told apart).
Result<std::optional<std::string>> FindUsableToken(sql::Database& db, std::string_view token,
                                                   UnixTime now);

// Marks a usable token used by `endpoint_id`, inside the caller's write transaction (which makes
// the check and the change one step). Returns its id, or nullopt when it was not usable.
Result<std::optional<std::string>> ConsumeEnrollmentToken(sql::Database& db, std::string_view token,
                                                          const std::string& endpoint_id,
                                                          UnixTime now);

}  // namespace ferry::relay
