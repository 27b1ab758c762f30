// A persistent queue of byte strings with at-least-once delivery, stored in
// RocksDB.
//
// Get() hands items out without deleting them, each as a Delivery. The
// consumer then settles it: Ack(delivery) deletes the item for good,
// Nack(delivery) puts it back at the head of the queue, AckFailed(delivery)
// sets it aside among the failed items, which can be listed (Failed) and put
// back (RequeueFailed). An item handed out and not settled within the
// visibility timeout becomes ready again and is delivered anew, as a new
// delivery: only the latest delivery of an item settles it.
//
// Which items are handed out is kept in memory only; Get() writes nothing to
// disk, and Ack() appends one small record to a log file of the queue's
// (that is what makes get + ack cost one read and one write()). So when
// the process ends, by Close() or by a crash, every item handed out and not
// acked or failed becomes ready again: reopened, the queue delivers every
// stored item that was neither acked nor failed, oldest first. An acked item
// is never delivered again, and no item is lost between Get() and Ack().
//
// Delivery order: the ready item with the smallest id first. Ids are
// positions in push order, so nacked and expired items, whose ids are below
// those of the items never delivered, are delivered again before them,
// oldest first.
//
// Thread safety: every method may be called from any number of threads at
// once. Concurrent pushes are written together (group commit); gets are
// served one at a time; acks and fails are written one at a time.
//
// Errors: every failure throws rocksq::Error (see error.h) whose kind says
// what went wrong and whose message names the queue's path.
//
//   auto queue = rocksq::AckQueue::Open("/var/lib/app/jobs");
//   queue->Push("job 1");
//   rocksq::Deliveries jobs = queue->Get(10);
//   for (size_t i = 0; i < jobs.size(); ++i) {
//     if (Run(jobs[i].payload)) queue->Ack(jobs[i]); else queue->Nack(jobs[i]);
//   }

#ifndef ROCKSQ_ACK_QUEUE_H_
#define ROCKSQ_ACK_QUEUE_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rocksq/change_fd.h"
#include "rocksq/error.h"
#include "rocksq/fifo_queue.h"

namespace rocksq {

struct AckOptions {
  // The most items the queue holds at once: ready, handed out and failed
  // together. A push that would exceed it throws kQueueFull and stores
  // nothing. Must be at least 1 and at most kMaxElementsLimit.
  // Default: FifoOptions's (kMaxElementsLimit, no limit).
  uint64_t max_elements = FifoOptions().max_elements;

  // If true, every push, ack, fail and requeue is written to the write-ahead
  // log and the log is fsynced before the call returns: the change survives
  // an OS crash or a power loss. If false, it survives the process crashing,
  // not the machine. Gets and nacks write nothing either way.
  // Default: false.
  bool sync = false;

  // How long an item handed out by Get() stays handed out. If it is neither
  // acked, nacked nor failed by then, it becomes ready again (that delivery
  // can no longer settle it) and is delivered anew. Zero means never: a
  // handed-out item then stays handed out until it is settled or the queue
  // is closed.
  // Must not be negative.
  // Default: 30 seconds.
  std::chrono::milliseconds visibility_timeout = std::chrono::seconds(30);

  // How many keys of PushUnique the queue remembers: the newest this many.
  // A key forgotten is new again. They are stored in the queue's directory
  // (about twice the key's length plus 40 bytes each, before RocksDB's
  // compression), not in memory, and each PushUnique key costs one read.
  // Lowering it deletes the excess, oldest first, at the next PushUnique.
  // Must be at least 1.
  // Default: 1'000'000.
  uint64_t dedup_window = 1'000'000;

  // As FifoOptions::attach: if true and another process has the queue
  // open, Open() attaches to it instead of throwing kAlreadyOpen, and an
  // owner opened with it serves the processes that attach. max_elements,
  // sync, visibility_timeout and dedup_window must equal the owner's, or
  // Open() throws kInvalidArgument naming both values. Deliveries are the
  // owner's: it keeps their leases, so the items an attached process holds
  // when it ends (closes, exits, is killed) are ready again at once, and a
  // delivery settles in any process attached to the same owner. When the
  // owner closes the queue or exits, an attached process takes it over, as
  // a FIFO queue's does; the leases end with the owner, as with a crash: its
  // deliveries are ready again, and settling one throws kNotOutstanding.
  // Default: true.
  bool attach = true;

  // As FifoOptions::attach_group: the group whose members may attach too.
  // Default: empty: the owner's user only.
  std::string attach_group;
};

// One item of PushBatchUnique, with the key that tells whether it was
// pushed before.
struct KeyedItem {
  std::string_view key;
  std::string_view item;
};

// One item handed out: a view into the Deliveries that holds it. Settling
// reads only `id` and `receipt`, so a Delivery may be kept, and settled,
// after its Deliveries is gone (its payload then dangles).
struct Delivery {
  // The item's id: its position in push order, unique in the queue's life.
  uint64_t id;
  // 1 on the item's first delivery since the queue was opened, 2 on the
  // next (after a nack or an expired visibility timeout), and so on. It
  // restarts at 1 after a reopen, because deliveries are not stored.
  uint32_t attempt;
  // The item's bytes; valid as long as the Deliveries lives.
  std::string_view payload;
  // Names this one hand-out of the item: no two deliveries made in a
  // process share a receipt (whichever ack queue made them, whenever it was
  // opened), and receipts start at a random number in each process. An item
  // handed out again gets a new receipt, so a settle from an earlier
  // delivery of it, or from another queue or open, is refused.
  uint64_t receipt = 0;
};

// The items one Get() handed out, in delivery order. The bytes stay pinned in
// RocksDB's memory, or are copied once, until this object is destroyed.
// Movable, not copyable.
class Deliveries {
 public:
  Deliveries() noexcept;
  Deliveries(Deliveries&&) noexcept;
  Deliveries& operator=(Deliveries&&) noexcept;
  ~Deliveries();

  size_t size() const noexcept;
  bool empty() const noexcept { return size() == 0; }
  // Throws std::out_of_range if index >= size().
  Delivery operator[](size_t index) const;

  // Sum of the items' sizes, in bytes.
  size_t payload_bytes() const noexcept;

  // Deliveries that own their bytes: a copy of `deliveries` (ids, attempts,
  // receipts and payloads). For implementations of AckQueue that do not read
  // from RocksDB (a test double, a queue reached through another process).
  static Deliveries Copy(const std::vector<Delivery>& deliveries);

  struct Rep;  // Defined by the implementation.
  explicit Deliveries(std::unique_ptr<Rep> rep) noexcept;

 private:
  std::unique_ptr<Rep> rep_;
};

// A failed item, as Failed() lists it.
struct FailedItem {
  uint64_t id;  // The id it had when it was failed.
  std::string payload;
};

class AckQueue {
 public:
  // Opens the queue stored in the directory `path`, creating the directory
  // (and its parents) and an empty queue if it does not exist. Every stored
  // item that is not failed is ready. Throws kAlreadyOpen if this process
  // (through any path to the directory) or another has it open, kNotAQueue
  // if `path` is a file or holds something else (a FIFO or MPMC queue
  // included), kInvalidArgument for bad options, kStorage or kCorruption if
  // RocksDB cannot open it.
  static std::unique_ptr<AckQueue> Open(const std::string& path, const AckOptions& options = {});

  // Deletes the queue stored at `path`: its own files only (RocksDB's, the
  // rocksq.* files), then the directory if that leaves it empty (a mount
  // point or a symbolic link's target stays). Does nothing if `path` does
  // not exist. Throws kAlreadyOpen if the queue is open,
  // kNotAQueue if `path` holds something that is not an ack queue.
  static void Destroy(const std::string& path);

  AckQueue(const AckQueue&) = delete;
  AckQueue& operator=(const AckQueue&) = delete;

  // Closes the queue if Close() was not called; errors are then swallowed.
  // A queue belongs to the process that opened it: in a child fork()
  // creates afterwards, every method but Path() throws kForkedProcess and
  // changes nothing, while Close() and this destructor leave the parent's
  // queue untouched (see rocksq/process.h).
  virtual ~AckQueue();

  // Appends one item, ready to be delivered. Throws kQueueFull if the queue
  // holds max_elements items. The bytes are copied.
  virtual void Push(std::string_view item) = 0;

  // Appends `items` in order, all or nothing. An empty vector does nothing.
  virtual void PushBatch(const std::vector<std::string_view>& items) = 0;

  // Idempotent pushes, for a producer that may repeat a push it cannot tell
  // succeeded (a crash, a lost reply): each item comes with a key, and an
  // item whose key the queue holds is not stored again. The keys are kept
  // apart from the items: acking an item does not forget its key, only
  // the key's age does (AckOptions::dedup_window). The key check and the
  // push are one atomic write (fsynced with AckOptions::sync), so a crash
  // leaves both or neither. Capacity errors as Push and PushBatch, counting
  // only the items not pushed before.

  // Appends `item` unless `key` was pushed before (within the window);
  // returns whether it did.
  virtual bool PushUnique(std::string_view key, std::string_view item) = 0;

  // Appends, in order and all or nothing, the items whose keys were not
  // pushed before; a key listed twice admits its first item only. Returns,
  // for each entry, whether its item was stored.
  virtual std::vector<bool> PushBatchUnique(const std::vector<KeyedItem>& keyed_items) = 0;

  // Like PushUnique and PushBatchUnique, but if the new items do not fit,
  // wait for acks to make room, as PushWait does.
  virtual bool PushUniqueWait(std::string_view key, std::string_view item,
                              std::chrono::nanoseconds timeout) = 0;
  virtual std::vector<bool> PushBatchUniqueWait(const std::vector<KeyedItem>& keyed_items,
                                                std::chrono::nanoseconds timeout) = 0;

  // The queue's AckOptions::dedup_window.
  virtual uint64_t DedupWindow() const = 0;

  // Hands out up to `max_items` ready items, in delivery order (see the
  // class comment), without removing them from disk: each stays handed out
  // until its delivery is acked, nacked or failed, or until the visibility
  // timeout expires. Returns nothing, without waiting, if no item is ready
  // or `max_items` is 0.
  virtual Deliveries Get(size_t max_items = 1) = 0;

  // Waiting variants. Each waits at most `timeout` (zero does not wait)
  // and wakes as soon as another thread's call, or an expired visibility
  // timeout, lets it go on, without polling. Close() wakes every waiter,
  // which then throws kClosed.

  // Like Get, but if no item is ready waits for one: a push, a nack, or a
  // handed-out item whose visibility timeout expires.
  virtual Deliveries GetWait(size_t max_items, std::chrono::nanoseconds timeout) = 0;

  // Like Push and PushBatch, but if the items do not fit waits for acks to
  // make room; throws kQueueFull if there was no room in time, or at once if
  // the items could never fit (more than max_elements of them).
  virtual void PushWait(std::string_view item, std::chrono::nanoseconds timeout) = 0;
  virtual void PushBatchWait(const std::vector<std::string_view>& items,
                             std::chrono::nanoseconds timeout) = 0;

  // Settling. Each takes a delivery Get() returned whose item is still
  // handed out by that very delivery; any other throws kNotOutstanding and
  // changes nothing: a delivery already settled (acked, nacked or failed),
  // one whose visibility timeout expired (even if the item was handed out
  // again since, to this consumer or another: only the latest delivery
  // settles it), one handed out before a reopen, or one from another queue.
  // The batch forms settle every delivery or none: one that is not
  // outstanding, or an item listed twice, throws kNotOutstanding before
  // anything is written. Each Ack call (batch or not) is one record
  // appended to the queue's ack log, all of it or, after a crash mid-write,
  // none; the logged items leave the database in bulk later (see README.md,
  // "On disk"). Each AckFailed call is one atomic WriteBatch. Nacks write
  // nothing. With AckOptions::sync, an Ack returns once its record is
  // fsynced (acks from several threads share fsyncs). If writing the record
  // fails, Ack throws kStorage and the item stays handed out; if only its
  // fsync fails, Ack throws kStorage after the ack took effect.

  // Deletes the item for good: it is never delivered again.
  virtual void Ack(const Delivery& delivery) = 0;
  virtual void AckBatch(const std::vector<Delivery>& deliveries) = 0;

  // Makes the item ready again, at the head of the queue (in id order among
  // the other returned items). Writes nothing to disk.
  virtual void Nack(const Delivery& delivery) = 0;
  virtual void NackBatch(const std::vector<Delivery>& deliveries) = 0;

  // Keeps the item handed out to the same delivery (same receipt: acks,
  // nacks and fails of it still work) until `visibility_timeout` from now,
  // instead of the deadline it had, sooner or later; zero means until it is
  // settled or the queue closes. Pass VisibilityTimeout() for the queue's
  // own. A queue whose leases never expire (a zero VisibilityTimeout())
  // only checks the deliveries. Throws kNotOutstanding, changing nothing,
  // as settling does. Writes nothing: like every lease, an extension ends
  // with the process. Throws kInvalidArgument for a negative timeout.
  virtual void Extend(const Delivery& delivery, std::chrono::milliseconds visibility_timeout) = 0;
  virtual void ExtendBatch(const std::vector<Delivery>& deliveries,
                           std::chrono::milliseconds visibility_timeout) = 0;

  // Moves the item among the failed ones, keeping its id and bytes: it is
  // not delivered again until RequeueFailed puts it back.
  virtual void AckFailed(const Delivery& delivery) = 0;
  virtual void AckFailedBatch(const std::vector<Delivery>& deliveries) = 0;

  // Up to `max_items` failed items, smallest id first, copied; they stay
  // failed.
  virtual std::vector<FailedItem> Failed(size_t max_items) const = 0;

  // Makes the failed items with ids `ids` ready again, appended at the tail
  // of the queue with new ids (in the order given), in one atomic write;
  // ids that are not failed are skipped. Returns how many were requeued.
  virtual uint64_t RequeueFailed(const std::vector<uint64_t>& ids) = 0;
  // The same for every failed item, smallest id first.
  virtual uint64_t RequeueAllFailed() = 0;

  // Calls `listener` after every change that may let a waiting call go on
  // (a push, an ack, a nack, a fail, a requeue), on the thread that made
  // it, with no lock held; an empty function removes it. An expired
  // visibility timeout is not a call and fires nothing: an event loop waits
  // at most TimeToNextExpiry() (see rocksq/aio.py). One listener at a time;
  // it must return quickly and must not call back into the queue.
  // On a queue attached to another process (AckOptions::attach) a
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

  // How long until the earliest handed-out item's visibility timeout
  // expires (zero if one has); nanoseconds::max() if none is handed out or
  // the timeout is zero (never).
  virtual std::chrono::nanoseconds TimeToNextExpiry() const = 0;

  // True if this object's calls may go to another process, so that each
  // may wait for a round trip: it attached to the queue's owner (and stays
  // so marked if it took the queue over since), or it was inherited by a
  // fork() child, whose calls attach. False for a queue this process opened
  // and owns, whose counts read memory. Bindings release their interpreter
  // lock around the counts only when it is true.
  virtual bool MayCallAnotherProcess() const { return false; }

  // Counts. Len() = ReadyLen() + UnackedLen() + FailedLen(): every item
  // stored. Max_elements bounds Len(); only acks make room (a failed item
  // still counts).
  virtual uint64_t ReadyLen() const = 0;    // Not handed out, not failed.
  virtual uint64_t UnackedLen() const = 0;  // Handed out, not yet settled.
  virtual uint64_t FailedLen() const = 0;
  virtual uint64_t Len() const = 0;
  bool IsEmpty() const { return Len() == 0; }

  // The sum of the sizes of every stored item (ready, handed out, failed),
  // in bytes.
  virtual uint64_t PayloadBytes() const = 0;

  // The size of the files in the queue's directory, in bytes; lags behind
  // acks, as DiskBytes lags behind pops in FifoQueue.
  virtual uint64_t DiskBytes() const = 0;

  virtual uint64_t MaxElements() const = 0;
  virtual std::chrono::milliseconds VisibilityTimeout() const = 0;
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
  // Also says when the ack log was damaged before its end: the acks after
  // the damage are lost, so their items are delivered again.
  virtual const std::string& RecoveryWarning() const = 0;

  // Empty, unless the queue's background work (reclaiming the disk space of acked items) failed
  // since the queue opened: then the last failure's message and when it
  // happened (UTC). Such work is retried, and each failure is also written
  // to the LOG file in the queue's directory; a write that fails after one
  // names it in its message.
  virtual std::string LastBackgroundError() const = 0;

  // Closes the database, releasing the directory; waits for calls under way
  // to finish first. Items handed out and not settled stay stored and are
  // ready at the next open. Throws kStorage if RocksDB reports an error
  // while closing. A second Close() does nothing. Later calls throw kClosed.
  virtual void Close() = 0;

 protected:
  AckQueue() = default;
};

}  // namespace rocksq

#endif  // ROCKSQ_ACK_QUEUE_H_
