// How no process ever uses a RocksDB handle it inherited (see
// rocksq/process.h): the object Open returns checks the process before every
// call. In a fork() child it leaks the queue it holds instead of destroying
// it, and either opens the queue again for the child (a FIFO queue opened
// with attach: the child attaches to the owner, or owns the queue if nobody
// does) or refuses every call with kForkedProcess. Also arms the exit
// mitigation for children of a process that used RocksDB (process.cc), and
// closes in a fork() child the descriptors that talk to other processes.

#ifndef ROCKSQ_SRC_PROCESS_OWNED_H_
#define ROCKSQ_SRC_PROCESS_OWNED_H_

#include <functional>
#include <memory>

#include "rocksq/ack_queue.h"
#include "rocksq/fifo_queue.h"
#include "rocksq/mpmc_queue.h"
#include "rocksq/process.h"

namespace rocksq {

// Wraps the queue an Open just made: every call but Path() first checks
// that it runs in the opening process. In a fork() child, Close() and the
// destructor leave the queue alone, and the calls go to a queue
// `open_in_child` opens there at the child's first call (once per process,
// whatever the threads), or throw kForkedProcess if it is null.
// `open_in_child` is given the options to open with: `options` as the
// wrapper last knew them (SetMaxElements updates max_elements).
using OpenFifoInChild = std::function<std::unique_ptr<FifoQueue>(const FifoOptions& options)>;
std::unique_ptr<FifoQueue> OwnedByThisProcess(std::unique_ptr<FifoQueue> queue,
                                              const FifoOptions& options,
                                              OpenFifoInChild open_in_child);
// MPMC and ack queues have no option a handle changes: `open_in_child`
// opens with the options of the open (null: a child is refused).
std::unique_ptr<MpmcQueue> OwnedByThisProcess(
    std::unique_ptr<MpmcQueue> queue, std::function<std::unique_ptr<MpmcQueue>()> open_in_child);
std::unique_ptr<AckQueue> OwnedByThisProcess(
    std::unique_ptr<AckQueue> queue, std::function<std::unique_ptr<AckQueue>()> open_in_child);

// How many fork()s separate this process from the first one that used
// RocksQ: 0 there, 1 in its children, 2 in theirs.
uint64_t ForkGeneration() noexcept;

// Called before RocksQ opens any RocksDB database: from then on RocksDB's
// process-wide thread pools may have threads, and a fork() child of this
// process ends through ExitSkippingStaticDestructors (process.cc).
void NoteDatabaseOpened() noexcept;

// Makes a fork() child of this process close `fd` (a socket to another
// process): a child holding a copy would keep the connection open after
// this process closed it or died, so the process at the other end would
// neither see it end nor stop answering it. Lock-free, for the fork
// handler; a few thousand descriptors at most (past that, one stays open in
// a child, as it would without this). CloseTrackedDescriptor closes `fd`
// and forgets it.
void CloseInForkChild(int fd) noexcept;
void CloseTrackedDescriptor(int fd) noexcept;

}  // namespace rocksq

#endif  // ROCKSQ_SRC_PROCESS_OWNED_H_
