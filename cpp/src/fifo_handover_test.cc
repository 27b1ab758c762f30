// A FIFO queue's hand-over, end to end in two processes (the dying owner of
// handover_test_util.h): the call completes exactly once, a push stored
// once, a pop's items delivered once.

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "handover_test_util.h"
#include "fifo_attach_handler.h"
#include "rocksq/fifo_queue.h"

namespace rocksq {
namespace {

using testing::Death;

class FifoHandoverTest : public testing::DyingOwnerTest {
 protected:
  // Forks the owner: it stores `stored`, serves the queue, and dies at `op`.
  void StartDyingOwner(const std::vector<std::string_view>& stored, AttachOp op, Death death) {
    DyingOwnerTest::StartDyingOwner(op, death, [&] {
      std::shared_ptr<ServedFifoQueue> served = OpenFifoQueueToServe(QueuePath(), options_);
      served->queue().PushBatch(stored);
      return Served{served, MakeFifoAttachHandler(served.get(), options_, testing::NoAge)};
    });
  }

  static std::vector<std::string> Items(const PoppedItems& popped) {
    std::vector<std::string> items;
    for (size_t i = 0; i < popped.size(); ++i) items.emplace_back(popped[i]);
    return items;
  }

  const FifoOptions options_ = testing::Attaching<FifoOptions>();
};

TEST_F(FifoHandoverTest, APushWhoseOwnerDiedAfterItsWriteIsStoredOnce) {
  StartDyingOwner({"old"}, AttachOp::kPushBatch, Death::kAfterTheWriteBeforeTheReply);
  std::unique_ptr<FifoQueue> queue = FifoQueue::Open(QueuePath(), options_);
  queue->Push("new");  // The owner dies under it; this process takes over.
  ExpectOwnerDied();
  EXPECT_EQ(Items(queue->Pop(10)), (std::vector<std::string>{"old", "new"}));
}

TEST_F(FifoHandoverTest, APushWhoseOwnerDiedBeforeItsWriteIsStoredOnce) {
  StartDyingOwner({"old"}, AttachOp::kPushBatch, Death::kBeforeTheWrite);
  std::unique_ptr<FifoQueue> queue = FifoQueue::Open(QueuePath(), options_);
  queue->Push("new");
  ExpectOwnerDied();
  EXPECT_EQ(Items(queue->Pop(10)), (std::vector<std::string>{"old", "new"}));
}

TEST_F(FifoHandoverTest, APopWhoseOwnerDiedAfterItsWriteGetsItsItemsOnce) {
  StartDyingOwner({"a", "b", "c"}, AttachOp::kPop, Death::kAfterTheWriteBeforeTheReply);
  std::unique_ptr<FifoQueue> queue = FifoQueue::Open(QueuePath(), options_);
  EXPECT_EQ(Items(queue->Pop(2)), (std::vector<std::string>{"a", "b"}));
  ExpectOwnerDied();
  EXPECT_EQ(Items(queue->Pop(10)), (std::vector<std::string>{"c"}));
}

TEST_F(FifoHandoverTest, APopWhoseOwnerDiedBeforeItsWriteGetsItsItemsOnce) {
  StartDyingOwner({"a", "b", "c"}, AttachOp::kPop, Death::kBeforeTheWrite);
  std::unique_ptr<FifoQueue> queue = FifoQueue::Open(QueuePath(), options_);
  EXPECT_EQ(Items(queue->Pop(2)), (std::vector<std::string>{"a", "b"}));
  ExpectOwnerDied();
  EXPECT_EQ(Items(queue->Pop(10)), (std::vector<std::string>{"c"}));
}

TEST_F(FifoHandoverTest, APopWaitWhoseOwnerDiedAfterItsWriteGetsItsItemsOnce) {
  StartDyingOwner({"a", "b"}, AttachOp::kPopWait, Death::kAfterTheWriteBeforeTheReply);
  std::unique_ptr<FifoQueue> queue = FifoQueue::Open(QueuePath(), options_);
  EXPECT_EQ(Items(queue->PopWait(1, std::chrono::seconds(5))), (std::vector<std::string>{"a"}));
  ExpectOwnerDied();
  EXPECT_EQ(Items(queue->Pop(10)), (std::vector<std::string>{"b"}));
}

TEST_F(FifoHandoverTest, ThePushRecordsOfAnUnsyncedOwnerSurviveItsDeath) {
  // Several pushes, each on its own first run; the owner dies after the
  // last one's write. Nothing before it is stored twice either.
  StartDyingOwner({}, AttachOp::kPushBatchWait, Death::kAfterTheWriteBeforeTheReply);
  std::unique_ptr<FifoQueue> queue = FifoQueue::Open(QueuePath(), options_);
  queue->PushBatch({"1", "2"});
  queue->PushBatch({"3"});
  queue->PushBatchWait({"4", "5"}, std::chrono::seconds(5));
  ExpectOwnerDied();
  EXPECT_EQ(Items(queue->Pop(10)), (std::vector<std::string>{"1", "2", "3", "4", "5"}));
}

}  // namespace
}  // namespace rocksq
