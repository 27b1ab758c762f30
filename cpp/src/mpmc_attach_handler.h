// The MPMC queue's operations for the attach server (attach_server.h),
// AttachOp 64..71 (attach_wire.h). Labels are the owner's: an attached
// reader of a label shares its position with every other reader of it.

#ifndef ROCKSQ_SRC_MPMC_ATTACH_HANDLER_H_
#define ROCKSQ_SRC_MPMC_ATTACH_HANDLER_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "attach_server.h"
#include "push_ledger.h"
#include "rocksq/mpmc_queue.h"

namespace rocksq {

// The queue an MPMC handler serves: the owner's own, with the calls that
// keep its push ledger (push_ledger.h) for attached calls.
class ServedMpmcQueue {
 public:
  virtual ~ServedMpmcQueue() = default;
  virtual MpmcQueue& queue() = 0;
  virtual PushLedger& pushes() = 0;
  // Adds `items`, with the push record of each of `calls`.
  virtual void AddForCalls(const std::vector<std::string_view>& items,
                           const std::vector<CallId>& calls) = 0;
  // Next(), with the record of `call` (the range read: format.h,
  // kMpmcNextOutcomeBytes) if it moved the label.
  virtual MpmcRead NextForCall(std::string_view label, StartPosition start, size_t max_items,
                               const CallId& call) = 0;
  // What a Next whose record is `outcome` read, read again: the elements of
  // its range still alive.
  virtual MpmcRead ReadAgain(const std::string& outcome) = 0;
  // RemoveLabel(), with the record of `call` if the label existed.
  virtual bool RemoveLabelForCall(std::string_view label, const CallId& call) = 0;
};

// Serves `queue`, opened with `options`; the queue outlives the server.
std::unique_ptr<AttachHandler> MakeMpmcAttachHandler(ServedMpmcQueue* queue,
                                                     const MpmcOptions& options);

// Opens the queue at `path` in this process, to be served by a handler of
// a test's own (MpmcQueue::Open serves it with `options.attach`).
std::unique_ptr<ServedMpmcQueue> OpenMpmcQueueToServe(const std::string& path,
                                                      const MpmcOptions& options);

}  // namespace rocksq

#endif  // ROCKSQ_SRC_MPMC_ATTACH_HANDLER_H_
