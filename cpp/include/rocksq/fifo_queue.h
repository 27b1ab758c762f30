// A persistent FIFO queue of byte strings, stored in RocksDB.
//
// Items pushed are kept on disk until popped, across process restarts. The
// queue lives in one directory; one FifoQueue object per directory may be
// open at a time, in this process or any other.
//
// Thread safety: every method may be called from any number of threads at
// once. Pushes from concurrent threads are written together (group commit),
// and a push never waits for a pop's disk work, nor a pop for a push's.
//
// Errors: every failure throws rocksq::Error (see error.h) whose kind says
// what went wrong and whose message names the queue's path.
//
//   auto queue = rocksq::FifoQueue::Open("/var/lib/app/frames");
//   queue->Push("frame 1");
//   rocksq::PoppedItems items = queue->Pop(10);
//   for (size_t i = 0; i < items.size(); ++i) Consume(items[i]);

#ifndef ROCKSQ_FIFO_QUEUE_H_
#define ROCKSQ_FIFO_QUEUE_H_

#include <cstddef>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "rocksq/change_fd.h"
#include "rocksq/error.h"
#include "rocksq/popped_items.h"

namespace rocksq {

// Keys are 64-bit counters; this keeps every cursor far from wrapping.
inline constexpr uint64_t kMaxElementsLimit = uint64_t{1} << 62;

struct FifoOptions {
  // The most items the queue holds at once. A push that would exceed it
  // throws kQueueFull and stores nothing. Must be at least 1 and at most
  // kMaxElementsLimit. A queue reopened with a limit below its current length
  // keeps its items; pushes fail until pops bring it under the limit.
  // Default: kMaxElementsLimit, no limit short of the key space. Every face
  // opens with this default (rocksq.Queue's maxsize 0 included), so that
  // processes opening one queue through different faces with their
  // defaults agree on it (see `attach`); rocksq 0.3.0 defaulted to
  // 1'000'000'000.
  uint64_t max_elements = kMaxElementsLimit;

  // If true, every push and pop is written to the write-ahead log and the log
  // is fsynced before the call returns: the change survives an OS crash or a
  // power loss. If false, the write reaches the operating system before the
  // call returns: it survives the process crashing, not the machine.
  // Concurrent synced pushes share one fsync.
  // Default: false (RocksDB's default).
  bool sync = false;
  // If true and another process has the queue open, Open() attaches to it
  // instead of throwing kAlreadyOpen: the queue it returns sends each call
  // to that process (the owner) over the Unix socket `rocksq.sock` in the
  // queue's directory, with the same semantics as the owner's own calls.
  // Its max_elements (the owner's current limit) and sync must equal the
  // owner's, or Open() throws kInvalidArgument naming both values. When the
  // owner closes the queue or exits (a SIGKILL included), an attached
  // process takes the queue over at its next call (opens it, or attaches to
  // the one that did), and the calls under way complete exactly once: a
  // push stored once, a pop's items delivered once
  // (docs/multiprocessing.rst). If true and this
  // process opens the queue, it serves the processes that attach (one
  // thread, from Open() to Close()); only an owner opened with attach
  // serves them. Only the same user may attach, unless attach_group names a
  // group. If true, a fork() child
  // may use the queue it inherited: its first call opens the queue again
  // for the child with these options (max_elements as last set through
  // this object), which attaches to the owner, or owns the queue if no
  // process has it open (see ~FifoQueue). Per handle: each Open() chooses.
  // False: another process's Open() throws kAlreadyOpen, a fork() child is
  // refused (kForkedProcess), and no socket is made.
  // Default: true: a second process of the same user just works.
  bool attach = true;

  // Who may attach besides the owner's user: the members of this group (a
  // group name, or a gid in decimal), checked at each connection by the
  // peer's gid and supplementary groups; the socket is then mode 0660 and
  // belongs to the group, so the queue's directory must be reachable by
  // it. Per handle, and counts only while this handle owns the queue (at
  // Open() or after a take-over); an attached handle's value may differ
  // from the owner's, which is the one applied. A group that should take
  // over also needs write access to the queue's files (a umask of 002).
  // Open() throws kInvalidArgument for a group that does not exist.
  // Default: empty: the owner's user only.
  std::string attach_group;
};

class FifoQueue {
 public:
  // Opens the queue stored in the directory `path`, creating the directory
  // (and its parents) and an empty queue if it does not exist. Throws
  // kAlreadyOpen if this process (through any path to the directory) or
  // another has it open, kNotAQueue if `path` is a file or a directory
  // holding something else (which is left untouched), kInvalidArgument for
  // bad options, kStorage or kCorruption if RocksDB cannot open it. Errors
  // name `path` as given.
  static std::unique_ptr<FifoQueue> Open(const std::string& path,
                                         const FifoOptions& options = {});

  // Deletes the queue stored at `path`: its own files only (RocksDB's, the
  // rocksq.* files), then the directory if that leaves it empty (a mount
  // point or a symbolic link's target stays). Does nothing if `path` does
  // not exist. Throws kAlreadyOpen if the queue is open,
  // kNotAQueue if `path` holds something that is not a RocksQ queue.
  static void Destroy(const std::string& path);

  FifoQueue(const FifoQueue&) = delete;
  FifoQueue& operator=(const FifoQueue&) = delete;

  // Closes the queue if Close() was not called; errors are then swallowed.
  // A queue's database (or an attached queue's connections) belongs to the
  // process that opened it: in a child fork() creates afterwards, Close()
  // and this destructor leave the parent's queue untouched (see
  // rocksq/process.h). Opened with attach, the queue serves the child
  // through a queue of the child's own, opened at the child's first call,
  // which Close() and this destructor close. Opened without, every method
  // but Path(), QueueId() and RecoveryWarning() throws kForkedProcess
  // there and changes nothing.
  virtual ~FifoQueue();

  // Appends one item. Throws kQueueFull if the queue holds max_elements
  // items. The bytes are copied; `item` need only live during the call.
  virtual void Push(std::string_view item) = 0;

  // Appends `items` in order, all or nothing: if they do not all fit, or the
  // write fails, none is stored. An empty vector does nothing.
  virtual void PushBatch(const std::vector<std::string_view>& items) = 0;

  // Removes and returns up to `max_items` items, oldest first. Returns no
  // items, without waiting, if the queue is empty or `max_items` is 0.
  // Items are removed from disk before this returns.
  virtual PoppedItems Pop(size_t max_items = 1) = 0;

  // Waiting variants. Each waits at most `timeout` (a zero timeout does
  // not wait) and wakes as soon as another thread's push or pop lets it go
  // on, without polling. Close() wakes every waiter, which then throws
  // kClosed.

  // Like Pop, but if the queue is empty waits for an item to arrive;
  // returns no items if none arrived in time.
  virtual PoppedItems PopWait(size_t max_items, std::chrono::nanoseconds timeout) = 0;

  // Like Push and PushBatch, but if the items do not fit waits for pops to
  // make room; throws kQueueFull if there was no room in time, or at once if
  // the items could never fit (more than max_elements of them).
  virtual void PushWait(std::string_view item, std::chrono::nanoseconds timeout) = 0;
  virtual void PushBatchWait(const std::vector<std::string_view>& items,
                             std::chrono::nanoseconds timeout) = 0;

  // Task counts, as Python's queue.Queue keeps them (task_done(), join()),
  // but one count per queue: every process attached to it shares the
  // owner's. The count is kept in memory by the process that owns the queue,
  // never stored: it starts at the items stored when that process opened
  // the queue, and each push adds its items as it stores them, so a
  // consumer that pops an item can always mark it done. When another
  // process takes the queue over (the owner closed it or died), the count
  // starts again at the items stored then: tasks popped but not yet marked
  // done are forgotten with the owner, as after a crash. After an immediate
  // Shutdown() the items still stored can no longer be popped, so the count
  // leaves them out.

  // Marks one task done: one item pushed (or found at open) is processed.
  // Returns the unfinished tasks left. Throws kInvalidArgument, changing
  // nothing, if no task is unfinished.
  virtual uint64_t TaskDone() = 0;

  // Items pushed (or found at open) and not yet marked done by TaskDone().
  virtual uint64_t UnfinishedTasks() const = 0;

  // Waits at most `timeout` (a zero timeout does not wait) until no task is
  // unfinished; returns whether none is. Wakes as soon as a TaskDone() (of
  // any thread or attached process) leaves none, or an immediate Shutdown()
  // does. Close() wakes it, which then throws kClosed.
  virtual bool JoinWait(std::chrono::nanoseconds timeout) = 0;

  // Calls `listener` after every push and every pop that changed the queue,
  // and after a TaskDone() that left no unfinished task (so that an event
  // loop's join learns of it),
  // on the thread that made the change, with no lock held; an empty
  // function removes it. One listener at a time: this is how an event loop
  // learns when to retry (see rocksq/aio.py), so it must return quickly and
  // must not call back into the queue.
  // On a queue attached to another process (FifoOptions::attach) a
  // listener throws kInvalidArgument: the changes happen in the owner, and
  // calling a listener here would take a thread of this process waiting for
  // the owner's reports. Watch such a queue with WatchChanges() instead,
  // which needs no thread.
  virtual void SetChangeListener(std::function<void()> listener) = 0;

  // A descriptor an event loop watches to learn when the queue changed
  // (rocksq/change_fd.h; how rocksq.aio waits without a thread). In the
  // process that owns the queue it installs the change listener (replacing
  // the one SetChangeListener set, until the ChangeFd is destroyed); an
  // attached queue watches the owner instead. Destroy it before the queue.
  virtual std::unique_ptr<ChangeFd> WatchChanges();

  // True if this object's calls may go to another process, so that each
  // may wait for a round trip: it attached to the queue's owner (and stays
  // so marked if it took the queue over since), or it was inherited by a
  // fork() child, whose calls attach. False for a queue this process opened
  // and owns, whose counts read memory. Bindings release their interpreter
  // lock around the counts only when it is true.
  virtual bool MayCallAnotherProcess() const { return false; }

  // The number of items stored.
  virtual uint64_t Len() const = 0;
  bool IsEmpty() const { return Len() == 0; }

  // The sum of the sizes of the stored items, in bytes.
  virtual uint64_t PayloadBytes() const = 0;

  // The size of the files in the queue's directory, in bytes. RocksDB frees
  // the space of popped items in the background, so this lags behind pops.
  // While a synced queue is open it counts up to 1 MiB of zeros laid down
  // ahead of the write-ahead log (synced writes then change no file size).
  virtual uint64_t DiskBytes() const = 0;

  virtual uint64_t MaxElements() const = 0;
  virtual const std::string& Path() const = 0;
  // The queue's identity: 32 lowercase hex digits (128 random bits) chosen
  // when the queue was created, the same at every open, and another for a
  // queue created anew at the same path. (A queue an earlier release
  // created gets its identity at its first open by this one.)
  virtual const std::string& QueueId() const = 0;
  // Empty, unless opening found the write-ahead log damaged before its end:
  // then recovery kept the records before the damage and dropped the rest
  // (a crash only cuts a log's tail, which loses nothing that was synced),
  // and this says so. The queue works on; `rocksq check` reports the loss.
  virtual const std::string& RecoveryWarning() const = 0;

  // Empty, unless the queue's background work (reclaiming the disk space of popped items) failed
  // since the queue opened: then the last failure's message and when it
  // happened (UTC). Such work is retried, and each failure is also written
  // to the LOG file in the queue's directory; a write that fails after one
  // names it in its message.
  virtual std::string LastBackgroundError() const = 0;

  // Changes the most items the queue holds, as FifoOptions::max_elements,
  // for this open queue only (the next Open() takes its own option). Items
  // already stored stay even above the new limit; pushes then fail until
  // pops bring the queue under it. Wakes the pushes waiting for room, which
  // retry against the new limit. Throws kInvalidArgument, changing nothing,
  // if `max_elements` is 0 or above kMaxElementsLimit.
  virtual void SetMaxElements(uint64_t max_elements) = 0;

  // Shuts the queue down, as Python 3.13's queue.Queue.shutdown() does:
  // every later push throws kShutDown; pops go on returning the stored items
  // and throw kShutDown once the queue is empty, or at once if `immediate`.
  // Nothing stored is deleted: an immediate shutdown leaves the items on
  // disk for the next Open(), which starts a queue that is not shut down.
  // Wakes every waiting push and pop. A later call can make a shutdown
  // immediate, never undo one.
  virtual void Shutdown(bool immediate) = 0;

  // Whether the queue is shut down: true once any Shutdown() reached it,
  // this object's or that of any other object or attached process using
  // the same queue, since the process that owns it opened it. The state is
  // the owner's, never stored: after a hand-over (the owner closed the
  // queue or died) the next owner's queue is not shut down, as after a
  // reopen.
  virtual bool IsShutDown() const = 0;

  // Closes the database, releasing the directory for another opener; waits
  // for calls under way to finish first. Throws kStorage if RocksDB reports
  // an error while closing. A second Close() does nothing. Calls made after
  // Close(), or racing with it, either complete or throw kClosed having
  // changed nothing.
  virtual void Close() = 0;

 protected:
  FifoQueue() = default;
};

}  // namespace rocksq

#endif  // ROCKSQ_FIFO_QUEUE_H_
