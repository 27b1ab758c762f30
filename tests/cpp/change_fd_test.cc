// A queue's ChangeFd (rocksq/change_fd.h) turns readable after the next
// change once armed, and Consume() makes it quiet again: in the owning
// process (its pipe), and in an attached one (the owner answering a Watch
// on the event lane), where the attached process is a fork() child.

#include "rocksq/rocksq.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <memory>

#include "test_util.h"

namespace {

using namespace std::chrono_literals;

bool Readable(int fd, int timeout_ms) {
  pollfd ready{fd, POLLIN, 0};
  return ::poll(&ready, 1, timeout_ms) == 1;
}

using ChangeFdTest = rocksq::testing::TempDirTest;

TEST_F(ChangeFdTest, AnOwnedQueuesFdTurnsReadableAfterAChangeOnlyOnceArmed) {
  auto queue = rocksq::FifoQueue::Open(QueuePath());
  std::unique_ptr<rocksq::ChangeFd> changes = queue->WatchChanges();

  queue->Push("before arming");
  EXPECT_FALSE(Readable(changes->Fd(), 0));

  changes->Arm();
  EXPECT_FALSE(Readable(changes->Fd(), 0));
  queue->Push("after arming");
  EXPECT_TRUE(Readable(changes->Fd(), 0));

  changes->Consume();
  EXPECT_FALSE(Readable(changes->Fd(), 0));
  changes.reset();
  queue->Close();
}

// Exit statuses of the attached child.
constexpr int kWoke = 0;
constexpr int kNeverWoke = 1;
constexpr int kFailed = 2;

TEST_F(ChangeFdTest, AnAttachedQueuesFdTurnsReadableWhenTheOwnersQueueChanges) {
  rocksq::FifoOptions options;
  options.attach = true;
  auto owner = rocksq::FifoQueue::Open(QueuePath(), options);
  int waiting[2];
  ASSERT_EQ(::pipe(waiting), 0);
  const pid_t child = ::fork();
  if (child == 0) {
    int status = kFailed;
    try {
      auto attached = rocksq::FifoQueue::Open(QueuePath(), options);
      std::unique_ptr<rocksq::ChangeFd> changes = attached->WatchChanges();
      changes->Arm();  // Sent before the owner hears of `waiting`: no change can slip by.
      if (attached->Pop(1).empty() && ::write(waiting[1], "w", 1) == 1) {
        status = Readable(changes->Fd(), 20'000) ? kWoke : kNeverWoke;
        changes->Consume();
        if (status == kWoke && attached->Pop(1).size() != 1) status = kFailed;
      }
    } catch (...) {
    }
    ::_exit(status);
  }
  char byte;
  ASSERT_EQ(::read(waiting[0], &byte, 1), 1);

  owner->Push("wake up");

  EXPECT_EQ(rocksq::testing::WaitBounded(child, 30s), kWoke);
  EXPECT_EQ(owner->Len(), 0u);
  ::close(waiting[0]);
  ::close(waiting[1]);
  owner->Close();
}

}  // namespace
