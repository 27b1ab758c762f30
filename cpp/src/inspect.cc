#include "rocksq/inspect.h"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <unordered_set>

#include "ack_log.h"
#include "ack_records.h"
#include "background_loop.h"
#include "cursor_file.h"
#include "format.h"
#include "process_owned.h"
#include "rocksdb/db.h"
#include "rocksdb/iterator.h"
#include "rocksdb/options.h"
#include "rocksdb/slice.h"
#include "storage.h"

// Every kind is read the way its queue recovers at open (fifo_queue.cc's
// RecoverCursors, mpmc_queue.cc's Recover): the first and last records give
// the positions and the payload total, with no counter of their own. Each
// kind is one entry of Inspectors() below: the families to open, a function
// filling a snapshot and one reading items. A kind without an entry (a kind
// newer than this file) is refused with a clear message.

namespace rocksq {
namespace {

rocksdb::Slice KeySlice(const EncodedKey& key) { return rocksdb::Slice(key.bytes, kKeyBytes); }

// A queue's database opened for reading: a RocksDB secondary (storage.h),
// or, when the write-ahead log is damaged, a read-only open that sees what
// the next open will keep (see LoadFiles).
class QueueReader {
 public:
  virtual ~QueueReader() = default;
  virtual rocksdb::DB* db() const = 0;
  // The handle of the inspector's families[index].
  virtual rocksdb::ColumnFamilyHandle* family(size_t index) const = 0;
  virtual const std::string& path() const = 0;
};

class SecondaryReader final : public QueueReader {
 public:
  SecondaryReader(const std::string& path, const std::vector<std::string>& families)
      : database_(path, families) {}
  rocksdb::DB* db() const override { return database_.db(); }
  rocksdb::ColumnFamilyHandle* family(size_t index) const override {
    return database_.family(index);
  }
  const std::string& path() const override { return database_.path(); }

 private:
  SecondaryQueueDatabase database_;
};

// The first and last stored records of an item family, from `from` on.
struct StoredRange {
  bool empty = true;
  uint64_t first_position = 0;
  uint64_t end_position = 0;  // One past the last.
  uint64_t payload_before_first = 0;
  uint64_t payload_through_last = 0;
  uint64_t first_added_micros = 0;  // Timed records only.
  uint64_t last_added_micros = 0;
};

StoredRange ReadStoredRange(const QueueReader& database,
                            rocksdb::ColumnFamilyHandle* items, size_t header_bytes,
                            uint64_t from) {
  StoredRange range;
  std::unique_ptr<rocksdb::Iterator> it(database.db()->NewIterator(rocksdb::ReadOptions(), items));
  const EncodedKey from_key(from);
  it->Seek(KeySlice(from_key));
  if (!it->Valid()) {
    if (!it->status().ok()) ThrowStatus(database.path(), "reading the first item", it->status());
    return range;
  }
  auto check_record = [&](const char* which) {
    if (it->key().size() != kKeyBytes || it->value().size() < header_bytes) {
      throw Error(ErrorKind::kCorruption, database.path(),
                  std::string("the ") + which + " item's key or header is malformed");
    }
  };
  const bool timed = header_bytes == kTimedRecordHeaderBytes;
  check_record("first");
  range.empty = false;
  range.first_position = DecodeBigEndian64(it->key().data());
  range.payload_before_first = DecodeBigEndian64(it->value().data());
  if (timed) range.first_added_micros = DecodeBigEndian64(it->value().data() + 8);
  it->SeekToLast();
  if (!it->Valid()) ThrowStatus(database.path(), "reading the last item", it->status());
  check_record("last");
  const uint64_t last_position = DecodeBigEndian64(it->key().data());
  range.end_position = last_position + 1;
  range.payload_through_last =
      DecodeBigEndian64(it->value().data()) + (it->value().size() - header_bytes);
  if (timed) range.last_added_micros = DecodeBigEndian64(it->value().data() + 8);
  if (last_position < range.first_position ||
      range.payload_through_last < range.payload_before_first) {
    throw Error(ErrorKind::kCorruption, database.path(),
                "the first and last items' records disagree");
  }
  return range;
}

// Copies up to `max_items` records from `from` on, in key order.
std::vector<StoredItem> ReadItems(const QueueReader& database,
                                  rocksdb::ColumnFamilyHandle* items, size_t header_bytes,
                                  uint64_t from, size_t max_items) {
  std::vector<StoredItem> result;
  if (max_items == 0) return result;
  std::unique_ptr<rocksdb::Iterator> it(database.db()->NewIterator(rocksdb::ReadOptions(), items));
  const EncodedKey from_key(from);
  for (it->Seek(KeySlice(from_key)); it->Valid() && result.size() < max_items; it->Next()) {
    if (it->key().size() != kKeyBytes || it->value().size() < header_bytes) {
      throw Error(ErrorKind::kCorruption, database.path(), "an item's key or header is malformed");
    }
    StoredItem item;
    item.position = DecodeBigEndian64(it->key().data());
    if (header_bytes == kTimedRecordHeaderBytes) {
      item.added_micros = DecodeBigEndian64(it->value().data() + 8);
    }
    item.data.assign(it->value().data() + header_bytes, it->value().size() - header_bytes);
    result.push_back(std::move(item));
  }
  if (!it->status().ok()) ThrowStatus(database.path(), "reading items", it->status());
  return result;
}

void FillFromRange(const StoredRange& range, QueueSnapshot* snapshot) {
  if (range.empty) return;
  snapshot->first_position = range.first_position;
  snapshot->end_position = range.end_position;
  snapshot->length = range.end_position - range.first_position;
  snapshot->payload_bytes = range.payload_through_last - range.payload_before_first;
}

void RefuseLabel(const std::string& path, const std::string& label, const char* kind) {
  if (!label.empty()) {
    throw Error(ErrorKind::kInvalidArgument, path,
                std::string("a label was given, but this is a ") + kind +
                    ", which has no labels");
  }
}

// --- The files, as an open would load them ---------------------------------------

// A RocksDB secondary (storage.h) reads the MANIFEST to the last point where
// every table it lists loads, so a table that is missing, cut short or
// zeroed silently takes its items out of the secondary's view, where
// opening the queue refuses it. And it replays a write-ahead log damaged in
// the middle up to the damage without a word. So the files are first loaded
// the way an open loads them, by a read-only open: that takes no lock and
// writes nothing in the directory (its diagnostic log goes nowhere), and
// replays the write-ahead log strictly (kTolerateCorruptedTailRecords, as
// OpenQueueDatabase does) and, if that fails, the default way, to tell a
// damaged log from damaged tables; then, as OpenQueueDatabase does, whether
// intact records follow the damage (RecoveredSequence).

// A read-only open's database and handles, closed on destruction.
class ReadOnlyDatabase final : public QueueReader {
 public:
  ReadOnlyDatabase(const std::string& path, const std::vector<std::string>& families,
                   rocksdb::WALRecoveryMode recovery)
      : path_(path) {
    const std::vector<rocksdb::ColumnFamilyDescriptor> descriptors = ReadingDescriptors(families);
    rocksdb::DBOptions options = ReadingOptions();
    options.max_open_files = -1;  // Load every table now, as an open does.
    options.wal_recovery_mode = recovery;
    rocksdb::DB* db = nullptr;
    NoteDatabaseOpened();
    status_ = rocksdb::DB::OpenForReadOnly(options, path, descriptors, &handles_, &db);
    db_.reset(db);
  }
  ~ReadOnlyDatabase() override {
    if (!db_) return;
    for (rocksdb::ColumnFamilyHandle* handle : handles_) db_->DestroyColumnFamilyHandle(handle);
    db_->Close();
  }
  ReadOnlyDatabase(const ReadOnlyDatabase&) = delete;
  ReadOnlyDatabase& operator=(const ReadOnlyDatabase&) = delete;

  const rocksdb::Status& status() const { return status_; }
  rocksdb::DB* db() const override { return db_.get(); }
  rocksdb::ColumnFamilyHandle* family(size_t index) const override {
    return handles_[index + 1];
  }
  const std::string& path() const override { return path_; }

 private:
  std::string path_;
  rocksdb::Status status_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
};

struct FileReport {
  rocksdb::Status damage;  // Not ok if the files do not load or (verified) a checksum fails.
  bool loaded = false;     // The files loaded (damage, if any, is a checksum).
  // Non-empty if the write-ahead log is damaged before its end and the next
  // open will drop intact records after the damage.
  std::string log_damage;
  // If the log is damaged anywhere but in a cut tail: the database as the
  // next open will recover it. (A secondary replays such a log differently:
  // it may refuse to open.)
  std::unique_ptr<ReadOnlyDatabase> recovered_view;
};

FileReport LoadFiles(const std::string& path, const std::vector<std::string>& families,
                     bool verify_every_block) {
  FileReport report;
  // A live writer deletes a write-ahead log or a compacted table right after
  // writing the MANIFEST that drops it: a read-only open that read the
  // older MANIFEST misses the file. Real damage stays; a race goes away.
  for (int attempt = 0; attempt < 3; ++attempt) {
    report.log_damage.clear();
    std::unique_ptr<ReadOnlyDatabase> database = std::make_unique<ReadOnlyDatabase>(
        path, families, rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords);
    if (database->status().IsCorruption()) {
      const std::string strict = database->status().ToString();
      database = std::make_unique<ReadOnlyDatabase>(
          path, families, rocksdb::WALRecoveryMode::kPointInTimeRecovery);
      if (database->status().ok()) {
        const uint64_t kept = database->db()->GetLatestSequenceNumber();
        const std::optional<uint64_t> intact = RecoveredSequence(
            path, families, rocksdb::WALRecoveryMode::kSkipAnyCorruptedRecords);
        if (!intact) {
          report.log_damage = strict;
        } else if (*intact > kept) {  // As in OpenRecoveringWriteAheadLog.
          report.log_damage = strict + "; " + std::to_string(*intact - kept) +
                              " records from the damage on";
        }
        report.recovered_view = std::move(database);
      }
    }
    if (report.recovered_view) {
      report.damage = rocksdb::Status::OK();
      report.loaded = true;
      if (verify_every_block) report.damage = report.recovered_view->db()->VerifyChecksum();
      break;
    }
    report.damage = database->status();
    report.loaded = report.damage.ok();
    if (report.loaded && verify_every_block) report.damage = database->db()->VerifyChecksum();
    const bool may_be_a_race = report.damage.IsIOError() || report.damage.IsPathNotFound() ||
                               report.damage.ToString().find("No such file") != std::string::npos;
    if (report.damage.ok() || !may_be_a_race) break;
  }
  return report;
}

std::string DamageText(const FileReport& report) {
  return (report.loaded ? "a checksum of the database's files does not hold: "
                        : "the database's files do not load: ") +
         report.damage.ToString();
}

// Throws what opening the queue would throw if its files do not load.
void RequireFilesLoad(const std::string& path, const FileReport& report) {
  if (report.damage.ok()) return;
  ErrorKind kind = report.damage.IsCorruption() ? ErrorKind::kCorruption : ErrorKind::kStorage;
  // A table RocksDB cannot find is a lost file, not an unreadable disk.
  if (report.damage.ToString().find("No such file") != std::string::npos) {
    kind = ErrorKind::kCorruption;
  }
  throw Error(kind, path, DamageText(report) + " (rocksq check tells more)");
}

// What the reads go through: the secondary, unless the log is damaged.
std::unique_ptr<QueueReader> OpenReader(const std::string& path,
                                        const std::vector<std::string>& families,
                                        FileReport* files) {
  if (files->recovered_view) return std::move(files->recovered_view);
  return std::make_unique<SecondaryReader>(path, families);
}

std::vector<std::string> DroppedRecords(const QueueReader& database,
                                        const FileReport& files) {
  std::vector<std::string> dropped;
  if (!files.log_damage.empty()) {
    dropped.push_back("the write-ahead log is damaged before its end (" + files.log_damage +
                      "): the next open keeps the records before the damage and drops the "
                      "damaged one and those after it");
  }
  std::string notes;
  rocksdb::Status found = database.db()->Get(rocksdb::ReadOptions(), kRecoveryNotesKey, &notes);
  if (!found.ok() && !found.IsNotFound()) {
    ThrowStatus(database.path(), "reading the recovery notes", found);
  }
  for (size_t start = 0; start < notes.size();) {
    size_t end = notes.find('\n', start);
    if (end == std::string::npos) end = notes.size();
    dropped.push_back("an open at " + notes.substr(start, end - start));
    start = end + 1;
  }
  return dropped;
}

// Reads every record of an item family from `from` on, as CheckQueue does,
// and checks what format.h promises: 8-byte keys, whole headers, positions
// one after another, each header the running total of the payload before
// it, and (timed records) added-at times that never decrease. Reports the
// first break and stops there: what follows cannot be trusted to add up.
struct ScannedRange {
  bool empty = true;
  uint64_t first_position = 0;
  uint64_t last_position = 0;
};

ScannedRange ScanRecords(const QueueReader& database,
                         rocksdb::ColumnFamilyHandle* items, size_t header_bytes, uint64_t from,
                         QueueCheck* check) {
  ScannedRange range;
  uint64_t payload_end = 0;  // The running total the next record must carry.
  uint64_t added = 0;
  std::unique_ptr<rocksdb::Iterator> it(database.db()->NewIterator(rocksdb::ReadOptions(), items));
  const EncodedKey from_key(from);
  for (it->Seek(KeySlice(from_key)); it->Valid(); it->Next()) {
    if (it->key().size() != kKeyBytes || it->value().size() < header_bytes) {
      check->damage.push_back("a record after position " + std::to_string(range.last_position) +
                              " has a malformed key or header");
      return range;
    }
    const uint64_t position = DecodeBigEndian64(it->key().data());
    const uint64_t payload_before = DecodeBigEndian64(it->value().data());
    const uint64_t added_at =
        header_bytes == kTimedRecordHeaderBytes ? DecodeBigEndian64(it->value().data() + 8) : 0;
    if (!range.empty) {
      if (position != range.last_position + 1) {
        check->damage.push_back("positions " + std::to_string(range.last_position + 1) + " to " +
                                std::to_string(position - 1) + " are missing between stored items");
        return range;
      }
      if (payload_before != payload_end) {
        check->damage.push_back("the item at position " + std::to_string(position) +
                                " says " + std::to_string(payload_before) +
                                " payload bytes came before it; the items before it add up to " +
                                std::to_string(payload_end));
        return range;
      }
      if (added_at < added) {
        check->damage.push_back("the element at position " + std::to_string(position) +
                                " was added before the one ahead of it");
        return range;
      }
    } else {
      range.empty = false;
      range.first_position = position;
    }
    range.last_position = position;
    payload_end = payload_before + (it->value().size() - header_bytes);
    added = added_at;
    ++check->records_checked;
  }
  if (!it->status().ok()) {
    check->damage.push_back("reading the items after position " +
                            std::to_string(range.last_position) + ": " + it->status().ToString());
  }
  return range;
}

// --- FIFO queue: fifo_items --------------------------------------------------

// Keys below the read cursor (cursor_file.h) are popped items whose keys are
// not deleted yet: the queue starts at the cursor or the first stored key.
void InspectFifo(const QueueReader& database, uint64_t read_cursor,
                 QueueSnapshot* snapshot) {
  snapshot->first_position = snapshot->end_position = read_cursor;
  FillFromRange(ReadStoredRange(database, database.family(0), kRecordHeaderBytes, read_cursor),
                snapshot);
}

std::vector<StoredItem> PeekFifo(const QueueReader& database, uint64_t read_cursor,
                                 size_t max_items, const std::string& label) {
  RefuseLabel(database.path(), label, QueueKindName(QueueKind::kFifo));
  return ReadItems(database, database.family(0), kRecordHeaderBytes,
                   read_cursor, max_items);
}

void CheckFifo(const QueueReader& database, QueueCheck* check) {
  uint64_t read_cursor = 0;
  try {
    read_cursor = CursorFile::Peek(database.path());
  } catch (const Error& error) {
    check->damage.push_back(std::string("the read cursor file (") + kCursorFileName +
                            ") is damaged: " + error.what());
  }
  const ScannedRange range =
      ScanRecords(database, database.family(0), kRecordHeaderBytes, read_cursor, check);
  // Nothing at or past the cursor. Popped keys may be left below it, not
  // deleted yet; but they are deleted from the first on, so the last one
  // left must lie just below the cursor.
  if (range.empty && read_cursor > 0) {
    std::unique_ptr<rocksdb::Iterator> it(
        database.db()->NewIterator(rocksdb::ReadOptions(), database.family(0)));
    it->SeekToLast();
    if (it->Valid() && it->key().size() == kKeyBytes &&
        DecodeBigEndian64(it->key().data()) + 1 < read_cursor) {
      check->damage.push_back("the read cursor (" + std::to_string(read_cursor) +
                              ") is past the last stored item (" +
                              std::to_string(DecodeBigEndian64(it->key().data())) + ")");
    }
  }
}

// --- MPMC queue: mpmc_items, mpmc_labels, mpmc_meta ---------------------------

// Where the deleted prefix ends (mpmc_queue.cc's first_live), and the
// payload bytes added before it.
struct FirstLive {
  uint64_t position = 0;
  uint64_t payload_before = 0;
};

FirstLive ReadFirstLive(const QueueReader& database) {
  FirstLive first_live;
  std::string value;
  rocksdb::Status found =
      database.db()->Get(rocksdb::ReadOptions(), database.family(2), kMpmcFirstLiveKey, &value);
  if (found.IsNotFound()) return first_live;
  if (!found.ok()) ThrowStatus(database.path(), "reading the first live position", found);
  if (value.size() != kMpmcFirstLiveBytes) {
    throw Error(ErrorKind::kCorruption, database.path(),
                "the first live position's record is malformed");
  }
  first_live.position = DecodeBigEndian64(value.data());
  first_live.payload_before = DecodeBigEndian64(value.data() + 8);
  return first_live;
}

std::vector<LabelPosition> ReadLabels(const QueueReader& database) {
  std::vector<LabelPosition> labels;
  std::unique_ptr<rocksdb::Iterator> it(
      database.db()->NewIterator(rocksdb::ReadOptions(), database.family(1)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    if (it->value().size() != kMpmcLabelBytes) {  // Any key, "" included, is a label.
      throw Error(ErrorKind::kCorruption, database.path(), "a label's record is malformed");
    }
    LabelPosition label;
    label.label = it->key().ToString();
    label.position = DecodeBigEndian64(it->value().data());
    labels.push_back(std::move(label));
  }
  if (!it->status().ok()) ThrowStatus(database.path(), "reading the labels", it->status());
  return labels;
}

void InspectMpmc(const QueueReader& database, uint64_t /*no cursor file*/,
                 QueueSnapshot* snapshot) {
  const FirstLive first_live = ReadFirstLive(database);
  const StoredRange range =
      ReadStoredRange(database, database.family(0), kTimedRecordHeaderBytes, first_live.position);
  // With nothing stored, positions go on from first_live, as on reopen.
  snapshot->first_position = snapshot->end_position = first_live.position;
  FillFromRange(range, snapshot);
  snapshot->oldest_added_micros = range.first_added_micros;
  snapshot->newest_added_micros = range.last_added_micros;
  snapshot->labels = ReadLabels(database);
  for (LabelPosition& label : snapshot->labels) {
    const uint64_t from = std::max(label.position, snapshot->first_position);
    label.unread = snapshot->end_position > from ? snapshot->end_position - from : 0;
  }
}

std::vector<StoredItem> PeekMpmc(const QueueReader& database,
                                 uint64_t /*no cursor file*/, size_t max_items,
                                 const std::string& label) {
  uint64_t from = ReadFirstLive(database).position;
  if (!label.empty()) {
    std::string value;
    rocksdb::Status found =
        database.db()->Get(rocksdb::ReadOptions(), database.family(1), label, &value);
    if (found.IsNotFound()) {
      throw Error(ErrorKind::kInvalidArgument, database.path(), "no label '" + label + "'");
    }
    if (!found.ok()) ThrowStatus(database.path(), "reading label '" + label + "'", found);
    if (value.size() != kKeyBytes) {
      throw Error(ErrorKind::kCorruption, database.path(), "a label's record is malformed");
    }
    from = std::max(from, DecodeBigEndian64(value.data()));
  }
  return ReadItems(database, database.family(0), kTimedRecordHeaderBytes, from, max_items);
}

void CheckMpmc(const QueueReader& database, QueueCheck* check) {
  FirstLive first_live;
  std::vector<LabelPosition> labels;
  try {
    first_live = ReadFirstLive(database);
    labels = ReadLabels(database);
  } catch (const Error& error) {
    check->damage.push_back(error.what());
    return;
  }
  const ScannedRange range = ScanRecords(database, database.family(0), kTimedRecordHeaderBytes,
                                         first_live.position, check);
  const uint64_t end = range.empty ? first_live.position : range.last_position + 1;
  for (const LabelPosition& label : labels) {
    if (label.position > end) {
      check->damage.push_back("label '" + label.label + "' reads from position " +
                              std::to_string(label.position) + ", past the last element (" +
                              std::to_string(end) + " is the next to be added)");
    }
  }
}

// --- Ack queue: ack_items, ack_failed, ack_meta -----------------------------

// The items that the ack log (ack_log.h) acks but that ack_items still
// holds: they no longer count. The log is read after the database opened,
// so it may be newer than the database's view when the queue's owner acks
// meanwhile: an id whose item the view lacks is skipped, and the figures
// are those of a moment, as for any queue in use.
struct LoggedAcks {
  std::unordered_set<uint64_t> ids;
  uint64_t payload_bytes = 0;
};

LoggedAcks ReadLoggedAcks(const QueueReader& database, const AckStoredState& state) {
  LoggedAcks logged;
  for (uint64_t id : AckLog::Peek(database.path(), state.removal.epoch).ids) {
    if (logged.ids.count(id) != 0) continue;
    const EncodedKey key(id);
    rocksdb::PinnableSlice record;
    rocksdb::Status read =
        database.db()->Get(rocksdb::ReadOptions(), database.family(0), KeySlice(key), &record);
    if (read.IsNotFound()) continue;
    if (!read.ok()) ThrowStatus(database.path(), "reading item " + std::to_string(id), read);
    if (record.size() < kRecordHeaderBytes) {
      throw Error(ErrorKind::kCorruption, database.path(), "an item's header is malformed");
    }
    logged.ids.insert(id);
    logged.payload_bytes += record.size() - kRecordHeaderBytes;
  }
  return logged;
}

AckStoredState ReadAckQueueState(const QueueReader& database) {
  return ReadAckState(database.db(), rocksdb::ReadOptions(), database.family(0),
                      database.family(1), database.family(2), database.path());
}

void InspectAck(const QueueReader& database, uint64_t /*no cursor file*/,
                QueueSnapshot* snapshot) {
  const AckStoredState state = ReadAckQueueState(database);
  const LoggedAcks logged = ReadLoggedAcks(database, state);
  snapshot->first_position = state.first_position;
  snapshot->end_position = state.write_cursor;
  snapshot->length = state.items - logged.ids.size() + state.failed_count;
  snapshot->payload_bytes =
      state.items_payload_bytes - logged.payload_bytes + state.failed_payload_bytes;
  snapshot->failed_length = state.failed_count;
  snapshot->failed_payload_bytes = state.failed_payload_bytes;
}

std::vector<StoredItem> PeekAck(const QueueReader& database,
                                uint64_t /*no cursor file*/, size_t max_items,
                                const std::string& label) {
  RefuseLabel(database.path(), label, QueueKindName(QueueKind::kAck));
  const LoggedAcks logged = ReadLoggedAcks(database, ReadAckQueueState(database));
  const size_t wanted =
      max_items > SIZE_MAX - logged.ids.size() ? SIZE_MAX : max_items + logged.ids.size();
  std::vector<StoredItem> items =
      ReadItems(database, database.family(0), kRecordHeaderBytes, 0, wanted);
  items.erase(std::remove_if(items.begin(), items.end(),
                             [&](const StoredItem& item) { return logged.ids.count(item.position) != 0; }),
              items.end());
  if (items.size() > max_items) items.resize(max_items);
  return items;
}

// Every record of ack_items and ack_failed, against the removal counts
// (ack_records.h), and the ack log's bytes (ack_log.h).
void CheckAck(const QueueReader& database, QueueCheck* check) {
  AckStoredState state;
  try {
    state = ReadAckQueueState(database);
  } catch (const Error& error) {
    check->damage.push_back(error.what());
    return;
  }
  uint64_t items = 0;
  uint64_t payload_bytes = 0;
  uint64_t payload_end = 0;  // Headers grow by at least each item's size.
  std::unique_ptr<rocksdb::Iterator> it(
      database.db()->NewIterator(rocksdb::ReadOptions(), database.family(0)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    if (it->key().size() != kKeyBytes || it->value().size() < kRecordHeaderBytes) {
      check->damage.push_back("an item's key or header is malformed");
      return;
    }
    const uint64_t id = DecodeBigEndian64(it->key().data());
    const uint64_t payload_before = DecodeBigEndian64(it->value().data());
    if (id >= state.write_cursor || payload_before < payload_end) {
      check->damage.push_back("item " + std::to_string(id) +
                              "'s record does not fit between the items around it");
      return;
    }
    payload_end = payload_before + (it->value().size() - kRecordHeaderBytes);
    ++items;
    payload_bytes += it->value().size() - kRecordHeaderBytes;
    ++check->records_checked;
  }
  if (!it->status().ok()) {
    check->damage.push_back("reading the items: " + it->status().ToString());
    return;
  }
  if (items != state.items || payload_bytes != state.items_payload_bytes) {
    check->damage.push_back(std::to_string(items) + " items of " +
                            std::to_string(payload_bytes) +
                            " payload bytes are stored, but the removal counts leave " +
                            std::to_string(state.items) + " of " +
                            std::to_string(state.items_payload_bytes));
  }
  std::unique_ptr<rocksdb::Iterator> failed(
      database.db()->NewIterator(rocksdb::ReadOptions(), database.family(1)));
  for (failed->SeekToFirst(); failed->Valid(); failed->Next()) {
    const uint64_t id = DecodeBigEndian64(failed->key().data());  // Sizes: ReadAckState.
    std::string ignored;
    rocksdb::Status also_ready =
        database.db()->Get(rocksdb::ReadOptions(), database.family(0), failed->key(), &ignored);
    if (id >= state.write_cursor || also_ready.ok()) {
      check->damage.push_back("failed item " + std::to_string(id) +
                              (also_ready.ok() ? " is also among the ready items"
                                               : " was never pushed"));
    }
    ++check->records_checked;
  }
  if (!failed->status().ok()) {
    check->damage.push_back("reading the failed items: " + failed->status().ToString());
  }
  try {
    const std::string log_damage = AckLog::DescribeDamage(database.path());
    if (!log_damage.empty()) check->damage.push_back(log_damage);
  } catch (const Error& error) {
    check->damage.push_back(error.what());
  }
}

// --- The kinds ------------------------------------------------------------------

// The read cursor (cursor_file.h) of a kind that keeps one is read before
// the database opens, so the database is at least as new as the cursor and
// every position at or past it is still stored there.
struct Inspector {
  QueueKind kind;
  const char* short_name;            // QueueSnapshot::kind.
  bool has_cursor_file;
  std::vector<std::string> families;  // Opened in this order: family(0), family(1), ...
  void (*inspect)(const QueueReader&, uint64_t read_cursor, QueueSnapshot*);
  std::vector<StoredItem> (*peek)(const QueueReader&, uint64_t read_cursor,
                                  size_t max_items, const std::string& label);
  void (*check)(const QueueReader&, QueueCheck*);
};

const std::vector<Inspector>& Inspectors() {
  static const std::vector<Inspector> inspectors = {
      {QueueKind::kFifo, "fifo", true, {kFifoItemsFamily}, &InspectFifo, &PeekFifo, &CheckFifo},
      {QueueKind::kMpmc, "mpmc", false,
       {kMpmcItemsFamily, kMpmcLabelsFamily, kMpmcMetaFamily}, &InspectMpmc, &PeekMpmc,
       &CheckMpmc},
      {QueueKind::kAck, "ack", false, {kAckItemsFamily, kAckFailedFamily, kAckMetaFamily},
       &InspectAck, &PeekAck, &CheckAck},
  };
  return inspectors;
}

const Inspector& InspectorFor(const std::string& path, const StoredQueue& stored) {
  for (const Inspector& inspector : Inspectors()) {
    if (inspector.kind == stored.kind) return inspector;
  }
  throw Error(ErrorKind::kNotAQueue, path,
              std::string("holds a RocksQ ") + QueueKindName(stored.kind) +
                  ", which this build cannot inspect yet");
}

}  // namespace

QueueSnapshot InspectQueue(const std::string& path) {
  const StoredQueue stored = ReadStoredQueue(path);
  const Inspector& inspector = InspectorFor(path, stored);
  const uint64_t read_cursor = inspector.has_cursor_file ? CursorFile::Peek(path) : 0;
  FileReport files = LoadFiles(path, inspector.families, /*verify_every_block=*/false);
  RequireFilesLoad(path, files);
  const std::unique_ptr<QueueReader> database = OpenReader(path, inspector.families, &files);
  QueueSnapshot snapshot;
  snapshot.path = path;
  snapshot.kind = inspector.short_name;
  snapshot.format_version = ReadFormatVersion(database->db(), path);
  snapshot.queue_id = ReadQueueId(database->db(), path);
  inspector.inspect(*database, read_cursor, &snapshot);
  snapshot.dropped_records = DroppedRecords(*database, files);
  snapshot.last_background_failure = BackgroundFailures::LastLogged(path);
  snapshot.disk_bytes = DirectoryBytes(path);
  return snapshot;
}

std::vector<StoredItem> PeekItems(const std::string& path, size_t max_items,
                                  const std::string& label) {
  const StoredQueue stored = ReadStoredQueue(path);
  const Inspector& inspector = InspectorFor(path, stored);
  const uint64_t read_cursor = inspector.has_cursor_file ? CursorFile::Peek(path) : 0;
  FileReport files = LoadFiles(path, inspector.families, /*verify_every_block=*/false);
  RequireFilesLoad(path, files);
  const std::unique_ptr<QueueReader> database = OpenReader(path, inspector.families, &files);
  return inspector.peek(*database, read_cursor, max_items, label);
}

QueueCheck CheckQueue(const std::string& path) {
  const StoredQueue stored = ReadStoredQueue(path);
  const Inspector& inspector = InspectorFor(path, stored);
  QueueCheck check;
  check.path = path;
  check.kind = inspector.short_name;
  FileReport files = LoadFiles(path, inspector.families, /*verify_every_block=*/true);
  if (!files.damage.ok()) {
    // What the queue's records say cannot be read past files that do not load.
    check.damage.push_back(DamageText(files));
    return check;
  }
  const std::unique_ptr<QueueReader> database = OpenReader(path, inspector.families, &files);
  check.format_version = ReadFormatVersion(database->db(), path);
  check.dropped_records = DroppedRecords(*database, files);
  inspector.check(*database, &check);
  return check;
}

}  // namespace rocksq
