// An MpmcQueue whose calls go to the process that owns the queue
// (attach_client.h), served by its AttachServer with the MPMC handler
// (mpmc_attach_handler.h). Labels are the owner's.
//
// When the owner closes the queue or dies, the attached queue hands over as
// a FIFO queue does (owner_link.h): adds and label removals complete exactly
// once, and a Next that moved its label gets the same range again, less
// what expired meanwhile (push_ledger.h).

#ifndef ROCKSQ_SRC_ATTACHED_MPMC_QUEUE_H_
#define ROCKSQ_SRC_ATTACHED_MPMC_QUEUE_H_

#include <functional>
#include <memory>
#include <string>

#include "rocksq/mpmc_queue.h"

namespace rocksq {

// Opens the queue owned by this process and served to attached ones, with
// `options`, or throws LockedByAnotherProcess if another process holds it.
using OpenOwnedMpmcQueue =
    std::function<std::unique_ptr<MpmcQueue>(const MpmcOptions& options)>;

// Attaches to the owner of the MPMC queue at `path`, as AttachFifoQueue
// does (attached_fifo_queue.h); ttl and sync must be the owner's.
// `open_owned` is how the queue takes over from an owner that went away.
std::unique_ptr<MpmcQueue> AttachMpmcQueue(const std::string& path, const MpmcOptions& options,
                                           OpenOwnedMpmcQueue open_owned);

}  // namespace rocksq

#endif  // ROCKSQ_SRC_ATTACHED_MPMC_QUEUE_H_
