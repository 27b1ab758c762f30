#include "ack_records.h"

#include <memory>

#include "rocksq/error.h"
#include "storage.h"

namespace rocksq {

AckStoredState ReadAckState(rocksdb::DB* db, const rocksdb::ReadOptions& read_options,
                            rocksdb::ColumnFamilyHandle* items,
                            rocksdb::ColumnFamilyHandle* failed,
                            rocksdb::ColumnFamilyHandle* meta, const std::string& path) {
  RemovalMeta removal;
  std::string meta_value;
  rocksdb::Status found = db->Get(read_options, meta, kAckRemovedKey, &meta_value);
  if (found.ok()) {
    if (meta_value.size() != kAckMetaBytes && meta_value.size() != kAckMetaBytesBeforeEpoch) {
      throw Error(ErrorKind::kCorruption, path, "the removal counts are malformed");
    }
    removal = RemovalMeta::Decode(meta_value);
  } else if (!found.IsNotFound()) {
    ThrowStatus(path, "reading the removal counts", found);
  }

  uint64_t write_cursor = removal.write_mark;
  uint64_t pushed_total = removal.pushed_at_mark;
  uint64_t first_position = write_cursor;
  uint64_t pushed_before_first = pushed_total;
  uint64_t span = 0;  // Positions from the first stored item to the last.
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(read_options, items));
  it->SeekToFirst();
  if (!it->Valid()) {
    if (!it->status().ok()) ThrowStatus(path, "reading the first item", it->status());
  } else {
    auto check_record = [&](const char* which) {
      if (it->key().size() != kKeyBytes || it->value().size() < kRecordHeaderBytes) {
        throw Error(ErrorKind::kCorruption, path,
                    std::string("the ") + which + " item's key or header is malformed");
      }
    };
    check_record("first");
    first_position = DecodeBigEndian64(it->key().data());
    pushed_before_first = DecodeBigEndian64(it->value().data());
    it->SeekToLast();
    if (!it->Valid()) ThrowStatus(path, "reading the last item", it->status());
    check_record("last");
    const uint64_t last_position = DecodeBigEndian64(it->key().data());
    if (last_position < first_position) {
      throw Error(ErrorKind::kCorruption, path, "the first and last items' keys disagree");
    }
    span = last_position - first_position + 1;
    if (last_position + 1 >= removal.write_mark) {
      write_cursor = last_position + 1;
      pushed_total =
          DecodeBigEndian64(it->value().data()) + (it->value().size() - kRecordHeaderBytes);
    }
  }
  const uint64_t stored = write_cursor - removal.removed_count;  // If consistent.
  const uint64_t payload = pushed_total - removal.removed_payload_bytes;
  if (removal.removed_count > write_cursor || stored > span || (span != 0 && stored == 0) ||
      pushed_total < pushed_before_first || payload > pushed_total - pushed_before_first) {
    throw Error(ErrorKind::kCorruption, path, "the stored items and the removal counts disagree");
  }
  AckStoredState state;
  state.removal = removal;
  state.write_cursor = write_cursor;
  state.pushed_total = pushed_total;
  state.first_position = first_position;
  state.items = stored;
  state.items_payload_bytes = payload;

  uint64_t failed_count = 0;
  uint64_t failed_bytes = 0;
  std::unique_ptr<rocksdb::Iterator> failed_it(db->NewIterator(read_options, failed));
  for (failed_it->SeekToFirst(); failed_it->Valid(); failed_it->Next()) {
    if (failed_it->key().size() != kKeyBytes || failed_it->value().size() < kRecordHeaderBytes) {
      throw Error(ErrorKind::kCorruption, path, "a failed item's key or header is malformed");
    }
    ++failed_count;
    failed_bytes += failed_it->value().size() - kRecordHeaderBytes;
  }
  if (!failed_it->status().ok()) ThrowStatus(path, "reading failed items", failed_it->status());
  state.failed_count = failed_count;
  state.failed_payload_bytes = failed_bytes;
  return state;
}

}  // namespace rocksq
