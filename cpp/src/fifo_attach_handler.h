// The FIFO queue's operations for the attach server (attach_server.h),
// AttachOp 2..12 and 15..17 (attach_wire.h).

#ifndef ROCKSQ_SRC_FIFO_ATTACH_HANDLER_H_
#define ROCKSQ_SRC_FIFO_ATTACH_HANDLER_H_

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "age_marks.h"
#include "attach_server.h"
#include "fifo_call_ledger.h"
#include "rocksq/fifo_queue.h"

namespace rocksq {

// The queue a FIFO handler serves: the owner's own, with the pushes and pops
// that keep its call ledger (fifo_call_ledger.h) for attached calls.
class ServedFifoQueue {
 public:
  virtual ~ServedFifoQueue() = default;
  virtual FifoQueue& queue() = 0;
  virtual CallLedger& ledger() = 0;
  // Pushes `items` (all or nothing; kQueueFull if they do not fit now),
  // with the push record of each of `calls`.
  virtual void PushForCalls(const std::vector<std::string_view>& items,
                            const std::vector<CallId>& calls) = 0;
  // Pops at most the sum of `wanted` items, each call of `calls` getting
  // its share (AttachHandler::ShareInArrivalOrder), recorded as its pop
  // record: returns the items, in order.
  virtual PoppedItems PopForCalls(const std::vector<uint64_t>& wanted,
                                  const std::vector<CallId>& calls) = 0;
  // The items at [first, first + count), popped by a call whose pop record
  // still keeps them (CallLedger::FindPop).
  virtual PoppedItems ReadPopped(uint64_t first, uint64_t count) = 0;
};

// Serves `queue`, opened with `options`; the queue outlives the server.
// `oldest_item_age` answers for it in Stats (age_marks.h).
std::unique_ptr<AttachHandler> MakeFifoAttachHandler(ServedFifoQueue* queue,
                                                     const FifoOptions& options,
                                                     std::function<ItemAge()> oldest_item_age);

// Opens the queue at `path` in this process, to be served by a handler of
// a test's own (FifoQueue::Open serves it with `options.attach`).
std::unique_ptr<ServedFifoQueue> OpenFifoQueueToServe(const std::string& path,
                                                      const FifoOptions& options);

}  // namespace rocksq

#endif  // ROCKSQ_SRC_FIFO_ATTACH_HANDLER_H_
