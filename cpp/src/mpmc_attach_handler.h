// The MPMC queue's operations for the attach server (attach_server.h),
// AttachOp 64..71 (attach_wire.h). Labels are the owner's: an attached
// reader of a label shares its position with every other reader of it.

#ifndef ROCKSQ_SRC_MPMC_ATTACH_HANDLER_H_
#define ROCKSQ_SRC_MPMC_ATTACH_HANDLER_H_

#include <memory>

#include "attach_server.h"
#include "rocksq/mpmc_queue.h"

namespace rocksq {

// Serves `queue`, opened with `options`; the queue outlives the server.
std::unique_ptr<AttachHandler> MakeMpmcAttachHandler(MpmcQueue* queue, const MpmcOptions& options);

}  // namespace rocksq

#endif  // ROCKSQ_SRC_MPMC_ATTACH_HANDLER_H_
