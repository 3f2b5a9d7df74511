#include "relay/connection_pool.hpp"

#include <algorithm>

namespace ferry::relay {

ConnectionPool::Lease::~Lease() {
  if (pool_ != nullptr && db_ != nullptr) {
    // A transaction left open by an error path must not leak into the next borrower.
    db_->Rollback();
    pool_->Return(std::move(db_));
  }
}

Result<std::unique_ptr<ConnectionPool>> ConnectionPool::Open(const std::string& path, size_t size) {
  std::unique_ptr<ConnectionPool> pool(new ConnectionPool());
  for (size_t i = 0; i < std::max<size_t>(size, 1); ++i) {
    FERRY_ASSIGN_OR_RETURN(sql::Database db,
                           sql::Database::Open(path, sql::Database::Mode::kReadWrite));
    pool->free_.push_back(std::make_unique<sql::Database>(std::move(db)));
  }
  return pool;
}

ConnectionPool::Lease ConnectionPool::Acquire() {
  std::unique_lock lock(mutex_);
  available_.wait(lock, [&] { return !free_.empty(); });
  std::unique_ptr<sql::Database> db = std::move(free_.back());
  free_.pop_back();
  return Lease(this, std::move(db));
}

void ConnectionPool::Return(std::unique_ptr<sql::Database> db) {
  {
    std::lock_guard lock(mutex_);
    free_.push_back(std::move(db));
  }
  available_.notify_one();
}

}  // namespace ferry::relay
