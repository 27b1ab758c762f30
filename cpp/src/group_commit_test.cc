// Unit tests of GroupCommit (group_commit.h) with a fake Owner: calls that
// queue behind a writing leader are written together, in call order, one
// group at a time; a group's failure is every member's; a call the owner
// does not admit fails alone.
//
// Calls queue behind a leader that the fake holds inside WriteGroup. Whether
// a thread has queued yet is not observable, so the tests give each one
// kQueueingTime to get there, and compare what was written with the order
// they were started in.

#include "group_commit.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace rocksq {
namespace {

using namespace std::chrono_literals;

// Long enough for a started thread to reach Append's queue on a busy machine.
constexpr auto kQueueingTime = 100ms;

struct Refused : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct WriteFailed : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Stores items in a vector, in the order groups are written, up to a
// capacity. Can hold the next WriteGroup until released, and make the next
// one that starts fail, with a status or an exception.
class FakeOwner : public GroupCommit::Owner {
 public:
  explicit FakeOwner(uint64_t capacity = UINT64_MAX,
                     std::chrono::microseconds write_time = std::chrono::microseconds(0))
      : capacity_(capacity), write_time_(write_time) {}

  std::exception_ptr Admit(uint64_t admitted_items, size_t count) override {
    if (committed_.size() + admitted_items + count > capacity_) {
      return std::make_exception_ptr(Refused("full"));
    }
    return nullptr;
  }

  rocksdb::Status WriteGroup(const GroupCommit::Group& group) override {
    EXPECT_EQ(writers_.fetch_add(1), 0) << "two groups written at once";
    // A real write takes a while: long enough for other calls to overlap it.
    std::this_thread::sleep_for(write_time_);
    std::vector<std::string> items;
    uint64_t bytes = 0;
    for (const GroupCommit::Span& span : group.spans) {
      for (size_t i = 0; i < span.count; ++i) {
        items.emplace_back(span.items[i]);
        bytes += span.items[i].size();
      }
    }
    EXPECT_EQ(items.size(), group.item_count);
    EXPECT_EQ(bytes, group.payload_bytes);
    std::unique_lock<std::mutex> lock(mutex_);
    groups_.push_back(items);
    // What this write does is decided as it starts, before any hold.
    rocksdb::Status status = std::exchange(next_status_, rocksdb::Status::OK());
    const bool throw_now = std::exchange(throw_next_, false);
    if (std::exchange(hold_next_, false)) {
      holding_ = true;
      changed_.notify_all();
      changed_.wait(lock, [&] { return !holding_; });
    }
    lock.unlock();
    writers_.fetch_sub(1);
    if (throw_now) throw WriteFailed("encoding failed");
    return status;
  }

  void GroupCommitted(const GroupCommit::Group& group) noexcept override {
    for (const GroupCommit::Span& span : group.spans) {
      for (size_t i = 0; i < span.count; ++i) committed_.emplace_back(span.items[i]);
    }
  }

  std::exception_ptr GroupFailed(const rocksdb::Status& status) noexcept override {
    ++failed_groups_;
    return std::make_exception_ptr(WriteFailed(status.ToString()));
  }

  // Makes the next WriteGroup wait inside until Release(); returns once a
  // call is waiting there.
  void HoldNextWrite() {
    std::lock_guard<std::mutex> lock(mutex_);
    hold_next_ = true;
  }
  void WaitUntilHolding() {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [&] { return holding_; });
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mutex_);
    holding_ = false;
    changed_.notify_all();
  }
  void FailNextWrite(rocksdb::Status status) {
    std::lock_guard<std::mutex> lock(mutex_);
    next_status_ = std::move(status);
  }
  void ThrowFromNextWrite() {
    std::lock_guard<std::mutex> lock(mutex_);
    throw_next_ = true;
  }

  std::vector<std::vector<std::string>> Groups() {
    std::lock_guard<std::mutex> lock(mutex_);
    return groups_;
  }
  // Read once every Append returned.
  const std::vector<std::string>& committed() const { return committed_; }
  int failed_groups() const { return failed_groups_; }

 private:
  const uint64_t capacity_;
  const std::chrono::microseconds write_time_;
  std::atomic<int> writers_{0};
  std::mutex mutex_;
  std::condition_variable changed_;
  bool hold_next_ = false;
  bool holding_ = false;
  bool throw_next_ = false;
  rocksdb::Status next_status_ = rocksdb::Status::OK();
  std::vector<std::vector<std::string>> groups_;
  // Under the GroupCommit's mutex (Admit, GroupCommitted, GroupFailed).
  std::vector<std::string> committed_;
  int failed_groups_ = 0;
};

// One call's items, on a thread of its own, and what its Append threw.
class Caller {
 public:
  Caller(GroupCommit& commit, std::vector<std::string_view> items)
      : items_(std::move(items)), thread_([this, &commit] {
          try {
            commit.Append(items_.data(), items_.size());
          } catch (...) {
            error_ = std::current_exception();
          }
        }) {}
  // Waits for the call to return; what it threw, if anything.
  std::exception_ptr Join() {
    if (thread_.joinable()) thread_.join();
    return error_;
  }
  ~Caller() { Join(); }

 private:
  std::vector<std::string_view> items_;
  std::exception_ptr error_;
  std::thread thread_;
};

// Starts a leader whose write the owner holds, then the calls of `followers`
// one after another, each given time to queue behind it; releases the write
// once all are queued. Returns the callers, leader first.
std::vector<std::unique_ptr<Caller>> QueueBehindAHeldLeader(
    FakeOwner& owner, GroupCommit& commit, std::vector<std::vector<std::string_view>> followers,
    const std::function<void()>& while_held = [] {}) {
  std::vector<std::unique_ptr<Caller>> callers;
  owner.HoldNextWrite();
  callers.push_back(std::make_unique<Caller>(commit, std::vector<std::string_view>{"leader"}));
  owner.WaitUntilHolding();
  for (auto& items : followers) {
    callers.push_back(std::make_unique<Caller>(commit, std::move(items)));
    std::this_thread::sleep_for(kQueueingTime);
  }
  while_held();
  owner.Release();
  return callers;
}

template <typename Expected>
bool Throws(const std::exception_ptr& error) {
  if (!error) return false;
  try {
    std::rethrow_exception(error);
  } catch (const Expected&) {
    return true;
  } catch (...) {
    return false;
  }
}

using Groups = std::vector<std::vector<std::string>>;
using Items = std::vector<std::string>;

TEST(GroupCommit, ALoneCallIsWrittenAsAGroupOfItsOwn) {
  FakeOwner owner;
  GroupCommit commit(&owner);
  const std::vector<std::string_view> items = {"a", "bb"};

  commit.Append(items.data(), items.size());

  EXPECT_EQ(owner.Groups(), (Groups{{"a", "bb"}}));
  EXPECT_EQ(owner.committed(), (Items{"a", "bb"}));
}

TEST(GroupCommit, AnEmptyCallWritesNothing) {
  FakeOwner owner;
  GroupCommit commit(&owner);

  commit.Append(nullptr, 0);

  EXPECT_TRUE(owner.Groups().empty());
}

TEST(GroupCommit, CallsQueuedBehindAWritingLeaderAreWrittenAsOneGroupInCallOrder) {
  FakeOwner owner;
  GroupCommit commit(&owner);

  auto callers = QueueBehindAHeldLeader(owner, commit, {{"first", "first+"}, {"second"}, {"third"}});

  for (auto& caller : callers) EXPECT_FALSE(caller->Join());
  EXPECT_EQ(owner.Groups(), (Groups{{"leader"}, {"first", "first+", "second", "third"}}));
  EXPECT_EQ(owner.committed(), (Items{"leader", "first", "first+", "second", "third"}));
}

TEST(GroupCommit, AWriteThatReturnsAnErrorFailsEveryCallOfItsGroupWithGroupFailedsError) {
  FakeOwner owner;
  GroupCommit commit(&owner);

  // Set while the leader's write is held: the queued calls' group fails.
  auto callers = QueueBehindAHeldLeader(owner, commit, {{"a"}, {"b", "c"}, {"d"}}, [&] {
    owner.FailNextWrite(rocksdb::Status::IOError("disk full"));
  });

  EXPECT_FALSE(callers[0]->Join());
  for (size_t i = 1; i < callers.size(); ++i) EXPECT_TRUE(Throws<WriteFailed>(callers[i]->Join()));
  EXPECT_EQ(owner.failed_groups(), 1);
  EXPECT_EQ(owner.committed(), (Items{"leader"}));

  // The failure stays with its group: the next call is written.
  const std::string_view after = "after";
  commit.Append(&after, 1);
  EXPECT_EQ(owner.committed(), (Items{"leader", "after"}));
}

TEST(GroupCommit, AWriteThatThrowsFailsEveryCallOfItsGroupWithThatException) {
  FakeOwner owner;
  GroupCommit commit(&owner);

  auto callers = QueueBehindAHeldLeader(owner, commit, {{"a"}, {"b", "c"}},
                                        [&] { owner.ThrowFromNextWrite(); });

  EXPECT_FALSE(callers[0]->Join());
  for (size_t i = 1; i < callers.size(); ++i) EXPECT_TRUE(Throws<WriteFailed>(callers[i]->Join()));
  EXPECT_EQ(owner.failed_groups(), 0) << "GroupFailed is for a returned status";
  EXPECT_EQ(owner.committed(), (Items{"leader"}));
}

TEST(GroupCommit, ACallTheOwnerDoesNotAdmitFailsAloneAndTheRestOfItsGroupIsWritten) {
  FakeOwner owner(/*capacity=*/3);
  GroupCommit commit(&owner);

  // The leader's item and "a" leave room for one more: "b", "c" does not fit.
  auto callers = QueueBehindAHeldLeader(owner, commit, {{"a"}, {"b", "c"}, {"d"}});

  EXPECT_FALSE(callers[0]->Join());
  EXPECT_FALSE(callers[1]->Join());
  EXPECT_TRUE(Throws<Refused>(callers[2]->Join()));
  EXPECT_FALSE(callers[3]->Join());
  EXPECT_EQ(owner.Groups(), (Groups{{"leader"}, {"a", "d"}}));
  EXPECT_EQ(owner.committed(), (Items{"leader", "a", "d"}));
}

TEST(GroupCommit, ConcurrentCallsKeepEachCallWholeAndEachThreadsCallsInOrder) {
  constexpr int kThreads = 8;
  constexpr int kCallsPerThread = 200;
  FakeOwner owner(UINT64_MAX, /*write_time=*/std::chrono::microseconds(200));
  GroupCommit commit(&owner);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&commit, t] {
      for (int call = 0; call < kCallsPerThread; ++call) {
        // 1 to 3 items: "thread call part".
        std::vector<std::string> items;
        for (int part = 0; part <= call % 3; ++part) {
          items.push_back(std::to_string(t) + " " + std::to_string(call) + " " +
                          std::to_string(part));
        }
        const std::vector<std::string_view> views(items.begin(), items.end());
        commit.Append(views.data(), views.size());
      }
    });
  }
  for (std::thread& thread : threads) thread.join();

  // Each call's parts stand together, and each thread's calls in order.
  std::vector<int> next_call(kThreads, 0);
  const Items& committed = owner.committed();
  size_t i = 0;
  while (i < committed.size()) {
    int thread = -1, call = -1, part = -1;
    ASSERT_EQ(std::sscanf(committed[i].c_str(), "%d %d %d", &thread, &call, &part), 3);
    ASSERT_EQ(part, 0) << "a call's items were split at " << i;
    ASSERT_EQ(call, next_call[thread]) << "thread " << thread << "'s calls out of order";
    for (int p = 1; p <= call % 3; ++p) {
      ASSERT_LT(i + p, committed.size());
      EXPECT_EQ(committed[i + p], std::to_string(thread) + " " + std::to_string(call) + " " +
                                      std::to_string(p));
    }
    i += 1 + call % 3;
    ++next_call[thread];
  }
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(next_call[t], kCallsPerThread);
}

}  // namespace
}  // namespace rocksq
