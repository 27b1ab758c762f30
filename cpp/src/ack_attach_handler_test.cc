// The ack queue's attach handler merging requests that arrived together
// (AttachHandler::RunMerged), and answering retries after a hand-over, as
// fifo_attach_handler_test.cc does for FIFO.

#include "ack_attach_handler.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "handover_test_util.h"

namespace rocksq {
namespace {

using testing::CallOfLane;
using testing::RunCall;

using AckAttachHandlerTest = testing::TempDirTest;
using MergedCall = AttachHandler::MergedCall;

// The handlers' Stats age, which these tests do not ask for.
ItemAge NoAge() { return ItemAge(); }

std::string PushBody(const std::vector<std::string_view>& items) {
  BodyWriter body;
  body.Items(items.data(), items.size());
  return body.bytes();
}

std::string GetWaitBody(uint64_t max_items, int64_t timeout_ns) {
  BodyWriter body;
  body.U64(max_items);
  body.I64(timeout_ns);
  return body.bytes();
}

std::string AckBody(const std::vector<Delivery>& deliveries) {
  BodyWriter body;
  WriteSettled(deliveries, &body);
  return body.bytes();
}

std::vector<std::string> Payloads(MergedCall& call, const std::string& path) {
  BodyReader reader(call.reply.bytes(), path);
  const Deliveries deliveries = ReadDeliveries(&reader);
  std::vector<std::string> payloads;
  for (size_t i = 0; i < deliveries.size(); ++i) payloads.emplace_back(deliveries[i].payload);
  return payloads;
}

TEST_F(AckAttachHandlerTest, MergedPushesAndGetsKeepArrivalOrder) {
  AckOptions options;
  std::unique_ptr<ServedAckQueue> served = OpenAckQueueToServe(QueuePath(), options);
  AckQueue* queue = &served->queue();
  std::unique_ptr<AttachHandler> handler = MakeAckAttachHandler(served.get(), options, NoAge);
  EXPECT_LT(handler->MergeGroup(AttachOp::kAckPushBatch), handler->MergeGroup(AttachOp::kAckGet));
  EXPECT_EQ(handler->MergeGroup(AttachOp::kAckGetWait), handler->MergeGroup(AttachOp::kAckGet));
  EXPECT_EQ(handler->MergeGroup(AttachOp::kAckNackBatch), 0);

  const std::string first = PushBody({"a1", "a2"});
  const std::string second = PushBody({"b1"});
  std::vector<MergedCall> pushes;
  pushes.push_back({AttachOp::kAckPushBatch, first, {}});
  pushes.push_back({AttachOp::kAckPushBatch, second, {}});
  handler->RunMerged(&pushes);
  EXPECT_EQ(queue->Len(), 3u);

  const std::string two = GetWaitBody(2, 1'000'000'000);
  const std::string two_more = GetWaitBody(2, 1'000'000'000);
  const std::string one_waiting = GetWaitBody(1, 1'000'000'000);
  std::vector<MergedCall> gets;
  gets.push_back({AttachOp::kAckGetWait, two, {}});
  gets.push_back({AttachOp::kAckGetWait, two_more, {}});
  gets.push_back({AttachOp::kAckGetWait, one_waiting, {}});
  handler->RunMerged(&gets);
  EXPECT_EQ(Payloads(gets[0], QueuePath()), (std::vector<std::string>{"a1", "a2"}));
  EXPECT_EQ(Payloads(gets[1], QueuePath()), (std::vector<std::string>{"b1"}));
  EXPECT_EQ(gets[2].outcome, AttachHandler::Outcome::kMustWait);
  EXPECT_EQ(queue->UnackedLen(), 3u);
}

TEST_F(AckAttachHandlerTest, MergedAcksSettleAllOrNone) {
  AckOptions options;
  std::unique_ptr<ServedAckQueue> served = OpenAckQueueToServe(QueuePath(), options);
  AckQueue* queue = &served->queue();
  std::unique_ptr<AttachHandler> handler = MakeAckAttachHandler(served.get(), options, NoAge);
  queue->PushBatch({"x", "y", "z"});
  Deliveries handed_out = queue->Get(3);
  const Delivery x = handed_out[0], y = handed_out[1], z = handed_out[2];
  Delivery stale = z;
  stale.receipt += 1000;  // Not the latest delivery of z.

  const std::string ack_x = AckBody({x});
  const std::string ack_stale = AckBody({stale});
  std::vector<MergedCall> with_stale;
  with_stale.push_back({AttachOp::kAckAckBatch, ack_x, {}});
  with_stale.push_back({AttachOp::kAckAckBatch, ack_stale, {}});
  try {
    handler->RunMerged(&with_stale);
    FAIL() << "a merged ack with a stale delivery settled";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kNotOutstanding);
  }
  EXPECT_EQ(queue->UnackedLen(), 3u);  // x too: the server then acks each alone.

  const std::string ack_y = AckBody({y});
  const std::string ack_z = AckBody({z});
  std::vector<MergedCall> valid;
  valid.push_back({AttachOp::kAckAckBatch, ack_x, {}});
  valid.push_back({AttachOp::kAckAckBatch, ack_y, {}});
  valid.push_back({AttachOp::kAckAckBatch, ack_z, {}});
  handler->RunMerged(&valid);
  EXPECT_EQ(queue->UnackedLen(), 0u);
  EXPECT_EQ(queue->Len(), 0u);
}

std::string UniqueBody(const std::vector<KeyedItem>& keyed_items) {
  BodyWriter body;
  WriteKeyedItems(keyed_items, &body);
  return body.bytes();
}

std::vector<bool> StoredFlags(const std::string& reply, const std::string& path) {
  BodyReader reader(reply, path);
  return ReadStoredFlags(&reader);
}

std::string IdsBody(const std::vector<uint64_t>& ids) {
  BodyWriter body;
  WriteIds(ids, &body);
  return body.bytes();
}

TEST_F(AckAttachHandlerTest, RetriedPushesAndRequeuesThatRanGetTheirOutcomeFromAnyOwner) {
  AckOptions options;
  const std::string& path = QueuePath();
  {
    std::unique_ptr<ServedAckQueue> served = OpenAckQueueToServe(path, options);
    std::unique_ptr<AttachHandler> handler = MakeAckAttachHandler(served.get(), options, NoAge);
    RunCall(handler.get(), AttachOp::kAckPushBatch, PushBody({"a", "b"}), CallOfLane(1, 5, false));
    EXPECT_EQ(StoredFlags(RunCall(handler.get(), AttachOp::kAckPushBatchUnique,
                              UniqueBody({{"k", "u"}, {"j", "v"}}), CallOfLane(2, 7, false)),
                          path),
              (std::vector<bool>{true, true}));
    Deliveries got = served->queue().Get(1);
    served->queue().AckFailed(got[0]);
    EXPECT_EQ(BodyReader(RunCall(handler.get(), AttachOp::kAckRequeueFailed, IdsBody({got[0].id}),
                             CallOfLane(3, 2, false)),
                         path)
                  .U64(),
              1u);
    EXPECT_EQ(served->queue().Len(), 4u);
  }  // The owner is gone; the next one reads the records.
  std::unique_ptr<ServedAckQueue> served = OpenAckQueueToServe(path, options);
  std::unique_ptr<AttachHandler> handler = MakeAckAttachHandler(served.get(), options, NoAge);
  RunCall(handler.get(), AttachOp::kAckPushBatch, PushBody({"a", "b"}), CallOfLane(1, 5, true));
  // The flags of the run that stored them, not "already there".
  EXPECT_EQ(StoredFlags(RunCall(handler.get(), AttachOp::kAckPushBatchUnique,
                            UniqueBody({{"k", "u"}, {"j", "v"}}), CallOfLane(2, 7, true)),
                        path),
            (std::vector<bool>{true, true}));
  EXPECT_EQ(BodyReader(RunCall(handler.get(), AttachOp::kAckRequeueFailed, IdsBody({0}),
                           CallOfLane(3, 2, true)),
                       path)
                .U64(),
            1u);
  EXPECT_EQ(served->queue().Len(), 4u);
  // A retry that finds no record runs.
  RunCall(handler.get(), AttachOp::kAckPushBatch, PushBody({"c"}), CallOfLane(1, 6, true));
  EXPECT_EQ(served->queue().Len(), 5u);
}

TEST_F(AckAttachHandlerTest, ARetriedSettleIsNotOutstandingAndARetriedGetRunsAgain) {
  AckOptions options;
  const std::string& path = QueuePath();
  Delivery lost{};
  {
    std::unique_ptr<ServedAckQueue> served = OpenAckQueueToServe(path, options);
    served->queue().PushBatch({"x"});
    lost = served->queue().Get(1)[0];
  }  // Its reply was lost with the owner.
  std::unique_ptr<ServedAckQueue> served = OpenAckQueueToServe(path, options);
  std::unique_ptr<AttachHandler> handler = MakeAckAttachHandler(served.get(), options, NoAge);
  BodyWriter reply;
  try {
    handler->Run(AttachOp::kAckAckBatch, AckBody({lost}), &reply, false, CallOfLane(1, 3, true));
    FAIL() << "a retried ack settled";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kNotOutstanding);
    EXPECT_NE(std::string(error.what()).find("owner changed"), std::string::npos) << error.what();
  }
  MergedCall get{AttachOp::kAckGet, {}, {}};
  const std::string body = GetWaitBody(1, 0).substr(0, 8);  // Get's body: max items only.
  EXPECT_EQ(handler->Run(AttachOp::kAckGet, body, &get.reply, false, CallOfLane(2, 4, true)),
            AttachHandler::Outcome::kDone);
  EXPECT_EQ(Payloads(get, path), (std::vector<std::string>{"x"}));
}

}  // namespace
}  // namespace rocksq
