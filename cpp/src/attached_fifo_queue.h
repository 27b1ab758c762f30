// A FifoQueue whose calls go to the process that owns the queue
// (attach_client.h), served by its AttachServer with the FIFO handler
// (fifo_attach_handler.h).

#ifndef ROCKSQ_SRC_ATTACHED_FIFO_QUEUE_H_
#define ROCKSQ_SRC_ATTACHED_FIFO_QUEUE_H_

#include <memory>
#include <string>

#include "rocksq/fifo_queue.h"

namespace rocksq {

// Attaches to the owner of the FIFO queue at `path`. Returns null if no
// process listens on the queue's socket (none is there, or it is stale:
// the caller tries to open the queue again). Throws kInvalidArgument if
// `options` disagree with the owner's (naming both values), the owner's
// refusal (AttachClient::Connect), or kStorage.
std::unique_ptr<FifoQueue> AttachFifoQueue(const std::string& path, const FifoOptions& options);

}  // namespace rocksq

#endif  // ROCKSQ_SRC_ATTACHED_FIFO_QUEUE_H_
