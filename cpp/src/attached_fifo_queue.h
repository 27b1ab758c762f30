// A FifoQueue whose calls go to the process that owns the queue
// (attach_client.h), served by its AttachServer with the FIFO handler
// (fifo_attach_handler.h).

#ifndef ROCKSQ_SRC_ATTACHED_FIFO_QUEUE_H_
#define ROCKSQ_SRC_ATTACHED_FIFO_QUEUE_H_

#include <cstdint>
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

// Connects to the owner's socket; -1 if nobody listens there (ENOENT: not
// bound yet or never; ECONNREFUSED: stale). Other failures throw.
int ConnectToOwner(const std::string& path);

// Sends this process's Hello for a queue of `kind` (attach_wire.h) on `fd`
// and reads the answer into `welcome_body`. False if the owner closed the
// connection (it was closing); throws its refusal.
bool Handshake(int fd, const std::string& path, uint32_t kind, std::string* welcome_body);

}  // namespace rocksq

#endif  // ROCKSQ_SRC_ATTACHED_FIFO_QUEUE_H_
