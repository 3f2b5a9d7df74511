#pragma once

// A few SQLite connections to one database, shared by request threads: a connection is used by
// one thread at a time (SQLite's NOMUTEX mode), while WAL lets readers on other connections
// proceed beside the one writer.

#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "relay/sqlite.hpp"

namespace ferry::relay {

class ConnectionPool {
 public:
  // A borrowed connection, handed back when the lease is destroyed.
  class Lease {
   public:
    Lease(Lease&& other) noexcept : pool_(other.pool_), db_(std::move(other.db_)) {
      other.pool_ = nullptr;
    }
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease();

    sql::Database& db() { return *db_; }

   private:
    friend class ConnectionPool;
    Lease(ConnectionPool* pool, std::unique_ptr<sql::Database> db)
        : pool_(pool), db_(std::move(db)) {}
    ConnectionPool* pool_;
    std::unique_ptr<sql::Database> db_;
  };

  // Opens `size` (at least 1) read-write connections to the database at `path`.
  static Result<std::unique_ptr<ConnectionPool>> Open(const std::string& path, size_t size);

  // Waits until a connection is free and lends it.
  Lease Acquire();

 private:
  ConnectionPool() = default;
  void Return(std::unique_ptr<sql::Database> db);

  std::mutex mutex_;
  std::condition_variable available_;
  std::vector<std::unique_ptr<sql::Database>> free_;
};

}  // namespace ferry::relay
