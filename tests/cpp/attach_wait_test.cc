// A call parked by the owner of a queue wakes when the owner's queue lets
// it go on, not at its deadline: after a change (the queue's change
// listener) and after an ack queue's lease expires (the server's timer).
// Each waiter is one waiting call in a fork() child attached to this
// process, the owner.
// (Python's waits are sliced into 100 ms calls, which would hide a missed
// wake-up; the tests in tests/attach/ cover the rest across processes.)

#include "rocksq/rocksq.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "test_util.h"

namespace {

using namespace std::chrono_literals;

// The child's one GetWait may wait this long; it must return far sooner.
constexpr auto kLongWait = 20s;
constexpr auto kPrompt = 5s;

// Exit statuses of the waiting child.
constexpr int kWokePromptly = 0;
constexpr int kGotNothing = 1;
constexpr int kWokeLate = 2;
constexpr int kFailed = 3;

bool ReadByte(int fd) {
  pollfd ready{fd, POLLIN, 0};
  char byte;
  return ::poll(&ready, 1, 30'000) == 1 && ::read(fd, &byte, 1) == 1;
}

class AttachWaitTest : public rocksq::testing::TempDirTest {
 protected:
  // Forks a child that, once the owner opened the queue, attaches
  // with `options` and makes one GetWait(1, kLongWait); its exit status
  // says whether it got an item within kPrompt.
  void StartWaiter(const rocksq::AckOptions& options) {
    StartWaiter([this, options] {
      auto queue = rocksq::AckQueue::Open(QueuePath(), options);
      (void)!::write(waiting_[1], "w", 1);
      return !queue->GetWait(1, kLongWait).empty();
    });
  }
  // The same with a FIFO queue's PopWait.
  void StartWaiter(const rocksq::FifoOptions& options) {
    StartWaiter([this, options] {
      auto queue = rocksq::FifoQueue::Open(QueuePath(), options);
      (void)!::write(waiting_[1], "w", 1);
      return !queue->PopWait(1, kLongWait).empty();
    });
  }

  // `attach_and_wait` attaches, writes to waiting_, makes its one waiting
  // call and says whether it got an item.
  void StartWaiter(const std::function<bool()>& attach_and_wait) {
    ASSERT_EQ(::pipe(go_), 0);
    ASSERT_EQ(::pipe(waiting_), 0);
    waiter_ = ::fork();
    if (waiter_ == 0) {
      int status = kFailed;
      try {
        if (ReadByte(go_[0])) {
          const auto started = std::chrono::steady_clock::now();
          const bool got = attach_and_wait();
          const bool prompt = std::chrono::steady_clock::now() - started < kPrompt;
          status = !got ? kGotNothing : prompt ? kWokePromptly : kWokeLate;
        }
      } catch (...) {
      }
      ::_exit(status);
    }
  }

  // Opens the queue as its owner, lets the waiter attach, and returns once
  // its call is (most likely) parked.
  template <typename Queue, typename Options>
  std::unique_ptr<Queue> StartOwning(const Options& options) {
    auto owner = Queue::Open(QueuePath(), options);
    EXPECT_EQ(::write(go_[1], "g", 1), 1);
    EXPECT_TRUE(ReadByte(waiting_[0]));
    // Nothing tells the owner's caller when the child's call is parked:
    // this gives it the time to arrive. Arriving later it would find the
    // item at once, and the test would pass without testing the wake-up
    // (it cannot fail wrongly).
    std::this_thread::sleep_for(200ms);
    return owner;
  }

  void TearDown() override {
    for (int fd : {go_[0], go_[1], waiting_[0], waiting_[1]}) {
      if (fd >= 0) ::close(fd);
    }
    TempDirTest::TearDown();
  }

  int go_[2] = {-1, -1};
  int waiting_[2] = {-1, -1};
  pid_t waiter_ = -1;
};

TEST_F(AttachWaitTest, AParkedGetWaitWakesOnAPushInTheOwner) {
  rocksq::AckOptions options;
  options.attach = true;
  StartWaiter(options);
  auto owner = StartOwning<rocksq::AckQueue>(options);

  owner->Push("wake up");

  EXPECT_EQ(rocksq::testing::WaitBounded(waiter_, 30s), kWokePromptly);
  EXPECT_EQ(owner->Len(), 1u);  // Handed out to the child, which closed without acking.
  owner->Close();
}

TEST_F(AttachWaitTest, AParkedFifoPopWaitWakesOnAPushInTheOwner) {
  rocksq::FifoOptions options;
  options.attach = true;
  StartWaiter(options);
  auto owner = StartOwning<rocksq::FifoQueue>(options);

  owner->Push("wake up");

  EXPECT_EQ(rocksq::testing::WaitBounded(waiter_, 30s), kWokePromptly);
  EXPECT_EQ(owner->Len(), 0u);
  owner->Close();
}

TEST_F(AttachWaitTest, AParkedGetWaitWakesWhenALeaseInTheOwnerExpires) {
  rocksq::AckOptions options;
  options.attach = true;
  options.visibility_timeout = 300ms;
  StartWaiter(options);
  auto owner = rocksq::AckQueue::Open(QueuePath(), options);
  owner->Push("held by the owner");
  ASSERT_EQ(owner->Get(1).size(), 1u);
  ASSERT_EQ(::write(go_[1], "g", 1), 1);
  ASSERT_TRUE(ReadByte(waiting_[0]));

  // The lease expires 300 ms after the Get, with no call to the owner.
  EXPECT_EQ(rocksq::testing::WaitBounded(waiter_, 30s), kWokePromptly);
  owner->Close();
}

}  // namespace
