#include "rocksq/fifo_queue.h"

#include <algorithm>
#include <chrono>
#include <atomic>
#include <exception>
#include <mutex>
#include <shared_mutex>

#include "background_loop.h"
#include "cursor_file.h"
#include "format.h"
#include "group_commit.h"
#include "popped_items_rep.h"
#include "rocksdb/options.h"
#include "rocksdb/slice.h"
#include "rocksdb/write_batch.h"
#include "process_owned.h"
#include "storage.h"
#include "waiting.h"

namespace rocksq {
namespace {


// A WriteBatch keeps its buffer between groups; one that grew past this for
// a huge batch is released rather than held for the queue's lifetime.
constexpr size_t kRetainedBatchBytes = 8 << 20;

// Reclaiming disk space. RocksDB keeps a popped item's bytes on disk until a
// compaction meets its tombstone; left alone, a drained queue never shrinks.
// So the queue compacts the popped prefix of its keys itself, in a thread of
// its own: whenever this many payload bytes were popped since the last
// compaction, and once the queue has stayed empty for kIdleBeforeReclaim
// after any pop. The compaction also flushes the memtable, which frees the
// write-ahead log. A steady trickle through an often-empty queue is never
// idle that long, so it does not compact again and again.
constexpr uint64_t kReclaimBytes = 64 << 20;
constexpr std::chrono::microseconds kIdleBeforeReclaim = std::chrono::seconds(1);
constexpr std::chrono::microseconds kNothingToReclaim = std::chrono::hours(1);
constexpr std::chrono::microseconds kRetryReclaimAfter = std::chrono::seconds(5);

// A pop records itself by storing the read cursor (see cursor_file.h); the
// popped keys are deleted later, with one range tombstone for every this
// many items or bytes popped, so that they rarely outlive the memtable they
// were pushed into (and are never flushed to a table file).
constexpr uint64_t kDeletePoppedItems = 1024;
constexpr uint64_t kDeletePoppedBytes = 1 << 20;

int64_t SteadyMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

class FifoQueueImpl final : public FifoQueue, private GroupCommit::Owner {
 public:
  FifoQueueImpl(QueueDatabase database, const FifoOptions& options);
  ~FifoQueueImpl() override;

  void Push(std::string_view item) override { Append(&item, 1); }
  void PushBatch(const std::vector<std::string_view>& items) override {
    Append(items.data(), items.size());
  }
  PoppedItems Pop(size_t max_items) override;
  PoppedItems PopWait(size_t max_items, std::chrono::nanoseconds timeout) override;
  void PushWait(std::string_view item, std::chrono::nanoseconds timeout) override {
    AppendWait(&item, 1, timeout);
  }
  void PushBatchWait(const std::vector<std::string_view>& items,
                     std::chrono::nanoseconds timeout) override {
    AppendWait(items.data(), items.size(), timeout);
  }
  void SetChangeListener(std::function<void()> listener) override {
    change_listener_.Set(std::move(listener));
  }

  uint64_t Len() const override;
  uint64_t PayloadBytes() const override;
  uint64_t DiskBytes() const override;
  uint64_t MaxElements() const override {
    return max_elements_.load(std::memory_order_acquire);
  }
  const std::string& Path() const override { return database_.path; }
  const std::string& RecoveryWarning() const override {
    return database_.recovery_warning;
  }
  void SetMaxElements(uint64_t max_elements) override;
  void Shutdown(bool immediate) override;
  void Close() override;

 private:
  void Append(const std::string_view* items, size_t count);
  PoppedItems Take(size_t max_items);  // Pop without the notifications.
  void ReadOne(uint64_t position, const EncodedKey& key, PoppedItems::Rep* rep);
  void ReadRange(uint64_t first, size_t count, PoppedItems::Rep* rep);
  void AppendWait(const std::string_view* items, size_t count, std::chrono::nanoseconds timeout);

  // GroupCommit::Owner: pushes are written in groups (see group_commit.h).
  std::exception_ptr Admit(uint64_t admitted_items, size_t count) override;
  rocksdb::Status WriteGroup(const GroupCommit::Group& group) override;
  void GroupCommitted(const GroupCommit::Group& group) noexcept override;
  std::exception_ptr GroupFailed(const rocksdb::Status& status) noexcept override;

  void RecoverCursors();
  rocksdb::Status DeletePoppedKeys();  // Needs pop_mutex_.
  uint64_t StoredItems() const;
  void NotePopped(uint64_t payload_bytes);
  std::chrono::microseconds Reclaim();  // The reclaimer's body.
  void ThrowIfClosed() const;
  void ThrowShutDown() const;
  rocksdb::ColumnFamilyHandle* items() const { return database_.families[0]; }

  QueueDatabase database_;
  const FifoOptions options_;
  rocksdb::WriteOptions write_options_;
  rocksdb::ReadOptions read_options_;  // For recovery: sees everything as it is.
  rocksdb::ReadOptions pop_read_options_;  // For pops: see FifoQueueImpl().

  // Every operation holds this shared; Close() holds it exclusively, so the
  // database is never closed under a running call.
  mutable std::shared_mutex lifetime_mutex_;
  std::atomic<bool> closed_{false};

  // Set by SetMaxElements(); options_.max_elements is only the opening one.
  std::atomic<uint64_t> max_elements_;
  enum ShutdownState : int { kRunning, kShutDown, kShutDownImmediately };
  std::atomic<int> shutdown_{kRunning};

  GroupCommit group_commit_{this};
  rocksdb::WriteBatch group_batch_;  // Used by the group's leader only.
  uint64_t pushed_bytes_total_ = 0;  // Running total for record headers.

  // Positions [read_cursor_, write_cursor_) hold the stored items. Only a
  // committed group advances write_cursor_, only a pop holding pop_mutex_
  // advances read_cursor_. Both only grow.
  std::atomic<uint64_t> write_cursor_{0};
  std::atomic<uint64_t> read_cursor_{0};
  std::atomic<uint64_t> payload_bytes_{0};

  std::mutex pop_mutex_;
  std::unique_ptr<CursorFile> cursor_file_;  // Stores read_cursor_ (pops only).
  // Keys below this position are deleted in RocksDB; those from it up to
  // the read cursor are popped but not deleted yet. Under pop_mutex_.
  uint64_t deleted_below_ = 0;
  uint64_t undeleted_bytes_ = 0;  // Payload of the popped, undeleted items.

  WaitSignal items_arrived_;  // Notified by every committed group.
  WaitSignal room_made_;      // Notified by every pop.
  ChangeListener change_listener_;

  // Payload bytes popped since the reclaimer last compacted, and when the
  // last pop was (steady clock, microseconds).
  std::atomic<uint64_t> unreclaimed_bytes_{0};
  std::atomic<int64_t> last_pop_micros_{0};
  std::unique_ptr<BackgroundLoop> reclaimer_;  // Last: uses the members above.
};

FifoQueueImpl::FifoQueueImpl(QueueDatabase database, const FifoOptions& options)
    : database_(std::move(database)), options_(options), max_elements_(options.max_elements) {
  write_options_.sync = options.sync;
  group_commit_.SetGathering(options.sync);  // Synced groups wait for their callers.
  // A batch pop deletes its keys with one range tombstone (a pop of N keys
  // would otherwise insert N tombstones into the memtable's skip list,
  // which measured slower than reading them). RocksDB checks every read
  // against every range tombstone in the memtable, which gets slower with
  // each pop; pops skip that check. It is safe because a range tombstone
  // only hides entries older than itself, every tombstone lies below the
  // read cursor when it is written, and pops read only keys at or above the
  // read cursor that were written after it moved there. (If an empty queue
  // is reopened without its cursor file, which only a machine crash can
  // lose, positions start again at 0 over old tombstones: the new entries
  // are newer than those, and pops never read past the write cursor, where
  // older deleted entries may lie.) Keys popped but not yet deleted also
  // lie only below the read cursor.
  pop_read_options_.ignore_range_deletions = true;
  cursor_file_ = std::make_unique<CursorFile>(database_.path, options.sync);
  RecoverCursors();
  reclaimer_ = std::make_unique<BackgroundLoop>([this] { return Reclaim(); }, kRetryReclaimAfter);
}

FifoQueueImpl::~FifoQueueImpl() {
  try {
    Close();
  } catch (const Error&) {
    // Reported by an explicit Close(); a destructor must not throw.
  }
}

// The read cursor is the stored one (cursor_file.h) or the first stored key,
// whichever is later; the write cursor is one past the last stored key, or
// the read cursor if nothing lies at or past it. The payload total is
// derived from the records at both ends (format.h), so no crash can make it
// disagree with the items. Keys below the read cursor are popped items
// whose deletion a crash or a close interrupted: they are deleted now.
void FifoQueueImpl::RecoverCursors() {
  const uint64_t stored_cursor = cursor_file_->Load();
  std::unique_ptr<rocksdb::Iterator> it(database_.db->NewIterator(read_options_, items()));
  auto check_record = [&](const char* which) {
    if (it->key().size() != kKeyBytes || it->value().size() < kRecordHeaderBytes) {
      throw Error(ErrorKind::kCorruption, Path(),
                  std::string("the ") + which + " item's key or header is malformed");
    }
  };
  it->SeekToFirst();
  if (!it->Valid()) {
    if (!it->status().ok()) ThrowStatus(Path(), "reading the first item", it->status());
    read_cursor_.store(stored_cursor);
    write_cursor_.store(stored_cursor);
    deleted_below_ = stored_cursor;
    return;
  }
  check_record("first");
  const uint64_t first_stored = DecodeBigEndian64(it->key().data());

  it->SeekToLast();
  if (!it->Valid()) ThrowStatus(Path(), "reading the last item", it->status());
  check_record("last");
  const uint64_t last_position = DecodeBigEndian64(it->key().data());
  const uint64_t pushed_through_last =
      DecodeBigEndian64(it->value().data()) + (it->value().size() - kRecordHeaderBytes);

  uint64_t first_position = std::max(first_stored, stored_cursor);
  uint64_t pushed_before_first = pushed_through_last;
  if (first_position <= last_position) {
    const EncodedKey first_key(first_position);
    it->Seek(rocksdb::Slice(first_key.bytes, kKeyBytes));
    if (!it->Valid()) ThrowStatus(Path(), "reading the first item", it->status());
    check_record("first");
    if (DecodeBigEndian64(it->key().data()) != first_position) {
      throw Error(ErrorKind::kCorruption, Path(),
                  "item " + std::to_string(first_position) + " is missing");
    }
    pushed_before_first = DecodeBigEndian64(it->value().data());
  } else {
    first_position = stored_cursor;  // Everything stored was popped.
  }
  if (pushed_through_last < pushed_before_first) {
    throw Error(ErrorKind::kCorruption, Path(), "the first and last items' records disagree");
  }
  read_cursor_.store(first_position);
  write_cursor_.store(std::max(first_position, last_position + 1));
  pushed_bytes_total_ = pushed_through_last;
  payload_bytes_.store(pushed_through_last - pushed_before_first);
  deleted_below_ = first_stored;
  const rocksdb::Status deleted = DeletePoppedKeys();
  if (!deleted.ok()) ThrowStatus(Path(), "deleting popped items", deleted);
}

void FifoQueueImpl::ThrowIfClosed() const {
  if (closed_.load(std::memory_order_acquire)) {
    throw Error(ErrorKind::kClosed, Path(), "the queue was closed");
  }
}

void FifoQueueImpl::ThrowShutDown() const {
  throw Error(ErrorKind::kShutDown, Path(), "the queue was shut down");
}

void FifoQueueImpl::SetMaxElements(uint64_t max_elements) {
  {
    std::shared_lock<std::shared_mutex> lifetime(lifetime_mutex_);
    ThrowIfClosed();
    if (max_elements == 0 || max_elements > kMaxElementsLimit) {
      throw Error(ErrorKind::kInvalidArgument, Path(),
                  "max_elements must be between 1 and " + std::to_string(kMaxElementsLimit) +
                      ", got " + std::to_string(max_elements));
    }
    max_elements_.store(max_elements, std::memory_order_release);
  }
  room_made_.Notify();
  change_listener_.Fire();
}

void FifoQueueImpl::Shutdown(bool immediate) {
  {
    std::shared_lock<std::shared_mutex> lifetime(lifetime_mutex_);
    ThrowIfClosed();
    if (immediate) {
      shutdown_.store(kShutDownImmediately, std::memory_order_release);
    } else {
      int running = kRunning;
      shutdown_.compare_exchange_strong(running, kShutDown, std::memory_order_acq_rel);
    }
  }
  items_arrived_.Notify();
  room_made_.Notify();
  change_listener_.Fire();
}

uint64_t FifoQueueImpl::Len() const {
  ThrowIfClosed();
  return StoredItems();
}

uint64_t FifoQueueImpl::StoredItems() const {
  // Read the read cursor first: both only grow, so the difference is never
  // negative, and it is exact whenever no pop or push is under way.
  const uint64_t read = read_cursor_.load(std::memory_order_acquire);
  return write_cursor_.load(std::memory_order_acquire) - read;
}

uint64_t FifoQueueImpl::PayloadBytes() const {
  ThrowIfClosed();
  return payload_bytes_.load(std::memory_order_acquire);
}

uint64_t FifoQueueImpl::DiskBytes() const {
  ThrowIfClosed();
  return DirectoryBytes(Path());
}

void FifoQueueImpl::Close() {
  closed_.store(true, std::memory_order_release);
  // Waiters hold no lock while they wait; woken, they see closed_ and throw.
  items_arrived_.Notify();
  room_made_.Notify();
  std::unique_lock<std::shared_mutex> lifetime(lifetime_mutex_);
  if (database_.db) {
    std::lock_guard<std::mutex> lock(pop_mutex_);
    DeletePoppedKeys().PermitUncheckedError();  // If it fails, the next open does it.
  }
  if (reclaimer_) {
    // A compaction under way stops early; the reclaimer thread then ends.
    if (database_.db) database_.db->DisableManualCompaction();
    reclaimer_->Stop();
  }
  cursor_file_.reset();  // Closes its descriptor: the directory is free to go.
  database_.Close();
}

void FifoQueueImpl::Append(const std::string_view* items, size_t count) {
  {
    std::shared_lock<std::shared_mutex> lifetime(lifetime_mutex_);
    ThrowIfClosed();
    if (shutdown_.load(std::memory_order_acquire) != kRunning) ThrowShutDown();
    if (count == 0) return;
    group_commit_.Append(items, count);
  }
  change_listener_.Fire();
}

void FifoQueueImpl::AppendWait(const std::string_view* items, size_t count,
                               std::chrono::nanoseconds timeout) {
  const Clock::time_point deadline = DeadlineAfter(timeout);
  for (;;) {
    try {
      Append(items, count);
      return;
    } catch (const Error& error) {
      if (error.kind() != ErrorKind::kQueueFull || count > MaxElements()) throw;
      // A shutdown or a larger limit ends the wait too: the retry then
      // throws kShutDown, or stores the items.
      const bool room = room_made_.WaitUntil(deadline, [&] {
        return StoredItems() + count <= MaxElements() ||
               closed_.load(std::memory_order_acquire) ||
               shutdown_.load(std::memory_order_acquire) != kRunning;
      });
      ThrowIfClosed();
      if (!room) throw;
    }
  }
}

PoppedItems FifoQueueImpl::PopWait(size_t max_items, std::chrono::nanoseconds timeout) {
  const Clock::time_point deadline = DeadlineAfter(timeout);
  for (;;) {
    PoppedItems items = Pop(max_items);
    if (!items.empty() || max_items == 0) return items;
    // Another consumer may take what woke this one: then wait again.
    // After a shutdown, Pop() returns what is left or throws kShutDown.
    const bool arrived = items_arrived_.WaitUntil(deadline, [&] {
      return StoredItems() != 0 || closed_.load(std::memory_order_acquire) ||
             shutdown_.load(std::memory_order_acquire) != kRunning;
    });
    ThrowIfClosed();
    if (!arrived) return PoppedItems();
  }
}

std::exception_ptr FifoQueueImpl::Admit(uint64_t admitted_items, size_t count) {
  // Pops only shrink the queue meanwhile, so admitting against the length
  // seen now can never overfill it.
  const uint64_t stored = StoredItems() + admitted_items;
  const uint64_t max_elements = MaxElements();
  if (stored + count <= max_elements) return nullptr;
  return std::make_exception_ptr(
      Error(ErrorKind::kQueueFull, Path(),
            std::to_string(stored) + " of " + std::to_string(max_elements) +
                " items stored, cannot add " + std::to_string(count)));
}

// Positions continue from the write cursor: the last group is committed
// before the next is written, and a failed group leaves the cursor where it
// was, so the stored keys never have a gap.
rocksdb::Status FifoQueueImpl::WriteGroup(const GroupCommit::Group& group) {
  group_batch_.Clear();
  uint64_t position = write_cursor_.load(std::memory_order_relaxed);
  uint64_t pushed_bytes = pushed_bytes_total_;
  for (const GroupCommit::Span& span : group.spans) {
    for (size_t i = 0; i < span.count; ++i) {
      const std::string_view item = span.items[i];
      EncodedKey key(position++);
      char header[kRecordHeaderBytes];
      EncodeBigEndian64(pushed_bytes, header);
      pushed_bytes += item.size();
      const rocksdb::Slice key_slice(key.bytes, kKeyBytes);
      const rocksdb::Slice value_parts[2] = {rocksdb::Slice(header, kRecordHeaderBytes),
                                             rocksdb::Slice(item.data(), item.size())};
      rocksdb::Status added = group_batch_.Put(items(), rocksdb::SliceParts(&key_slice, 1),
                                               rocksdb::SliceParts(value_parts, 2));
      if (!added.ok()) return added;
    }
  }
  rocksdb::Status written = database_.db->Write(write_options_, &group_batch_);
  if (group_batch_.GetDataSize() > kRetainedBatchBytes) group_batch_ = rocksdb::WriteBatch();
  return written;
}

void FifoQueueImpl::GroupCommitted(const GroupCommit::Group& group) noexcept {
  pushed_bytes_total_ += group.payload_bytes;
  payload_bytes_.fetch_add(group.payload_bytes, std::memory_order_acq_rel);
  write_cursor_.fetch_add(group.item_count, std::memory_order_release);
  items_arrived_.Notify();
}

std::exception_ptr FifoQueueImpl::GroupFailed(const rocksdb::Status& status) noexcept {
  try {
    ThrowStatus(Path(), "writing items", status);
  } catch (...) {
    return std::current_exception();
  }
}

PoppedItems FifoQueueImpl::Pop(size_t max_items) {
  PoppedItems items = Take(max_items);
  if (!items.empty()) {
    NotePopped(items.payload_bytes());
    room_made_.Notify();
    change_listener_.Fire();
  }
  return items;
}

PoppedItems FifoQueueImpl::Take(size_t max_items) {
  std::shared_lock<std::shared_mutex> lifetime(lifetime_mutex_);
  ThrowIfClosed();
  const int shutdown = shutdown_.load(std::memory_order_acquire);
  if (shutdown == kShutDownImmediately) ThrowShutDown();

  std::lock_guard<std::mutex> lock(pop_mutex_);
  const uint64_t first = read_cursor_.load(std::memory_order_relaxed);
  const uint64_t end = write_cursor_.load(std::memory_order_acquire);
  if (shutdown != kRunning && first == end) ThrowShutDown();
  const size_t count = static_cast<size_t>(std::min<uint64_t>(max_items, end - first));
  if (count == 0) return PoppedItems();

  auto rep = std::make_unique<PoppedItems::Rep>();
  rep->block_cache = database_.block_cache;
  rep->header_bytes = kRecordHeaderBytes;
  const EncodedKey first_key(first);
  if (count == 1) {
    ReadOne(first, first_key, rep.get());
  } else {
    ReadRange(first, count, rep.get());
  }

  // The pop happens here: if storing the cursor fails, nothing was popped.
  cursor_file_->Store(first + count);
  payload_bytes_.fetch_sub(rep->payload_bytes, std::memory_order_acq_rel);
  read_cursor_.store(first + count, std::memory_order_release);
  undeleted_bytes_ += rep->payload_bytes;
  if (first + count - deleted_below_ >= kDeletePoppedItems ||
      undeleted_bytes_ >= kDeletePoppedBytes) {
    DeletePoppedKeys().PermitUncheckedError();  // See DeletePoppedKeys().
  }
  return PoppedItems(std::move(rep));
}

// Deletes the keys of the items popped since the last call, with one range
// tombstone. A failure is not the pop's: the keys stay, unread below the
// read cursor, and the next call (or the next open) deletes them.
rocksdb::Status FifoQueueImpl::DeletePoppedKeys() {
  const uint64_t read_cursor = read_cursor_.load(std::memory_order_relaxed);
  if (deleted_below_ >= read_cursor) return rocksdb::Status::OK();
  const EncodedKey begin(deleted_below_);
  const EncodedKey end(read_cursor);
  rocksdb::WriteBatch deletion;
  rocksdb::Status status =
      deletion.DeleteRange(items(), rocksdb::Slice(begin.bytes, kKeyBytes),
                           rocksdb::Slice(end.bytes, kKeyBytes));
  // Unsynced even for a synced queue: the cursor file already made the pops
  // durable, and keys a crash leaves behind are deleted at the next open.
  if (status.ok()) status = database_.db->Write(rocksdb::WriteOptions(), &deletion);
  if (!status.ok()) return status;
  deleted_below_ = read_cursor;
  undeleted_bytes_ = 0;
  return status;
}

// One item: a point read of its key, pinned in place (no iterator, so no
// walk over the tombstones of the items popped before it).
void FifoQueueImpl::ReadOne(uint64_t position, const EncodedKey& key, PoppedItems::Rep* rep) {
  rep->values.resize(1);
  rocksdb::Status read = database_.db->Get(pop_read_options_, items(),
                                           rocksdb::Slice(key.bytes, kKeyBytes), &rep->values[0]);
  if (!read.ok()) ThrowStatus(Path(), "reading item " + std::to_string(position), read);
  if (rep->values[0].size() < kRecordHeaderBytes) {
    throw Error(ErrorKind::kCorruption, Path(), "an item's record is shorter than its header");
  }
  rep->payload_bytes = rep->values[0].size() - kRecordHeaderBytes;
}

// A batch: one iterator bounded to exactly the batch's keys, so it starts at
// `first` (past the tombstones below) and steps forward instead of
// searching the memtable once per key. An iterator's values live only until
// it moves, so the items are copied out, back to back. Measured (C++, 100 x
// 100 B): MultiGet of the keys 2.8 us a key, the iterator 0.3 us.
void FifoQueueImpl::ReadRange(uint64_t first, size_t count, PoppedItems::Rep* rep) {
  const EncodedKey lower(first);
  const EncodedKey upper(first + count);
  const rocksdb::Slice lower_slice(lower.bytes, kKeyBytes);
  const rocksdb::Slice upper_slice(upper.bytes, kKeyBytes);
  rocksdb::ReadOptions bounded = pop_read_options_;
  bounded.iterate_lower_bound = &lower_slice;
  bounded.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(database_.db->NewIterator(bounded, items()));
  rep->copied_ends.reserve(count);
  uint64_t expected = first;
  for (it->Seek(lower_slice); it->Valid(); it->Next(), ++expected) {
    const rocksdb::Slice key = it->key();
    const rocksdb::Slice value = it->value();
    if (key.size() != kKeyBytes || DecodeBigEndian64(key.data()) != expected ||
        value.size() < kRecordHeaderBytes) {
      throw Error(ErrorKind::kCorruption, Path(),
                  "item " + std::to_string(expected) + " is missing or malformed");
    }
    rep->copied.append(value.data() + kRecordHeaderBytes, value.size() - kRecordHeaderBytes);
    rep->copied_ends.push_back(rep->copied.size());
  }
  if (!it->status().ok()) ThrowStatus(Path(), "reading items", it->status());
  if (expected != first + count) {
    throw Error(ErrorKind::kCorruption, Path(), "item " + std::to_string(expected) + " is missing");
  }
  rep->payload_bytes = rep->copied.size();
}

void FifoQueueImpl::NotePopped(uint64_t payload_bytes) {
  last_pop_micros_.store(SteadyMicros(), std::memory_order_relaxed);
  // Count even empty items: their keys and tombstones take space too.
  const uint64_t before = unreclaimed_bytes_.fetch_add(payload_bytes + 1);
  // Wake the reclaimer only on the pops that change what it does: the
  // first after a compaction (start the idle clock) and the one that
  // crosses kReclaimBytes (compact now).
  if (before == 0 || (before < kReclaimBytes && before + payload_bytes + 1 >= kReclaimBytes)) {
    reclaimer_->Wake();
  }
}

std::chrono::microseconds FifoQueueImpl::Reclaim() {
  const uint64_t unreclaimed = unreclaimed_bytes_.load();
  if (unreclaimed == 0) return kNothingToReclaim;
  if (unreclaimed < kReclaimBytes) {
    const std::chrono::microseconds idle(SteadyMicros() - last_pop_micros_.load());
    if (StoredItems() != 0) return kIdleBeforeReclaim;
    if (idle < kIdleBeforeReclaim) return kIdleBeforeReclaim - idle;
  }
  // Delete every key below the read cursor, then compact up to it (inclusive
  // bounds; the cursor's own key, if stored, is merely rewritten).
  uint64_t deleted_below;
  {
    std::lock_guard<std::mutex> lock(pop_mutex_);
    const rocksdb::Status deleted = DeletePoppedKeys();
    if (!deleted.ok()) ThrowStatus(Path(), "deleting popped items", deleted);
    deleted_below = deleted_below_;
  }
  const EncodedKey end(deleted_below);
  const rocksdb::Slice end_slice(end.bytes, kKeyBytes);
  rocksdb::CompactRangeOptions compaction;
  // Files already at the bottom level are rewritten too, or their deleted
  // items would stay.
  compaction.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForceOptimized;
  rocksdb::Status compacted = database_.db->CompactRange(compaction, items(), nullptr, &end_slice);
  if (!compacted.ok()) ThrowStatus(Path(), "reclaiming popped items' space", compacted);
  unreclaimed_bytes_.fetch_sub(unreclaimed);
  return std::chrono::microseconds::zero();  // Look again: pops went on meanwhile.
}

}  // namespace

FifoQueue::~FifoQueue() = default;

std::unique_ptr<FifoQueue> FifoQueue::Open(const std::string& path, const FifoOptions& options) {
  if (options.max_elements == 0 || options.max_elements > kMaxElementsLimit) {
    throw Error(ErrorKind::kInvalidArgument, path,
                "max_elements must be between 1 and " + std::to_string(kMaxElementsLimit) +
                    ", got " + std::to_string(options.max_elements));
  }
  if (path.empty()) throw Error(ErrorKind::kInvalidArgument, path, "the path is empty");
  QueueDatabase database =
      OpenQueueDatabase(path, QueueKind::kFifo, {kFifoItemsFamily});
  return OwnedByThisProcess(std::make_unique<FifoQueueImpl>(std::move(database), options));
}

void FifoQueue::Destroy(const std::string& path) { DestroyQueueDatabase(path, QueueKind::kFifo); }

}  // namespace rocksq
