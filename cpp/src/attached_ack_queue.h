// An AckQueue whose calls go to the process that owns the queue
// (attach_client.h), served by its AttachServer with the ack handler
// (ack_attach_handler.h). Deliveries carry the owner's ids and receipts,
// so they settle there as the owner's own do; the owner keeps the leases.

#ifndef ROCKSQ_SRC_ATTACHED_ACK_QUEUE_H_
#define ROCKSQ_SRC_ATTACHED_ACK_QUEUE_H_

#include <memory>
#include <string>

#include "rocksq/ack_queue.h"

namespace rocksq {

// Attaches to the owner of the ack queue at `path`, as AttachFifoQueue
// does (attached_fifo_queue.h); max_elements, sync, visibility_timeout and
// dedup_window must be the owner's.
std::unique_ptr<AckQueue> AttachAckQueue(const std::string& path, const AckOptions& options);

}  // namespace rocksq

#endif  // ROCKSQ_SRC_ATTACHED_ACK_QUEUE_H_
