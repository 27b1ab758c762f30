// The FIFO queue's operations for the attach server (attach_server.h),
// AttachOp 2..12 (attach_wire.h).

#ifndef ROCKSQ_SRC_FIFO_ATTACH_HANDLER_H_
#define ROCKSQ_SRC_FIFO_ATTACH_HANDLER_H_

#include <functional>
#include <memory>

#include "age_marks.h"
#include "attach_server.h"
#include "rocksq/fifo_queue.h"

namespace rocksq {

// Serves `queue`, opened with `options`; the queue outlives the server.
// `oldest_item_age` answers for it in Stats (age_marks.h).
std::unique_ptr<AttachHandler> MakeFifoAttachHandler(FifoQueue* queue, const FifoOptions& options,
                                                     std::function<ItemAge()> oldest_item_age);

}  // namespace rocksq

#endif  // ROCKSQ_SRC_FIFO_ATTACH_HANDLER_H_
