#include "relay/relay.hpp"

#include <charconv>

#include "relay/schema.hpp"

namespace ferry::relay {

Result<Relay> Relay::Open(const std::string& data_dir, Access access) {
  DataDir dir{data_dir};
  if (!fs::Exists(dir.database())) {
    return IoError(data_dir + ": not an initialised relay data directory (run ferry-relay init)");
  }
  FERRY_ASSIGN_OR_RETURN(
      sql::Database db,
      sql::Database::Open(dir.database(), access == Access::kReadOnly ? sql::Database::Mode::kReadOnly
                                                                      : sql::Database::Mode::kReadWrite));
  if (access == Access::kReadWrite) {
    FERRY_RETURN_IF_ERROR(Migrate(db));
  } else {
    FERRY_RETURN_IF_ERROR(CheckSchema(db));
  }
  return Relay(std::move(dir), std::move(db));
}

Result<crypto::TrustRoot> Relay::TrustedRoot() {
  FERRY_ASSIGN_OR_RETURN(
      sql::Statement query,
      db_.Prepare("SELECT document FROM trust_roots ORDER BY version DESC LIMIT 1"));
  FERRY_ASSIGN_OR_RETURN(const bool row, query.Step());
  if (!row) return IoError(dir_.database() + ": no trust root is pinned");
  auto root = crypto::ParseTrustRoot(query.Text(0));
  if (!root.ok()) return std::move(root).error().Context(dir_.database() + ": stored trust root");
  return root;
}

Result<std::optional<std::string>> Relay::GetMeta(const std::string& key) {
  FERRY_ASSIGN_OR_RETURN(sql::Statement query, db_.Prepare("SELECT value FROM meta WHERE key = ?"));
  query.Bind(1, key);
  FERRY_ASSIGN_OR_RETURN(const bool row, query.Step());
  if (!row) return std::optional<std::string>();
  return std::optional<std::string>(query.Text(0));
}

Status Relay::SetMeta(const std::string& key, const std::string& value) {
  FERRY_ASSIGN_OR_RETURN(
      sql::Statement statement,
      db_.Prepare("INSERT INTO meta (key, value) VALUES (?, ?) "
                  "ON CONFLICT(key) DO UPDATE SET value = excluded.value"));
  statement.Bind(1, key).Bind(2, value);
  return statement.Run();
}

Result<int64_t> Relay::GetMetaInt(const std::string& key, int64_t fallback) {
  FERRY_ASSIGN_OR_RETURN(const std::optional<std::string> text, GetMeta(key));
  if (!text) return fallback;
  int64_t value = 0;
  const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (ec != std::errc() || end != text->data() + text->size()) {
    return InvalidError(dir_.database() + ": meta " + key + " is not an integer");
  }
  return value;
}

}  // namespace ferry::relay
