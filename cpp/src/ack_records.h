// How an ack queue is stored, and how its counts are read back: shared by
// the queue (ack_queue.cc) and by inspection (inspect.cc), so both derive
// the same numbers from the same bytes.

#ifndef ROCKSQ_SRC_ACK_RECORDS_H_
#define ROCKSQ_SRC_ACK_RECORDS_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "record.h"
#include "rocksdb/db.h"
#include "rocksdb/options.h"

namespace rocksq {

// How an ack queue is stored.
//
// "ack_items": the items not yet acked or failed, keyed and encoded as a
// FIFO queue's (record.h): positions assigned in push order by group commit,
// each record headed by the running total of payload bytes pushed before
// it. An item's id is its position. Positions are never reused: they go on
// from the last one across reopens, even when the family is empty.
//
// "ack_failed": the failed items, under the same key (their id) with the
// same record, moved there from ack_items by AckFailed.
//
// "ack_meta": one key, kRemovedKey, whose 40-byte value is five 8-byte
// big-endian numbers:
//   [removed_count][removed_payload_bytes][write_mark][pushed_at_mark][epoch]
// removed_count is the number of positions below the write cursor that are
// no longer in ack_items (acked, or moved to ack_failed), removed_payload_bytes
// the sum of their items' sizes (modulo 2^64); write_mark and pushed_at_mark
// are the write cursor and the payload bytes pushed before it when the value
// was written; epoch counts the times the ack log was applied (ack_log.h).
// Absent means all 0 (a 32-byte value, from before the ack log: epoch 0).
// Pushes do not touch it (they stay as cheap as a FIFO queue's); every
// write that removes items from ack_items rewrites it in the same
// WriteBatch, so it always agrees with the items.
//
// The file rocksq.ack_log (ack_log.h) holds acks not yet applied: an ack
// appends its ids there, and the queue applies them in bulk, at open and at
// close: one WriteBatch deletes their keys and rewrites the meta with the
// next epoch, which retires the log's records. Until then, their items are
// still in ack_items: the counts below describe the families alone, and a
// reader subtracts the log's records of the meta's epoch.
// The marks are needed because an ack may delete the last item: then the
// last stored record no longer tells where positions go on. At open:
//   last position + 1 >= write_mark (or ack_items holds none):
//     write cursor = last position + 1, payload pushed = last header + size
//     (the last item was pushed after the last removal)
//   otherwise (the last items pushed were all removed since, the last
//   removal among them):
//     write cursor = write_mark, payload pushed = pushed_at_mark
//   items stored in ack_items = write cursor - removed_count
//   their payload bytes       = payload pushed - removed_payload_bytes
// A removal's marks are at least one past every position it removes (an
// item is pushed, hence counted, before it is handed out), and marks never
// decrease, so the rule above finds the true write cursor.
// ack_failed is small: it is counted by reading it through at open.
//
// Which items are handed out is not stored: after a reopen every item in
// ack_items is ready, and the read cursor starts at the first of them.
inline constexpr char kAckItemsFamily[] = "ack_items";
inline constexpr char kAckFailedFamily[] = "ack_failed";
inline constexpr char kAckMetaFamily[] = "ack_meta";
inline constexpr char kAckRemovedKey[] = "removed";
inline constexpr size_t kAckMetaBytes = 40;
inline constexpr size_t kAckMetaBytesBeforeEpoch = 32;

// The ack_meta value.
struct RemovalMeta {
  uint64_t removed_count = 0;
  uint64_t removed_payload_bytes = 0;
  uint64_t write_mark = 0;
  uint64_t pushed_at_mark = 0;
  uint64_t epoch = 0;

  void Encode(char (&value)[kAckMetaBytes]) const {
    EncodeBigEndian64(removed_count, value);
    EncodeBigEndian64(removed_payload_bytes, value + 8);
    EncodeBigEndian64(write_mark, value + 16);
    EncodeBigEndian64(pushed_at_mark, value + 24);
    EncodeBigEndian64(epoch, value + 32);
  }

  // `value` is kAckMetaBytes or kAckMetaBytesBeforeEpoch long.
  static RemovalMeta Decode(const std::string& value) {
    RemovalMeta meta;
    meta.removed_count = DecodeBigEndian64(value.data());
    meta.removed_payload_bytes = DecodeBigEndian64(value.data() + 8);
    meta.write_mark = DecodeBigEndian64(value.data() + 16);
    meta.pushed_at_mark = DecodeBigEndian64(value.data() + 24);
    if (value.size() >= kAckMetaBytes) meta.epoch = DecodeBigEndian64(value.data() + 32);
    return meta;
  }
};

// What an ack queue's families hold, derived by the rule above.
struct AckStoredState {
  RemovalMeta removal;
  uint64_t write_cursor = 0;
  uint64_t pushed_total = 0;         // Payload bytes pushed before write_cursor.
  uint64_t first_position = 0;       // Of the first item in ack_items (or write_cursor).
  uint64_t items = 0;                // In ack_items.
  uint64_t items_payload_bytes = 0;
  uint64_t failed_count = 0;         // In ack_failed.
  uint64_t failed_payload_bytes = 0;
};

// Reads the state of the ack queue whose families are `items`, `failed` and
// `meta` in `db`; throws kCorruption (naming `path`) if the records
// disagree, kStorage if RocksDB cannot read them.
AckStoredState ReadAckState(rocksdb::DB* db, const rocksdb::ReadOptions& read_options,
                            rocksdb::ColumnFamilyHandle* items,
                            rocksdb::ColumnFamilyHandle* failed,
                            rocksdb::ColumnFamilyHandle* meta, const std::string& path);

}  // namespace rocksq

#endif  // ROCKSQ_SRC_ACK_RECORDS_H_
