// A persistent log of byte strings read by many independent consumers, whose
// elements expire a fixed time after they were added.
//
// Producers Add() elements; each consumer, named by a label, reads them in
// add order from its own position with Next(). Reading does not remove an
// element: every label sees every element that is still alive when it gets
// there. An element expires `ttl` after it was added: from then on no label
// is given it, Len() and PayloadBytes() stop counting it, and a thread the
// queue owns deletes it from disk and compacts the space away, with no call
// from the user. Labels and their positions are stored with the elements and
// survive restarts. The queue lives in one directory; one MpmcQueue object
// per directory may be open at a time, in this process or any other.
//
// Thread safety: every method may be called from any number of threads at
// once. Adds from concurrent threads are written together (group commit).
// Next() calls for the same label run one at a time, so each element is given
// to exactly one of them; calls for different labels read the disk in
// parallel.
//
// Errors: every failure throws rocksq::Error (see error.h) whose kind says
// what went wrong and whose message names the queue's path.
//
//   auto queue = rocksq::MpmcQueue::Open("/var/lib/app/events", {std::chrono::hours(1)});
//   queue->Add("event 1");
//   rocksq::MpmcRead read = queue->Next("indexer", rocksq::StartPosition::kOldest, 10);
//   if (read.expired) WarnSomeEventsWereMissed();
//   for (size_t i = 0; i < read.items.size(); ++i) Index(read.items[i]);

#ifndef ROCKSQ_MPMC_QUEUE_H_
#define ROCKSQ_MPMC_QUEUE_H_

#include <chrono>
#include <cstddef>
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

struct MpmcOptions {
  // How long an element lives after it was added, measured on the system
  // clock (so it keeps running while the queue is closed). Must be between
  // 1 ms and kMaxTtl. Expiry is exact for Next(), which never returns an
  // element older than this; Len() and PayloadBytes() stop counting an
  // element at most ttl / 1000 (and at least 1 ms) after it expired. Within
  // ttl / 10 (between 10 ms and 10 s) more, the queue's own thread deletes
  // it and deletes the files holding only expired elements; once nothing
  // is alive the directory shrinks to a few hundred kilobytes, and while
  // elements are alive it compacts the expired ones away whenever the
  // directory holds more dead bytes than live ones (and than 16 MiB).
  // Reopening with another ttl applies the new one to every element
  // already stored.
  // Default: 24 hours.
  std::chrono::milliseconds ttl = std::chrono::hours(24);

  // If true, every add and every label move is written to the write-ahead
  // log and the log is fsynced before the call returns: the change survives
  // an OS crash or a power loss. If false, the write reaches the operating
  // system before the call returns: it survives the process crashing, not
  // the machine. Concurrent synced adds share one fsync.
  // Default: false (RocksDB's default).
  bool sync = false;

  // As FifoOptions::attach: if true and another process has the queue
  // open, Open() attaches to it instead of throwing kAlreadyOpen, and an
  // owner opened with it serves the processes that attach. ttl and sync
  // must equal the owner's, or Open() throws kInvalidArgument naming both
  // values. Labels are the owner's: a label read through any process
  // attached to the same owner, or by the owner, is one position. When the
  // owner closes the queue or exits, an attached process takes it over, as
  // a FIFO queue's does: a Next under way reads the same elements again.
  // Default: true.
  bool attach = true;

  // As FifoOptions::attach_group: the group whose members may attach too.
  // Default: empty: the owner's user only.
  std::string attach_group;
};

// Expiry times are kept in microseconds since 1970 in 64 bits; this keeps
// them far from overflowing. About 142'000 years.
inline constexpr std::chrono::milliseconds kMaxTtl{int64_t{1} << 52};

// Where a label that does not exist yet starts reading.
enum class StartPosition {
  kOldest,  // At the oldest element alive.
  // At the newest element alive, which the first Next() returns; at the next
  // element added if none is alive. (rocksq 0.3.0's meaning of Newest.)
  kNewest,
};

// What one Next() call read.
struct MpmcRead {
  // The elements read, oldest first, pinned in RocksDB's memory (see
  // popped_items.h); at most the max_items asked for.
  PoppedItems items;
  // True if elements this label had not read yet expired before it got to
  // them, so it skipped them. Always false on a label's first call.
  bool expired = false;
};

class MpmcQueue {
 public:
  // Opens the queue stored in the directory `path`, creating the directory
  // (and its parents) and an empty queue if it does not exist. Throws
  // kAlreadyOpen if this process (through any path to the directory) or
  // another has it open, kNotAQueue if the directory holds something else
  // (a FIFO queue included), kInvalidArgument for bad options, kStorage or
  // kCorruption if RocksDB cannot open it.
  static std::unique_ptr<MpmcQueue> Open(const std::string& path,
                                         const MpmcOptions& options = {});

  // Deletes the queue stored at `path`: its own files only (RocksDB's, the
  // rocksq.* files), then the directory if that leaves it empty (a mount
  // point or a symbolic link's target stays). Does nothing if `path` does
  // not exist. Throws kAlreadyOpen if the queue is open,
  // kNotAQueue if `path` holds something that is not a RocksQ MPMC queue.
  static void Destroy(const std::string& path);

  MpmcQueue(const MpmcQueue&) = delete;
  MpmcQueue& operator=(const MpmcQueue&) = delete;

  // Closes the queue if Close() was not called; errors are then swallowed.
  // A queue belongs to the process that opened it: in a child fork()
  // creates afterwards, every method but Path() throws kForkedProcess and
  // changes nothing, while Close() and this destructor leave the parent's
  // queue untouched (see rocksq/process.h).
  virtual ~MpmcQueue();

  // Appends one element. The bytes are copied; `item` need only live during
  // the call.
  virtual void Add(std::string_view item) = 0;

  // Appends `items` in order, all or nothing: if the write fails, none is
  // stored. An empty vector does nothing.
  virtual void AddBatch(const std::vector<std::string_view>& items) = 0;

  // Returns up to `max_items` elements the label `label` has not read yet,
  // oldest first, and moves the label past them; returns no elements,
  // without waiting, if it has read everything. A label that does not exist
  // is created at `start` (which is ignored for existing labels) and
  // stored, even if max_items is 0. The label's new position is stored
  // before this returns; if that write fails, this throws and the label
  // stays where it was. Any string is a label, the empty one included.
  virtual MpmcRead Next(std::string_view label, StartPosition start,
                        size_t max_items = 1) = 0;

  // Deletes the label `label` and its position. Returns false if there is no
  // such label. A later Next() with this label starts it afresh.
  virtual bool RemoveLabel(std::string_view label) = 0;

  // The labels, in byte order.
  virtual std::vector<std::string> Labels() const = 0;

  // Calls `listener` after every add that stored elements and every
  // RemoveLabel() that removed a label (a label's next Next() may then read
  // again): after each change that can give a label something to read. It
  // runs on the thread that made the change, with no lock held; an empty
  // function removes it. One listener at a time: this is how an event loop
  // learns when to retry (see rocksq/aio.py), so it must return quickly and
  // must not call back into the queue. Expiry and Next() do not call it.
  // On a queue attached to another process (MpmcOptions::attach) a
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

  // The number of elements alive (added and not expired).
  virtual uint64_t Len() const = 0;
  bool IsEmpty() const { return Len() == 0; }

  // The sum of the sizes of the elements alive, in bytes.
  virtual uint64_t PayloadBytes() const = 0;

  // The size of the files in the queue's directory, in bytes.
  virtual uint64_t DiskBytes() const = 0;

  virtual std::chrono::milliseconds Ttl() const = 0;
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

  // Empty, unless the queue's background work (deleting expired elements and reclaiming their space) failed
  // since the queue opened: then the last failure's message and when it
  // happened (UTC). Such work is retried, and each failure is also written
  // to the LOG file in the queue's directory; a write that fails after one
  // names it in its message.
  virtual std::string LastBackgroundError() const = 0;

  // Stops the expiry thread, flushes and closes the database, releasing the
  // directory for another opener. Throws kStorage if RocksDB reports an
  // error while closing. Calls made after Close() (or racing with it) throw
  // kClosed.
  virtual void Close() = 0;

 protected:
  MpmcQueue() = default;
};

}  // namespace rocksq

#endif  // ROCKSQ_MPMC_QUEUE_H_
