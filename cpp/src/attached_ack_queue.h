// An AckQueue whose calls go to the process that owns the queue
// (attach_client.h), served by its AttachServer with the ack handler
// (ack_attach_handler.h). Deliveries carry the owner's ids and receipts,
// so they settle there as the owner's own do; the owner keeps the leases.
//
// When the owner closes the queue or dies, the attached queue hands over as
// a FIFO queue does (owner_link.h): pushes, unique pushes and requeues
// complete exactly once (push_ledger.h); a get runs again at the new owner,
// where every item handed out through the dead one is ready again, as after
// a crash; a settle under way, or of a delivery the dead owner handed out,
// gets kNotOutstanding, its item settled or to be delivered again.

#ifndef ROCKSQ_SRC_ATTACHED_ACK_QUEUE_H_
#define ROCKSQ_SRC_ATTACHED_ACK_QUEUE_H_

#include <functional>
#include <memory>
#include <string>

#include "rocksq/ack_queue.h"

namespace rocksq {

// Opens the queue owned by this process and served to attached ones, with
// `options`, or throws LockedByAnotherProcess if another process holds it.
using OpenOwnedAckQueue = std::function<std::unique_ptr<AckQueue>(const AckOptions& options)>;

// Attaches to the owner of the ack queue at `path`, as AttachFifoQueue
// does (attached_fifo_queue.h); max_elements, sync, visibility_timeout and
// dedup_window must be the owner's. `open_owned` is how the queue takes
// over from an owner that went away.
std::unique_ptr<AckQueue> AttachAckQueue(const std::string& path, const AckOptions& options,
                                         OpenOwnedAckQueue open_owned);

}  // namespace rocksq

#endif  // ROCKSQ_SRC_ATTACHED_ACK_QUEUE_H_
