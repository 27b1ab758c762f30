// A FifoQueue whose calls go to the process that owns the queue
// (attach_client.h), served by its AttachServer with the FIFO handler
// (fifo_attach_handler.h). When that process closes the queue or dies, the
// attached queue hands over (docs/design/many-processes.md, section 5): it
// attaches to the process that took the queue over, or takes it over
// itself, and sends the calls that were under way again, as retries the
// new owner answers from the call ledger (fifo_call_ledger.h): each call
// completes exactly once.

#ifndef ROCKSQ_SRC_ATTACHED_FIFO_QUEUE_H_
#define ROCKSQ_SRC_ATTACHED_FIFO_QUEUE_H_

#include <functional>
#include <memory>
#include <string>

#include "rocksq/fifo_queue.h"

namespace rocksq {

// Opens the queue owned by this process and served to attached ones, with
// `options`, or throws LockedByAnotherProcess if another process holds it.
using OpenOwnedFifoQueue = std::function<std::unique_ptr<FifoQueue>(const FifoOptions& options)>;

// Attaches to the owner of the FIFO queue at `path`. Returns null if no
// process listens on the queue's socket (none is there, or it is stale:
// the caller tries to open the queue again). Throws kInvalidArgument if
// `options` disagree with the owner's (naming both values), the owner's
// refusal (AttachClient::Connect), or kStorage. `open_owned` is how the
// queue takes over from an owner that went away.
std::unique_ptr<FifoQueue> AttachFifoQueue(const std::string& path, const FifoOptions& options,
                                           OpenOwnedFifoQueue open_owned);

}  // namespace rocksq

#endif  // ROCKSQ_SRC_ATTACHED_FIFO_QUEUE_H_
