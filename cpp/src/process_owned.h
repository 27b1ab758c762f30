// How a queue stays its opening process's alone (see rocksq/process.h): the
// object Open returns checks the process before every call, and in a fork()
// child leaks the queue instead of destroying it. Also arms the exit
// mitigation for children of a process that used RocksDB (process.cc).

#ifndef ROCKSQ_SRC_PROCESS_OWNED_H_
#define ROCKSQ_SRC_PROCESS_OWNED_H_

#include <memory>

#include "rocksq/ack_queue.h"
#include "rocksq/fifo_queue.h"
#include "rocksq/mpmc_queue.h"
#include "rocksq/process.h"

namespace rocksq {

// Wraps the queue an Open just made: every call but Path() first checks
// that it runs in the opening process (kForkedProcess otherwise); in a
// child, Close() and the destructor leave the queue alone.
std::unique_ptr<FifoQueue> OwnedByThisProcess(std::unique_ptr<FifoQueue> queue);
std::unique_ptr<MpmcQueue> OwnedByThisProcess(std::unique_ptr<MpmcQueue> queue);
std::unique_ptr<AckQueue> OwnedByThisProcess(std::unique_ptr<AckQueue> queue);

// How many fork()s separate this process from the first one that used
// RocksQ: 0 there, 1 in its children, 2 in theirs.
uint64_t ForkGeneration() noexcept;

// Called before RocksQ opens any RocksDB database: from then on RocksDB's
// process-wide thread pools may have threads, and a fork() child of this
// process ends through ExitSkippingStaticDestructors (process.cc).
void NoteDatabaseOpened() noexcept;

}  // namespace rocksq

#endif  // ROCKSQ_SRC_PROCESS_OWNED_H_
