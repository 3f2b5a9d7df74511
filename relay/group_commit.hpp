#pragma once

// Small write transactions from many threads committed together: each caller's work runs in a
// savepoint of one shared SQLite transaction, so callers that arrive while a commit is being
// synced to disk share the next fsync instead of queueing for one each.

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "common/error.hpp"
#include "relay/sqlite.hpp"

namespace ferry::relay {

class GroupCommit {
 public:
  using Work = std::function<Status(sql::Database&)>;

  // Opens its own read-write connection to the database at `path`.
  static Result<std::unique_ptr<GroupCommit>> Open(const std::string& path);

  // Runs `work` inside a write transaction, possibly with other callers' work, and returns once
  // that transaction is durable. When `work` fails, its changes alone are undone and its error
  // returned; when the commit fails, every caller of the batch gets that error.
  Status Run(Work work);

  // How many transactions and how many pieces of work have been committed (for tests).
  size_t transactions() const;
  size_t works() const;

 private:
  struct Pending {
    Work work;
    Status status;
    bool done = false;
  };

  explicit GroupCommit(sql::Database db) : db_(std::move(db)) {}
  // Runs a batch in one transaction; called by one leader at a time, without the mutex.
  void Commit(const std::deque<Pending*>& batch);

  sql::Database db_;
  mutable std::mutex mutex_;
  std::condition_variable finished_;
  std::deque<Pending*> queue_;
  bool leader_active_ = false;
  size_t transactions_ = 0;
  size_t works_ = 0;
};

}  // namespace ferry::relay
