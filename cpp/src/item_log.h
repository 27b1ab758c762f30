// The item log: the column family of records, keyed by position, that every
// queue kind appends to (format.h has the encoding). It owns what the kinds
// share about it, written once:
//   - positions: the write cursor, and how many positions below it are no
//     longer stored (removed), so Len() is one subtraction;
//   - the write path: group commit (group_commit.h), record encoding, and
//     admission against the capacity (max_elements, shutdown, waiting for
//     room);
//   - recovery of both ends and of the payload total from the records;
//   - reads: one pinned record, or a bounded range;
//   - deletion (of a prefix, or of single ids) and the reclaimer, the thread
//     that compacts what was deleted, whose failures are kept and logged.
// A queue kind is a policy around it: the FIFO queue adds a read cursor
// file, the ack queue a lease table, an ack log and the failed items. The
// MPMC queue's log differs (timed records, segments, a sweeper instead of a
// reclaimer): it shares GroupCommit, the recovery of the ends (ReadLogEnds),
// range reads (ScanRecords) and the failure record, and says why the rest
// differs (mpmc_queue.cc).
//
// Errors. The engine reports every failure by throwing rocksq::Error; a
// rocksdb::Status becomes one at the boundary, through ThrowStatus
// (storage.h), naming what was being done. Code that must not throw says
// so (noexcept) and converts once: group-commit callbacks return an
// exception_ptr for the callers to rethrow, and background threads keep
// the failure in BackgroundFailures (background_loop.h).

#ifndef ROCKSQ_SRC_ITEM_LOG_H_
#define ROCKSQ_SRC_ITEM_LOG_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "age_marks.h"
#include "background_loop.h"
#include "group_commit.h"
#include "popped_items_rep.h"
#include "format.h"
#include "rocksdb/db.h"
#include "rocksdb/options.h"
#include "rocksdb/write_batch.h"
#include "rocksq/error.h"
#include "storage.h"
#include "waiting.h"

namespace rocksq {

// A WriteBatch kept between writes keeps its buffer; one that grew past this
// for a huge batch is released rather than held for the queue's lifetime.
inline constexpr size_t kRetainedBatchBytes = 8 << 20;

// The first and last records of an item family, read at open.
struct LogEnds {
  bool empty = true;
  uint64_t first_position = 0;
  uint64_t first_header = 0;  // The first record's running total.
  uint64_t last_position = 0;
  uint64_t last_header = 0;
  uint64_t pushed_through_last = 0;  // Running total after the last record.
  uint64_t first_micros = 0;  // Timed records only (header_bytes 16).
  uint64_t last_micros = 0;
};

// Reads the first record at or after `from` and the last record of `family`,
// whose records carry `header_bytes` of header (kRecordHeaderBytes or
// kTimedRecordHeaderBytes). Throws kCorruption if a key or header is
// malformed or the two disagree, kStorage if RocksDB cannot read them.
LogEnds ReadLogEnds(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* family,
                    const std::string& path, size_t header_bytes, uint64_t from = 0);

// Throws the Error for a failed write to `database`: `status`, naming
// `action`, plus why RocksDB refuses writes if a background error stopped
// it, and the queue's own last background failure if there was one.
[[noreturn]] void ThrowWriteFailure(const QueueDatabase& database,
                                    const BackgroundFailures& failures, const std::string& action,
                                    const rocksdb::Status& status);

// How often the reclaimer compacts; the defaults suit every queue, tests
// shorten them.
struct ReclaimTuning {
  // Compact whenever this many payload bytes were removed since the last
  // compaction, and once the log has stayed empty for idle_before after any
  // removal. A steady trickle through an often-empty queue is never idle
  // that long, so it does not compact again and again.
  uint64_t removed_bytes = 64 << 20;
  std::chrono::microseconds idle_before = std::chrono::seconds(1);
  // After a failed compaction (a full disk, say), try again this much later.
  std::chrono::microseconds retry_after = std::chrono::seconds(5);
};

// Calls visit(position, record) for the records of `family` in [first, end),
// in order, through one iterator bounded to them (so it starts past the
// tombstones below `first` and steps instead of searching once per key),
// until visit returns false. The record lives only during the call. Throws
// kCorruption for a malformed key or a record shorter than the plain header.
template <typename Visit>
void ScanRecords(rocksdb::DB* db, rocksdb::ReadOptions options,
                 rocksdb::ColumnFamilyHandle* family, const std::string& path, uint64_t first,
                 uint64_t end, Visit visit);

class ItemLog final : private GroupCommit::Owner {
 public:
  enum ShutdownState : int { kRunning, kShutDown, kShutDownImmediately };

  struct Options {
    bool sync = false;
    uint64_t max_elements = 0;
    // Items the kind stores elsewhere that count against max_elements too
    // (the ack queue's failed items); may be null.
    const std::atomic<uint64_t>* also_counted = nullptr;
    // Reads skip RocksDB's range-tombstone check: safe only for a kind that
    // never reads a key a range delete covers (the FIFO queue, whose range
    // deletes lie below its read cursor: see fifo_queue.cc).
    bool reads_ignore_range_deletions = false;
    ReclaimTuning reclaim;
    // Items are removed in position order only (the FIFO queue): the
    // removed count is then the oldest stored position.
    bool removes_prefix = false;
  };

  // `database` (which must outlive the log) holds the family `items`.
  ItemLog(QueueDatabase* database, rocksdb::ColumnFamilyHandle* items, const Options& options);
  ~ItemLog() override;
  ItemLog(const ItemLog&) = delete;
  ItemLog& operator=(const ItemLog&) = delete;

  // --- Recovery: call one before the first append.

  // Positions [removed, write_cursor) were pushed and are stored, or (for a
  // kind that removes out of order) `removed` of them are not.
  struct State {
    uint64_t write_cursor = 0;
    uint64_t removed = 0;
    uint64_t pushed_total = 0;   // Payload bytes pushed before write_cursor.
    uint64_t payload_bytes = 0;  // Of the stored items.
  };
  void Adopt(const State& state);

  // For a kind that removes a prefix: positions below `removed_below` (a
  // stored read cursor) were removed, and so were those below the first
  // stored record. Derives the rest from the records at both ends, deletes
  // the stored keys below the first unremoved position but not from
  // `keep_from` on (removed items a reply may still need: the FIFO queue's
  // pop records), and returns the first unremoved position.
  uint64_t RecoverPrefix(uint64_t removed_below, uint64_t keep_from = UINT64_MAX);

  // --- The write path.

  // Appends `items` (all or nothing): numbered from the write cursor, in
  // call order, written in groups. Throws kQueueFull if they do not fit,
  // kShutDown after a shutdown, kStorage if the write fails (naming the
  // last background failure if there was one).
  // `side_records` (may be null) are written in the same WriteBatch.
  void Append(const std::string_view* items, size_t count,
              const GroupCommit::SideRecords* side_records = nullptr) {
    if (shutdown_state() != kRunning) ThrowShutDown();
    if (count != 0) group_commit_.Append(items, count, side_records);
  }

  // Calls `append` (the queue's own Append, with its locks and
  // notifications) until it does not throw kQueueFull or `deadline` passes,
  // sleeping until removals make room for `count` items, the limit grows,
  // or the log is closed or shut down (then `append` throws what it must).
  // `count` is read again after each attempt, which may change it (a
  // unique push learns how many of its items are new only then).
  template <typename AppendCall>
  void AppendWait(const size_t& count, Clock::time_point deadline, AppendCall append);

  // Runs `write` with no group being written, once the groups queued before
  // it are: it may append records itself (EncodeRecord, then Published).
  void Exclusively(const std::function<void()>& write) { group_commit_.Exclusively(write); }
  // Adds to `batch` the record of `item` at `position`, headed by
  // `pushed_before` (the running total). For writes run Exclusively, which
  // start at WriteMark().
  void EncodeRecord(uint64_t position, uint64_t pushed_before, std::string_view item,
                    rocksdb::WriteBatch* batch) const;
  // After an Exclusively write stored `count` records of `payload_bytes`.
  void Published(uint64_t count, uint64_t payload_bytes);

  // --- Capacity and state.

  // Throws kInvalidArgument, naming `path`, unless 1 <= max_elements <=
  // kMaxElementsLimit.
  static void CheckMaxElements(const std::string& path, uint64_t max_elements);
  uint64_t MaxElements() const { return max_elements_.load(std::memory_order_acquire); }
  // Throws kInvalidArgument if `max_elements` is out of range; wakes the
  // appends waiting for room.
  void SetMaxElements(uint64_t max_elements);
  ShutdownState shutdown_state() const {
    return static_cast<ShutdownState>(shutdown_.load(std::memory_order_acquire));
  }
  void Shutdown(bool immediate);  // Wakes every waiter.
  bool closed() const { return closed_.load(std::memory_order_acquire); }
  void ThrowIfClosed() const;
  [[noreturn]] void ThrowShutDown() const;
  // Refuses appends and wakes every waiter, which then throws kClosed.
  void BeginClose();
  // Stops the reclaimer (cancelling its compaction); the database stays open.
  void StopReclaimer();

  // --- Positions and totals. Both counts only grow.

  uint64_t write_cursor() const { return write_cursor_.load(std::memory_order_acquire); }
  uint64_t removed() const { return removed_.load(std::memory_order_acquire); }
  // Items stored: exact whenever no append or removal is under way, and
  // never negative (the removed count is read first).
  uint64_t StoredItems() const {
    const uint64_t removed_now = removed();
    return write_cursor() - removed_now;
  }
  uint64_t PayloadBytes() const { return payload_bytes_.load(std::memory_order_acquire); }
  // The write cursor and the payload pushed before it, as one consistent pair.
  std::pair<uint64_t, uint64_t> WriteMark();

  // The age of the item at `oldest_position`, the oldest stored (the
  // caller's: this log does not know which positions a kind removed), from
  // the marks every committed write leaves (age_marks.h). Positions passed
  // to it only grow. Call after recovery.
  ItemAge OldestItemAge(uint64_t oldest_position) {
    return age_marks_->AgeOf(oldest_position, AgeMarks::Clock::now());
  }

  // Notified by every committed group; the kind notifies it on its own
  // changes that make items ready (nacks, requeues).
  WaitSignal& items_arrived() { return items_arrived_; }

  // --- Reading.

  // Reads the record at `position` pinned into `record`; false if there is
  // none. Throws kCorruption if it is shorter than its header.
  bool ReadPinned(uint64_t position, rocksdb::PinnableSlice* record) const;

  // ScanRecords (above) over this log's records.
  template <typename Visit>
  void Scan(uint64_t first, uint64_t end, Visit visit) const;

  // The items at [first, first + count), which must all be stored: one
  // pinned read for one item, else copied out of one Scan. Measured (C++,
  // 100 x 100 B): MultiGet of the keys 2.8 us a key, the iterator 0.3 us.
  void ReadItems(uint64_t first, size_t count, PoppedItems::Rep* rep) const;

  // --- Removing.

  // Counts `count` items of `payload_bytes` as removed. Call it where the
  // removal takes effect, then NoteRemoved once no lock is held.
  void CountRemoved(uint64_t count, uint64_t payload_bytes) {
    payload_bytes_.fetch_sub(payload_bytes, std::memory_order_acq_rel);
    removed_.fetch_add(count, std::memory_order_release);
  }
  // Wakes the appends waiting for room and tells the reclaimer.
  void NoteRemoved(uint64_t count, uint64_t payload_bytes);

  // For a prefix-removing kind, under its removal lock: deletes the stored
  // keys below `end` (one range tombstone) unless fewer than a batch's
  // worth are pending, `force` aside. Unsynced: the kind's own record (the
  // cursor file) made the removal durable, and keys a crash leaves behind
  // are deleted at the next open. Throws kStorage if the write fails; the
  // keys then stay, unread, for the next call.
  void DeletePrefix(uint64_t end, uint64_t payload_bytes, bool force);
  uint64_t deleted_below() const { return deleted_below_; }

  // Adds to `batch` the deletion of `sorted_ids` (distinct, each stored): a
  // range tombstone per run of consecutive ids.
  void AddDeletions(const std::vector<uint64_t>& sorted_ids, rocksdb::WriteBatch* batch) const;

  // Starts the reclaimer: when due, it calls `prepare` for the position
  // below which every key is deleted (it may delete them), compacts the
  // items below it and then every family in `compact_whole`.
  void StartReclaimer(std::function<uint64_t()> prepare,
                      std::vector<rocksdb::ColumnFamilyHandle*> compact_whole = {});

  // --- Failures.

  const BackgroundFailures& background_failures() const { return failures_; }
  // ThrowWriteFailure (above) for this log's database and failures.
  [[noreturn]] void ThrowWriteFailure(const std::string& action,
                                      const rocksdb::Status& status) const;

  const std::string& path() const { return database_->path; }
  rocksdb::ColumnFamilyHandle* family() const { return items_; }

 private:
  // GroupCommit::Owner.
  std::exception_ptr Admit(uint64_t admitted_items, size_t count) override;
  rocksdb::Status WriteGroup(const GroupCommit::Group& group) override;
  void GroupCommitted(const GroupCommit::Group& group) noexcept override;
  std::exception_ptr GroupFailed(const rocksdb::Status& status) noexcept override;

  uint64_t CountedItems() const {
    return StoredItems() + (also_counted_ ? also_counted_->load(std::memory_order_acquire) : 0);
  }
  std::chrono::microseconds Reclaim();  // The reclaimer's body.
  void CheckRecord(uint64_t position, const rocksdb::Slice& key,
                   const rocksdb::Slice& record) const;

  QueueDatabase* const database_;
  rocksdb::ColumnFamilyHandle* const items_;
  const std::atomic<uint64_t>* const also_counted_;
  const ReclaimTuning reclaim_tuning_;
  rocksdb::WriteOptions write_options_;
  rocksdb::ReadOptions read_options_;

  std::atomic<bool> closed_{false};
  std::atomic<uint64_t> max_elements_;
  std::atomic<int> shutdown_{kRunning};

  GroupCommit group_commit_{this};
  rocksdb::WriteBatch group_batch_;  // Used by the group's leader only.
  uint64_t pushed_total_ = 0;        // Running total for record headers.

  // Made again by Adopt: the positions it finds were stored before the open.
  // Written under the group commit's lock, which orders NoteWrite calls.
  std::unique_ptr<AgeMarks> age_marks_;
  // For a kind that removes a prefix, removed() is the oldest position
  // stored, which lets each new mark drop the passed ones.
  const bool removes_prefix_;

  std::atomic<uint64_t> write_cursor_{0};
  std::atomic<uint64_t> removed_{0};
  std::atomic<uint64_t> payload_bytes_{0};

  // Prefix deletion (DeletePrefix), under the kind's removal lock: keys
  // below deleted_below_ are deleted, those above it up to the kind's
  // cursor are removed but not deleted yet.
  uint64_t deleted_below_ = 0;
  uint64_t undeleted_bytes_ = 0;

  WaitSignal items_arrived_;
  WaitSignal room_made_;  // Notified by every removal.

  // Payload bytes removed since the reclaimer last compacted, and when the
  // last removal was (steady clock, microseconds).
  std::atomic<uint64_t> unreclaimed_bytes_{0};
  std::atomic<int64_t> last_removal_micros_{0};
  std::function<uint64_t()> reclaim_prepare_;
  std::vector<rocksdb::ColumnFamilyHandle*> reclaim_whole_;
  BackgroundFailures failures_;
  std::unique_ptr<BackgroundLoop> reclaimer_;  // Last: uses the members above.
};

template <typename AppendCall>
void ItemLog::AppendWait(const size_t& count, Clock::time_point deadline, AppendCall append) {
  for (;;) {
    try {
      append();
      return;
    } catch (const Error& error) {
      if (error.kind() != ErrorKind::kQueueFull || count > MaxElements()) throw;
      // A shutdown or a larger limit ends the wait too: the retry then
      // throws kShutDown, or stores the items.
      const bool room = room_made_.WaitUntil(deadline, [&] {
        return CountedItems() + count <= MaxElements() || closed() ||
               shutdown_state() != kRunning;
      });
      ThrowIfClosed();
      if (!room) throw;
    }
  }
}

template <typename Visit>
void ScanRecords(rocksdb::DB* db, rocksdb::ReadOptions options,
                 rocksdb::ColumnFamilyHandle* family, const std::string& path, uint64_t first,
                 uint64_t end, Visit visit) {
  const EncodedKey lower(first);
  const EncodedKey upper(end);
  const rocksdb::Slice lower_slice(lower.bytes, kKeyBytes);
  const rocksdb::Slice upper_slice(upper.bytes, kKeyBytes);
  options.iterate_lower_bound = &lower_slice;
  options.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(options, family));
  for (it->Seek(lower_slice); it->Valid(); it->Next()) {
    const rocksdb::Slice key = it->key();
    const rocksdb::Slice record = it->value();
    if (key.size() != kKeyBytes || record.size() < kRecordHeaderBytes) {
      throw Error(ErrorKind::kCorruption, path, "an item's key or record is malformed");
    }
    if (!visit(DecodeBigEndian64(key.data()), record)) return;
  }
  if (!it->status().ok()) ThrowStatus(path, "reading items", it->status());
}

template <typename Visit>
void ItemLog::Scan(uint64_t first, uint64_t end, Visit visit) const {
  ScanRecords(database_->db.get(), read_options_, items_, path(), first, end, visit);
}

}  // namespace rocksq

#endif  // ROCKSQ_SRC_ITEM_LOG_H_
