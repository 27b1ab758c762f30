// The hand-over of ack and MPMC queues, end to end in two processes (the
// dying owner of handover_test_util.h), as fifo_handover_test.cc does
// for FIFO queues: each call under way when the owner died completes
// exactly once; an ack queue's deliveries end with the owner, as with a
// crash.

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "ack_attach_handler.h"
#include "handover_test_util.h"
#include "mpmc_attach_handler.h"
#include "rocksq/ack_queue.h"
#include "rocksq/mpmc_queue.h"

namespace rocksq {
namespace {

using testing::Death;

std::vector<std::string> Items(const PoppedItems& items) {
  std::vector<std::string> all;
  for (size_t i = 0; i < items.size(); ++i) all.emplace_back(items[i]);
  return all;
}

std::vector<std::string> Payloads(const Deliveries& deliveries) {
  std::vector<std::string> payloads;
  for (size_t i = 0; i < deliveries.size(); ++i) payloads.emplace_back(deliveries[i].payload);
  return payloads;
}

class AckHandoverTest : public testing::DyingOwnerTest {
 protected:
  // Forks the owner: it stores `stored`, fails the first `failed` of them,
  // serves the queue, and dies at `op`.
  void StartDyingOwner(const std::vector<std::string_view>& stored, AttachOp op, Death death,
                       size_t failed = 0) {
    DyingOwnerTest::StartDyingOwner(op, death, [&] {
      std::shared_ptr<ServedAckQueue> served = OpenAckQueueToServe(QueuePath(), options_);
      served->queue().PushBatch(stored);
      if (failed != 0) served->queue().AckFailedBatch(ToVector(served->queue().Get(failed)));
      return Served{served, MakeAckAttachHandler(served.get(), options_, testing::NoAge)};
    });
  }

  static std::vector<Delivery> ToVector(const Deliveries& deliveries) {
    std::vector<Delivery> all;
    for (size_t i = 0; i < deliveries.size(); ++i) all.push_back(deliveries[i]);
    return all;
  }

  // Every item, got and acked at once.
  static std::vector<std::string> Drain(AckQueue* queue) {
    const Deliveries got = queue->Get(100);
    queue->AckBatch(ToVector(got));
    return Payloads(got);
  }

  const AckOptions options_ = testing::Attaching<AckOptions>();
};

TEST_F(AckHandoverTest, APushWhoseOwnerDiedAfterItsWriteIsStoredOnce) {
  StartDyingOwner({"old"}, AttachOp::kAckPushBatch, Death::kAfterTheWriteBeforeTheReply);
  std::unique_ptr<AckQueue> queue = AckQueue::Open(QueuePath(), options_);
  queue->Push("new");  // The owner dies under it; this process takes over.
  ExpectOwnerDied();
  EXPECT_EQ(Drain(queue.get()), (std::vector<std::string>{"old", "new"}));
}

TEST_F(AckHandoverTest, APushWhoseOwnerDiedBeforeItsWriteIsStoredOnce) {
  StartDyingOwner({"old"}, AttachOp::kAckPushBatchWait, Death::kBeforeTheWrite);
  std::unique_ptr<AckQueue> queue = AckQueue::Open(QueuePath(), options_);
  queue->PushWait("new", std::chrono::seconds(5));
  ExpectOwnerDied();
  EXPECT_EQ(Drain(queue.get()), (std::vector<std::string>{"old", "new"}));
}

TEST_F(AckHandoverTest, AUniquePushWhoseOwnerDiedAfterItsWriteKeepsItsFlags) {
  StartDyingOwner({}, AttachOp::kAckPushBatchUnique, Death::kAfterTheWriteBeforeTheReply);
  std::unique_ptr<AckQueue> queue = AckQueue::Open(QueuePath(), options_);
  // Stored by the owner that died: its retry says so, not "already there".
  EXPECT_EQ(queue->PushBatchUnique({{"k", "a"}, {"j", "b"}}), (std::vector<bool>{true, true}));
  ExpectOwnerDied();
  EXPECT_FALSE(queue->PushUnique("k", "again"));
  EXPECT_EQ(Drain(queue.get()), (std::vector<std::string>{"a", "b"}));
}

TEST_F(AckHandoverTest, AUniquePushWhoseOwnerDiedBeforeItsWriteIsStored) {
  StartDyingOwner({}, AttachOp::kAckPushBatchUniqueWait, Death::kBeforeTheWrite);
  std::unique_ptr<AckQueue> queue = AckQueue::Open(QueuePath(), options_);
  EXPECT_TRUE(queue->PushUniqueWait("k", "a", std::chrono::seconds(5)));
  ExpectOwnerDied();
  EXPECT_EQ(Drain(queue.get()), (std::vector<std::string>{"a"}));
}

TEST_F(AckHandoverTest, ARequeueWhoseOwnerDiedAfterItsWriteKeepsItsCount) {
  StartDyingOwner({"f", "g"}, AttachOp::kAckRequeueAllFailed,
                  Death::kAfterTheWriteBeforeTheReply, /*failed=*/2);
  std::unique_ptr<AckQueue> queue = AckQueue::Open(QueuePath(), options_);
  EXPECT_EQ(queue->RequeueAllFailed(), 2u);
  ExpectOwnerDied();
  EXPECT_EQ(queue->FailedLen(), 0u);
  EXPECT_EQ(Drain(queue.get()), (std::vector<std::string>{"f", "g"}));
}

TEST_F(AckHandoverTest, AGetWhoseOwnerDiedAfterHandingOutGetsTheItemAgain) {
  StartDyingOwner({"x", "y"}, AttachOp::kAckGet, Death::kAfterTheWriteBeforeTheReply);
  std::unique_ptr<AckQueue> queue = AckQueue::Open(QueuePath(), options_);
  // The lease ended with the owner: the retry finds the item ready.
  const Deliveries got = queue->Get(1);
  ExpectOwnerDied();
  EXPECT_EQ(Payloads(got), (std::vector<std::string>{"x"}));
  queue->Ack(got[0]);
  EXPECT_EQ(Drain(queue.get()), (std::vector<std::string>{"y"}));
}

TEST_F(AckHandoverTest, AnAckWhoseOwnerDiedAfterItsWriteIsNotOutstandingAndStaysAcked) {
  StartDyingOwner({"x"}, AttachOp::kAckAckBatch, Death::kAfterTheWriteBeforeTheReply);
  std::unique_ptr<AckQueue> queue = AckQueue::Open(QueuePath(), options_);
  const Deliveries got = queue->Get(1);
  try {
    queue->Ack(got[0]);
    FAIL() << "an ack under way at the hand-over returned";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kNotOutstanding);
    EXPECT_NE(std::string(error.what()).find("owner changed"), std::string::npos)
        << error.what();
  }
  ExpectOwnerDied();
  EXPECT_EQ(queue->Len(), 0u);
}

TEST_F(AckHandoverTest, AnAckWhoseOwnerDiedBeforeItsWriteLeavesTheItemToDeliverAgain) {
  StartDyingOwner({"x"}, AttachOp::kAckAckBatch, Death::kBeforeTheWrite);
  std::unique_ptr<AckQueue> queue = AckQueue::Open(QueuePath(), options_);
  const Deliveries got = queue->Get(1);
  EXPECT_THROW(queue->Ack(got[0]), Error);
  ExpectOwnerDied();
  EXPECT_EQ(Drain(queue.get()), (std::vector<std::string>{"x"}));
}

TEST_F(AckHandoverTest, ADeliveryTakenBeforeTheHandOverIsNotOutstandingAfterIt) {
  StartDyingOwner({"x"}, AttachOp::kAckPushBatch, Death::kAfterTheWriteBeforeTheReply);
  std::unique_ptr<AckQueue> queue = AckQueue::Open(QueuePath(), options_);
  const Deliveries got = queue->Get(1);
  queue->Push("y");  // The owner dies under it; this process takes over.
  ExpectOwnerDied();
  try {
    queue->Ack(got[0]);
    FAIL() << "a delivery of the owner that died settled";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kNotOutstanding);
  }
  EXPECT_EQ(Drain(queue.get()), (std::vector<std::string>{"x", "y"}));
}

class MpmcHandoverTest : public testing::DyingOwnerTest {
 protected:
  // Forks the owner: it adds `stored`, reads `read` of them as label "l",
  // serves the queue, and dies at `op`.
  void StartDyingOwner(const std::vector<std::string_view>& stored, AttachOp op, Death death,
                       size_t read = 0) {
    DyingOwnerTest::StartDyingOwner(op, death, [&] {
      std::shared_ptr<ServedMpmcQueue> served = OpenMpmcQueueToServe(QueuePath(), options_);
      served->queue().AddBatch(stored);
      if (read != 0) served->queue().Next("l", StartPosition::kOldest, read);
      return Served{served, MakeMpmcAttachHandler(served.get(), options_)};
    });
  }

  const MpmcOptions options_ = testing::Attaching<MpmcOptions>();
};

TEST_F(MpmcHandoverTest, AnAddWhoseOwnerDiedAfterItsWriteIsStoredOnce) {
  StartDyingOwner({"old"}, AttachOp::kMpmcAddBatch, Death::kAfterTheWriteBeforeTheReply);
  std::unique_ptr<MpmcQueue> queue = MpmcQueue::Open(QueuePath(), options_);
  queue->Add("new");  // The owner dies under it; this process takes over.
  ExpectOwnerDied();
  EXPECT_EQ(Items(queue->Next("r", StartPosition::kOldest, 10).items),
            (std::vector<std::string>{"old", "new"}));
}

TEST_F(MpmcHandoverTest, AnAddWhoseOwnerDiedBeforeItsWriteIsStoredOnce) {
  StartDyingOwner({"old"}, AttachOp::kMpmcAddBatch, Death::kBeforeTheWrite);
  std::unique_ptr<MpmcQueue> queue = MpmcQueue::Open(QueuePath(), options_);
  queue->Add("new");
  ExpectOwnerDied();
  EXPECT_EQ(Items(queue->Next("r", StartPosition::kOldest, 10).items),
            (std::vector<std::string>{"old", "new"}));
}

TEST_F(MpmcHandoverTest, ANextWhoseOwnerDiedAfterItsWriteGetsItsRangeOnce) {
  StartDyingOwner({"a", "b", "c", "d"}, AttachOp::kMpmcNext,
                  Death::kAfterTheWriteBeforeTheReply, /*read=*/1);
  std::unique_ptr<MpmcQueue> queue = MpmcQueue::Open(QueuePath(), options_);
  EXPECT_EQ(Items(queue->Next("l", StartPosition::kOldest, 2).items),
            (std::vector<std::string>{"b", "c"}));
  ExpectOwnerDied();
  EXPECT_EQ(Items(queue->Next("l", StartPosition::kOldest, 10).items),
            (std::vector<std::string>{"d"}));
}

TEST_F(MpmcHandoverTest, ANextWhoseOwnerDiedBeforeItsWriteGetsItsRangeOnce) {
  StartDyingOwner({"a", "b", "c", "d"}, AttachOp::kMpmcNext, Death::kBeforeTheWrite,
                  /*read=*/1);
  std::unique_ptr<MpmcQueue> queue = MpmcQueue::Open(QueuePath(), options_);
  EXPECT_EQ(Items(queue->Next("l", StartPosition::kOldest, 2).items),
            (std::vector<std::string>{"b", "c"}));
  ExpectOwnerDied();
  EXPECT_EQ(Items(queue->Next("l", StartPosition::kOldest, 10).items),
            (std::vector<std::string>{"d"}));
}

TEST_F(MpmcHandoverTest, ARemoveLabelWhoseOwnerDiedAfterItsWriteSaysTheLabelExisted) {
  StartDyingOwner({"a"}, AttachOp::kMpmcRemoveLabel, Death::kAfterTheWriteBeforeTheReply,
                  /*read=*/1);
  std::unique_ptr<MpmcQueue> queue = MpmcQueue::Open(QueuePath(), options_);
  EXPECT_TRUE(queue->RemoveLabel("l"));
  ExpectOwnerDied();
  EXPECT_TRUE(queue->Labels().empty());
}

}  // namespace
}  // namespace rocksq
