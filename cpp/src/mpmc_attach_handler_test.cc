// The MPMC queue's attach handler answering retries after a hand-over from
// the push ledger, as fifo_attach_handler_test.cc does for FIFO.

#include "mpmc_attach_handler.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "handover_test_util.h"

namespace rocksq {
namespace {

using testing::CallOfLane;
using testing::RunCall;

using MpmcAttachHandlerTest = testing::TempDirTest;


std::string AddBody(const std::vector<std::string_view>& items) {
  BodyWriter body;
  body.Items(items.data(), items.size());
  return body.bytes();
}

std::string NextBody(std::string_view label, uint64_t max_items) {
  BodyWriter body;
  body.String(label);
  body.U8(0);  // From the oldest.
  body.U64(max_items);
  return body.bytes();
}

std::string LabelBody(std::string_view label) {
  BodyWriter body;
  body.String(label);
  return body.bytes();
}

std::vector<std::string> ReadItems(const std::string& reply, const std::string& path) {
  BodyReader reader(reply, path);
  reader.U8();  // Expired.
  std::vector<std::string> items;
  for (std::string_view item : reader.Items()) items.emplace_back(item);
  return items;
}

TEST_F(MpmcAttachHandlerTest, RetriedCallsThatRanGetTheirOutcomeFromTheNextOwner) {
  MpmcOptions options;
  const std::string& path = QueuePath();
  {
    std::unique_ptr<ServedMpmcQueue> served = OpenMpmcQueueToServe(path, options);
    std::unique_ptr<AttachHandler> handler = MakeMpmcAttachHandler(served.get(), options);
    RunCall(handler.get(), AttachOp::kMpmcAddBatch, AddBody({"a", "b", "c"}),
            CallOfLane(1, 5, false));
    EXPECT_EQ(ReadItems(RunCall(handler.get(), AttachOp::kMpmcNext, NextBody("l", 2),
                                CallOfLane(2, 3, false)),
                        path),
              (std::vector<std::string>{"a", "b"}));
    served->queue().Next("gone", StartPosition::kOldest, 1);
    EXPECT_EQ(RunCall(handler.get(), AttachOp::kMpmcRemoveLabel, LabelBody("gone"),
                      CallOfLane(3, 8, false)),
              std::string(1, '\1'));
  }  // The owner is gone; the next one reads the records.
  std::unique_ptr<ServedMpmcQueue> served = OpenMpmcQueueToServe(path, options);
  std::unique_ptr<AttachHandler> handler = MakeMpmcAttachHandler(served.get(), options);
  RunCall(handler.get(), AttachOp::kMpmcAddBatch, AddBody({"a", "b", "c"}),
          CallOfLane(1, 5, true));
  EXPECT_EQ(served->queue().Len(), 3u);
  // The same range, not the label's next one.
  EXPECT_EQ(ReadItems(RunCall(handler.get(), AttachOp::kMpmcNext, NextBody("l", 2),
                              CallOfLane(2, 3, true)),
                      path),
            (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(RunCall(handler.get(), AttachOp::kMpmcRemoveLabel, LabelBody("gone"),
                    CallOfLane(3, 8, true)),
            std::string(1, '\1'));
  // The label moved once: its next call reads on.
  EXPECT_EQ(ReadItems(RunCall(handler.get(), AttachOp::kMpmcNext, NextBody("l", 2),
                              CallOfLane(2, 4, false)),
                      path),
            (std::vector<std::string>{"c"}));
}

// Synced, adds that arrive together run as one group on a worker: one
// write, each call's items in a row in arrival order, and each call's push
// record, so that a retry after a hand-over is not stored twice.
TEST_F(MpmcAttachHandlerTest, MergedAddsStoreEachCallsItemsInOrderWithEachCallsRecord) {
  MpmcOptions unsynced;
  EXPECT_FALSE(MakeMpmcAttachHandler(OpenMpmcQueueToServe(QueuePath() + "-unsynced", unsynced).get(),
                                     unsynced)
                   ->GroupsRunOnWorkers());
  MpmcOptions options;
  options.sync = true;
  const std::string& path = QueuePath();
  const std::string first = AddBody({"a1", "a2"}), second = AddBody({"b1"});
  {
    std::unique_ptr<ServedMpmcQueue> served = OpenMpmcQueueToServe(path, options);
    std::unique_ptr<AttachHandler> handler = MakeMpmcAttachHandler(served.get(), options);
    EXPECT_TRUE(handler->GroupsRunOnWorkers());
    const int adds = handler->MergeGroup(AttachOp::kMpmcAddBatch);
    EXPECT_NE(adds, 0);
    EXPECT_EQ(handler->MergeGroup(AttachOp::kMpmcNext), 0);
    std::vector<AttachHandler::MergedCall> calls;
    calls.push_back({AttachOp::kMpmcAddBatch, first, {}});
    calls.back().caller = CallOfLane(1, 7, /*retry=*/false);
    calls.push_back({AttachOp::kMpmcAddBatch, second, {}});
    calls.back().caller = CallOfLane(2, 9, /*retry=*/false);
    handler->RunMerged(&calls);
    // A retry is not merged: the server then runs each call alone.
    calls.back().caller.retry = true;
    EXPECT_THROW(handler->RunMerged(&calls), Error);
  }  // The owner is gone; the next one reads the records.
  std::unique_ptr<ServedMpmcQueue> served = OpenMpmcQueueToServe(path, options);
  std::unique_ptr<AttachHandler> handler = MakeMpmcAttachHandler(served.get(), options);
  RunCall(handler.get(), AttachOp::kMpmcAddBatch, first, CallOfLane(1, 7, true));
  RunCall(handler.get(), AttachOp::kMpmcAddBatch, second, CallOfLane(2, 9, true));
  EXPECT_EQ(ReadItems(RunCall(handler.get(), AttachOp::kMpmcNext, NextBody("l", 10),
                              CallOfLane(3, 1, false)),
                      path),
            (std::vector<std::string>{"a1", "a2", "b1"}));
}

}  // namespace
}  // namespace rocksq
