#include "rocksq/ack_queue.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <limits>
#include <mutex>
#include <shared_mutex>
#include <stdexcept>
#include <tuple>
#include <unordered_set>
#include <utility>

#include "ack_attach_handler.h"
#include "ack_log.h"
#include "ack_records.h"
#include "attach_client.h"
#include "attach_server.h"
#include "attached_ack_queue.h"
#include "format.h"
#include "item_log.h"
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
  uint64_t first_receipt = 0;  // The deliveries' receipts are consecutive from it...
  std::vector<uint64_t> receipts;  // ...unless listed here (Deliveries::Copy).
  size_t header_bytes = kRecordHeaderBytes;  // Copies have no record header.
  size_t payload_bytes = 0;
};

Deliveries Deliveries::Copy(const std::vector<Delivery>& deliveries) {
  auto rep = std::make_unique<Rep>();
  rep->header_bytes = 0;
  rep->records.resize(deliveries.size());
  for (size_t i = 0; i < deliveries.size(); ++i) {
    const Delivery& delivery = deliveries[i];
    rep->records[i].PinSelf(rocksdb::Slice(delivery.payload.data(), delivery.payload.size()));
    rep->ids.push_back(delivery.id);
    rep->attempts.push_back(delivery.attempt);
    rep->receipts.push_back(delivery.receipt);
    rep->payload_bytes += delivery.payload.size();
  }
  return Deliveries(std::move(rep));
}

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
  const uint64_t receipt =
      rep_->receipts.empty() ? rep_->first_receipt + index : rep_->receipts[index];
  return Delivery{rep_->ids[index], rep_->attempts[index],
                  std::string_view(record.data() + rep_->header_bytes,
                                   record.size() - rep_->header_bytes),
                  receipt};
}

namespace {

// How an ack queue is stored: see format.h.

// Logged acks are applied (ApplyLoggedAcks) once this many are pending or
// their items hold this many payload bytes, as a FIFO queue deletes its
// popped keys: few enough that opening a queue applies them in
// milliseconds, enough that their writes cost little per ack.
constexpr size_t kApplyAckItems = 1024;
constexpr uint64_t kApplyAckBytes = 1 << 20;

// An ack queue is the item log (item_log.h) with a lease table
// (lease_table.h), an ack log (ack_log.h) and the failed items: positions
// are ids, removed out of order by acks and fails; a read cursor marks the
// first never handed out since the open.
class AckQueueImpl final : public AckQueue, public ServedAckQueue {
 public:
  AckQueueImpl(QueueDatabase database, const AckOptions& options);
  ~AckQueueImpl() override;

  void Push(std::string_view item) override { Append(&item, 1); }
  void PushBatch(const std::vector<std::string_view>& items) override {
    Append(items.data(), items.size());
  }
  void PushWait(std::string_view item, std::chrono::nanoseconds timeout) override {
    log_.AppendWait(1, DeadlineAfter(timeout), [&] { Append(&item, 1); });
  }
  void PushBatchWait(const std::vector<std::string_view>& items,
                     std::chrono::nanoseconds timeout) override {
    log_.AppendWait(items.size(), DeadlineAfter(timeout),
                    [&] { Append(items.data(), items.size()); });
  }
  bool PushUnique(std::string_view key, std::string_view item) override {
    const KeyedItem keyed{key, item};
    return AppendUnique(&keyed, 1).front();
  }
  std::vector<bool> PushBatchUnique(const std::vector<KeyedItem>& keyed_items) override {
    return AppendUnique(keyed_items.data(), keyed_items.size());
  }
  bool PushUniqueWait(std::string_view key, std::string_view item,
                      std::chrono::nanoseconds timeout) override {
    const KeyedItem keyed{key, item};
    return AppendUniqueWait(&keyed, 1, timeout).front();
  }
  std::vector<bool> PushBatchUniqueWait(const std::vector<KeyedItem>& keyed_items,
                                        std::chrono::nanoseconds timeout) override {
    return AppendUniqueWait(keyed_items.data(), keyed_items.size(), timeout);
  }
  uint64_t DedupWindow() const override { return options_.dedup_window; }
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
  void Extend(const Delivery& delivery, std::chrono::milliseconds visibility_timeout) override {
    ExtendLeases(&delivery, 1, visibility_timeout);
  }
  void ExtendBatch(const std::vector<Delivery>& deliveries,
                   std::chrono::milliseconds visibility_timeout) override {
    ExtendLeases(deliveries.data(), deliveries.size(), visibility_timeout);
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
  uint64_t MaxElements() const override { return log_.MaxElements(); }
  std::chrono::milliseconds VisibilityTimeout() const override {
    return options_.visibility_timeout;
  }
  const std::string& Path() const override { return database_.path; }
  const std::string& QueueId() const override { return database_.queue_id; }
  const std::string& RecoveryWarning() const override {
    return database_.recovery_warning;
  }
  std::string LastBackgroundError() const override {
    return log_.background_failures().Last();
  }
  void Close() override;

  // Serves this queue to the processes that attach to it, until Close().
  void StartAttachServer() {
    attach_server_ = StartServing(
        MakeAckAttachHandler(this, options_, [this] { return OldestItemAge(); }),
        &change_listener_, options_.attach_group);
  }

  // ServedAckQueue.
  AckQueue& queue() override { return *this; }
  PushLedger& pushes() override { return *ledger_; }
  void PushForCalls(const std::vector<std::string_view>& items,
                    const std::vector<CallId>& calls) override {
    const GroupCommit::SideRecords records = ledger_->Records(calls);
    Append(items.data(), items.size(), &records);
    ledger_->Note(calls);
  }
  std::vector<bool> PushUniqueForCall(const std::vector<KeyedItem>& keyed_items,
                                      const CallId& call) override {
    return AppendUnique(keyed_items.data(), keyed_items.size(), nullptr, &call);
  }
  uint64_t RequeueForCall(const std::vector<uint64_t>* ids, const CallId& call) override {
    return ids ? Requeue(*ids, &call) : Requeue(AllFailedIds(), &call);
  }

 private:
  void Append(const std::string_view* items, size_t count,
              const GroupCommit::SideRecords* side_records = nullptr);
  // With `call`, an attached call's: its push record (push_ledger.h) is
  // written with its effect, also when nothing was new.
  std::vector<bool> AppendUnique(const KeyedItem* keyed_items, size_t count,
                                 size_t* new_items = nullptr, const CallId* call = nullptr);
  std::vector<bool> AppendUniqueWait(const KeyedItem* keyed_items, size_t count,
                                     std::chrono::nanoseconds timeout);
  void LoadUniqueRange();
  Deliveries Take(size_t max_items);
  template <typename Write>
  uint64_t Settle(const Delivery* deliveries, size_t count, Write write);
  void LogAcks(const Delivery* deliveries, size_t count);
  void ApplyLoggedAcks();
  void WriteRemoval(uint64_t count, uint64_t payload_bytes, uint64_t epoch, const char* action);
  void MoveToFailed(const Delivery* deliveries, size_t count);
  void Return(const Delivery* deliveries, size_t count);
  void ExtendLeases(const Delivery* deliveries, size_t count,
                    std::chrono::milliseconds visibility_timeout);
  // With `call`, as AppendUnique.
  uint64_t Requeue(const std::vector<uint64_t>& ids, const CallId* call = nullptr);
  std::vector<uint64_t> AllFailedIds() const;

  uint64_t ReadyUnlocked() const;  // Under state_mutex_.
  // The age of the oldest item not yet acked (age_marks.h), handed out or
  // not: an item a consumer keeps failing or holding is what a backlog's
  // age must show. For the owner's kStats answer.
  ItemAge OldestItemAge();

  void Recover();
  void AdoptStoredState(const AckStoredState& state);
  void ApplyLogAtOpen(const AckLog::Records& logged);
  bool HasReady() const;
  void ThrowIfClosed() const { log_.ThrowIfClosed(); }
  rocksdb::ColumnFamilyHandle* items() const { return database_.families[0]; }
  rocksdb::ColumnFamilyHandle* failed() const { return database_.families[1]; }
  rocksdb::ColumnFamilyHandle* meta() const { return database_.families[2]; }
  // The default family: the reclaimer, which compacts ack_meta whole, never
  // rewrites the index, and earlier releases never read it (format.h).
  rocksdb::ColumnFamilyHandle* unique_keys() const {
    return database_.db->DefaultColumnFamily();
  }

  QueueDatabase database_;
  const AckOptions options_;
  rocksdb::WriteOptions write_options_;
  rocksdb::ReadOptions read_options_;

  // Every operation holds this shared; Close() holds it exclusively.
  mutable std::shared_mutex lifetime_mutex_;

  // The failed items, which count against the capacity too.
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

  // The unique keys stored (format.h) are those numbered [unique_oldest_,
  // unique_next_). Changed only by AppendUnique, which runs alone
  // (ItemLog::Exclusively).
  uint64_t unique_oldest_ = 0;
  uint64_t unique_next_ = 0;

  // Gets run one at a time: each reads from where the last one stopped.
  std::mutex get_mutex_;

  // Who holds what; every position in ack_items is either at or above
  // read_cursor_ (never handed out since the open), or named by leases_
  // (handed out, being settled, or returned), or being read by a Get.
  mutable std::mutex state_mutex_;
  uint64_t read_cursor_ = 0;
  mutable LeaseTable leases_;  // Expiring a lease changes it in const reads.

  // Only while served to attached processes (opened with attach).
  std::unique_ptr<PushLedger> ledger_;
  ChangeListener change_listener_;
  std::unique_ptr<AttachServer> attach_server_;  // Only if opened with attach.
  ItemLog log_;  // Last: its reclaimer uses the members above.
};

AckQueueImpl::AckQueueImpl(QueueDatabase database, const AckOptions& options)
    : database_(std::move(database)),
      options_(options),
      leases_(database_.path, options.visibility_timeout),
      log_(&database_, items(),
           {options.sync, options.max_elements, /*also_counted=*/&failed_count_,
            /*reads_ignore_range_deletions=*/false, ReclaimTuning()}) {
  write_options_.sync = options.sync;
  if (options.attach) ledger_ = std::make_unique<PushLedger>(&database_);
  Recover();
  // Every key below the read cursor is acked, failed, or handed out (then
  // returned or leased): compacting that range rewrites the few live ones.
  // The meta family holds one key, rewritten by every application of the
  // ack log and every move to the failed items.
  log_.StartReclaimer(
      [this] {
        std::lock_guard<std::mutex> state(state_mutex_);
        return read_cursor_;
      },
      {meta()});
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
  LoadUniqueRange();
}

namespace {

std::string UniqueKeyEntry(std::string_view key) {
  std::string entry(kAckUniqueKeyPrefix);
  entry.append(key.data(), key.size());
  return entry;
}

std::string UniqueOrderEntry(uint64_t number) {
  std::string entry(kAckUniqueOrderPrefix);
  char bytes[8];
  EncodeBigEndian64(number, bytes);
  entry.append(bytes, sizeof(bytes));
  return entry;
}

}  // namespace

// The stored keys' numbers run from the first order entry to the last.
void AckQueueImpl::LoadUniqueRange() {
  const std::string lower = kAckUniqueOrderPrefix;
  std::string upper = lower;
  upper.back() += 1;  // The first string past every order entry.
  const rocksdb::Slice lower_slice(lower), upper_slice(upper);
  rocksdb::ReadOptions bounded = read_options_;
  bounded.iterate_lower_bound = &lower_slice;
  bounded.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(database_.db->NewIterator(bounded, unique_keys()));
  auto number = [&] {
    if (it->key().size() != lower.size() + 8) {
      throw Error(ErrorKind::kCorruption, Path(), "a unique key's order entry is malformed");
    }
    return DecodeBigEndian64(it->key().data() + lower.size());
  };
  it->SeekToFirst();
  if (it->Valid()) {
    unique_oldest_ = number();
    it->SeekToLast();
    if (it->Valid()) unique_next_ = number() + 1;
  }
  if (!it->status().ok()) ThrowStatus(Path(), "reading the unique keys", it->status());
}

void AckQueueImpl::AdoptStoredState(const AckStoredState& state) {
  log_epoch_ = state.removal.epoch;
  applied_removed_count_ = state.removal.removed_count;
  removed_payload_bytes_ = state.removal.removed_payload_bytes;
  ItemLog::State log;
  log.write_cursor = state.write_cursor;
  log.removed = state.removal.removed_count;
  log.pushed_total = state.pushed_total;
  log.payload_bytes = state.items_payload_bytes;
  log_.Adopt(log);
  read_cursor_ = state.first_position;
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
    if (!log_.ReadPinned(id, &record)) continue;
    stored.push_back(id);
    payload_bytes += record.size() - kRecordHeaderBytes;
  }
  std::lock_guard<std::mutex> removal_lock(removal_mutex_);
  removal_batch_.Clear();
  log_.AddDeletions(stored, &removal_batch_);
  WriteRemoval(stored.size(), payload_bytes, std::max(log_epoch_, logged.last_epoch) + 1,
               "applying the ack log");
}

uint64_t AckQueueImpl::ReadyUnlocked() const {
  const uint64_t stored = log_.StoredItems();
  const uint64_t taken = leases_.unsettled();
  return stored > taken ? stored - taken : 0;
}

ItemAge AckQueueImpl::OldestItemAge() {
  // Every stored item is at or past the read cursor, named by the leases,
  // or being read by a Get, which holds get_mutex_ (see state_mutex_).
  std::lock_guard<std::mutex> get_lock(get_mutex_);
  uint64_t oldest;
  {
    std::lock_guard<std::mutex> state(state_mutex_);
    oldest = leases_.SmallestId(read_cursor_);
  }
  if (oldest >= log_.write_cursor()) return ItemAge();  // None stored.
  return log_.OldestItemAge(oldest);
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
  return log_.StoredItems() + failed_count_.load(std::memory_order_acquire);
}

uint64_t AckQueueImpl::PayloadBytes() const {
  ThrowIfClosed();
  return log_.PayloadBytes() + failed_bytes_.load(std::memory_order_acquire);
}

uint64_t AckQueueImpl::DiskBytes() const {
  ThrowIfClosed();
  return DirectoryBytes(Path());
}

void AckQueueImpl::Close() {
  // The attached processes go first, while the queue still serves their
  // calls under way.
  if (attach_server_) {
    attach_server_->Stop();
    change_listener_.SetServer(nullptr);
  }
  log_.BeginClose();
  std::unique_lock<std::shared_mutex> lifetime(lifetime_mutex_);
  log_.StopReclaimer();
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

void AckQueueImpl::Append(const std::string_view* items, size_t count,
                          const GroupCommit::SideRecords* side_records) {
  {
    std::shared_lock<std::shared_mutex> lifetime(lifetime_mutex_);
    ThrowIfClosed();
    log_.Append(items, count, side_records);
    if (count == 0) return;
  }
  change_listener_.Fire();
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
    log_.items_arrived().WaitUntil(wake, [&] { return HasReady() || log_.closed(); });
    ThrowIfClosed();
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
  const uint64_t end = log_.write_cursor();
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
      if (!log_.ReadPinned(item.id, &rep->records.back())) {
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
      read_fresh = log_.ReadPinned(cursor, &rep->records.back());
      if (read_fresh) {
        rep->ids.push_back(cursor);
        rep->attempts.push_back(1);
        next_cursor = cursor + 1;
      } else {
        rep->records.pop_back();
      }
    }
    if (fresh_wanted > 1 || (fresh_wanted == 1 && !read_fresh)) {
      // A batch, or a hole left by items acked before a reopen: one Scan of
      // [cursor, end), which never walks the tombstones below. Its values
      // live only until it moves, so they are copied.
      size_t taken = 0;
      next_cursor = end;  // Unless the batch fills first.
      log_.Scan(cursor, end, [&](uint64_t position, const rocksdb::Slice& record) {
        if (taken == fresh_wanted) return false;
        rep->records.emplace_back();
        rep->records.back().PinSelf(record);
        rep->ids.push_back(position);
        rep->attempts.push_back(1);
        ++taken;
        next_cursor = position + 1;
        return true;
      });
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

// --- Unique pushes ------------------------------------------------------------

// Runs alone (ItemLog::Exclusively), so the keys it reads cannot be written
// meanwhile, and its capacity check holds: removals only make room. Keys
// pushed in this call and already past the window are neither written nor
// deleted. Sets `*new_items` to how many items were new, also when they do
// not fit (kQueueFull).
std::vector<bool> AckQueueImpl::AppendUnique(const KeyedItem* keyed_items, size_t count,
                                             size_t* new_items, const CallId* call) {
  std::vector<bool> stored(count, false);
  {
    std::shared_lock<std::shared_mutex> lifetime(lifetime_mutex_);
    ThrowIfClosed();
    if (count == 0) return stored;
    uint64_t added = 0;
    log_.Exclusively([&] {
      std::unordered_set<std::string_view> keys_in_call;
      std::vector<size_t> fresh;
      std::string found;
      for (size_t i = 0; i < count; ++i) {
        if (!keys_in_call.insert(keyed_items[i].key).second) continue;
        rocksdb::Status read = database_.db->Get(read_options_, unique_keys(),
                                                 UniqueKeyEntry(keyed_items[i].key), &found);
        if (read.ok()) continue;
        if (!read.IsNotFound()) ThrowStatus(Path(), "reading a unique key", read);
        fresh.push_back(i);
      }
      if (new_items) *new_items = fresh.size();
      if (fresh.empty() && call == nullptr) return;
      const uint64_t held = log_.StoredItems() + failed_count_.load(std::memory_order_acquire);
      if (held + fresh.size() > log_.MaxElements()) {
        throw Error(ErrorKind::kQueueFull, Path(),
                    std::to_string(held) + " of " + std::to_string(log_.MaxElements()) +
                        " items stored, cannot add " + std::to_string(fresh.size()));
      }
      rocksdb::WriteBatch batch;
      auto [position, pushed_bytes] = log_.WriteMark();
      uint64_t payload_bytes = 0;
      const uint64_t next = unique_next_ + fresh.size();
      const uint64_t oldest =
          next - std::min<uint64_t>(next - unique_oldest_, options_.dedup_window);
      for (size_t n = 0; n < fresh.size(); ++n) {
        const KeyedItem& keyed = keyed_items[fresh[n]];
        log_.EncodeRecord(position++, pushed_bytes, keyed.item, &batch);
        pushed_bytes += keyed.item.size();
        payload_bytes += keyed.item.size();
        const uint64_t number = unique_next_ + n;
        if (number < oldest) continue;
        char number_bytes[8];
        EncodeBigEndian64(number, number_bytes);
        batch.Put(unique_keys(), UniqueKeyEntry(keyed.key), rocksdb::Slice(number_bytes, 8));
        batch.Put(unique_keys(), UniqueOrderEntry(number),
                  rocksdb::Slice(keyed.key.data(), keyed.key.size()));
      }
      // The oldest stored keys past the window, found through their order entries.
      for (uint64_t number = unique_oldest_; number < std::min(oldest, unique_next_); ++number) {
        const std::string order = UniqueOrderEntry(number);
        rocksdb::Status read = database_.db->Get(read_options_, unique_keys(), order, &found);
        if (!read.ok()) ThrowStatus(Path(), "reading the oldest unique key", read);
        batch.Delete(unique_keys(), UniqueKeyEntry(found));
        batch.Delete(unique_keys(), order);
      }
      for (size_t i : fresh) stored[i] = true;
      std::string outcome;
      if (call != nullptr) {
        BodyWriter reply;
        WriteStoredFlags(stored, &reply);
        outcome = std::move(reply.bytes());
        for (const auto& [key, value] : ledger_->Records({*call}, outcome)) batch.Put(key, value);
      }
      rocksdb::Status written = database_.db->Write(write_options_, &batch);
      if (!written.ok()) log_.ThrowWriteFailure("writing items with unique keys", written);
      if (call != nullptr) ledger_->Note({*call}, outcome);
      unique_next_ = next;
      unique_oldest_ = oldest;
      if (!fresh.empty()) log_.Published(fresh.size(), payload_bytes);
      added = fresh.size();
    });
    if (added == 0) return stored;
  }
  log_.items_arrived().Notify();
  change_listener_.Fire();
  return stored;
}

std::vector<bool> AckQueueImpl::AppendUniqueWait(const KeyedItem* keyed_items, size_t count,
                                                 std::chrono::nanoseconds timeout) {
  std::vector<bool> stored;
  // How many items must fit is known only once the keys are read.
  size_t needed = count;
  log_.AppendWait(needed, DeadlineAfter(timeout),
                  [&] { stored = AppendUnique(keyed_items, count, &needed); });
  return stored;
}

// --- Settling ------------------------------------------------------------------

// A settle that writes (an ack, a fail): ends `deliveries`' leases (they
// count as settling meanwhile), then calls write(payload_bytes of their
// items) to record the removal. If that throws, the items are handed out
// as before, to the same deliveries, and the error goes on. Returns the
// payload bytes.
template <typename Write>
uint64_t AckQueueImpl::Settle(const Delivery* deliveries, size_t count, Write write) {
  std::vector<LeaseTable::Lease> taken;
  {
    std::lock_guard<std::mutex> state(state_mutex_);
    taken = leases_.BeginSettle(deliveries, count, Clock::now());
  }
  uint64_t payload_bytes = 0;
  for (const LeaseTable::Lease& lease : taken) payload_bytes += lease.payload_bytes;
  try {
    write(payload_bytes);
  } catch (...) {
    std::lock_guard<std::mutex> state(state_mutex_);
    leases_.UndoSettle(deliveries, taken);
    throw;
  }
  std::lock_guard<std::mutex> state(state_mutex_);
  leases_.FinishSettle(count);
  return payload_bytes;
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
    payload_bytes = Settle(deliveries, count, [&](uint64_t settled_bytes) {
      std::lock_guard<std::mutex> log(log_mutex_);
      record_end = ack_log_->Append(log_epoch_, ids, count);
      logged_ids_.insert(logged_ids_.end(), ids, ids + count);
      logged_payload_bytes_ += settled_bytes;
      apply_now = logged_ids_.size() >= kApplyAckItems || logged_payload_bytes_ >= kApplyAckBytes;
      log_.CountRemoved(count, settled_bytes);
    });
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
  log_.NoteRemoved(count, payload_bytes);
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
  log_.AddDeletions(logged_ids_, &removal_batch_);
  WriteRemoval(logged_ids_.size(), logged_payload_bytes_, log_epoch_ + 1, "applying logged acks");
  log_epoch_ += 1;
  logged_ids_.clear();
  logged_payload_bytes_ = 0;
  // If this fails the records stay, retired by their epoch; the next
  // append tries again (see AckLog).
  ack_log_->Clear();
}

// Writes removal_batch_, which removes `count` items of `payload_bytes` from
// ack_items, with the meta that counts them under `epoch`; throws (naming
// `action`) if the write fails. Needs removal_mutex_.
void AckQueueImpl::WriteRemoval(uint64_t count, uint64_t payload_bytes, uint64_t epoch,
                                const char* action) {
  RemovalMeta removal;
  removal.removed_count = applied_removed_count_ + count;
  removal.removed_payload_bytes = removed_payload_bytes_ + payload_bytes;
  std::tie(removal.write_mark, removal.pushed_at_mark) = log_.WriteMark();
  removal.epoch = epoch;
  char meta_value[kAckMetaBytes];
  removal.Encode(meta_value);
  rocksdb::WriteBatch& batch = removal_batch_;
  batch.Put(meta(), kAckRemovedKey, rocksdb::Slice(meta_value, kAckMetaBytes));
  rocksdb::Status written = database_.db->Write(write_options_, &batch);
  if (batch.GetDataSize() > kRetainedBatchBytes) batch = rocksdb::WriteBatch();
  if (!written.ok()) log_.ThrowWriteFailure(action, written);
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
    payload_bytes = Settle(deliveries, count, [&](uint64_t settled_bytes) {
      std::lock_guard<std::mutex> removal_lock(removal_mutex_);
      rocksdb::WriteBatch& batch = removal_batch_;
      batch.Clear();
      std::vector<rocksdb::PinnableSlice> records(count);
      for (size_t i = 0; i < count; ++i) {
        const uint64_t id = deliveries[i].id;
        const EncodedKey key(id);
        const rocksdb::Slice key_slice(key.bytes, kKeyBytes);
        if (!log_.ReadPinned(id, &records[i])) {
          throw Error(ErrorKind::kCorruption, Path(),
                      "item " + std::to_string(id) + " was handed out but is missing");
        }
        batch.Put(failed(), key_slice, records[i]);
        batch.Delete(items(), key_slice);
      }
      // The epoch only changes under removal_mutex_, held here.
      WriteRemoval(count, settled_bytes, log_epoch_, "moving items to the failed ones");
      failed_count_.fetch_add(count, std::memory_order_acq_rel);
      failed_bytes_.fetch_add(settled_bytes, std::memory_order_acq_rel);
      log_.CountRemoved(count, settled_bytes);
    });
  }
  log_.NoteRemoved(count, payload_bytes);
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
  log_.items_arrived().Notify();
  change_listener_.Fire();
}

// Only a deadline moved sooner could end a wait early, and no caller needs
// that: a GetWait already waiting sees it when the wake it chose comes.
void AckQueueImpl::ExtendLeases(const Delivery* deliveries, size_t count,
                                std::chrono::milliseconds visibility_timeout) {
  std::shared_lock<std::shared_mutex> lifetime(lifetime_mutex_);
  ThrowIfClosed();
  if (visibility_timeout.count() < 0) {
    throw Error(ErrorKind::kInvalidArgument, Path(),
                "visibility_timeout must not be negative, got " +
                    std::to_string(visibility_timeout.count()) + " ms");
  }
  if (count == 0) return;
  std::lock_guard<std::mutex> state(state_mutex_);
  leases_.Extend(deliveries, count, Clock::now(), visibility_timeout);
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

uint64_t AckQueueImpl::RequeueAllFailed() { return Requeue(AllFailedIds()); }

std::vector<uint64_t> AckQueueImpl::AllFailedIds() const {
  std::vector<uint64_t> ids;
  for (const FailedItem& item : Failed(std::numeric_limits<size_t>::max())) ids.push_back(item.id);
  return ids;
}

// The failed items are appended again to the item log in the same batch
// that deletes them from ack_failed, written with no group under way
// (ItemLog::Exclusively). The meta does not change: their old positions
// stay removed.
uint64_t AckQueueImpl::Requeue(const std::vector<uint64_t>& ids, const CallId* call) {
  uint64_t count = 0;
  {
    std::shared_lock<std::shared_mutex> lifetime(lifetime_mutex_);
    ThrowIfClosed();
    if (ids.empty() && call == nullptr) return 0;
    log_.Exclusively([&] {
      std::lock_guard<std::mutex> removal_lock(removal_mutex_);
      std::vector<rocksdb::PinnableSlice> records(ids.size());
      std::unordered_set<uint64_t> seen;
      rocksdb::WriteBatch batch;
      auto [position, pushed_bytes] = log_.WriteMark();
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
        const std::string_view item(records[i].data() + kRecordHeaderBytes,
                                    records[i].size() - kRecordHeaderBytes);
        log_.EncodeRecord(position++, pushed_bytes, item, &batch);
        pushed_bytes += item.size();
        payload_bytes += item.size();
        batch.Delete(failed(), old_slice);
        ++count;
      }
      if (count == 0 && call == nullptr) return;
      std::string outcome;
      if (call != nullptr) {
        BodyWriter reply;
        reply.U64(count);
        outcome = std::move(reply.bytes());
        for (const auto& [key, value] : ledger_->Records({*call}, outcome)) batch.Put(key, value);
      }
      rocksdb::Status written = database_.db->Write(write_options_, &batch);
      if (!written.ok()) log_.ThrowWriteFailure("requeueing failed items", written);
      if (call != nullptr) ledger_->Note({*call}, outcome);
      if (count == 0) return;
      failed_count_.fetch_sub(count, std::memory_order_acq_rel);
      failed_bytes_.fetch_sub(payload_bytes, std::memory_order_acq_rel);
      log_.Published(count, payload_bytes);
    });
    if (count == 0) return 0;
  }
  log_.items_arrived().Notify();
  change_listener_.Fire();
  return count;
}

}  // namespace

AckQueue::~AckQueue() = default;

namespace {

QueueDatabase OpenAckDatabase(const std::string& path) {
  return OpenQueueDatabase(path, QueueKind::kAck,
                           {kAckItemsFamily, kAckFailedFamily, kAckMetaFamily});
}

// Opens the queue for this process: owns it, or attaches to the process
// that does (options.attach). Not yet wrapped by OwnedByThisProcess.
std::unique_ptr<AckQueue> OpenAckInThisProcess(const std::string& path,
                                               const AckOptions& options) {
  const auto open_owned = [path](const AckOptions& options) -> std::unique_ptr<AckQueue> {
    auto queue = std::make_unique<AckQueueImpl>(OpenAckDatabase(path), options);
    if (options.attach) queue->StartAttachServer();
    return queue;
  };
  return OpenOwnedOrAttached<AckQueue>(
      path, options.attach, [&] { return open_owned(options); },
      [&] { return AttachAckQueue(path, options, open_owned); });
}

}  // namespace

std::unique_ptr<ServedAckQueue> OpenAckQueueToServe(const std::string& path,
                                                    const AckOptions& options) {
  AckOptions served = options;
  served.attach = true;  // Keeps the push ledger.
  return std::make_unique<AckQueueImpl>(OpenAckDatabase(path), served);
}

std::unique_ptr<AckQueue> AckQueue::Open(const std::string& path, const AckOptions& options) {
  ItemLog::CheckMaxElements(path, options.max_elements);
  if (options.visibility_timeout.count() < 0) {
    throw Error(ErrorKind::kInvalidArgument, path,
                "visibility_timeout must not be negative, got " +
                    std::to_string(options.visibility_timeout.count()) + " ms");
  }
  if (options.dedup_window == 0) {
    throw Error(ErrorKind::kInvalidArgument, path, "dedup_window must be at least 1");
  }
  if (path.empty()) throw Error(ErrorKind::kInvalidArgument, path, "the path is empty");
  // An unknown group fails at any open, not at a later take-over.
  ResolveAttachGroup(path, options.attach_group);
  std::function<std::unique_ptr<AckQueue>()> open_in_child;
  if (options.attach) {  // A fork() child that inherits the queue opens it again the same way.
    open_in_child = [path, options] { return OpenAckInThisProcess(path, options); };
  }
  return OwnedByThisProcess(OpenAckInThisProcess(path, options), std::move(open_in_child));
}

void AckQueue::Destroy(const std::string& path) { DestroyQueueDatabase(path, QueueKind::kAck); }

}  // namespace rocksq
