// Writes from many threads committed together: every caller's work is durable when Run returns,
// and a failing work undoes only itself.

#include "relay/group_commit.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "tests/support/testing.hpp"

namespace ferry::relay {
namespace {

class GroupCommitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = sql::Database::Open(path_, sql::Database::Mode::kReadWrite);
    ASSERT_TRUE(db.ok());
    reader_ = std::make_unique<sql::Database>(std::move(*db));
    ASSERT_TRUE(reader_->Execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)").ok());
    auto commit = GroupCommit::Open(path_);
    ASSERT_TRUE(commit.ok()) << commit.error().message();
    commit_ = std::move(*commit);
  }

  static GroupCommit::Work Insert(int64_t key) {
    return [key](sql::Database& db) -> Status {
      FERRY_ASSIGN_OR_RETURN(sql::Statement insert,
                             db.Prepare("INSERT INTO t (k, v) VALUES (?, 'x')"));
      insert.Bind(1, key);
      return insert.Run();
    };
  }

  int64_t Rows() {
    auto query = reader_->Prepare("SELECT COUNT(*) FROM t");
    EXPECT_TRUE(query.ok() && *query->Step());
    return query->Int(0);
  }

  testing::TempDir dir_;
  std::string path_ = dir_ / "t.db";
  std::unique_ptr<sql::Database> reader_;
  std::unique_ptr<GroupCommit> commit_;
};

TEST_F(GroupCommitTest, WorkIsCommittedWhenRunReturns) {
  ASSERT_TRUE(commit_->Run(Insert(1)).ok());
  EXPECT_EQ(Rows(), 1);  // seen by another connection: committed
  EXPECT_EQ(commit_->transactions(), 1u);
}

TEST_F(GroupCommitTest, AFailingWorkUndoesOnlyItself) {
  // A work that inserts and then fails leaves nothing behind; the next one is unaffected.
  const Status failed = commit_->Run([](sql::Database& db) -> Status {
    FERRY_RETURN_IF_ERROR(db.Execute("INSERT INTO t (k, v) VALUES (7, 'half')"));
    return InvalidError("changed my mind");
  });
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().message(), "changed my mind");
  EXPECT_EQ(Rows(), 0);
  // A constraint violation fails that work alone.
  ASSERT_TRUE(commit_->Run(Insert(1)).ok());
  EXPECT_FALSE(commit_->Run(Insert(1)).ok());
  ASSERT_TRUE(commit_->Run(Insert(2)).ok());
  EXPECT_EQ(Rows(), 2);
}

TEST_F(GroupCommitTest, ConcurrentCallersShareCommits) {
  constexpr int kThreads = 16;
  constexpr int kEach = 25;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        // Every tenth work fails, in the middle of whatever batch it lands in.
        const int64_t key = t * 1000 + i;
        const Status status =
            i % 10 == 9 ? commit_->Run([](sql::Database&) -> Status { return InvalidError("no"); })
                        : commit_->Run(Insert(key));
        if (!status.ok() && i % 10 != 9) {
          ++failures;
        }
      }
    });
  }
  for (std::thread& thread : threads) {
    thread.join();
  }
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(Rows(), kThreads * (kEach - 2));
  EXPECT_EQ(commit_->works(), static_cast<size_t>(kThreads * kEach));
  // With 16 callers, fsyncs are shared: fewer transactions than works.
  EXPECT_LT(commit_->transactions(), commit_->works());
}

}  // namespace
}  // namespace ferry::relay
