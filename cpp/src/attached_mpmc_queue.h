// An MpmcQueue whose calls go to the process that owns the queue
// (attach_client.h), served by its AttachServer with the MPMC handler
// (mpmc_attach_handler.h). Labels are the owner's.

#ifndef ROCKSQ_SRC_ATTACHED_MPMC_QUEUE_H_
#define ROCKSQ_SRC_ATTACHED_MPMC_QUEUE_H_

#include <memory>
#include <string>

#include "rocksq/mpmc_queue.h"

namespace rocksq {

// Attaches to the owner of the MPMC queue at `path`, as AttachFifoQueue
// does (attached_fifo_queue.h); ttl and sync must be the owner's.
std::unique_ptr<MpmcQueue> AttachMpmcQueue(const std::string& path, const MpmcOptions& options);

}  // namespace rocksq

#endif  // ROCKSQ_SRC_ATTACHED_MPMC_QUEUE_H_
