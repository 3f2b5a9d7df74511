#include "relay/group_commit.hpp"

#include <optional>

namespace ferry::relay {

Result<std::unique_ptr<GroupCommit>> GroupCommit::Open(const std::string& path) {
  FERRY_ASSIGN_OR_RETURN(sql::Database db,
                         sql::Database::Open(path, sql::Database::Mode::kReadWrite));
  return std::unique_ptr<GroupCommit>(new GroupCommit(std::move(db)));
}

Status GroupCommit::Run(Work work) {
  Pending pending{std::move(work), Ok(), false};
  std::unique_lock lock(mutex_);
  queue_.push_back(&pending);
  while (!pending.done) {
    if (leader_active_) {
      finished_.wait(lock);
      continue;
    }
    // No commit is under way: this caller commits everything queued so far, its own included.
    leader_active_ = true;
    std::deque<Pending*> batch;
    batch.swap(queue_);
    lock.unlock();
    Commit(batch);
    lock.lock();
    for (Pending* entry : batch) {
      entry->done = true;
    }
    ++transactions_;
    works_ += batch.size();
    leader_active_ = false;
    finished_.notify_all();
  }
  return pending.status;
}

void GroupCommit::Commit(const std::deque<Pending*>& batch) {
  if (Status begun = db_.Begin(); !begun.ok()) {
    for (Pending* entry : batch) {
      entry->status = begun;
    }
    return;
  }
  // Set when the transaction as a whole can no longer be trusted: then nothing of it commits.
  std::optional<Error> poisoned;
  for (Pending* entry : batch) {
    if (poisoned) {
      entry->status = *poisoned;
      continue;
    }
    Status status = db_.Execute("SAVEPOINT work");
    if (status.ok()) {
      status = entry->work(db_);
      // SQLite rolls the whole transaction back on some errors (a full disk, I/O): the earlier
      // works of the batch are gone with it.
      if (!db_.InTransaction()) {
        poisoned = status.ok() ? IoError(db_.path() + ": the batch transaction ended early")
                               : status.error();
      } else if (!status.ok()) {
        // Undoes this work only; the others of the batch stay.
        if (Status undone = db_.Execute("ROLLBACK TO work"); !undone.ok()) {
          poisoned = undone.error();
        }
      }
      if (!poisoned) {
        if (Status released = db_.Execute("RELEASE work"); !released.ok()) {
          poisoned = released.error();
        }
      }
    }
    entry->status = std::move(status);
  }
  Status committed = poisoned ? Status(*poisoned) : db_.Commit();
  if (!committed.ok()) {
    db_.Rollback();
    for (Pending* entry : batch) {
      if (entry->status.ok()) {
        entry->status = committed;
      }
    }
  }
}

size_t GroupCommit::transactions() const {
  std::lock_guard lock(mutex_);
  return transactions_;
}

size_t GroupCommit::works() const {
  std::lock_guard lock(mutex_);
  return works_;
}

}  // namespace ferry::relay
