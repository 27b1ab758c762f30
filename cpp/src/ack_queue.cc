#include "rocksq/ack_queue.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <limits>
#include <mutex>
#include <shared_mutex>
#include <stdexcept>
#include <unordered_set>
#include <utility>

#include "ack_log.h"
#include "ack_records.h"
#include "background_loop.h"
#include "format.h"
#include "group_commit.h"
#include "lease_table.h"
#include "rocksdb/cache.h"
#include "rocksdb/options.h"
#include "rocksdb/slice.h"
#include "rocksdb/write_batch.h"
#include "process_owned.h"
#include "storage.h"
#include "waiting.h"

namespace rocksq {

// Each value a stored record (see format.h), pinned in RocksDB's memory or,
// when read through an iterator, copied into the PinnableSlice itself.
struct Deliveries::Rep {
  // Declared first so it is destroyed last (see PoppedItems::Rep).
  std::shared_ptr<rocksdb::Cache> block_cache;
  std::vector<rocksdb::PinnableSlice> records;
  std::vector<uint64_t> ids;
  std::vector<uint32_t> attempts;
  uint64_t first_receipt = 0;  // The deliveries' receipts are consecutive from it.
  size_t payload_bytes = 0;
};

Deliveries::Deliveries() noexcept = default;
Deliveries::Deliveries(std::unique_ptr<Rep> rep) noexcept : rep_(std::move(rep)) {}
Deliveries::Deliveries(Deliveries&&) noexcept = default;
Deliveries& Deliveries::operator=(Deliveries&&) noexcept = default;
Deliveries::~Deliveries() = default;

size_t Deliveries::size() const noexcept { return rep_ ? rep_->ids.size() : 0; }

size_t Deliveries::payload_bytes() const noexcept { return rep_ ? rep_->payload_bytes : 0; }

Delivery Deliveries::operator[](size_t index) const {
  if (index >= size()) throw std::out_of_range("Deliveries index out of range");
  const rocksdb::PinnableSlice& record = rep_->records[index];
  return Delivery{rep_->ids[index], rep_->attempts[index],
                  std::string_view(record.data() + kRecordHeaderBytes,
                                   record.size() - kRecordHeaderBytes),
                  rep_->first_receipt + index};
}

namespace {

// How an ack queue is stored: see format.h.

constexpr size_t kRetainedBatchBytes = 8 << 20;

// Logged acks are applied (ApplyLoggedAcks) once this many are pending or
// their items hold this many payload bytes, as a FIFO queue deletes its
// popped keys: few enough that opening a queue applies them in
// milliseconds, enough that their writes cost little per ack.
constexpr size_t kApplyAckItems = 1024;
constexpr uint64_t kApplyAckBytes = 1 << 20;

// Reclaiming disk space, as in fifo_queue.cc: compact the acked prefix of
// the keys once this many payload bytes were removed, or once no item has
// been stored for kIdleBeforeReclaim after a removal.
constexpr uint64_t kReclaimBytes = 64 << 20;
constexpr std::chrono::microseconds kIdleBeforeReclaim = std::chrono::seconds(1);
constexpr std::chrono::microseconds kNothingToReclaim = std::chrono::hours(1);
constexpr std::chrono::microseconds kRetryReclaimAfter = std::chrono::seconds(5);

int64_t SteadyMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

class AckQueueImpl final : public AckQueue, private GroupCommit::Owner {
 public:
  AckQueueImpl(QueueDatabase database, const AckOptions& options);
  ~AckQueueImpl() override;

  void Push(std::string_view item) override { Append(&item, 1); }
  void PushBatch(const std::vector<std::string_view>& items) override {
    Append(items.data(), items.size());
  }
  void PushWait(std::string_view item, std::chrono::nanoseconds timeout) override {
    AppendWait(&item, 1, timeout);
  }
  void PushBatchWait(const std::vector<std::string_view>& items,
                     std::chrono::nanoseconds timeout) override {
    AppendWait(items.data(), items.size(), timeout);
  }
  Deliveries Get(size_t max_items) override;
  Deliveries GetWait(size_t max_items, std::chrono::nanoseconds timeout) override;

  void Ack(const Delivery& delivery) override { LogAcks(&delivery, 1); }
  void AckBatch(const std::vector<Delivery>& deliveries) override {
    LogAcks(deliveries.data(), deliveries.size());
  }
  void Nack(const Delivery& delivery) override { Return(&delivery, 1); }
  void NackBatch(const std::vector<Delivery>& deliveries) override {
    Return(deliveries.data(), deliveries.size());
  }
  void AckFailed(const Delivery& delivery) override { MoveToFailed(&delivery, 1); }
  void AckFailedBatch(const std::vector<Delivery>& deliveries) override {
    MoveToFailed(deliveries.data(), deliveries.size());
  }
  std::vector<FailedItem> Failed(size_t max_items) const override;
  uint64_t RequeueFailed(const std::vector<uint64_t>& ids) override;
  uint64_t RequeueAllFailed() override;

  void SetChangeListener(std::function<void()> listener) override {
    change_listener_.Set(std::move(listener));
  }
  std::chrono::nanoseconds TimeToNextExpiry() const override;

  uint64_t ReadyLen() const override;
  uint64_t UnackedLen() const override;
  uint64_t FailedLen() const override;
  uint64_t Len() const override;
  uint64_t PayloadBytes() const override;
  uint64_t DiskBytes() const override;
  uint64_t MaxElements() const override { return options_.max_elements; }
  std::chrono::milliseconds VisibilityTimeout() const override {
    return options_.visibility_timeout;
  }
  const std::string& Path() const override { return database_.path; }
  const std::string& RecoveryWarning() const override {
    return database_.recovery_warning;
  }
  void Close() override;

 private:
  void Append(const std::string_view* items, size_t count);
  void AppendWait(const std::string_view* items, size_t count, std::chrono::nanoseconds timeout);
  Deliveries Take(size_t max_items);
  void ReadPinned(uint64_t position, rocksdb::PinnableSlice* record, bool* found);
  std::vector<LeaseTable::Lease> BeginSettle(const Delivery* deliveries, size_t count);
  void UndoSettle(const Delivery* deliveries, const std::vector<LeaseTable::Lease>& leases);
  void LogAcks(const Delivery* deliveries, size_t count);
  void ApplyLoggedAcks();
  void DeleteItems(const std::vector<uint64_t>& sorted_ids, rocksdb::WriteBatch* batch);
  void WriteRemoval(uint64_t count, uint64_t payload_bytes, uint64_t epoch, const char* action);
  void MoveToFailed(const Delivery* deliveries, size_t count);
  void Return(const Delivery* deliveries, size_t count);
  uint64_t Requeue(const std::vector<uint64_t>& ids);

  uint64_t ReadyUnlocked() const;  // Under state_mutex_.

  // GroupCommit::Owner: pushes are written in groups (see group_commit.h).
  std::exception_ptr Admit(uint64_t admitted_items, size_t count) override;
  rocksdb::Status WriteGroup(const GroupCommit::Group& group) override;
  void GroupCommitted(const GroupCommit::Group& group) noexcept override;
  std::exception_ptr GroupFailed(const rocksdb::Status& status) noexcept override;

  void Recover();
  void AdoptStoredState(const AckStoredState& state);
  void ApplyLogAtOpen(const AckLog::Records& logged);
  uint64_t ItemsStored() const;  // In ack_items: ready and handed out.
  bool HasReady() const;
  void NoteRemoved(uint64_t payload_bytes, size_t count);
  std::chrono::microseconds Reclaim();
  void ThrowIfClosed() const;
  rocksdb::ColumnFamilyHandle* items() const { return database_.families[0]; }
  rocksdb::ColumnFamilyHandle* failed() const { return database_.families[1]; }
  rocksdb::ColumnFamilyHandle* meta() const { return database_.families[2]; }

  QueueDatabase database_;
  const AckOptions options_;
  rocksdb::WriteOptions write_options_;
  rocksdb::ReadOptions read_options_;

  // Every operation holds this shared; Close() holds it exclusively.
  mutable std::shared_mutex lifetime_mutex_;
  std::atomic<bool> closed_{false};

  // Pushes hold this shared; RequeueFailed holds it exclusively, so it can
  // number its items from the write cursor with no group under way.
  std::shared_mutex append_gate_;
  GroupCommit group_commit_{this};
  rocksdb::WriteBatch group_batch_;  // Used by the group's leader only.
  uint64_t pushed_bytes_total_ = 0;  // Running total for record headers.

  // Positions [0, write_cursor_) were pushed; removed_count_ of them are
  // acked or failed: no longer in ack_items, or acked in the ack log and
  // about to leave it. Both only grow.
  std::atomic<uint64_t> write_cursor_{0};
  std::atomic<uint64_t> removed_count_{0};
  std::atomic<uint64_t> items_payload_bytes_{0};
  std::atomic<uint64_t> failed_count_{0};
  std::atomic<uint64_t> failed_bytes_{0};

  // Serialises writes that remove items from ack_items or change
  // ack_failed, so each rewrites the meta from the one before it. The meta
  // as last written, i.e. the removals applied to ack_items:
  std::mutex removal_mutex_;
  uint64_t applied_removed_count_ = 0;  // Guarded by removal_mutex_.
  uint64_t removed_payload_bytes_ = 0;  // Guarded by removal_mutex_; modulo 2^64.
  rocksdb::WriteBatch removal_batch_;   // Guarded by removal_mutex_.

  // Acks are appended to the ack log, then applied in bulk (ack_log.h).
  // Taken after removal_mutex_ when both are held.
  std::mutex log_mutex_;
  std::unique_ptr<AckLog> ack_log_;         // Guarded by log_mutex_.
  uint64_t log_epoch_ = 0;                  // Changed under both mutexes.
  std::vector<uint64_t> logged_ids_;        // Guarded by log_mutex_.
  uint64_t logged_payload_bytes_ = 0;       // Guarded by log_mutex_.

  // Gets run one at a time: each reads from where the last one stopped.
  std::mutex get_mutex_;

  // Who holds what; every position in ack_items is either at or above
  // read_cursor_ (never handed out since the open), or named by leases_
  // (handed out, being settled, or returned), or being read by a Get.
  mutable std::mutex state_mutex_;
  uint64_t read_cursor_ = 0;
  mutable LeaseTable leases_;  // Expiring a lease changes it in const reads.

  WaitSignal items_ready_;  // Notified by pushes, nacks and requeues.
  WaitSignal room_made_;    // Notified by acks.
  ChangeListener change_listener_;

  std::atomic<uint64_t> unreclaimed_bytes_{0};
  std::atomic<int64_t> last_removal_micros_{0};
  std::unique_ptr<BackgroundLoop> reclaimer_;  // Last: uses the members above.
};

AckQueueImpl::AckQueueImpl(QueueDatabase database, const AckOptions& options)
    : database_(std::move(database)),
      options_(options),
      leases_(database_.path, options.visibility_timeout) {
  write_options_.sync = options.sync;
  group_commit_.SetGathering(options.sync);  // Synced groups wait for their callers.
  Recover();
  reclaimer_ = std::make_unique<BackgroundLoop>([this] { return Reclaim(); }, kRetryReclaimAfter);
}

AckQueueImpl::~AckQueueImpl() {
  try {
    Close();
  } catch (const Error&) {
    // Reported by an explicit Close(); a destructor must not throw.
  }
}

// Every count is derived from the items and the meta, which are only ever
// written together (ack_records.h), once the ack log is applied.
void AckQueueImpl::Recover() {
  AdoptStoredState(
      ReadAckState(database_.db.get(), read_options_, items(), failed(), meta(), Path()));
  ack_log_ = std::make_unique<AckLog>(Path(), options_.sync);
  // Load() stops at the first record that does not check out, as it must
  // for a torn tail; damage before the end loses the acks after it (their
  // items are delivered again), which the open says rather than hides.
  const std::string log_damage = AckLog::DescribeDamage(Path());
  if (!log_damage.empty()) {
    if (!database_.recovery_warning.empty()) database_.recovery_warning += "; ";
    database_.recovery_warning += log_damage;
  }
  const AckLog::Records logged = ack_log_->Load(log_epoch_);
  if (!logged.empty()) {
    ApplyLogAtOpen(logged);
    AdoptStoredState(
        ReadAckState(database_.db.get(), read_options_, items(), failed(), meta(), Path()));
  }
  // Records of past epochs are applied already; a torn tail goes too.
  ack_log_->Clear();
}

void AckQueueImpl::AdoptStoredState(const AckStoredState& state) {
  log_epoch_ = state.removal.epoch;
  applied_removed_count_ = state.removal.removed_count;
  removed_payload_bytes_ = state.removal.removed_payload_bytes;
  write_cursor_.store(state.write_cursor);
  pushed_bytes_total_ = state.pushed_total;
  items_payload_bytes_.store(state.items_payload_bytes);
  read_cursor_ = state.first_position;
  removed_count_.store(state.removal.removed_count);
  failed_count_.store(state.failed_count);
  failed_bytes_.store(state.failed_payload_bytes);
}

// Applies the acks the log holds from before the queue closed or crashed,
// as ApplyLoggedAcks does, with the meta of an epoch past every one the log
// names. An id whose item is not stored is skipped: after a machine crash,
// an unsynced push can be lost while the log's page that acks it survived.
void AckQueueImpl::ApplyLogAtOpen(const AckLog::Records& logged) {
  std::vector<uint64_t> ids = logged.ids;
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  std::vector<uint64_t> stored;
  uint64_t payload_bytes = 0;
  for (uint64_t id : ids) {
    rocksdb::PinnableSlice record;
    bool found = false;
    ReadPinned(id, &record, &found);
    if (!found) continue;
    stored.push_back(id);
    payload_bytes += record.size() - kRecordHeaderBytes;
  }
  std::lock_guard<std::mutex> removal_lock(removal_mutex_);
  removal_batch_.Clear();
  DeleteItems(stored, &removal_batch_);
  WriteRemoval(stored.size(), payload_bytes, std::max(log_epoch_, logged.last_epoch) + 1,
               "applying the ack log");
}

void AckQueueImpl::ThrowIfClosed() const {
  if (closed_.load(std::memory_order_acquire)) {
    throw Error(ErrorKind::kClosed, Path(), "the queue was closed");
  }
}

uint64_t AckQueueImpl::ItemsStored() const {
  // The removed count first: both only grow, so the difference is never
  // negative, and exact whenever no push or removal is under way.
  const uint64_t removed = removed_count_.load(std::memory_order_acquire);
  return write_cursor_.load(std::memory_order_acquire) - removed;
}

uint64_t AckQueueImpl::ReadyUnlocked() const {
  const uint64_t stored = ItemsStored();
  const uint64_t taken = leases_.unsettled();
  return stored > taken ? stored - taken : 0;
}

bool AckQueueImpl::HasReady() const {
  std::lock_guard<std::mutex> state(state_mutex_);
  if (ReadyUnlocked() != 0) return true;
  return leases_.HasOverdue(Clock::now());
}

std::chrono::nanoseconds AckQueueImpl::TimeToNextExpiry() const {
  ThrowIfClosed();
  std::lock_guard<std::mutex> state(state_mutex_);
  return leases_.TimeToNextExpiry(Clock::now());
}

uint64_t AckQueueImpl::ReadyLen() const {
  ThrowIfClosed();
  std::lock_guard<std::mutex> state(state_mutex_);
  leases_.ExpireOverdue(Clock::now());
  return ReadyUnlocked();
}

uint64_t AckQueueImpl::UnackedLen() const {
  ThrowIfClosed();
  std::lock_guard<std::mutex> state(state_mutex_);
  leases_.ExpireOverdue(Clock::now());
  return leases_.unsettled();
}

uint64_t AckQueueImpl::FailedLen() const {
  ThrowIfClosed();
  return failed_count_.load(std::memory_order_acquire);
}

uint64_t AckQueueImpl::Len() const {
  ThrowIfClosed();
  return ItemsStored() + failed_count_.load(std::memory_order_acquire);
}

uint64_t AckQueueImpl::PayloadBytes() const {
  ThrowIfClosed();
  return items_payload_bytes_.load(std::memory_order_acquire) +
         failed_bytes_.load(std::memory_order_acquire);
}

uint64_t AckQueueImpl::DiskBytes() const {
  ThrowIfClosed();
  return DirectoryBytes(Path());
}

void AckQueueImpl::Close() {
  closed_.store(true, std::memory_order_release);
  items_ready_.Notify();
  room_made_.Notify();
  std::unique_lock<std::shared_mutex> lifetime(lifetime_mutex_);
  if (reclaimer_) {
    if (database_.db) database_.db->DisableManualCompaction();
    reclaimer_->Stop();
  }
  // The log's acks are applied now so the next open need not; if that
  // fails they stay logged, and the next open applies them.
  std::exception_ptr failure;
  if (database_.db && ack_log_) {
    try {
      ApplyLoggedAcks();
    } catch (const Error&) {
      failure = std::current_exception();
    }
  }
  {
    std::lock_guard<std::mutex> log(log_mutex_);
    ack_log_.reset();
  }
  database_.Close();
  if (failure) std::rethrow_exception(failure);
}

// --- Pushing -------------------------------------------------------------------

void AckQueueImpl::Append(const std::string_view* items, size_t count) {
  {
    std::shared_lock<std::shared_mutex> lifetime(lifetime_mutex_);
    ThrowIfClosed();
    if (count == 0) return;
    std::shared_lock<std::shared_mutex> gate(append_gate_);
    group_commit_.Append(items, count);
  }
  change_listener_.Fire();
}

void AckQueueImpl::AppendWait(const std::string_view* items, size_t count,
                              std::chrono::nanoseconds timeout) {
  const Clock::time_point deadline = DeadlineAfter(timeout);
  for (;;) {
    try {
      Append(items, count);
      return;
    } catch (const Error& error) {
      if (error.kind() != ErrorKind::kQueueFull || count > options_.max_elements) throw;
      const bool room = room_made_.WaitUntil(deadline, [&] {
        return ItemsStored() + failed_count_.load() + count <= options_.max_elements ||
               closed_.load(std::memory_order_acquire);
      });
      ThrowIfClosed();
      if (!room) throw;
    }
  }
}

std::exception_ptr AckQueueImpl::Admit(uint64_t admitted_items, size_t count) {
  // Removals only shrink the queue meanwhile, and requeues cannot run
  // during a group (append_gate_), so this can never overfill it.
  const uint64_t stored = ItemsStored() + failed_count_.load() + admitted_items;
  if (stored + count <= options_.max_elements) return nullptr;
  return std::make_exception_ptr(
      Error(ErrorKind::kQueueFull, Path(),
            std::to_string(stored) + " of " + std::to_string(options_.max_elements) +
                " items stored, cannot add " + std::to_string(count)));
}

rocksdb::Status AckQueueImpl::WriteGroup(const GroupCommit::Group& group) {
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

void AckQueueImpl::GroupCommitted(const GroupCommit::Group& group) noexcept {
  pushed_bytes_total_ += group.payload_bytes;
  items_payload_bytes_.fetch_add(group.payload_bytes, std::memory_order_acq_rel);
  write_cursor_.fetch_add(group.item_count, std::memory_order_release);
  items_ready_.Notify();
}

std::exception_ptr AckQueueImpl::GroupFailed(const rocksdb::Status& status) noexcept {
  try {
    ThrowStatus(Path(), "writing items", status);
  } catch (...) {
    return std::current_exception();
  }
}

// --- Getting -------------------------------------------------------------------

Deliveries AckQueueImpl::Get(size_t max_items) { return Take(max_items); }

Deliveries AckQueueImpl::GetWait(size_t max_items, std::chrono::nanoseconds timeout) {
  const Clock::time_point deadline = DeadlineAfter(timeout);
  for (;;) {
    Deliveries deliveries = Take(max_items);
    if (!deliveries.empty() || max_items == 0) return deliveries;
    const Clock::time_point now = Clock::now();
    if (now >= deadline) return Deliveries();
    Clock::time_point wake;
    {
      std::lock_guard<std::mutex> state(state_mutex_);
      wake = std::min(deadline, leases_.NextWake(now));
    }
    // Woken by a push or nack, or at the next expiry: then try again.
    items_ready_.WaitUntil(wake, [&] {
      return HasReady() || closed_.load(std::memory_order_acquire);
    });
    ThrowIfClosed();
  }
}

// One record by a point read, pinned in place; `found` false if there is
// none at `position` (an item acked before the queue was reopened).
void AckQueueImpl::ReadPinned(uint64_t position, rocksdb::PinnableSlice* record, bool* found) {
  const EncodedKey key(position);
  rocksdb::Status read = database_.db->Get(read_options_, items(),
                                           rocksdb::Slice(key.bytes, kKeyBytes), record);
  *found = !read.IsNotFound();
  if (!*found) return;
  if (!read.ok()) ThrowStatus(Path(), "reading item " + std::to_string(position), read);
  if (record->size() < kRecordHeaderBytes) {
    throw Error(ErrorKind::kCorruption, Path(), "an item's record is shorter than its header");
  }
}

Deliveries AckQueueImpl::Take(size_t max_items) {
  std::shared_lock<std::shared_mutex> lifetime(lifetime_mutex_);
  ThrowIfClosed();
  if (max_items == 0) return Deliveries();

  std::lock_guard<std::mutex> get_lock(get_mutex_);
  // Returned items first (their ids are below the read cursor), then from
  // the read cursor on. Taken out of the lease table now, they are in no
  // state until handed out below, so no settle can touch them meanwhile.
  std::vector<LeaseTable::Returned> again;
  uint64_t cursor;
  const uint64_t end = write_cursor_.load(std::memory_order_acquire);
  {
    std::lock_guard<std::mutex> state(state_mutex_);
    leases_.ExpireOverdue(Clock::now());
    leases_.TakeReturned(max_items, &again);
    cursor = read_cursor_;
  }
  const size_t fresh_wanted =
      static_cast<size_t>(std::min<uint64_t>(max_items - again.size(), end - cursor));
  if (again.empty() && fresh_wanted == 0) return Deliveries();

  auto rep = std::make_unique<Deliveries::Rep>();
  rep->block_cache = database_.block_cache;
  // Reserved whole: a PinnableSlice must not move once it pins.
  rep->records.reserve(again.size() + fresh_wanted);
  rep->ids.reserve(again.size() + fresh_wanted);
  rep->attempts.reserve(again.size() + fresh_wanted);
  uint64_t next_cursor = cursor;
  try {
    for (const LeaseTable::Returned& item : again) {
      rep->records.emplace_back();
      bool found = false;
      ReadPinned(item.id, &rep->records.back(), &found);
      if (!found) {
        throw Error(ErrorKind::kCorruption, Path(),
                    "item " + std::to_string(item.id) + " was handed out but is missing");
      }
      rep->ids.push_back(item.id);
      rep->attempts.push_back(item.attempts + 1);
    }
    bool read_fresh = false;
    if (fresh_wanted == 1) {
      // The common case: a point read of the next item, pinned.
      rep->records.emplace_back();
      ReadPinned(cursor, &rep->records.back(), &read_fresh);
      if (read_fresh) {
        rep->ids.push_back(cursor);
        rep->attempts.push_back(1);
        next_cursor = cursor + 1;
      } else {
        rep->records.pop_back();
      }
    }
    if (fresh_wanted > 1 || (fresh_wanted == 1 && !read_fresh)) {
      // A batch, or a hole left by items acked before a reopen: an iterator
      // bounded to [cursor, end), so it never walks the tombstones below.
      // Its values live only until it moves, so they are copied.
      const EncodedKey lower(cursor);
      const EncodedKey upper(end);
      const rocksdb::Slice lower_slice(lower.bytes, kKeyBytes);
      const rocksdb::Slice upper_slice(upper.bytes, kKeyBytes);
      rocksdb::ReadOptions bounded = read_options_;
      bounded.iterate_lower_bound = &lower_slice;
      bounded.iterate_upper_bound = &upper_slice;
      std::unique_ptr<rocksdb::Iterator> it(database_.db->NewIterator(bounded, items()));
      size_t taken = 0;
      next_cursor = end;  // Unless the batch fills first.
      for (it->Seek(lower_slice); it->Valid() && taken < fresh_wanted; it->Next()) {
        if (it->key().size() != kKeyBytes || it->value().size() < kRecordHeaderBytes) {
          throw Error(ErrorKind::kCorruption, Path(), "an item's key or record is malformed");
        }
        const uint64_t position = DecodeBigEndian64(it->key().data());
        rep->records.emplace_back();
        rep->records.back().PinSelf(it->value());
        rep->ids.push_back(position);
        rep->attempts.push_back(1);
        ++taken;
        next_cursor = position + 1;
      }
      if (!it->status().ok()) ThrowStatus(Path(), "reading items", it->status());
    }
  } catch (...) {
    std::lock_guard<std::mutex> state(state_mutex_);
    leases_.PutBackReturned(again);
    throw;
  }

  const Clock::time_point now = Clock::now();
  rep->first_receipt = TakeReceipts(rep->ids.size());
  {
    std::lock_guard<std::mutex> state(state_mutex_);
    read_cursor_ = next_cursor;
    for (size_t i = 0; i < rep->ids.size(); ++i) {
      const uint64_t payload = rep->records[i].size() - kRecordHeaderBytes;
      rep->payload_bytes += payload;
      leases_.HandOut(rep->ids[i], rep->attempts[i], payload, rep->first_receipt + i, now);
    }
  }
  return Deliveries(std::move(rep));
}

// --- Settling ------------------------------------------------------------------

// Ends `deliveries`' leases for a settle that writes: they count as
// settling until it finishes (or UndoSettle).
std::vector<LeaseTable::Lease> AckQueueImpl::BeginSettle(const Delivery* deliveries,
                                                         size_t count) {
  std::lock_guard<std::mutex> state(state_mutex_);
  return leases_.BeginSettle(deliveries, count, Clock::now());
}

// A settle that wrote nothing: the items are handed out as before, to the
// same deliveries.
void AckQueueImpl::UndoSettle(const Delivery* deliveries,
                              const std::vector<LeaseTable::Lease>& leases) {
  std::lock_guard<std::mutex> state(state_mutex_);
  leases_.UndoSettle(deliveries, leases);
}

// An ack is one record appended to the ack log (all the ids of a batch in
// one); the items leave ack_items when the log is applied. With sync, the
// record is fsynced after log_mutex_ is released, so acks from many threads
// share fsyncs (AckLog::SyncThrough).
void AckQueueImpl::LogAcks(const Delivery* deliveries, size_t count) {
  uint64_t payload_bytes = 0;
  std::exception_ptr sync_failure;
  {
    std::shared_lock<std::shared_mutex> lifetime(lifetime_mutex_);
    ThrowIfClosed();
    if (count == 0) return;
    const std::vector<LeaseTable::Lease> taken = BeginSettle(deliveries, count);
    for (const LeaseTable::Lease& lease : taken) payload_bytes += lease.payload_bytes;
    // The log records ids alone: receipts matter only while the queue is open.
    std::vector<uint64_t> batch_ids;
    const uint64_t* ids = &deliveries[0].id;
    if (count > 1) {
      batch_ids.reserve(count);
      for (size_t i = 0; i < count; ++i) batch_ids.push_back(deliveries[i].id);
      ids = batch_ids.data();
    }
    bool apply_now = false;
    uint64_t record_end = 0;
    try {
      std::lock_guard<std::mutex> log(log_mutex_);
      record_end = ack_log_->Append(log_epoch_, ids, count);
      logged_ids_.insert(logged_ids_.end(), ids, ids + count);
      logged_payload_bytes_ += payload_bytes;
      apply_now = logged_ids_.size() >= kApplyAckItems || logged_payload_bytes_ >= kApplyAckBytes;
      items_payload_bytes_.fetch_sub(payload_bytes, std::memory_order_acq_rel);
      removed_count_.fetch_add(count, std::memory_order_release);
    } catch (...) {
      UndoSettle(deliveries, taken);
      throw;
    }
    {
      std::lock_guard<std::mutex> state(state_mutex_);
      leases_.FinishSettle(count);
    }
    if (options_.sync) {
      // The record is in the file, so the ack took effect here whatever the
      // fsync says; if it fails, the caller learns that it may not survive
      // a power loss (retrying an fsync proves nothing).
      try {
        ack_log_->SyncThrough(record_end);
      } catch (const Error&) {
        sync_failure = std::current_exception();
      }
    }
    if (apply_now) {
      try {
        ApplyLoggedAcks();
      } catch (const Error&) {
        // This ack is logged, hence done. The log stays and grows until a
        // later ack, the close or the next open applies it.
      }
    }
  }
  NoteRemoved(payload_bytes, count);
  room_made_.Notify();
  change_listener_.Fire();
  if (sync_failure) std::rethrow_exception(sync_failure);
}

// Deletes the logged acks' items from ack_items in one WriteBatch, with a
// range tombstone per run of consecutive ids, and rewrites the meta with
// the next epoch, which retires the log's records; then empties the log.
void AckQueueImpl::ApplyLoggedAcks() {
  std::lock_guard<std::mutex> removal_lock(removal_mutex_);
  std::lock_guard<std::mutex> log(log_mutex_);
  if (logged_ids_.empty()) return;
  std::sort(logged_ids_.begin(), logged_ids_.end());
  removal_batch_.Clear();
  DeleteItems(logged_ids_, &removal_batch_);
  WriteRemoval(logged_ids_.size(), logged_payload_bytes_, log_epoch_ + 1, "applying logged acks");
  log_epoch_ += 1;
  logged_ids_.clear();
  logged_payload_bytes_ = 0;
  // If this fails the records stay, retired by their epoch; the next
  // append tries again (see AckLog).
  ack_log_->Clear();
}

// Adds to `batch` the deletion of the items `sorted_ids` (distinct, each
// stored in ack_items): a range tombstone per run of consecutive ids.
void AckQueueImpl::DeleteItems(const std::vector<uint64_t>& sorted_ids, rocksdb::WriteBatch* batch) {
  for (size_t first = 0; first < sorted_ids.size();) {
    size_t last = first;
    while (last + 1 < sorted_ids.size() && sorted_ids[last + 1] == sorted_ids[last] + 1) ++last;
    const EncodedKey begin(sorted_ids[first]);
    const rocksdb::Slice begin_slice(begin.bytes, kKeyBytes);
    if (last == first) {
      batch->Delete(items(), begin_slice);
    } else {
      const EncodedKey end(sorted_ids[last] + 1);
      batch->DeleteRange(items(), begin_slice, rocksdb::Slice(end.bytes, kKeyBytes));
    }
    first = last + 1;
  }
}

// Writes removal_batch_, which removes `count` items of `payload_bytes` from
// ack_items, with the meta that counts them under `epoch`; throws (naming
// `action`) if the write fails. Needs removal_mutex_.
void AckQueueImpl::WriteRemoval(uint64_t count, uint64_t payload_bytes, uint64_t epoch,
                                const char* action) {
  RemovalMeta removal;
  removal.removed_count = applied_removed_count_ + count;
  removal.removed_payload_bytes = removed_payload_bytes_ + payload_bytes;
  {
    // A consistent pair: both change together, under this mutex (or under
    // removal_mutex_ and append_gate_, in Requeue).
    std::lock_guard<std::mutex> appends(group_commit_.mutex());
    removal.write_mark = write_cursor_.load(std::memory_order_acquire);
    removal.pushed_at_mark = pushed_bytes_total_;
  }
  removal.epoch = epoch;
  char meta_value[kAckMetaBytes];
  removal.Encode(meta_value);
  rocksdb::WriteBatch& batch = removal_batch_;
  batch.Put(meta(), kAckRemovedKey, rocksdb::Slice(meta_value, kAckMetaBytes));
  rocksdb::Status written = database_.db->Write(write_options_, &batch);
  if (batch.GetDataSize() > kRetainedBatchBytes) batch = rocksdb::WriteBatch();
  if (!written.ok()) ThrowStatus(Path(), action, written);
  applied_removed_count_ = removal.removed_count;
  removed_payload_bytes_ = removal.removed_payload_bytes;
}

// Moves items from ack_items to ack_failed, with the meta, in one WriteBatch.
void AckQueueImpl::MoveToFailed(const Delivery* deliveries, size_t count) {
  uint64_t payload_bytes = 0;
  {
    std::shared_lock<std::shared_mutex> lifetime(lifetime_mutex_);
    ThrowIfClosed();
    if (count == 0) return;
    const std::vector<LeaseTable::Lease> taken = BeginSettle(deliveries, count);
    for (const LeaseTable::Lease& lease : taken) payload_bytes += lease.payload_bytes;
    try {
      std::lock_guard<std::mutex> removal_lock(removal_mutex_);
      rocksdb::WriteBatch& batch = removal_batch_;
      batch.Clear();
      std::vector<rocksdb::PinnableSlice> records(count);
      for (size_t i = 0; i < count; ++i) {
        const uint64_t id = deliveries[i].id;
        const EncodedKey key(id);
        const rocksdb::Slice key_slice(key.bytes, kKeyBytes);
        bool found = false;
        ReadPinned(id, &records[i], &found);
        if (!found) {
          throw Error(ErrorKind::kCorruption, Path(),
                      "item " + std::to_string(id) + " was handed out but is missing");
        }
        batch.Put(failed(), key_slice, records[i]);
        batch.Delete(items(), key_slice);
      }
      // The epoch only changes under removal_mutex_, held here.
      WriteRemoval(count, payload_bytes, log_epoch_, "moving items to the failed ones");
      failed_count_.fetch_add(count, std::memory_order_acq_rel);
      failed_bytes_.fetch_add(payload_bytes, std::memory_order_acq_rel);
      items_payload_bytes_.fetch_sub(payload_bytes, std::memory_order_acq_rel);
      removed_count_.fetch_add(count, std::memory_order_release);
    } catch (...) {
      UndoSettle(deliveries, taken);
      throw;
    }
    std::lock_guard<std::mutex> state(state_mutex_);
    leases_.FinishSettle(count);
  }
  NoteRemoved(payload_bytes, count);
  change_listener_.Fire();
}

void AckQueueImpl::Return(const Delivery* deliveries, size_t count) {
  {
    std::shared_lock<std::shared_mutex> lifetime(lifetime_mutex_);
    ThrowIfClosed();
    if (count == 0) return;
    std::lock_guard<std::mutex> state(state_mutex_);
    leases_.Nack(deliveries, count, Clock::now());
  }
  items_ready_.Notify();
  change_listener_.Fire();
}

std::vector<FailedItem> AckQueueImpl::Failed(size_t max_items) const {
  std::shared_lock<std::shared_mutex> lifetime(lifetime_mutex_);
  ThrowIfClosed();
  std::vector<FailedItem> result;
  if (max_items == 0) return result;
  std::unique_ptr<rocksdb::Iterator> it(database_.db->NewIterator(read_options_, failed()));
  for (it->SeekToFirst(); it->Valid() && result.size() < max_items; it->Next()) {
    if (it->key().size() != kKeyBytes || it->value().size() < kRecordHeaderBytes) {
      throw Error(ErrorKind::kCorruption, Path(), "a failed item's key or header is malformed");
    }
    result.push_back(FailedItem{DecodeBigEndian64(it->key().data()),
                                std::string(it->value().data() + kRecordHeaderBytes,
                                            it->value().size() - kRecordHeaderBytes)});
  }
  if (!it->status().ok()) ThrowStatus(Path(), "reading failed items", it->status());
  return result;
}

uint64_t AckQueueImpl::RequeueFailed(const std::vector<uint64_t>& ids) { return Requeue(ids); }

uint64_t AckQueueImpl::RequeueAllFailed() {
  std::vector<uint64_t> ids;
  for (const FailedItem& item : Failed(std::numeric_limits<size_t>::max())) ids.push_back(item.id);
  return Requeue(ids);
}

// The failed items are pushed again, with the running total of the items
// pushed so far, in the same batch that deletes them from ack_failed. The
// meta does not change: their old positions stay removed.
uint64_t AckQueueImpl::Requeue(const std::vector<uint64_t>& ids) {
  uint64_t count = 0;
  {
    std::shared_lock<std::shared_mutex> lifetime(lifetime_mutex_);
    ThrowIfClosed();
    if (ids.empty()) return 0;
    std::unique_lock<std::shared_mutex> gate(append_gate_);
    std::lock_guard<std::mutex> removal_lock(removal_mutex_);
    std::vector<rocksdb::PinnableSlice> records(ids.size());
    std::unordered_set<uint64_t> seen;
    rocksdb::WriteBatch batch;
    uint64_t position = write_cursor_.load(std::memory_order_relaxed);
    uint64_t pushed_bytes = pushed_bytes_total_;
    uint64_t payload_bytes = 0;
    for (size_t i = 0; i < ids.size(); ++i) {
      if (!seen.insert(ids[i]).second) continue;
      const EncodedKey old_key(ids[i]);
      const rocksdb::Slice old_slice(old_key.bytes, kKeyBytes);
      rocksdb::Status read = database_.db->Get(read_options_, failed(), old_slice, &records[i]);
      if (read.IsNotFound()) continue;
      if (!read.ok()) ThrowStatus(Path(), "reading failed item " + std::to_string(ids[i]), read);
      if (records[i].size() < kRecordHeaderBytes) {
        throw Error(ErrorKind::kCorruption, Path(), "a failed item's header is malformed");
      }
      const size_t size = records[i].size() - kRecordHeaderBytes;
      const EncodedKey new_key(position++);
      char header[kRecordHeaderBytes];
      EncodeBigEndian64(pushed_bytes, header);
      pushed_bytes += size;
      payload_bytes += size;
      const rocksdb::Slice key_slice(new_key.bytes, kKeyBytes);
      const rocksdb::Slice value_parts[2] = {
          rocksdb::Slice(header, kRecordHeaderBytes),
          rocksdb::Slice(records[i].data() + kRecordHeaderBytes, size)};
      batch.Put(items(), rocksdb::SliceParts(&key_slice, 1), rocksdb::SliceParts(value_parts, 2));
      batch.Delete(failed(), old_slice);
      ++count;
    }
    if (count == 0) return 0;
    rocksdb::Status written = database_.db->Write(write_options_, &batch);
    if (!written.ok()) ThrowStatus(Path(), "requeueing failed items", written);
    pushed_bytes_total_ = pushed_bytes;
    failed_count_.fetch_sub(count, std::memory_order_acq_rel);
    failed_bytes_.fetch_sub(payload_bytes, std::memory_order_acq_rel);
    items_payload_bytes_.fetch_add(payload_bytes, std::memory_order_acq_rel);
    write_cursor_.fetch_add(count, std::memory_order_release);
  }
  items_ready_.Notify();
  change_listener_.Fire();
  return count;
}

// --- Reclaiming ------------------------------------------------------------------

void AckQueueImpl::NoteRemoved(uint64_t payload_bytes, size_t count) {
  last_removal_micros_.store(SteadyMicros(), std::memory_order_relaxed);
  // Empty items count too: their keys and tombstones take space.
  const uint64_t weight = payload_bytes + count;
  const uint64_t before = unreclaimed_bytes_.fetch_add(weight);
  if (before == 0 || (before < kReclaimBytes && before + weight >= kReclaimBytes)) {
    reclaimer_->Wake();
  }
}

std::chrono::microseconds AckQueueImpl::Reclaim() {
  const uint64_t unreclaimed = unreclaimed_bytes_.load();
  if (unreclaimed == 0) return kNothingToReclaim;
  if (unreclaimed < kReclaimBytes) {
    const std::chrono::microseconds idle(SteadyMicros() - last_removal_micros_.load());
    if (ItemsStored() != 0) return kIdleBeforeReclaim;
    if (idle < kIdleBeforeReclaim) return kIdleBeforeReclaim - idle;
  }
  // Every key below the lowest item handed out or returned, and below the
  // read cursor, is deleted; the few live ones in the range are rewritten.
  uint64_t below;
  {
    std::lock_guard<std::mutex> state(state_mutex_);
    below = read_cursor_;
  }
  const EncodedKey end(below);
  const rocksdb::Slice end_slice(end.bytes, kKeyBytes);
  rocksdb::CompactRangeOptions compaction;
  compaction.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForceOptimized;
  rocksdb::Status compacted = database_.db->CompactRange(compaction, items(), nullptr, &end_slice);
  if (!compacted.ok()) ThrowStatus(Path(), "reclaiming acked items' space", compacted);
  // The meta family holds one key, rewritten by every application of the
  // ack log and every move to the failed items.
  compacted = database_.db->CompactRange(compaction, meta(), nullptr, nullptr);
  if (!compacted.ok()) ThrowStatus(Path(), "reclaiming the removal counts' space", compacted);
  unreclaimed_bytes_.fetch_sub(unreclaimed);
  return std::chrono::microseconds::zero();
}

}  // namespace

AckQueue::~AckQueue() = default;

std::unique_ptr<AckQueue> AckQueue::Open(const std::string& path, const AckOptions& options) {
  if (options.max_elements == 0 || options.max_elements > kMaxElementsLimit) {
    throw Error(ErrorKind::kInvalidArgument, path,
                "max_elements must be between 1 and " + std::to_string(kMaxElementsLimit) +
                    ", got " + std::to_string(options.max_elements));
  }
  if (options.visibility_timeout.count() < 0) {
    throw Error(ErrorKind::kInvalidArgument, path,
                "visibility_timeout must not be negative, got " +
                    std::to_string(options.visibility_timeout.count()) + " ms");
  }
  if (path.empty()) throw Error(ErrorKind::kInvalidArgument, path, "the path is empty");
  QueueDatabase database =
      OpenQueueDatabase(path, QueueKind::kAck,
                        {kAckItemsFamily, kAckFailedFamily, kAckMetaFamily});
  return OwnedByThisProcess(std::make_unique<AckQueueImpl>(std::move(database), options));
}

void AckQueue::Destroy(const std::string& path) { DestroyQueueDatabase(path, QueueKind::kAck); }

}  // namespace rocksq
