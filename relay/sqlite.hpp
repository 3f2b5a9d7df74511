#pragma once

// A thin, checked wrapper over sqlite3: the one place sqlite3 types are used. Every result code
// is translated into an Error carrying SQLite's own message.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace ferry::relay::sql {

class Statement;

class Database {
 public:
  enum class Mode { kReadWrite, kReadOnly };

  ~Database();
  Database(Database&&) noexcept;
  Database& operator=(Database&&) noexcept;

  // Opens (and with kReadWrite creates) the database, in WAL mode with a busy timeout, foreign
  // keys on and synchronous=FULL so a committed transaction survives power loss.
  static Result<Database> Open(const std::string& path, Mode mode);

  Status Execute(std::string_view sql);  // one or more statements without parameters
  Result<Statement> Prepare(std::string_view sql);

  // BEGIN IMMEDIATE: takes the write lock up front so a transaction never fails half-way on it.
  Status Begin();
  Status Commit();
  void Rollback();
  // True while a transaction is open on this connection.
  bool InTransaction() const;

  int64_t LastInsertRowId() const;
  const std::string& path() const { return path_; }

 private:
  Database(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  friend class Statement;
  Error LastError(std::string_view what) const;

  sqlite3* db_ = nullptr;
  std::string path_;
};

// A prepared statement. Bind parameters by 1-based index, then Step() through rows.
class Statement {
 public:
  ~Statement();
  Statement(Statement&&) noexcept;
  Statement& operator=(Statement&&) noexcept;

  Statement& Bind(int index, int64_t value);
  Statement& Bind(int index, std::string_view text);
  Statement& BindBlob(int index, std::string_view bytes);
  Statement& BindNull(int index);
  Statement& BindOptional(int index, const std::optional<std::string>& text);
  Statement& BindOptional(int index, const std::optional<int64_t>& value);

  // True when a row is available, false when done.
  Result<bool> Step();
  // Runs a statement that returns no rows.
  Status Run();
  void Reset();

  int64_t Int(int column) const;
  std::string Text(int column) const;
  std::optional<std::string> OptionalText(int column) const;
  std::optional<int64_t> OptionalInt(int column) const;
  bool IsNull(int column) const;

 private:
  friend class Database;
  Statement(sqlite3_stmt* stmt, Database* db) : stmt_(stmt), db_(db) {}
  sqlite3_stmt* stmt_ = nullptr;
  Database* db_ = nullptr;
  Status bind_status_;
};

}  // namespace ferry::relay::sql
