// The FIFO queue's task counts (FifoQueue::TaskDone, UnfinishedTasks,
// JoinWait): queue.Queue's task_done() and join(), kept by the queue.

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <string>
#include <thread>

#include "rocksq/rocksq.h"
#include "test_util.h"

namespace {

using rocksq::ErrorKind;
using rocksq::testing::KindThrownBy;
using namespace std::chrono_literals;

using FifoTaskCount = rocksq::testing::TempDirTest;

TEST_F(FifoTaskCount, StartsAtTheItemsStoredAtOpenAndGrowsWithEachPush) {
  {
    auto queue = rocksq::FifoQueue::Open(QueuePath());
    queue->PushBatch({"a", "b", "c"});
    queue->Pop(1);
    EXPECT_EQ(queue->UnfinishedTasks(), 3u);  // Popped is not done.
  }
  auto queue = rocksq::FifoQueue::Open(QueuePath());
  EXPECT_EQ(queue->UnfinishedTasks(), 2u);
  queue->Push("d");
  EXPECT_EQ(queue->UnfinishedTasks(), 3u);
}

TEST_F(FifoTaskCount, TaskDoneReturnsWhatIsLeftAndRefusesWhenNoTaskIsUnfinished) {
  auto queue = rocksq::FifoQueue::Open(QueuePath());
  queue->PushBatch({"a", "b"});
  EXPECT_EQ(queue->TaskDone(), 1u);
  EXPECT_EQ(queue->TaskDone(), 0u);
  EXPECT_EQ(KindThrownBy([&] { queue->TaskDone(); }), ErrorKind::kInvalidArgument);
  EXPECT_EQ(queue->UnfinishedTasks(), 0u);
  queue->Push("c");
  EXPECT_EQ(queue->TaskDone(), 0u);
}

TEST_F(FifoTaskCount, JoinWaitTimesOutWhileATaskIsUnfinishedAndReturnsOnceNoneIs) {
  auto queue = rocksq::FifoQueue::Open(QueuePath());
  EXPECT_TRUE(queue->JoinWait(0s));  // Nothing was ever pushed.
  queue->PushBatch({"a", "b"});
  EXPECT_FALSE(queue->JoinWait(50ms));
  queue->TaskDone();
  EXPECT_FALSE(queue->JoinWait(0s));
  queue->TaskDone();
  EXPECT_TRUE(queue->JoinWait(0s));
}

TEST_F(FifoTaskCount, JoinWaitWakesWhenAnotherThreadMarksTheLastTaskDone) {
  auto queue = rocksq::FifoQueue::Open(QueuePath());
  queue->Push("a");
  auto joined = std::async(std::launch::async, [&] { return queue->JoinWait(60s); });
  EXPECT_EQ(joined.wait_for(100ms), std::future_status::timeout);
  queue->TaskDone();
  ASSERT_EQ(joined.wait_for(10s), std::future_status::ready);
  EXPECT_TRUE(joined.get());
}

TEST_F(FifoTaskCount, CloseWakesAJoinWaiterWhichThrowsClosed) {
  auto queue = rocksq::FifoQueue::Open(QueuePath());
  queue->Push("never done");
  auto joined = std::async(std::launch::async,
                           [&] { return KindThrownBy([&] { queue->JoinWait(60s); }); });
  EXPECT_EQ(joined.wait_for(100ms), std::future_status::timeout);
  queue->Close();
  ASSERT_EQ(joined.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(joined.get(), ErrorKind::kClosed);
}

TEST_F(FifoTaskCount, AnImmediateShutdownLeavesTheStoredItemsOutAndWakesAJoin) {
  auto queue = rocksq::FifoQueue::Open(QueuePath());
  queue->PushBatch({"a", "b", "c"});
  queue->Pop(1);
  auto joined = std::async(std::launch::async, [&] { return queue->JoinWait(60s); });
  queue->Shutdown(/*immediate=*/false);  // Items may still be popped: all count.
  EXPECT_EQ(queue->UnfinishedTasks(), 3u);
  queue->Shutdown(/*immediate=*/true);
  EXPECT_EQ(queue->UnfinishedTasks(), 1u);  // Only "a": popped, not done.
  EXPECT_EQ(queue->TaskDone(), 0u);
  ASSERT_EQ(joined.wait_for(10s), std::future_status::ready);
  EXPECT_TRUE(joined.get());
  EXPECT_EQ(KindThrownBy([&] { queue->TaskDone(); }), ErrorKind::kInvalidArgument);
}

TEST_F(FifoTaskCount, AConsumerMarkingItemsDoneAsSoonAsItPopsThemNeverFindsThemUncounted) {
  // A pop may take an item before its push returns; its task must already
  // be counted then, or the consumer's TaskDone would be refused.
  auto queue = rocksq::FifoQueue::Open(QueuePath());
  constexpr int kItems = 20'000;
  auto consumer = std::async(std::launch::async, [&] {
    int refused = 0;
    for (int taken = 0; taken < kItems;) {
      const size_t count = queue->PopWait(64, 10s).size();
      for (size_t i = 0; i < count; ++i) {
        try {
          queue->TaskDone();
        } catch (const rocksq::Error&) {
          ++refused;
        }
      }
      taken += static_cast<int>(count);
      if (count == 0) break;
    }
    return refused;
  });
  for (int i = 0; i < kItems; ++i) queue->Push(std::to_string(i));
  EXPECT_EQ(consumer.get(), 0);
  EXPECT_TRUE(queue->JoinWait(10s));
}

TEST_F(FifoTaskCount, ChangeListenerHearsTheTaskDoneThatLeavesNoneUnfinished) {
  auto queue = rocksq::FifoQueue::Open(QueuePath());
  queue->PushBatch({"a", "b"});
  int calls = 0;
  queue->SetChangeListener([&] { ++calls; });
  queue->TaskDone();
  EXPECT_EQ(calls, 0);  // One is left: no join can end yet.
  queue->TaskDone();
  EXPECT_EQ(calls, 1);
  queue->SetChangeListener(nullptr);
}

}  // namespace
