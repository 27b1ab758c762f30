#include "rocksq/mpmc_queue.h"

#include <algorithm>
#include <atomic>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <mutex>
#include <shared_mutex>

#include "attach_client.h"
#include "attach_server.h"
#include "attached_mpmc_queue.h"
#include "background_loop.h"
#include "format.h"
#include "group_commit.h"
#include "item_log.h"
#include "mpmc_attach_handler.h"
#include "popped_items_rep.h"
#include "rocksdb/convenience.h"
#include "rocksdb/options.h"
#include "rocksdb/slice.h"
#include "rocksdb/write_batch.h"
#include "process_owned.h"
#include "storage.h"
#include "waiting.h"

// The column families, keys and records are in format.h (described in
// docs/format.rst).
//
// Expiry. Added-at times never decrease with the position (format.h), so
// the expired elements are a prefix. To know where it ends without reading
// elements, the queue groups them into segments: consecutive elements added
// less than ttl / 1000 apart from the segment's first. A segment has a mark,
// written in the same batch as its first element (one extra key per ttl /
// 1000, not per add), and is expired once its newest element is. Len() and
// PayloadBytes() count from the first segment not expired, so they may count
// an expired element for up to ttl / 1000; Next() checks each element's own
// time and never returns an expired one.
//
// Reclaiming. A thread owned by the queue (the sweeper) wakes when the
// oldest segment expires (at most once per ttl / 10, between 10 ms and 10 s)
// and, in one batch, deletes the expired prefix of items (key by key when
// it is short: see kMostPointDeletes) and of marks and moves first_live.
// Then it deletes the files that hold only expired
// elements (DeleteFilesInRange: no I/O). Expired bytes left in files that
// also hold live elements, in memtables and in the write-ahead log are
// reclaimed by flushing every family and compacting the expired key range,
// which rewrites the live elements sharing those files: done when nothing is
// alive (a queue left alone shrinks to a few hundred kilobytes), or when the
// directory holds more dead bytes than live ones and than 16 MiB, so a
// compaction never rewrites more than it reclaims. A CompactionFilter on the
// added-at time is not used: it could drop the last elements, and with them
// the write cursor that recovery derives from them. Close() wakes the
// sweeper through a condition variable and cancels a running compaction.
//
// Its log and the item log (item_log.h). The elements are records of an
// item log with a time added (format.h), but the FIFO and ack queues'
// ItemLog does not fit whole: adds have no capacity to admit against (the
// ttl bounds the queue instead), a group's elements share one added-at time
// and may start a segment whose mark goes in the same batch, and elements
// leave by expiry, a prefix found from the segments (not from a cursor),
// deleted by the sweeper rather than by the readers. So this queue owns its
// group-commit owner and its sweeper, and shares with the item log what is
// the same: reading the ends at recovery (ReadLogEnds), bounded range reads
// (ScanRecords), the record of background failures and the message of a
// failed write (ThrowWriteFailure).
//
// Locking. Adds go through GroupCommit (one leader writes at a time, and
// numbers the elements). The in-memory index (segments, write cursor,
// payload total) is under index_mutex_, never held across I/O. Each label
// has its own mutex, held across its reads and the write of its position,
// so a label's readers take turns while different labels read in parallel;
// the map of labels is under a shared_mutex held only to look one up, add or
// drop it. Reads use no snapshot: what the sweeper deletes under a reader is
// expired, and the reader treats it so.
//
// Recovery. The write cursor is one past the last stored element, or
// first_live when none is stored (everything expired and was deleted); the
// running payload total comes from the last record, or from first_live's
// value. Segments are rebuilt from the marks at or after the first element;
// if the first elements have no mark (the sweeper deleted it while a group
// joined its segment), a segment is made from the first record, ending no
// later than the next mark's time. Every bound used is an upper bound on
// the added-at times of the segment's elements, so recovery can make
// elements expire late, never early.

namespace rocksq {
namespace {

// The sweeper wakes at least this often even with nothing to expire, so a
// jump of the system clock is noticed.
constexpr std::chrono::microseconds kLongestSweepWait = std::chrono::seconds(60);

// The sweeper compacts files that also hold live elements once the
// directory holds more dead bytes than live ones and than this.
constexpr uint64_t kCompactionSlackBytes = 16 << 20;

// Up to this many expired elements a sweep deletes one by one; beyond, with
// a range delete. Every read in RocksDB 7.8 fragments the range tombstones
// of the memtable anew (measured: after 1000 sweeps, a Next() of 4 elements
// took 440 us with range deletes, 36 us with point deletes, 12 us on a new
// queue), so a memtable holding this many of the sweeper's is flushed.
constexpr uint64_t kMostPointDeletes = 4096;
constexpr int kMostUnflushedRangeDeletes = 8;

// The write-ahead log is kept until every family's memtable that has entries
// in it is flushed. The labels', marks' and meta families are written
// little, so above this total RocksDB flushes them, releasing logs full of
// elements that are long flushed (and maybe expired).
constexpr char kMaxWalBytes[] = "134217728";  // 128 MiB: two item memtables.

uint64_t NowMicros() {
  const int64_t now = std::chrono::duration_cast<std::chrono::microseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  return now < 0 ? 0 : static_cast<uint64_t>(now);
}

rocksdb::Slice KeySlice(const EncodedKey& key) { return rocksdb::Slice(key.bytes, kKeyBytes); }

// Consecutive elements whose added-at times are below `bound_micros`; see
// the comment at the top.
struct Segment {
  uint64_t first_position = 0;
  uint64_t payload_before = 0;   // Payload bytes added before first_position.
  uint64_t oldest_micros = 0;    // Added-at of the first element.
  uint64_t bound_micros = 0;     // A group joins the segment if added before this.
  uint64_t newest_micros = 0;    // At least the added-at of the last element.
};

// One label's read position. Its mutex is held by Next() and RemoveLabel()
// of that label, across their disk I/O; calls for other labels do not wait.
struct Label {
  std::mutex mutex;
  uint64_t position = 0;  // The next position the label reads.
  bool stored = false;    // Whether `position` is on disk.
  bool removed = false;   // Set by RemoveLabel(); the object is then dropped.
};

class MpmcQueueImpl final : public MpmcQueue,
                            public ServedMpmcQueue,
                            private GroupCommit::Owner {
 public:
  MpmcQueueImpl(QueueDatabase database, const MpmcOptions& options);
  ~MpmcQueueImpl() override;

  void Add(std::string_view item) override { Append(&item, 1); }
  void AddBatch(const std::vector<std::string_view>& items) override {
    Append(items.data(), items.size());
  }
  MpmcRead Next(std::string_view label, StartPosition start, size_t max_items) override {
    return ReadAndMove(label, start, max_items, nullptr);
  }
  bool RemoveLabel(std::string_view label) override {
    const bool removed = RemoveLabelQuietly(label, nullptr);
    if (removed) change_listener_.Fire();  // With no lock held.
    return removed;
  }
  std::vector<std::string> Labels() const override;
  void SetChangeListener(std::function<void()> listener) override {
    change_listener_.Set(std::move(listener));
  }

  uint64_t Len() const override;
  uint64_t PayloadBytes() const override;
  uint64_t DiskBytes() const override;
  std::chrono::milliseconds Ttl() const override { return options_.ttl; }
  const std::string& Path() const override { return database_.path; }
  const std::string& QueueId() const override { return database_.queue_id; }
  const std::string& RecoveryWarning() const override {
    return database_.recovery_warning;
  }
  std::string LastBackgroundError() const override { return failures_.Last(); }
  void Close() override;

  // Serves this queue to the processes that attach to it, until Close().
  void StartAttachServer(const MpmcOptions& options) {
    attach_server_ = StartServing(MakeMpmcAttachHandler(this, options), &change_listener_,
                                  options.attach_group);
  }

  // ServedMpmcQueue.
  MpmcQueue& queue() override { return *this; }
  PushLedger& pushes() override { return *ledger_; }
  void AddForCalls(const std::vector<std::string_view>& items,
                   const std::vector<CallId>& calls) override {
    const GroupCommit::SideRecords records = ledger_->Records(calls);
    Append(items.data(), items.size(), &records);
    ledger_->Note(calls);
  }
  MpmcRead NextForCall(std::string_view label, StartPosition start, size_t max_items,
                       const CallId& call) override {
    return ReadAndMove(label, start, max_items, &call);
  }
  MpmcRead ReadAgain(const std::string& outcome) override;
  bool RemoveLabelForCall(std::string_view label, const CallId& call) override {
    const bool removed = RemoveLabelQuietly(label, &call);
    if (removed) change_listener_.Fire();
    return removed;
  }

 private:
  // The live elements at some instant: positions [first, end).
  struct LiveRange {
    uint64_t first;
    uint64_t end;
    uint64_t payload_before_first;
    uint64_t payload_bytes;  // Of the live elements.
  };

  void Append(const std::string_view* items, size_t count,
              const GroupCommit::SideRecords* side_records = nullptr);
  // Next(); with `call`, an attached call's, whose push record (the range
  // read) is written with the label's position.
  MpmcRead ReadAndMove(std::string_view label, StartPosition start, size_t max_items,
                       const CallId* call);
  // Writes `batch` with the push record of `call` (if not null), whose
  // outcome is `outcome`.
  rocksdb::Status WriteWithRecord(rocksdb::WriteBatch* batch, const CallId* call,
                                  const std::string& outcome);

  // GroupCommit::Owner: adds are written in groups (see group_commit.h).
  std::exception_ptr Admit(uint64_t, size_t) override { return nullptr; }
  rocksdb::Status WriteGroup(const GroupCommit::Group& group) override;
  void GroupCommitted(const GroupCommit::Group& group) noexcept override;
  std::exception_ptr GroupFailed(const rocksdb::Status& status) noexcept override;

  void Recover();
  void RecoverSegments(uint64_t first_position, uint64_t first_payload_before,
                       uint64_t first_micros, uint64_t last_micros);
  void RecoverLabels();

  LiveRange Live(uint64_t now_micros) const;
  bool IsExpired(uint64_t added_micros, uint64_t now_micros) const {
    return added_micros + ttl_micros_ <= now_micros;
  }
  uint64_t StartFor(StartPosition start) const;
  std::unique_lock<std::mutex> LockLabel(std::string_view label, StartPosition start,
                                         std::shared_ptr<Label>* state, bool* created);
  void ForgetLabel(std::string_view label, const std::shared_ptr<Label>& state);
  // RemoveLabel() without the listener; with `call`, as ReadAndMove.
  bool RemoveLabelQuietly(std::string_view label, const CallId* call);
  uint64_t ReadLive(uint64_t position, size_t max_items, PoppedItems::Rep* rep, bool* expired,
                    uint64_t end = UINT64_MAX);
  size_t ReadPinned(uint64_t position, uint64_t now, PoppedItems::Rep* rep, size_t* skipped);
  size_t ReadCopies(uint64_t position, size_t count, uint64_t now, PoppedItems::Rep* rep,
                    size_t* skipped);
  void CheckTimedRecord(uint64_t element, const rocksdb::Slice& value) const;

  std::chrono::microseconds SweepOnce();  // The sweeper's body.
  void StopSweeper();

  void ThrowIfClosed() const;
  rocksdb::ColumnFamilyHandle* items() const { return database_.families[0]; }
  rocksdb::ColumnFamilyHandle* labels() const { return database_.families[1]; }
  rocksdb::ColumnFamilyHandle* marks() const { return database_.families[2]; }
  rocksdb::ColumnFamilyHandle* meta() const { return database_.families[3]; }

  QueueDatabase database_;
  const MpmcOptions options_;
  const uint64_t ttl_micros_;
  const uint64_t segment_span_micros_;  // ttl / 1000, at least 1 ms.
  const std::chrono::microseconds sweep_interval_;  // ttl / 10, in [10 ms, 10 s].
  rocksdb::WriteOptions write_options_;
  rocksdb::ReadOptions read_options_;

  // Every call holds this shared; Close() holds it exclusively, so the
  // database is never closed under a running call.
  mutable std::shared_mutex lifetime_mutex_;
  std::atomic<bool> closed_{false};
  std::mutex close_mutex_;  // One Close() at a time.

  // Only while served to attached processes (opened with attach).
  std::unique_ptr<PushLedger> ledger_;
  ChangeListener change_listener_;  // Fired after adds and label removals.
  std::unique_ptr<AttachServer> attach_server_;  // Only if opened with attach.

  GroupCommit group_commit_{this};
  // Used by the group's leader only (one at a time, see group_commit.h).
  rocksdb::WriteBatch group_batch_;
  uint64_t last_added_micros_ = 0;  // Added-at of the last stored element.
  Segment open_segment_;            // The segment the last group belongs to.
  bool has_open_segment_ = false;
  struct PendingGroup {  // What WriteGroup decided, for GroupCommitted.
    uint64_t first_position = 0;
    uint64_t payload_before = 0;
    uint64_t added_micros = 0;
    bool starts_segment = false;
    Segment segment;
  } pending_;

  // Guards what follows: positions [segments_.front().first_position,
  // write_cursor_) are alive, or none if segments_ is empty. Only a committed
  // group advances write_cursor_ and added_bytes_total_; the group's leader
  // reads them without the lock, as no one else writes them meanwhile.
  mutable std::mutex index_mutex_;
  mutable std::deque<Segment> segments_;  // Expired ones are dropped on reading.
  uint64_t write_cursor_ = 0;
  uint64_t added_bytes_total_ = 0;  // Payload bytes added before write_cursor_.

  // Label objects, by name. Lock order: a Label's mutex, then this one.
  mutable std::shared_mutex labels_mutex_;
  std::map<std::string, std::shared_ptr<Label>, std::less<>> labels_;

  uint64_t disk_first_ = 0;  // Sweeper only: positions below are deleted on disk.
  int range_deletes_unflushed_ = 0;  // Sweeper only: in the items' memtable, at most.
  BackgroundFailures failures_;
  std::unique_ptr<BackgroundLoop> sweeper_;  // Last: its body uses the members above.
};

std::chrono::microseconds SweepInterval(std::chrono::milliseconds ttl) {
  return std::clamp<std::chrono::microseconds>(ttl / 10, std::chrono::milliseconds(10),
                                               std::chrono::seconds(10));
}

MpmcQueueImpl::MpmcQueueImpl(QueueDatabase database, const MpmcOptions& options)
    : database_(std::move(database)),
      options_(options),
      ttl_micros_(static_cast<uint64_t>(
          std::chrono::duration_cast<std::chrono::microseconds>(options.ttl).count())),
      segment_span_micros_(std::max<uint64_t>(1000, ttl_micros_ / 1000)),
      sweep_interval_(SweepInterval(options.ttl)) {
  write_options_.sync = options.sync;
  group_commit_.SetGathering(options.sync);  // Synced groups wait for their callers.
  rocksdb::Status tuned = database_.db->SetDBOptions({{"max_total_wal_size", kMaxWalBytes}});
  if (!tuned.ok()) ThrowStatus(Path(), "setting the write-ahead log limit", tuned);
  if (options.attach) ledger_ = std::make_unique<PushLedger>(&database_);
  Recover();
  // A failed sweep (a full disk, say) is retried; the elements it did not
  // delete are still expired for every reader.
  failures_.SetLog(database_.db->GetDBOptions().info_log);
  sweeper_ = std::make_unique<BackgroundLoop>([this] { return SweepOnce(); }, sweep_interval_,
                                              &failures_);
}

MpmcQueueImpl::~MpmcQueueImpl() {
  try {
    Close();
  } catch (const Error&) {
    // Reported by an explicit Close(); a destructor must not throw.
  }
}

// --- Recovery ---------------------------------------------------------------

void MpmcQueueImpl::Recover() {
  uint64_t first_live = 0;
  uint64_t payload_before_first_live = 0;
  std::string first_live_value;
  rocksdb::Status found =
      database_.db->Get(read_options_, meta(), kMpmcFirstLiveKey, &first_live_value);
  if (found.ok()) {
    if (first_live_value.size() != kMpmcFirstLiveBytes) {
      throw Error(ErrorKind::kCorruption, Path(), "the first live position's record is malformed");
    }
    first_live = DecodeBigEndian64(first_live_value.data());
    payload_before_first_live = DecodeBigEndian64(first_live_value.data() + 8);
  } else if (!found.IsNotFound()) {
    ThrowStatus(Path(), "reading the first live position", found);
  }
  disk_first_ = first_live;

  const LogEnds ends =
      ReadLogEnds(database_.db.get(), items(), Path(), kTimedRecordHeaderBytes, first_live);
  if (ends.empty) {
    // Nothing stored, or everything expired and was deleted: positions go on
    // from where the deleted elements ended, so labels' positions stay valid.
    write_cursor_ = first_live;
    added_bytes_total_ = payload_before_first_live;
    RecoverLabels();
    return;
  }
  const uint64_t first_position = ends.first_position;
  const uint64_t first_payload_before = ends.first_header;
  const uint64_t first_micros = ends.first_micros;
  const uint64_t last_position = ends.last_position;
  const uint64_t added_through_last = ends.pushed_through_last;
  const uint64_t last_micros = ends.last_micros;
  write_cursor_ = last_position + 1;
  added_bytes_total_ = added_through_last;
  last_added_micros_ = last_micros;
  RecoverSegments(first_position, first_payload_before, first_micros, last_micros);
  RecoverLabels();
}

void MpmcQueueImpl::RecoverSegments(uint64_t first_position, uint64_t first_payload_before,
                                    uint64_t first_micros, uint64_t last_micros) {
  std::unique_ptr<rocksdb::Iterator> it(database_.db->NewIterator(read_options_, marks()));
  const EncodedKey first_key(first_position);
  for (it->Seek(KeySlice(first_key)); it->Valid(); it->Next()) {
    if (it->key().size() != kKeyBytes || it->value().size() != kMpmcMarkBytes) {
      throw Error(ErrorKind::kCorruption, Path(), "a segment mark is malformed");
    }
    Segment segment;
    segment.first_position = DecodeBigEndian64(it->key().data());
    if (segment.first_position >= write_cursor_) break;
    segment.payload_before = DecodeBigEndian64(it->value().data());
    segment.oldest_micros = DecodeBigEndian64(it->value().data() + 8);
    segment.bound_micros = DecodeBigEndian64(it->value().data() + 16);
    segments_.push_back(segment);
  }
  if (!it->status().ok()) ThrowStatus(Path(), "reading the segment marks", it->status());

  if (segments_.empty() || segments_.front().first_position > first_position) {
    Segment unmarked;
    unmarked.first_position = first_position;
    unmarked.payload_before = first_payload_before;
    unmarked.oldest_micros = first_micros;
    // Its elements were added no later than the next segment's first.
    unmarked.bound_micros = segments_.empty() ? last_micros : segments_.front().oldest_micros;
    segments_.push_front(unmarked);
  }
  for (size_t i = 0; i < segments_.size(); ++i) {
    const uint64_t next_oldest =
        i + 1 < segments_.size() ? segments_[i + 1].oldest_micros : last_micros;
    segments_[i].newest_micros = std::min(segments_[i].bound_micros, next_oldest);
  }
  open_segment_ = segments_.back();
  has_open_segment_ = true;
}

void MpmcQueueImpl::RecoverLabels() {
  std::unique_ptr<rocksdb::Iterator> it(database_.db->NewIterator(read_options_, labels()));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    if (it->value().size() != kMpmcLabelBytes) {  // Any key, "" included, is a label.
      throw Error(ErrorKind::kCorruption, Path(), "a label's record is malformed");
    }
    auto state = std::make_shared<Label>();
    state->position = DecodeBigEndian64(it->value().data());
    state->stored = true;
    labels_.emplace(it->key().ToString(), std::move(state));
  }
  if (!it->status().ok()) ThrowStatus(Path(), "reading the labels", it->status());
}

// --- Sizes ------------------------------------------------------------------

void MpmcQueueImpl::ThrowIfClosed() const {
  if (closed_.load(std::memory_order_acquire)) {
    throw Error(ErrorKind::kClosed, Path(), "the queue was closed");
  }
}

MpmcQueueImpl::LiveRange MpmcQueueImpl::Live(uint64_t now_micros) const {
  std::lock_guard<std::mutex> lock(index_mutex_);
  while (!segments_.empty() && IsExpired(segments_.front().newest_micros, now_micros)) {
    segments_.pop_front();
  }
  if (segments_.empty()) return {write_cursor_, write_cursor_, added_bytes_total_, 0};
  const Segment& front = segments_.front();
  return {front.first_position, write_cursor_, front.payload_before,
          added_bytes_total_ - front.payload_before};
}

uint64_t MpmcQueueImpl::Len() const {
  ThrowIfClosed();
  const LiveRange live = Live(NowMicros());
  return live.end - live.first;
}

uint64_t MpmcQueueImpl::PayloadBytes() const {
  ThrowIfClosed();
  return Live(NowMicros()).payload_bytes;
}

uint64_t MpmcQueueImpl::DiskBytes() const {
  ThrowIfClosed();
  return DirectoryBytes(Path());
}

// --- Adding -----------------------------------------------------------------

void MpmcQueueImpl::Append(const std::string_view* items, size_t count,
                           const GroupCommit::SideRecords* side_records) {
  {
    std::shared_lock<std::shared_mutex> lifetime(lifetime_mutex_);
    ThrowIfClosed();
    if (count == 0) return;
    group_commit_.Append(items, count, side_records);
  }
  change_listener_.Fire();  // With no lock held.
}

// Positions continue from the write cursor: the last group is committed
// before the next is written, and a failed group changes nothing, so the
// stored keys never have a gap. The group's elements share one added-at time.
rocksdb::Status MpmcQueueImpl::WriteGroup(const GroupCommit::Group& group) {
  group_batch_.Clear();
  pending_ = PendingGroup();
  pending_.first_position = write_cursor_;
  pending_.payload_before = added_bytes_total_;
  pending_.added_micros = std::max(NowMicros(), last_added_micros_);
  if (!has_open_segment_ || pending_.added_micros >= open_segment_.bound_micros) {
    pending_.starts_segment = true;
    Segment& segment = pending_.segment;
    segment.first_position = pending_.first_position;
    segment.payload_before = pending_.payload_before;
    segment.oldest_micros = pending_.added_micros;
    segment.bound_micros = pending_.added_micros + segment_span_micros_;
    segment.newest_micros = pending_.added_micros;
    char mark[kMpmcMarkBytes];
    EncodeBigEndian64(segment.payload_before, mark);
    EncodeBigEndian64(segment.oldest_micros, mark + 8);
    EncodeBigEndian64(segment.bound_micros, mark + 16);
    const EncodedKey key(segment.first_position);
    rocksdb::Status added =
        group_batch_.Put(marks(), KeySlice(key), rocksdb::Slice(mark, kMpmcMarkBytes));
    if (!added.ok()) return added;
  }

  uint64_t position = pending_.first_position;
  uint64_t added_bytes = pending_.payload_before;
  char header[kTimedRecordHeaderBytes];
  EncodeBigEndian64(pending_.added_micros, header + 8);
  for (const GroupCommit::Span& span : group.spans) {
    for (size_t i = 0; i < span.count; ++i) {
      const std::string_view item = span.items[i];
      const EncodedKey key(position++);
      EncodeBigEndian64(added_bytes, header);
      added_bytes += item.size();
      const rocksdb::Slice key_slice = KeySlice(key);
      const rocksdb::Slice value_parts[2] = {rocksdb::Slice(header, kTimedRecordHeaderBytes),
                                             rocksdb::Slice(item.data(), item.size())};
      rocksdb::Status added = group_batch_.Put(items(), rocksdb::SliceParts(&key_slice, 1),
                                               rocksdb::SliceParts(value_parts, 2));
      if (!added.ok()) return added;
    }
    if (span.side_records == nullptr) continue;
    for (const auto& [key, value] : *span.side_records) {
      rocksdb::Status added = group_batch_.Put(key, value);
      if (!added.ok()) return added;
    }
  }
  rocksdb::Status written = database_.db->Write(write_options_, &group_batch_);
  if (group_batch_.GetDataSize() > kRetainedBatchBytes) group_batch_ = rocksdb::WriteBatch();
  return written;
}

void MpmcQueueImpl::GroupCommitted(const GroupCommit::Group& group) noexcept {
  last_added_micros_ = pending_.added_micros;
  if (pending_.starts_segment) {
    open_segment_ = pending_.segment;
    has_open_segment_ = true;
  }
  bool was_empty;
  {
    std::lock_guard<std::mutex> lock(index_mutex_);
    was_empty = segments_.empty();
    if (pending_.starts_segment) {
      segments_.push_back(pending_.segment);
    } else if (!segments_.empty() &&
               segments_.back().first_position == open_segment_.first_position) {
      segments_.back().newest_micros = pending_.added_micros;
    } else {
      // Every earlier element of the segment this group joined expired while
      // the group was written, and the segment was dropped: these elements
      // go on as a segment of their own.
      Segment rest = open_segment_;
      rest.first_position = pending_.first_position;
      rest.payload_before = pending_.payload_before;
      rest.oldest_micros = pending_.added_micros;
      rest.newest_micros = pending_.added_micros;
      segments_.push_back(rest);
      open_segment_ = rest;
    }
    write_cursor_ += group.item_count;
    added_bytes_total_ += group.payload_bytes;
  }
  // The sweeper sleeps without a deadline while nothing is alive.
  if (was_empty) sweeper_->Wake();
}

std::exception_ptr MpmcQueueImpl::GroupFailed(const rocksdb::Status& status) noexcept {
  try {
    ThrowWriteFailure(database_, failures_, "writing elements", status);
  } catch (...) {
    return std::current_exception();
  }
}

// --- Reading ----------------------------------------------------------------

uint64_t MpmcQueueImpl::StartFor(StartPosition start) const {
  const LiveRange live = Live(NowMicros());
  if (start == StartPosition::kNewest && live.end > live.first) return live.end - 1;
  return start == StartPosition::kNewest ? live.end : live.first;
}

// Returns `label`'s object with its mutex locked, creating it at `start` (and
// setting *created) if there is none. A label removed while this waited for
// its mutex is looked up again.
std::unique_lock<std::mutex> MpmcQueueImpl::LockLabel(std::string_view label,
                                                      StartPosition start,
                                                      std::shared_ptr<Label>* state,
                                                      bool* created) {
  for (;;) {
    {
      std::shared_lock<std::shared_mutex> map_lock(labels_mutex_);
      auto found = labels_.find(label);
      *state = found == labels_.end() ? nullptr : found->second;
    }
    if (*state) {
      std::unique_lock<std::mutex> lock((*state)->mutex);
      if ((*state)->removed) continue;
      *created = false;
      return lock;
    }
    auto fresh = std::make_shared<Label>();
    std::unique_lock<std::mutex> lock(fresh->mutex);
    fresh->position = StartFor(start);
    {
      std::unique_lock<std::shared_mutex> map_lock(labels_mutex_);
      if (!labels_.try_emplace(std::string(label), fresh).second) continue;
    }
    *state = std::move(fresh);
    *created = true;
    return lock;
  }
}

// Drops a label created by a Next() that then failed. Needs its mutex.
void MpmcQueueImpl::ForgetLabel(std::string_view label, const std::shared_ptr<Label>& state) {
  state->removed = true;
  std::unique_lock<std::shared_mutex> map_lock(labels_mutex_);
  auto found = labels_.find(label);
  if (found != labels_.end() && found->second == state) labels_.erase(found);
}

MpmcRead MpmcQueueImpl::ReadAndMove(std::string_view label, StartPosition start,
                                     size_t max_items, const CallId* call) {
  std::shared_lock<std::shared_mutex> lifetime(lifetime_mutex_);
  ThrowIfClosed();

  std::shared_ptr<Label> state;
  bool created = false;
  std::unique_lock<std::mutex> label_lock = LockLabel(label, start, &state, &created);
  try {
    MpmcRead read;
    auto rep = std::make_unique<PoppedItems::Rep>();
    rep->block_cache = database_.block_cache;
    rep->header_bytes = kTimedRecordHeaderBytes;
    const uint64_t position = ReadLive(state->position, max_items, rep.get(), &read.expired);
    // A new label has no unread elements that could have expired.
    if (created) read.expired = false;

    if (!state->stored || position != state->position) {
      const EncodedKey value(position);
      rocksdb::WriteBatch batch;
      rocksdb::Status added =
          batch.Put(labels(), rocksdb::Slice(label.data(), label.size()), KeySlice(value));
      // The range this call moved the label over, for its retry (ReadAgain).
      std::string range(kMpmcNextOutcomeBytes, '\0');
      EncodeBigEndian64(state->position, range.data());
      EncodeBigEndian64(position - state->position, range.data() + 8);
      range[16] = read.expired ? 1 : 0;
      if (added.ok()) added = WriteWithRecord(&batch, call, range);
      if (!added.ok()) {
        ThrowStatus(Path(), "storing the position of label '" + std::string(label) + "'", added);
      }
      state->position = position;
      state->stored = true;
    }
    read.items = PoppedItems(std::move(rep));
    return read;
  } catch (...) {
    if (created) ForgetLabel(label, state);
    throw;
  }
}

// Reads up to `max_items` live elements from `position` on (up to `end`)
// into `rep`, and returns the position after the last element read or
// skipped. Sets *expired if it skipped expired elements.
//
// One element is a pinned point read. More are read with one iterator
// bounded to their keys and copied out, as FIFO batch pops are (see
// FifoQueueImpl::ReadRange): measured (C++, 100 x 100 B reads) MultiGet of
// the keys took 3.2 us an element, the iterator about 0.5 us.
uint64_t MpmcQueueImpl::ReadLive(uint64_t position, size_t max_items, PoppedItems::Rep* rep,
                                 bool* expired, uint64_t end) {
  const bool copy = max_items > 1;
  size_t read = 0;
  for (;;) {
    const uint64_t now = NowMicros();
    const LiveRange live = Live(now);
    if (position < live.first) {
      *expired = true;
      position = live.first;
    }
    const uint64_t stop = std::min(live.end, end);
    if (read >= max_items || position >= stop) return position;
    const size_t count =
        static_cast<size_t>(std::min<uint64_t>(max_items - read, stop - position));
    size_t skipped = 0;
    if (copy) {
      read += ReadCopies(position, count, now, rep, &skipped);
    } else {
      read += ReadPinned(position, now, rep, &skipped);
    }
    if (skipped != 0) *expired = true;
    position += count;
  }
}

// Expired elements are a prefix: those whose time has passed, and those the
// sweeper deleted since Live() was read. Both helpers skip that prefix of
// [position, position + count), count it in *skipped, and return how many
// elements they added to `rep`.

size_t MpmcQueueImpl::ReadPinned(uint64_t position, uint64_t now, PoppedItems::Rep* rep,
                                 size_t* skipped) {
  const EncodedKey key(position);
  rocksdb::PinnableSlice value;
  const rocksdb::Status status = database_.db->Get(read_options_, items(), KeySlice(key), &value);
  if (status.IsNotFound()) {
    if (position >= Live(NowMicros()).first) {
      throw Error(ErrorKind::kCorruption, Path(),
                  "element " + std::to_string(position) + " is missing");
    }
    *skipped = 1;
    return 0;
  }
  if (!status.ok()) ThrowStatus(Path(), "reading element " + std::to_string(position), status);
  CheckTimedRecord(position, value);
  if (IsExpired(DecodeBigEndian64(value.data() + 8), now)) {
    *skipped = 1;
    return 0;
  }
  rep->payload_bytes += value.size() - kTimedRecordHeaderBytes;
  rep->values.push_back(std::move(value));
  return 1;
}

size_t MpmcQueueImpl::ReadCopies(uint64_t position, size_t count, uint64_t now,
                                 PoppedItems::Rep* rep, size_t* skipped) {
  size_t added = 0;
  uint64_t expected = position;
  ScanRecords(database_.db.get(), read_options_, items(), Path(), position, position + count,
              [&](uint64_t element, const rocksdb::Slice& value) {
                if (element < expected) {
                  throw Error(ErrorKind::kCorruption, Path(),
                              "element " + std::to_string(expected) + "'s key is malformed");
                }
                if (element != expected) {
                  // Only the sweeper deletes elements, and only expired ones.
                  if (expected != position + *skipped ||
                      element - 1 >= Live(NowMicros()).first) {
                    throw Error(ErrorKind::kCorruption, Path(),
                                "element " + std::to_string(expected) + " is missing");
                  }
                  *skipped += element - expected;
                  expected = element;
                }
                ++expected;
                CheckTimedRecord(element, value);
                if (element == position + *skipped &&
                    IsExpired(DecodeBigEndian64(value.data() + 8), now)) {
                  ++*skipped;
                  return true;
                }
                rep->copied.append(value.data() + kTimedRecordHeaderBytes,
                                   value.size() - kTimedRecordHeaderBytes);
                rep->copied_ends.push_back(rep->copied.size());
                rep->payload_bytes += value.size() - kTimedRecordHeaderBytes;
                ++added;
                return true;
              });
  if (expected != position + count) {
    if (expected != position + *skipped || position + count - 1 >= Live(NowMicros()).first) {
      throw Error(ErrorKind::kCorruption, Path(),
                  "element " + std::to_string(expected) + " is missing");
    }
    *skipped = count;  // Every one was deleted by the sweeper meanwhile.
  }
  return added;
}

void MpmcQueueImpl::CheckTimedRecord(uint64_t element, const rocksdb::Slice& value) const {
  if (value.size() < kTimedRecordHeaderBytes) {
    throw Error(ErrorKind::kCorruption, Path(),
                "element " + std::to_string(element) + "'s record is shorter than its header");
  }
}

rocksdb::Status MpmcQueueImpl::WriteWithRecord(rocksdb::WriteBatch* batch, const CallId* call,
                                               const std::string& outcome) {
  if (call != nullptr) {
    for (const auto& [key, value] : ledger_->Records({*call}, outcome)) {
      rocksdb::Status added = batch->Put(key, value);
      if (!added.ok()) return added;
    }
  }
  rocksdb::Status written = database_.db->Write(write_options_, batch);
  if (written.ok() && call != nullptr) ledger_->Note({*call}, outcome);
  return written;
}

// The elements of a range a Next() moved its label over, read again for
// its retry: those still alive.
MpmcRead MpmcQueueImpl::ReadAgain(const std::string& outcome) {
  std::shared_lock<std::shared_mutex> lifetime(lifetime_mutex_);
  ThrowIfClosed();
  if (outcome.size() != kMpmcNextOutcomeBytes) {
    throw Error(ErrorKind::kCorruption, Path(), "a Next call's record is malformed");
  }
  const uint64_t first = DecodeBigEndian64(outcome.data());
  const uint64_t count = DecodeBigEndian64(outcome.data() + 8);
  MpmcRead read;
  read.expired = outcome[16] != 0;
  auto rep = std::make_unique<PoppedItems::Rep>();
  rep->block_cache = database_.block_cache;
  rep->header_bytes = kTimedRecordHeaderBytes;
  bool skipped = false;
  ReadLive(first, static_cast<size_t>(count), rep.get(), &skipped, first + count);
  read.expired = read.expired || skipped;
  read.items = PoppedItems(std::move(rep));
  return read;
}

bool MpmcQueueImpl::RemoveLabelQuietly(std::string_view label, const CallId* call) {
  std::shared_lock<std::shared_mutex> lifetime(lifetime_mutex_);
  ThrowIfClosed();
  std::shared_ptr<Label> state;
  {
    std::shared_lock<std::shared_mutex> map_lock(labels_mutex_);
    auto found = labels_.find(label);
    if (found == labels_.end()) return false;
    state = found->second;
  }
  std::lock_guard<std::mutex> lock(state->mutex);
  if (state->removed) return false;
  // An attached call's record says it removed the label, even one not
  // stored yet.
  if (state->stored || call != nullptr) {
    rocksdb::WriteBatch batch;
    rocksdb::Status deleted = rocksdb::Status::OK();
    if (state->stored) {
      deleted = batch.Delete(labels(), rocksdb::Slice(label.data(), label.size()));
    }
    if (deleted.ok()) deleted = WriteWithRecord(&batch, call, std::string(1, '\1'));
    if (!deleted.ok()) {
      ThrowStatus(Path(), "removing label '" + std::string(label) + "'", deleted);
    }
  }
  ForgetLabel(label, state);
  return true;
}

std::vector<std::string> MpmcQueueImpl::Labels() const {
  std::shared_lock<std::shared_mutex> lifetime(lifetime_mutex_);
  ThrowIfClosed();
  std::shared_lock<std::shared_mutex> map_lock(labels_mutex_);
  std::vector<std::string> names;
  names.reserve(labels_.size());
  for (const auto& entry : labels_) names.push_back(entry.first);
  return names;
}

// --- Expiry -----------------------------------------------------------------

// Deletes the expired prefix from disk and reclaims its space; returns how
// long to wait before the next sweep can find anything.
std::chrono::microseconds MpmcQueueImpl::SweepOnce() {
  const uint64_t now = NowMicros();
  const LiveRange live = Live(now);
  if (live.first > disk_first_) {
    // Reclaiming the expired bytes beyond whole files rewrites the live
    // elements that share files with them, so it waits until nothing is
    // alive, or until the directory holds more dead bytes than live ones
    // (then at most as much is rewritten as is reclaimed). Until then
    // RocksDB's own compactions drop them as they go.
    const uint64_t disk_bytes = DirectoryBytes(Path());
    const uint64_t dead_bytes =
        disk_bytes > live.payload_bytes ? disk_bytes - live.payload_bytes : 0;
    const bool reclaim = live.first == live.end ||
                         dead_bytes > std::max(live.payload_bytes, kCompactionSlackBytes);

    const EncodedKey to(live.first);
    const rocksdb::Slice to_slice = KeySlice(to);
    const uint64_t expired = live.first - disk_first_;
    rocksdb::WriteBatch batch;
    rocksdb::Status status;
    if (reclaim || expired > kMostPointDeletes) {
      // A range delete from 0, not from the last sweep's end, also deletes
      // again any key that DeleteFilesInRange (below) brought back by
      // deleting a file of tombstones but not an older file they covered.
      const EncodedKey from(0);
      status = batch.DeleteRange(items(), KeySlice(from), to_slice);
      ++range_deletes_unflushed_;
    } else {
      // Reads fragment the memtable's range tombstones anew every time
      // (RocksDB 7.8), so a trickle of small sweeps uses point deletes.
      for (uint64_t position = disk_first_; status.ok() && position < live.first; ++position) {
        const EncodedKey key(position);
        status = batch.Delete(items(), KeySlice(key));
      }
    }
    if (status.ok()) {
      // Marks are read only at open, so their range tombstones cost nothing.
      const EncodedKey from(0);
      status = batch.DeleteRange(marks(), KeySlice(from), to_slice);
    }
    char first_live[kMpmcFirstLiveBytes];
    EncodeBigEndian64(live.first, first_live);
    EncodeBigEndian64(live.payload_before_first, first_live + 8);
    if (status.ok()) {
      status = batch.Put(meta(), kMpmcFirstLiveKey, rocksdb::Slice(first_live, kMpmcFirstLiveBytes));
    }
    if (status.ok()) status = database_.db->Write(write_options_, &batch);
    if (!status.ok()) ThrowStatus(Path(), "deleting expired elements", status);
    disk_first_ = live.first;

    // Files holding only expired elements go at once, unread (but not those
    // of level 0, which RocksDB leaves).
    status = rocksdb::DeleteFilesInRange(database_.db.get(), items(), nullptr, &to_slice,
                                         /*include_end=*/false);
    if (!status.ok()) ThrowStatus(Path(), "deleting files of expired elements", status);

    if (reclaim) {
      // Every family, so no memtable keeps the log files that hold expired
      // elements; then compaction drops them from the files.
      status = database_.db->Flush(rocksdb::FlushOptions(), database_.families);
      if (!status.ok()) ThrowStatus(Path(), "flushing before reclaiming", status);
      range_deletes_unflushed_ = 0;
      // The end key is inclusive: the last expired position.
      const EncodedKey last_expired(live.first - 1);
      const rocksdb::Slice last_expired_slice = KeySlice(last_expired);
      rocksdb::CompactRangeOptions compaction;
      compaction.exclusive_manual_compaction = false;
      compaction.bottommost_level_compaction =
          rocksdb::BottommostLevelCompaction::kForceOptimized;
      status = database_.db->CompactRange(compaction, items(), nullptr, &last_expired_slice);
      if (!status.ok() && !status.IsIncomplete()) {  // Incomplete: Close() cancelled it.
        ThrowStatus(Path(), "compacting expired elements", status);
      }
    } else if (range_deletes_unflushed_ >= kMostUnflushedRangeDeletes) {
      // Moves the range tombstones into a file, where they are fragmented
      // once, not on every read.
      status = database_.db->Flush(rocksdb::FlushOptions(), items());
      if (!status.ok()) ThrowStatus(Path(), "flushing range deletes", status);
      range_deletes_unflushed_ = 0;
    }
  }

  std::chrono::microseconds wait = kLongestSweepWait;
  {
    std::lock_guard<std::mutex> lock(index_mutex_);
    if (!segments_.empty()) {
      const uint64_t expires = segments_.front().newest_micros + ttl_micros_;
      const uint64_t now_after = NowMicros();
      wait = std::chrono::microseconds(expires > now_after ? expires - now_after : 0);
    }
  }
  return std::clamp(wait, sweep_interval_, kLongestSweepWait);
}

void MpmcQueueImpl::StopSweeper() {
  if (!sweeper_) return;
  // A manual compaction under way returns Incomplete at once.
  if (database_.db) database_.db->DisableManualCompaction();
  sweeper_->Stop();
}

void MpmcQueueImpl::Close() {
  // The attached processes go first, while the queue still serves their
  // calls under way.
  if (attach_server_) {
    attach_server_->Stop();
    change_listener_.SetServer(nullptr);
  }
  std::lock_guard<std::mutex> close_lock(close_mutex_);
  closed_.store(true, std::memory_order_release);
  StopSweeper();
  std::unique_lock<std::shared_mutex> lifetime(lifetime_mutex_);
  database_.Close();
}

}  // namespace

MpmcQueue::~MpmcQueue() = default;

namespace {

QueueDatabase OpenMpmcDatabase(const std::string& path) {
  return OpenQueueDatabase(
      path, QueueKind::kMpmc,
      {kMpmcItemsFamily, kMpmcLabelsFamily, kMpmcMarksFamily, kMpmcMetaFamily});
}

// Opens the queue for this process: owns it, or attaches to the process
// that does (options.attach). Not yet wrapped by OwnedByThisProcess.
std::unique_ptr<MpmcQueue> OpenMpmcInThisProcess(const std::string& path,
                                                 const MpmcOptions& options) {
  const auto open_owned = [path](const MpmcOptions& options) -> std::unique_ptr<MpmcQueue> {
    auto queue = std::make_unique<MpmcQueueImpl>(OpenMpmcDatabase(path), options);
    if (options.attach) queue->StartAttachServer(options);
    return queue;
  };
  return OpenOwnedOrAttached<MpmcQueue>(
      path, options.attach, [&] { return open_owned(options); },
      [&] { return AttachMpmcQueue(path, options, open_owned); });
}

}  // namespace

std::unique_ptr<ServedMpmcQueue> OpenMpmcQueueToServe(const std::string& path,
                                                      const MpmcOptions& options) {
  MpmcOptions served = options;
  served.attach = true;  // Keeps the push ledger.
  return std::make_unique<MpmcQueueImpl>(OpenMpmcDatabase(path), served);
}

std::unique_ptr<MpmcQueue> MpmcQueue::Open(const std::string& path, const MpmcOptions& options) {
  if (options.ttl < std::chrono::milliseconds(1) || options.ttl > kMaxTtl) {
    throw Error(ErrorKind::kInvalidArgument, path,
                "ttl must be between 1 ms and " + std::to_string(kMaxTtl.count()) +
                    " ms, got " + std::to_string(options.ttl.count()) + " ms");
  }
  if (path.empty()) throw Error(ErrorKind::kInvalidArgument, path, "the path is empty");
  // An unknown group fails at any open, not at a later take-over.
  ResolveAttachGroup(path, options.attach_group);
  std::function<std::unique_ptr<MpmcQueue>()> open_in_child;
  if (options.attach) {  // A fork() child that inherits the queue opens it again the same way.
    open_in_child = [path, options] { return OpenMpmcInThisProcess(path, options); };
  }
  return OwnedByThisProcess(OpenMpmcInThisProcess(path, options), std::move(open_in_child));
}

void MpmcQueue::Destroy(const std::string& path) { DestroyQueueDatabase(path, QueueKind::kMpmc); }

}  // namespace rocksq
