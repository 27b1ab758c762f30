#include "item_log.h"

#include <algorithm>
#include <utility>

#include "rocksdb/slice.h"
#include "rocksq/fifo_queue.h"

namespace rocksq {
namespace {

// A prefix-removing kind deletes its removed keys with one range tombstone
// for every this many items or bytes removed, so that they rarely outlive
// the memtable they were pushed into (and are never flushed to a table file).
constexpr uint64_t kDeleteRemovedItems = 1024;
constexpr uint64_t kDeleteRemovedBytes = 1 << 20;

constexpr std::chrono::microseconds kNothingToReclaim = std::chrono::hours(1);

int64_t SteadyMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

LogEnds ReadLogEnds(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* family, const std::string& path,
                    size_t header_bytes, uint64_t from) {
  LogEnds ends;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), family));
  auto check_record = [&](const char* which) {
    if (it->key().size() != kKeyBytes || it->value().size() < header_bytes) {
      throw Error(ErrorKind::kCorruption, path,
                  std::string("the ") + which + " item's key or header is malformed");
    }
  };
  const EncodedKey from_key(from);
  it->Seek(rocksdb::Slice(from_key.bytes, kKeyBytes));
  if (!it->Valid()) {
    if (!it->status().ok()) ThrowStatus(path, "reading the first item", it->status());
    return ends;
  }
  check_record("first");
  ends.empty = false;
  ends.first_position = DecodeBigEndian64(it->key().data());
  ends.first_header = DecodeBigEndian64(it->value().data());
  if (header_bytes == kTimedRecordHeaderBytes) {
    ends.first_micros = DecodeBigEndian64(it->value().data() + 8);
  }
  it->SeekToLast();
  if (!it->Valid()) ThrowStatus(path, "reading the last item", it->status());
  check_record("last");
  ends.last_position = DecodeBigEndian64(it->key().data());
  ends.last_header = DecodeBigEndian64(it->value().data());
  ends.pushed_through_last = ends.last_header + (it->value().size() - header_bytes);
  if (header_bytes == kTimedRecordHeaderBytes) {
    ends.last_micros = DecodeBigEndian64(it->value().data() + 8);
  }
  if (ends.last_position < ends.first_position || ends.pushed_through_last < ends.first_header ||
      ends.last_micros < ends.first_micros) {
    throw Error(ErrorKind::kCorruption, path, "the first and last items' records disagree");
  }
  return ends;
}

ItemLog::ItemLog(QueueDatabase* database, rocksdb::ColumnFamilyHandle* items,
                 const Options& options)
    : database_(database),
      items_(items),
      also_counted_(options.also_counted),
      reclaim_tuning_(options.reclaim),
      age_marks_(std::make_unique<AgeMarks>(0, AgeMarks::Clock::now())),
      removes_prefix_(options.removes_prefix),
      max_elements_(options.max_elements) {
  write_options_.sync = options.sync;
  read_options_.ignore_range_deletions = options.reads_ignore_range_deletions;
  group_commit_.SetGathering(options.sync);  // Synced groups wait for their callers.
  failures_.SetLog(database_->db->GetDBOptions().info_log);
}

ItemLog::~ItemLog() { StopReclaimer(); }

// --- Recovery ---------------------------------------------------------------

void ItemLog::Adopt(const State& state) {
  write_cursor_.store(state.write_cursor);
  removed_.store(state.removed);
  pushed_total_ = state.pushed_total;
  payload_bytes_.store(state.payload_bytes);
  deleted_below_ = state.removed;
  age_marks_ = std::make_unique<AgeMarks>(state.write_cursor, AgeMarks::Clock::now());
}

// The first position is the stored cursor or the first stored key,
// whichever is later; the write cursor is one past the last stored key, or
// the first position if nothing lies at or past it. The payload total is
// derived from the records at both ends (format.h), so no crash can make it
// disagree with the items. Keys below the first position are removed items
// whose deletion a crash or a close interrupted: they are deleted now.
uint64_t ItemLog::RecoverPrefix(uint64_t removed_below, uint64_t keep_from) {
  const LogEnds ends =
      ReadLogEnds(database_->db.get(), items_, path(), kRecordHeaderBytes);
  State state;
  state.removed = removed_below;
  state.write_cursor = removed_below;
  if (!ends.empty) {
    uint64_t first_position = std::max(ends.first_position, removed_below);
    uint64_t pushed_before_first = ends.pushed_through_last;
    if (first_position <= ends.last_position) {
      rocksdb::PinnableSlice first;
      if (!ReadPinned(first_position, &first)) {
        throw Error(ErrorKind::kCorruption, path(),
                    "item " + std::to_string(first_position) + " is missing");
      }
      pushed_before_first = DecodeBigEndian64(first.data());
    } else {
      first_position = removed_below;  // Everything stored was removed.
    }
    if (ends.pushed_through_last < pushed_before_first) {
      throw Error(ErrorKind::kCorruption, path(), "the first and last items' records disagree");
    }
    state.removed = first_position;
    state.write_cursor = std::max(first_position, ends.last_position + 1);
    state.pushed_total = ends.pushed_through_last;
    state.payload_bytes = ends.pushed_through_last - pushed_before_first;
  }
  Adopt(state);
  if (!ends.empty) {
    deleted_below_ = ends.first_position;
    DeletePrefix(std::min(state.removed, keep_from), 0, /*force=*/true);
  }
  return state.removed;
}

// --- Capacity and state ---------------------------------------------------------

void ItemLog::CheckMaxElements(const std::string& path, uint64_t max_elements) {
  if (max_elements == 0 || max_elements > kMaxElementsLimit) {
    throw Error(ErrorKind::kInvalidArgument, path,
                "max_elements must be between 1 and " + std::to_string(kMaxElementsLimit) +
                    ", got " + std::to_string(max_elements));
  }
}

void ItemLog::SetMaxElements(uint64_t max_elements) {
  CheckMaxElements(path(), max_elements);
  max_elements_.store(max_elements, std::memory_order_release);
  room_made_.Notify();
}

void ItemLog::Shutdown(bool immediate) {
  if (immediate) {
    shutdown_.store(kShutDownImmediately, std::memory_order_release);
  } else {
    int running = kRunning;
    shutdown_.compare_exchange_strong(running, kShutDown, std::memory_order_acq_rel);
  }
  items_arrived_.Notify();
  room_made_.Notify();
}

void ItemLog::ThrowIfClosed() const {
  if (closed()) throw Error(ErrorKind::kClosed, path(), "the queue was closed");
}

void ItemLog::ThrowShutDown() const {
  throw Error(ErrorKind::kShutDown, path(), "the queue was shut down");
}

void ItemLog::BeginClose() {
  closed_.store(true, std::memory_order_release);
  // Waiters hold no lock while they wait; woken, they see closed_ and throw.
  items_arrived_.Notify();
  room_made_.Notify();
}

void ItemLog::StopReclaimer() {
  if (!reclaimer_) return;
  // A compaction under way stops early; the reclaimer thread then ends.
  if (database_->db) database_->db->DisableManualCompaction();
  reclaimer_->Stop();
  reclaimer_.reset();
}

std::pair<uint64_t, uint64_t> ItemLog::WriteMark() {
  std::lock_guard<std::mutex> lock(group_commit_.mutex());
  return {write_cursor_.load(std::memory_order_acquire), pushed_total_};
}

// --- The write path -------------------------------------------------------------

std::exception_ptr ItemLog::Admit(uint64_t admitted_items, size_t count) {
  // Removals only shrink the queue meanwhile (and exclusive writes cannot
  // run during a group), so admitting against the length seen now can
  // never overfill it.
  const uint64_t stored = CountedItems() + admitted_items;
  const uint64_t max_elements = MaxElements();
  if (stored + count <= max_elements) return nullptr;
  return std::make_exception_ptr(
      Error(ErrorKind::kQueueFull, path(),
            std::to_string(stored) + " of " + std::to_string(max_elements) +
                " items stored, cannot add " + std::to_string(count)));
}

void ItemLog::EncodeRecord(uint64_t position, uint64_t pushed_before, std::string_view item,
                           rocksdb::WriteBatch* batch) const {
  const EncodedKey key(position);
  char header[kRecordHeaderBytes];
  EncodeBigEndian64(pushed_before, header);
  const rocksdb::Slice key_slice(key.bytes, kKeyBytes);
  const rocksdb::Slice value_parts[2] = {rocksdb::Slice(header, kRecordHeaderBytes),
                                         rocksdb::Slice(item.data(), item.size())};
  rocksdb::Status added = batch->Put(items_, rocksdb::SliceParts(&key_slice, 1),
                                     rocksdb::SliceParts(value_parts, 2));
  if (!added.ok()) ThrowStatus(path(), "encoding items", added);
}

// Positions continue from the write cursor: the last group is committed
// before the next is written, and a failed group leaves the cursor where it
// was, so the stored keys never have a gap.
rocksdb::Status ItemLog::WriteGroup(const GroupCommit::Group& group) {
  group_batch_.Clear();
  uint64_t position = write_cursor_.load(std::memory_order_relaxed);
  uint64_t pushed_bytes = pushed_total_;
  for (const GroupCommit::Span& span : group.spans) {
    for (size_t i = 0; i < span.count; ++i) {
      const std::string_view item = span.items[i];
      EncodeRecord(position++, pushed_bytes, item, &group_batch_);
      pushed_bytes += item.size();
    }
    if (span.side_records == nullptr) continue;
    for (const auto& [key, value] : *span.side_records) {
      const rocksdb::Status added = group_batch_.Put(key, value);
      if (!added.ok()) return added;
    }
  }
  rocksdb::Status written = database_->db->Write(write_options_, &group_batch_);
  if (group_batch_.GetDataSize() > kRetainedBatchBytes) group_batch_ = rocksdb::WriteBatch();
  return written;
}

void ItemLog::GroupCommitted(const GroupCommit::Group& group) noexcept {
  age_marks_->NoteWrite(write_cursor(), group.written_at,
                        removes_prefix_ ? removed() : 0);
  pushed_total_ += group.payload_bytes;
  payload_bytes_.fetch_add(group.payload_bytes, std::memory_order_acq_rel);
  write_cursor_.fetch_add(group.item_count, std::memory_order_release);
  items_arrived_.Notify();
}

std::exception_ptr ItemLog::GroupFailed(const rocksdb::Status& status) noexcept {
  try {
    ThrowWriteFailure("writing items", status);
  } catch (...) {
    return std::current_exception();
  }
}

void ItemLog::Published(uint64_t count, uint64_t payload_bytes) {
  std::lock_guard<std::mutex> lock(group_commit_.mutex());
  if (count != 0) {
    age_marks_->NoteWrite(write_cursor(), AgeMarks::Clock::now(),
                          removes_prefix_ ? removed() : 0);
  }
  pushed_total_ += payload_bytes;
  payload_bytes_.fetch_add(payload_bytes, std::memory_order_acq_rel);
  write_cursor_.fetch_add(count, std::memory_order_release);
}

void ThrowWriteFailure(const QueueDatabase& database, const BackgroundFailures& failures,
                       const std::string& action, const rocksdb::Status& status) {
  std::string detail = action;
  // RocksDB refuses every write after a failed flush or compaction until it
  // recovers; the status then repeats that failure, which deserves saying.
  uint64_t rocksdb_errors = 0;
  if (database.db && database.db->GetIntProperty("rocksdb.background-errors", &rocksdb_errors) &&
      rocksdb_errors != 0) {
    detail += " (RocksDB stopped accepting writes after a background flush or compaction failed)";
  }
  const std::string ours = failures.Last();
  if (!ours.empty()) detail += " (the last background failure: " + ours + ")";
  ThrowStatus(database.path, detail, status);
}

void ItemLog::ThrowWriteFailure(const std::string& action, const rocksdb::Status& status) const {
  rocksq::ThrowWriteFailure(*database_, failures_, action, status);
}

// --- Reading --------------------------------------------------------------------

void ItemLog::CheckRecord(uint64_t position, const rocksdb::Slice& key,
                          const rocksdb::Slice& record) const {
  if (key.size() != kKeyBytes || DecodeBigEndian64(key.data()) != position ||
      record.size() < kRecordHeaderBytes) {
    throw Error(ErrorKind::kCorruption, path(),
                "item " + std::to_string(position) + " is missing or malformed");
  }
}

bool ItemLog::ReadPinned(uint64_t position, rocksdb::PinnableSlice* record) const {
  const EncodedKey key(position);
  rocksdb::Status read = database_->db->Get(read_options_, items_,
                                            rocksdb::Slice(key.bytes, kKeyBytes), record);
  if (read.IsNotFound()) return false;
  if (!read.ok()) ThrowStatus(path(), "reading item " + std::to_string(position), read);
  if (record->size() < kRecordHeaderBytes) {
    throw Error(ErrorKind::kCorruption, path(), "an item's record is shorter than its header");
  }
  return true;
}

// One item: a point read of its key, pinned in place (no iterator, so no
// walk over the tombstones of the items removed before it). More: copied
// out of one Scan, since an iterator's values live only until it moves.
void ItemLog::ReadItems(uint64_t first, size_t count, PoppedItems::Rep* rep) const {
  rep->header_bytes = kRecordHeaderBytes;
  if (count == 1) {
    rep->values.resize(1);
    if (!ReadPinned(first, &rep->values[0])) {
      throw Error(ErrorKind::kCorruption, path(), "item " + std::to_string(first) + " is missing");
    }
    rep->payload_bytes = rep->values[0].size() - kRecordHeaderBytes;
    return;
  }
  rep->copied_ends.reserve(count);
  uint64_t expected = first;
  Scan(first, first + count, [&](uint64_t position, const rocksdb::Slice& record) {
    if (position != expected) {
      throw Error(ErrorKind::kCorruption, path(),
                  "item " + std::to_string(expected) + " is missing or malformed");
    }
    ++expected;
    rep->copied.append(record.data() + kRecordHeaderBytes, record.size() - kRecordHeaderBytes);
    rep->copied_ends.push_back(rep->copied.size());
    return true;
  });
  if (expected != first + count) {
    throw Error(ErrorKind::kCorruption, path(), "item " + std::to_string(expected) + " is missing");
  }
  rep->payload_bytes = rep->copied.size();
}

// --- Removing -------------------------------------------------------------------

void ItemLog::NoteRemoved(uint64_t count, uint64_t payload_bytes) {
  room_made_.Notify();
  if (!reclaimer_) return;
  last_removal_micros_.store(SteadyMicros(), std::memory_order_relaxed);
  // Count even empty items: their keys and tombstones take space too.
  const uint64_t weight = payload_bytes + count;
  const uint64_t before = unreclaimed_bytes_.fetch_add(weight);
  // Wake the reclaimer only on the removals that change what it does: the
  // first after a compaction (start the idle clock) and the one that
  // crosses the threshold (compact now).
  const uint64_t threshold = reclaim_tuning_.removed_bytes;
  if (before == 0 || (before < threshold && before + weight >= threshold)) reclaimer_->Wake();
}

void ItemLog::DeletePrefix(uint64_t end, uint64_t payload_bytes, bool force) {
  undeleted_bytes_ += payload_bytes;
  if (deleted_below_ >= end) return;
  if (!force && end - deleted_below_ < kDeleteRemovedItems &&
      undeleted_bytes_ < kDeleteRemovedBytes) {
    return;
  }
  const EncodedKey begin(deleted_below_);
  const EncodedKey stop(end);
  rocksdb::WriteBatch deletion;
  rocksdb::Status status = deletion.DeleteRange(
      items_, rocksdb::Slice(begin.bytes, kKeyBytes), rocksdb::Slice(stop.bytes, kKeyBytes));
  if (status.ok()) status = database_->db->Write(rocksdb::WriteOptions(), &deletion);
  if (!status.ok()) ThrowWriteFailure("deleting removed items", status);
  deleted_below_ = end;
  undeleted_bytes_ = 0;
}

void ItemLog::AddDeletions(const std::vector<uint64_t>& sorted_ids,
                           rocksdb::WriteBatch* batch) const {
  for (size_t first = 0; first < sorted_ids.size();) {
    size_t last = first;
    while (last + 1 < sorted_ids.size() && sorted_ids[last + 1] == sorted_ids[last] + 1) ++last;
    const EncodedKey begin(sorted_ids[first]);
    const rocksdb::Slice begin_slice(begin.bytes, kKeyBytes);
    rocksdb::Status added;
    if (last == first) {
      added = batch->Delete(items_, begin_slice);
    } else {
      const EncodedKey end(sorted_ids[last] + 1);
      added = batch->DeleteRange(items_, begin_slice, rocksdb::Slice(end.bytes, kKeyBytes));
    }
    if (!added.ok()) ThrowStatus(path(), "deleting items", added);
    first = last + 1;
  }
}

// --- Reclaiming ----------------------------------------------------------------
//
// RocksDB keeps a removed item's bytes on disk until a compaction meets its
// tombstone; left alone, a drained queue never shrinks. So the reclaimer
// compacts the removed prefix of the keys itself, in a thread of its own
// (see ReclaimTuning for when). The compaction also flushes the memtable,
// which frees the write-ahead log.

void ItemLog::StartReclaimer(std::function<uint64_t()> prepare,
                             std::vector<rocksdb::ColumnFamilyHandle*> compact_whole) {
  reclaim_prepare_ = std::move(prepare);
  reclaim_whole_ = std::move(compact_whole);
  reclaimer_ = std::make_unique<BackgroundLoop>([this] { return Reclaim(); },
                                                reclaim_tuning_.retry_after, &failures_);
}

std::chrono::microseconds ItemLog::Reclaim() {
  const uint64_t unreclaimed = unreclaimed_bytes_.load();
  if (unreclaimed == 0) return kNothingToReclaim;
  if (unreclaimed < reclaim_tuning_.removed_bytes) {
    const std::chrono::microseconds idle(SteadyMicros() - last_removal_micros_.load());
    if (StoredItems() != 0) return reclaim_tuning_.idle_before;
    if (idle < reclaim_tuning_.idle_before) return reclaim_tuning_.idle_before - idle;
  }
  // Compact up to the position below which every key is deleted (inclusive
  // bounds: that position's own key, if stored, is merely rewritten).
  const EncodedKey end(reclaim_prepare_());
  const rocksdb::Slice end_slice(end.bytes, kKeyBytes);
  rocksdb::CompactRangeOptions compaction;
  // Files already at the bottom level are rewritten too, or their deleted
  // items would stay.
  compaction.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForceOptimized;
  rocksdb::Status compacted = database_->db->CompactRange(compaction, items_, nullptr, &end_slice);
  if (!compacted.ok()) ThrowStatus(path(), "reclaiming removed items' space", compacted);
  for (rocksdb::ColumnFamilyHandle* family : reclaim_whole_) {
    compacted = database_->db->CompactRange(compaction, family, nullptr, nullptr);
    if (!compacted.ok()) ThrowStatus(path(), "reclaiming space", compacted);
  }
  unreclaimed_bytes_.fetch_sub(unreclaimed);
  return std::chrono::microseconds::zero();  // Look again: removals went on meanwhile.
}

}  // namespace rocksq
