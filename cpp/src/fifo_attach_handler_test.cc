// The FIFO queue's attach handler merging requests that arrived together
// (AttachHandler::RunMerged): each call gets what it would have got running
// alone in arrival order, and a merge that cannot run does nothing. And its
// call ledger: a call retried after a hand-over is answered, by the owner
// that took over, from what its first run did.

#include "fifo_attach_handler.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "cursor_file.h"
#include "handover_test_util.h"

namespace rocksq {
namespace {

using testing::CallOfLane;

using FifoAttachHandlerTest = testing::TempDirTest;
using MergedCall = AttachHandler::MergedCall;

// The handlers' Stats age, which these tests do not ask for.
ItemAge NoAge() { return ItemAge(); }

std::string PushBody(const std::vector<std::string_view>& items) {
  BodyWriter body;
  body.Items(items.data(), items.size());
  return body.bytes();
}

std::string PushWaitBody(int64_t timeout_ns, const std::vector<std::string_view>& items) {
  BodyWriter body;
  body.I64(timeout_ns);
  body.Items(items.data(), items.size());
  return body.bytes();
}

std::string PopBody(uint64_t max_items) {
  BodyWriter body;
  body.U64(max_items);
  return body.bytes();
}

std::string PopWaitBody(uint64_t max_items, int64_t timeout_ns) {
  BodyWriter body;
  body.U64(max_items);
  body.I64(timeout_ns);
  return body.bytes();
}

std::vector<std::string> ReplyItems(MergedCall& call, const std::string& path) {
  BodyReader reader(call.reply.bytes(), path);
  std::vector<std::string> items;
  for (std::string_view item : reader.Items()) items.emplace_back(item);
  return items;
}

std::vector<std::string> Drain(FifoQueue* queue) {
  PoppedItems popped = queue->Pop(1000);
  std::vector<std::string> items;
  for (size_t i = 0; i < popped.size(); ++i) items.emplace_back(popped[i]);
  return items;
}

TEST_F(FifoAttachHandlerTest, PushesAndPopsMergeInOneGroupEach) {
  FifoOptions options;
  std::unique_ptr<ServedFifoQueue> served = OpenFifoQueueToServe(QueuePath(), options);
  FifoQueue* queue = &served->queue();
  std::unique_ptr<AttachHandler> handler = MakeFifoAttachHandler(served.get(), options, NoAge);
  const int pushes = handler->MergeGroup(AttachOp::kPushBatch);
  EXPECT_NE(pushes, 0);
  EXPECT_EQ(handler->MergeGroup(AttachOp::kPushBatchWait), pushes);
  const int pops = handler->MergeGroup(AttachOp::kPop);
  EXPECT_GT(pops, pushes);  // Pops after the pushes that came with them.
  EXPECT_EQ(handler->MergeGroup(AttachOp::kPopWait), pops);
  EXPECT_EQ(handler->MergeGroup(AttachOp::kLen), 0);
  EXPECT_EQ(handler->MergeGroup(AttachOp::kSetMaxElements), 0);
}

TEST_F(FifoAttachHandlerTest, MergedPushesStoreEachCallsItemsInArrivalOrder) {
  FifoOptions options;
  std::unique_ptr<ServedFifoQueue> served = OpenFifoQueueToServe(QueuePath(), options);
  FifoQueue* queue = &served->queue();
  std::unique_ptr<AttachHandler> handler = MakeFifoAttachHandler(served.get(), options, NoAge);
  const std::string first = PushBody({"a1", "a2"});
  const std::string second = PushWaitBody(1'000'000, {"b1"});
  const std::string third = PushBody({"c1", "c2", "c3"});
  std::vector<MergedCall> calls;
  calls.push_back({AttachOp::kPushBatch, first, {}});
  calls.push_back({AttachOp::kPushBatchWait, second, {}});
  calls.push_back({AttachOp::kPushBatch, third, {}});
  handler->RunMerged(&calls);
  for (MergedCall& call : calls) {
    EXPECT_EQ(call.outcome, AttachHandler::Outcome::kDone);
    EXPECT_TRUE(call.reply.bytes().empty());
  }
  EXPECT_EQ(Drain(queue), (std::vector<std::string>{"a1", "a2", "b1", "c1", "c2", "c3"}));
}

TEST_F(FifoAttachHandlerTest, MergedPushesThatDoNotFitStoreNothingAndThrow) {
  FifoOptions options;
  options.max_elements = 4;
  std::unique_ptr<ServedFifoQueue> served = OpenFifoQueueToServe(QueuePath(), options);
  FifoQueue* queue = &served->queue();
  std::unique_ptr<AttachHandler> handler = MakeFifoAttachHandler(served.get(), options, NoAge);
  queue->Push("old");
  const std::string first = PushBody({"a1", "a2"});
  const std::string second = PushBody({"b1", "b2"});  // Alone, the first would fit.
  std::vector<MergedCall> calls;
  calls.push_back({AttachOp::kPushBatch, first, {}});
  calls.push_back({AttachOp::kPushBatch, second, {}});
  try {
    handler->RunMerged(&calls);
    FAIL() << "a merged push past max_elements was stored";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kQueueFull);
  }
  EXPECT_EQ(queue->Len(), 1u);
}

TEST_F(FifoAttachHandlerTest, MergedPopsHandOutItemsInArrivalOrderAndParkOnlyWaiters) {
  FifoOptions options;
  std::unique_ptr<ServedFifoQueue> served = OpenFifoQueueToServe(QueuePath(), options);
  FifoQueue* queue = &served->queue();
  std::unique_ptr<AttachHandler> handler = MakeFifoAttachHandler(served.get(), options, NoAge);
  queue->PushBatch({"i1", "i2", "i3"});
  const std::string two = PopBody(2);
  const std::string two_waiting = PopWaitBody(2, 1'000'000'000);
  const std::string none_asked = PopWaitBody(0, 1'000'000'000);
  const std::string one = PopBody(1);
  const std::string one_waiting = PopWaitBody(1, 1'000'000'000);
  const std::string one_not_waiting = PopWaitBody(1, 0);
  std::vector<MergedCall> calls;
  for (const auto& [op, body] : std::vector<std::pair<AttachOp, const std::string*>>{
           {AttachOp::kPop, &two},
           {AttachOp::kPopWait, &two_waiting},
           {AttachOp::kPopWait, &none_asked},
           {AttachOp::kPop, &one},
           {AttachOp::kPopWait, &one_waiting},
           {AttachOp::kPopWait, &one_not_waiting}}) {
    calls.push_back({op, *body, {}});
  }
  handler->RunMerged(&calls);
  const std::string& path = QueuePath();
  EXPECT_EQ(ReplyItems(calls[0], path), (std::vector<std::string>{"i1", "i2"}));
  EXPECT_EQ(ReplyItems(calls[1], path), (std::vector<std::string>{"i3"}));
  EXPECT_EQ(calls[2].outcome, AttachHandler::Outcome::kDone);  // Asked for none.
  EXPECT_TRUE(ReplyItems(calls[2], path).empty());
  EXPECT_EQ(calls[3].outcome, AttachHandler::Outcome::kDone);  // A pop does not wait.
  EXPECT_TRUE(ReplyItems(calls[3], path).empty());
  EXPECT_EQ(calls[4].outcome, AttachHandler::Outcome::kMustWait);
  EXPECT_EQ(calls[5].outcome, AttachHandler::Outcome::kDone);  // No time to wait.
  EXPECT_TRUE(ReplyItems(calls[5], path).empty());
  EXPECT_EQ(queue->Len(), 0u);
}

TEST_F(FifoAttachHandlerTest, SyncedPushesAndPopsRunAtOnceOnWorkersEachItemOnceInOrder) {
  FifoOptions unsynced;
  EXPECT_FALSE(MakeFifoAttachHandler(OpenFifoQueueToServe(QueuePath() + "-unsynced", unsynced).get(),
                                     unsynced, NoAge)
                   ->GroupsRunOnWorkers());
  FifoOptions options;
  options.sync = true;
  std::unique_ptr<ServedFifoQueue> served = OpenFifoQueueToServe(QueuePath(), options);
  std::unique_ptr<AttachHandler> handler = MakeFifoAttachHandler(served.get(), options, NoAge);
  ASSERT_TRUE(handler->GroupsRunOnWorkers());
  // Each kind's calls that arrive while its group syncs form its next one.
  EXPECT_TRUE(handler->GathersGroups(handler->MergeGroup(AttachOp::kPushBatch)));
  EXPECT_TRUE(handler->GathersGroups(handler->MergeGroup(AttachOp::kPop)));
  // As the server runs them: merged pushes on one thread while merged pops
  // run on another, lanes 0-1 pushing and 2-3 popping.
  constexpr int kRounds = 150;
  std::thread pusher([&] {
    for (uint64_t round = 0; round < kRounds; ++round) {
      const std::string first = "a" + std::to_string(round), second = "b" + std::to_string(round);
      const std::string first_body = PushBody({first}), second_body = PushBody({second});
      std::vector<MergedCall> calls;
      calls.push_back({AttachOp::kPushBatch, first_body, {}});
      calls.back().caller = CallOfLane(0, round + 1, /*retry=*/false);
      calls.push_back({AttachOp::kPushBatch, second_body, {}});
      calls.back().caller = CallOfLane(1, round + 1, /*retry=*/false);
      handler->RunMerged(&calls);
    }
  });
  std::vector<std::string> popped;
  const std::string pop_body = PopBody(1);
  for (uint64_t seq = 1; popped.size() < 2 * kRounds; ++seq) {
    std::vector<MergedCall> calls;
    for (uint32_t lane : {2, 3}) {
      calls.push_back({AttachOp::kPop, pop_body, {}});
      calls.back().caller = CallOfLane(lane, seq, /*retry=*/false);
    }
    handler->RunMerged(&calls);
    for (MergedCall& call : calls) {
      for (std::string& item : ReplyItems(call, QueuePath())) popped.push_back(std::move(item));
      handler->Replied(AttachOp::kPop, call.caller.call);
    }
  }
  pusher.join();
  std::vector<std::string> expected;
  for (int round = 0; round < kRounds; ++round) {
    expected.push_back("a" + std::to_string(round));
    expected.push_back("b" + std::to_string(round));
  }
  EXPECT_EQ(popped, expected);
  EXPECT_EQ(served->queue().Len(), 0u);
}

std::vector<std::string> RunPop(AttachHandler* handler, uint64_t max_items,
                                const AttachHandler::Caller& caller, const std::string& path) {
  MergedCall call{AttachOp::kPop, {}, {}};
  const std::string body = PopBody(max_items);
  EXPECT_EQ(handler->Run(AttachOp::kPop, body, &call.reply, /*final=*/false, caller),
            AttachHandler::Outcome::kDone);
  return ReplyItems(call, path);
}

void RunPush(AttachHandler* handler, const std::vector<std::string_view>& items,
             const AttachHandler::Caller& caller) {
  BodyWriter reply;
  handler->Run(AttachOp::kPushBatch, PushBody(items), &reply, /*final=*/false, caller);
}

TEST_F(FifoAttachHandlerTest, ARetriedPushThatWasStoredIsNotStoredAgainByAnyOwner) {
  FifoOptions options;
  options.attach = true;
  {
    std::unique_ptr<ServedFifoQueue> served = OpenFifoQueueToServe(QueuePath(), options);
    std::unique_ptr<AttachHandler> handler = MakeFifoAttachHandler(served.get(), options, NoAge);
    RunPush(handler.get(), {"a"}, CallOfLane(1, 5, false));
    RunPush(handler.get(), {"a"}, CallOfLane(1, 5, true));
    EXPECT_EQ(served->queue().Len(), 1u);
    RunPush(handler.get(), {"b"}, CallOfLane(1, 6, true));  // Never ran: runs now.
    EXPECT_EQ(served->queue().Len(), 2u);
  }  // The owner is gone; the next one reads the records.
  std::unique_ptr<ServedFifoQueue> served = OpenFifoQueueToServe(QueuePath(), options);
  std::unique_ptr<AttachHandler> handler = MakeFifoAttachHandler(served.get(), options, NoAge);
  RunPush(handler.get(), {"b"}, CallOfLane(1, 6, true));
  EXPECT_EQ(served->queue().Len(), 2u);
  RunPush(handler.get(), {"c"}, CallOfLane(2, 6, true));  // Another lane's call 6.
  EXPECT_EQ(Drain(&served->queue()), (std::vector<std::string>{"a", "b", "c"}));
}

TEST_F(FifoAttachHandlerTest, ARetriedPopWhoseReplyWasNotSentGetsTheSameItemsFromTheNextOwner) {
  FifoOptions options;
  options.attach = true;
  const std::string& path = QueuePath();
  {
    std::unique_ptr<ServedFifoQueue> served = OpenFifoQueueToServe(path, options);
    std::unique_ptr<AttachHandler> handler = MakeFifoAttachHandler(served.get(), options, NoAge);
    served->queue().PushBatch({"a", "b", "c", "d"});
    // Popped, and the owner dies before the reply is sent (no Replied).
    EXPECT_EQ(RunPop(handler.get(), 2, CallOfLane(1, 9, false), path),
              (std::vector<std::string>{"a", "b"}));
    // Another lane's pop was answered: its items need not stay.
    EXPECT_EQ(RunPop(handler.get(), 1, CallOfLane(2, 3, false), path),
              (std::vector<std::string>{"c"}));
    handler->Replied(AttachOp::kPop, CallOfLane(2, 3, false).call);
  }
  std::unique_ptr<ServedFifoQueue> served = OpenFifoQueueToServe(path, options);
  std::unique_ptr<AttachHandler> handler = MakeFifoAttachHandler(served.get(), options, NoAge);
  EXPECT_EQ(served->queue().Len(), 1u);
  EXPECT_EQ(RunPop(handler.get(), 2, CallOfLane(1, 9, true), path),
            (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(served->queue().Len(), 1u);
  // A retry that finds no record pops anew.
  EXPECT_EQ(RunPop(handler.get(), 2, CallOfLane(3, 1, true), path),
            (std::vector<std::string>{"d"}));
}

TEST_F(FifoAttachHandlerTest, APopRecordStoredWithoutItsCursorStillCountsAsPopped) {
  FifoOptions options;
  options.attach = true;
  const std::string& path = QueuePath();
  {
    std::unique_ptr<ServedFifoQueue> served = OpenFifoQueueToServe(path, options);
    std::unique_ptr<AttachHandler> handler = MakeFifoAttachHandler(served.get(), options, NoAge);
    served->queue().PushBatch({"a", "b", "c"});
    RunPop(handler.get(), 2, CallOfLane(1, 1, false), path);
  }
  // As if the owner died between the record and the cursor.
  CursorFile(path, /*sync=*/false).Store(0);
  FifoOptions plain;
  std::unique_ptr<FifoQueue> queue = FifoQueue::Open(path, plain);
  EXPECT_EQ(Drain(queue.get()), (std::vector<std::string>{"c"}));
}

// Runs a task-count operation once (final: at its deadline) and returns its
// outcome; its reply goes to `reply`.
AttachHandler::Outcome RunTaskOp(AttachHandler* handler, AttachOp op, const std::string& body,
                                 BodyWriter* reply, bool final = false,
                                 const AttachHandler::Caller& caller = CallOfLane(1, 1, false)) {
  return handler->Run(op, body, reply, final, caller);
}

uint64_t ReplyU64(BodyWriter& reply, const std::string& path) {
  return BodyReader(reply.bytes(), path).U64();
}

std::string JoinWaitBody(int64_t timeout_ns) {
  BodyWriter body;
  body.I64(timeout_ns);
  return body.bytes();
}

TEST_F(FifoAttachHandlerTest, TaskCountsAreTheOwnersAndAJoinWaitsParkedUntilNoneIsUnfinished) {
  FifoOptions options;
  std::unique_ptr<ServedFifoQueue> served = OpenFifoQueueToServe(QueuePath(), options);
  std::unique_ptr<AttachHandler> handler = MakeFifoAttachHandler(served.get(), options, NoAge);
  const std::string& path = QueuePath();
  served->queue().PushBatch({"a", "b"});
  BodyWriter count;
  RunTaskOp(handler.get(), AttachOp::kUnfinishedTasks, "", &count);
  EXPECT_EQ(ReplyU64(count, path), 2u);

  const std::string waiting = JoinWaitBody(1'000'000'000);
  BodyWriter parked;
  EXPECT_EQ(RunTaskOp(handler.get(), AttachOp::kJoinWait, waiting, &parked),
            AttachHandler::Outcome::kMustWait);
  EXPECT_EQ(handler->WaitTimeout(AttachOp::kJoinWait, waiting), std::chrono::seconds(1));
  BodyWriter at_deadline;
  EXPECT_EQ(RunTaskOp(handler.get(), AttachOp::kJoinWait, waiting, &at_deadline, /*final=*/true),
            AttachHandler::Outcome::kDone);
  EXPECT_EQ(BodyReader(at_deadline.bytes(), path).U8(), 0);

  BodyWriter first;
  RunTaskOp(handler.get(), AttachOp::kTaskDone, "", &first);
  EXPECT_EQ(ReplyU64(first, path), 1u);
  served->queue().TaskDone();  // The owner's own thread counts in the same count.
  BodyWriter joined;
  EXPECT_EQ(RunTaskOp(handler.get(), AttachOp::kJoinWait, waiting, &joined),
            AttachHandler::Outcome::kDone);
  EXPECT_EQ(BodyReader(joined.bytes(), path).U8(), 1);
  BodyWriter refused;
  try {
    RunTaskOp(handler.get(), AttachOp::kTaskDone, "", &refused);
    FAIL() << "a task_done() with no task unfinished was counted";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kInvalidArgument);
  }
}

TEST_F(FifoAttachHandlerTest, IsShutDownAnswersTheOwnersStateWhoeverShutItDown) {
  FifoOptions options;
  std::unique_ptr<ServedFifoQueue> served = OpenFifoQueueToServe(QueuePath(), options);
  std::unique_ptr<AttachHandler> handler = MakeFifoAttachHandler(served.get(), options, NoAge);
  const auto is_shut_down = [&] {
    BodyWriter reply;
    EXPECT_EQ(handler->Run(AttachOp::kIsShutDown, "", &reply, false, CallOfLane(1, 1, false)),
              AttachHandler::Outcome::kDone);
    return BodyReader(reply.bytes(), QueuePath()).U8();
  };
  EXPECT_EQ(is_shut_down(), 0);
  served->queue().Shutdown(false);  // The owner's own call, not an attached one.
  EXPECT_EQ(is_shut_down(), 1);
}

TEST_F(FifoAttachHandlerTest, AParkedJoinIsNotHeldBackByParkedPopsOrPushes) {
  FifoOptions options;
  std::unique_ptr<ServedFifoQueue> served = OpenFifoQueueToServe(QueuePath(), options);
  std::unique_ptr<AttachHandler> handler = MakeFifoAttachHandler(served.get(), options, NoAge);
  const int joins = handler->BlockedClass(AttachOp::kJoinWait);
  EXPECT_NE(joins, handler->BlockedClass(AttachOp::kPopWait));
  EXPECT_NE(joins, handler->BlockedClass(AttachOp::kPushBatchWait));
  EXPECT_EQ(handler->MergeGroup(AttachOp::kTaskDone), 0);
  EXPECT_EQ(handler->MergeGroup(AttachOp::kJoinWait), 0);
}

TEST_F(FifoAttachHandlerTest, ARetriedTaskDoneCountsNothingAtTheOwnerThatTookOver) {
  FifoOptions options;
  options.attach = true;
  const std::string& path = QueuePath();
  {
    std::unique_ptr<ServedFifoQueue> served = OpenFifoQueueToServe(path, options);
    served->queue().PushBatch({"a", "b", "c"});
    served->queue().Pop(1);  // "a" is got; its task_done() is under way when the owner dies.
  }
  std::unique_ptr<ServedFifoQueue> served = OpenFifoQueueToServe(path, options);
  std::unique_ptr<AttachHandler> handler = MakeFifoAttachHandler(served.get(), options, NoAge);
  EXPECT_EQ(served->queue().UnfinishedTasks(), 2u);  // The items stored: "b", "c".
  BodyWriter retried;
  RunTaskOp(handler.get(), AttachOp::kTaskDone, "", &retried, false, CallOfLane(1, 4, true));
  EXPECT_EQ(ReplyU64(retried, path), 2u);
  EXPECT_EQ(served->queue().UnfinishedTasks(), 2u);
}

}  // namespace
}  // namespace rocksq
