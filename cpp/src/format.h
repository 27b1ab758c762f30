// RocksQ's on-disk format, shared by the queues that write it and by
// inspection (inspect.cc) that reads it: every file name, column family,
// key and value layout a queue's directory holds, and the format version.
// docs/format.rst describes it byte by byte, with the invariants and the
// recovery rules; this header is its code. Anything here that changes what
// an earlier release would read changes the format: see kFormatVersion.
//
// Layouts that are code rather than a struct say which function writes
// them. Every integer is unsigned and big-endian.

#ifndef ROCKSQ_SRC_FORMAT_H_
#define ROCKSQ_SRC_FORMAT_H_

#include <cstddef>
#include <cstdint>
#include <string>

namespace rocksq {

// --- The version -----------------------------------------------------------

// The default column family's key holding the format version, in decimal
// ASCII ("1"). Written, synced and flushed when a queue is created, before
// the queue is marked complete; read at every open and by inspection. It is
// the version's home: inside RocksDB, a migration changes it atomically
// with the records it rewrites. The marker repeats it (kQueueMarkerFile).
inline constexpr char kFormatKey[] = "rocksq.format";

// The format this build writes. A build opens a queue of this version or
// of an older one it knows how to migrate (none so far: version 1 is the
// first), and refuses a newer one with kUnsupportedFormat, writing nothing.
// The version changes only when a release writes something an earlier one
// would misread. Migrating then runs at open, holding RocksDB's lock, and
// writes the new version in the same synced WriteBatch as the last change
// it makes, so a crash leaves the old version (and a layout the migration
// can start over from) or the new one; the marker follows (kQueueMarkerFile).
inline constexpr uint64_t kFormatVersion = 1;

// The default column family's key holding the queue's identity: 32
// lowercase hex digits, 128 random bits, so that a queue re-created at the
// same path gets another (a bridge's deduplication ids build on it).
// Written in the same synced WriteBatch as kFormatKey when a queue is
// created. A queue an earlier release created has none: its first open by
// this one writes it, synced, before the open returns, so no caller ever
// sees an id that a crash could replace. Earlier releases ignore the key,
// so it does not change the format version.
inline constexpr char kQueueIdKey[] = "rocksq.queue_id";
inline constexpr size_t kQueueIdChars = 32;

// The default column family's key holding one line per open whose recovery
// dropped write-ahead log records: when, and what RocksDB found. Kept for
// good, so `rocksq check` and `rocksq stats` report it long after the open
// (written by storage.cc's NoteDroppedRecords).
inline constexpr char kRecoveryNotesKey[] = "rocksq.recovery_dropped";

// --- Files beside RocksDB's ---------------------------------------------------

// The markers (storage.cc: "A queue is recognised by a file of RocksQ's
// own"). Exactly one is present in a queue's directory: `rocksq.creating`
// while a creation or removal is under way (what it marks is deleted by
// the next open), `rocksq.queue` once the queue is complete. Both hold
//   "RocksQ queue\nkind: <fifo|mpmc|ack>\nformat: <version>\n"
// (written by storage.cc's WriteMarkerFile). The kind saves reading the
// column families; a format newer than this build's is refused before
// RocksDB opens (and writes) anything. A marker that says less defers to
// the column families and kFormatKey, and the next open rewrites it whole:
// to kQueueMarkerTempFile first, renamed over `rocksq.queue`.
inline constexpr char kQueueMarkerFile[] = "rocksq.queue";
inline constexpr char kCreatingMarkerFile[] = "rocksq.creating";
inline constexpr char kQueueMarkerTempFile[] = "rocksq.queue.new";

// The FIFO queue's read cursor (cursor_file.h): 16 bytes at offset 0, the
// position of the first item not popped, then its bitwise complement. All
// zeros (or an empty file) means no cursor stored.
inline constexpr char kCursorFileName[] = "rocksq.read_cursor";
inline constexpr size_t kCursorFileBytes = 16;

// The FIFO queue's pop records, in the same file from kPopRecordsOffset:
// kPopRecordSlots slots of kPopRecordBytes, eight 8-byte words each:
//   [client id][lane][seq][first position][count][cursor after][0]
//   [checksum: WordsChecksum of the seven words before it]
// A pop served to an attached process writes its record in a slot (which
// the lane keeps for its later pops), then the cursor: the record names
// the call (CallId, attach_wire.h) and the items it took, so that if the
// owner dies before its reply leaves, the owner that takes over answers
// the call's retry with the same items (fifo_queue.cc, "Hand-over"). A
// slot that does not check out is empty. The cursor read at open is the
// largest of the cursor and the records' "cursor after" (a record may be
// written and the cursor not, if the owner died between the two), so
// earlier releases, which read the cursor alone, read the queue right
// unless that happened. The slots are written (zeros) when a queue is
// first served to attached processes, so that no pop needs new disk space.
inline constexpr uint64_t kPopRecordsOffset = 4096;
inline constexpr size_t kPopRecordSlots = 1024;
inline constexpr size_t kPopRecordWords = 8;
inline constexpr size_t kPopRecordBytes = kPopRecordWords * 8;

// The ack queue's log of acks not applied yet (ack_log.h): records of
// 8-byte words, [epoch][count][id] * count [checksum], the checksum
// WordsChecksum over the 2 + count words before it.
inline constexpr char kAckLogFileName[] = "rocksq.ack_log";
inline constexpr size_t kAckLogWordBytes = 8;

// --- Integers, keys and item records ---------------------------------------------

inline void EncodeBigEndian64(uint64_t value, char* out) {
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(value & 0xff);
    value >>= 8;
  }
}

inline uint64_t DecodeBigEndian64(const char* in) {
  uint64_t value = 0;
  for (int i = 0; i < 8; ++i) value = (value << 8) | static_cast<unsigned char>(in[i]);
  return value;
}

// A 64-bit checksum of `words` big-endian words at `bytes`: it tells a whole
// record (of the ack log, or a pop record) from a torn or zeroed one (it is
// not meant against tampering). Nonzero for zeroed words, so zeros never
// check out.
inline uint64_t WordsChecksum(const char* bytes, size_t words) {
  uint64_t hash = 0x243F6A8885A308D3ull;
  for (size_t i = 0; i < words; ++i) {
    hash ^= DecodeBigEndian64(bytes + i * kAckLogWordBytes);
    hash *= 0x9E3779B97F4A7C15ull;
    hash ^= hash >> 31;
  }
  return hash;
}

// Every item family's key: the item's position, 8 bytes, so RocksDB's
// bytewise order is the queue's order. Positions start at 0, grow by one
// per item and are never reused.
inline constexpr size_t kKeyBytes = 8;

// A key's bytes, kept by value so a Slice over it can outlive a loop body.
struct EncodedKey {
  explicit EncodedKey(uint64_t position) { EncodeBigEndian64(position, bytes); }
  char bytes[kKeyBytes];
};

// An item record (FIFO and ack queues): [payload bytes pushed before this
// item: 8][the item's bytes]. The running total makes a queue's payload
// size two reads at open, with no counter that could disagree.
inline constexpr size_t kRecordHeaderBytes = 8;

// A timed record (MPMC queues): [payload bytes added before it: 8][added at,
// microseconds since 1970-01-01 UTC: 8][the element's bytes]. Added-at times
// never decrease with the position, so the expired elements are a prefix.
inline constexpr size_t kTimedRecordHeaderBytes = 16;

// --- Column families ----------------------------------------------------------------
// Each kind's families start with its own prefix ("fifo_", "mpmc_", "ack_"),
// so a directory's families tell its kind before it is opened (storage.cc).
// The default family holds kFormatKey, kQueueIdKey and kRecoveryNotesKey,
// in an ack queue its unique keys (below), and in a FIFO queue served to
// attached processes its push records (kPushRecordPrefix).

// FIFO queue: position -> item record. Its read cursor is in kCursorFileName.
inline constexpr char kFifoItemsFamily[] = "fifo_items";
// A FIFO queue's push records, in the default family: one per lane of an
// attached process that pushed (CallId, attach_wire.h),
//   kPushRecordPrefix + client id: 8 + lane: 4 -> [seq: 8][written at,
//   microseconds since 1970-01-01 UTC: 8],
// written in the same WriteBatch as the items of the lane's last push, so
// that a retry after a hand-over finds whether its push was stored. A
// record is deleted when its lane's connection ends, or, left by a process
// that died, by an open more than kPushRecordLifetimeSeconds after it was
// written. Earlier releases only read named keys of the default family,
// so the records need no new version.
inline constexpr char kPushRecordPrefix[] = "push_record:";
inline constexpr size_t kPushRecordKeyBytes = sizeof(kPushRecordPrefix) - 1 + 12;
inline constexpr size_t kPushRecordValueBytes = 16;
inline constexpr uint64_t kPushRecordLifetimeSeconds = 600;

// MPMC queue.
//   mpmc_items   position -> timed record.
//   mpmc_labels  label (its bytes, "" included) -> the next position it
//                reads: 8 bytes.
//   mpmc_marks   position -> [payload bytes added before it: 8][added-at of
//                its element: 8][bound: 8]: the first element of a segment,
//                whose elements were all added before `bound`.
//   mpmc_meta    kMpmcFirstLiveKey -> [position: 8][payload bytes added
//                before it: 8]: where the expired prefix deleted from disk
//                ends.
inline constexpr char kMpmcItemsFamily[] = "mpmc_items";
inline constexpr char kMpmcLabelsFamily[] = "mpmc_labels";
inline constexpr char kMpmcMarksFamily[] = "mpmc_marks";
inline constexpr char kMpmcMetaFamily[] = "mpmc_meta";
inline constexpr char kMpmcFirstLiveKey[] = "first_live";
inline constexpr size_t kMpmcLabelBytes = 8;
inline constexpr size_t kMpmcMarkBytes = 24;
inline constexpr size_t kMpmcFirstLiveBytes = 16;

// Ack queue.
//   ack_items   position (the item's id) -> item record: not acked or failed.
//   ack_failed  id -> item record: the failed items, moved from ack_items.
//   ack_meta    kAckRemovedKey -> RemovalMeta, rewritten in the same
//               WriteBatch as every removal from ack_items (never by a
//               push). Absent means all zeros.
// The acks in kAckLogFileName whose epoch is the meta's or later are not
// applied to ack_items yet. ack_records.h derives the counts.
// The default family also holds the ack queue's unique keys
// (AckQueue::PushUnique), written in the same WriteBatch as the items they
// admit:
//   kAckUniqueKeyPrefix + key -> its number: 8 bytes;
//   kAckUniqueOrderPrefix + number: 8 bytes -> the key.
// Numbers count the keys from 0 in the order they were stored; the stored
// ones are a range of them, the newest AckOptions::dedup_window: a write
// that adds keys past it deletes the oldest in the same batch. They are not
// in ack_meta, which the reclaimer compacts whole. Earlier releases only
// read named keys of the default family, so the index needs no new version.
inline constexpr char kAckItemsFamily[] = "ack_items";
inline constexpr char kAckFailedFamily[] = "ack_failed";
inline constexpr char kAckMetaFamily[] = "ack_meta";
inline constexpr char kAckRemovedKey[] = "removed";
inline constexpr char kAckUniqueKeyPrefix[] = "unique_key:";
inline constexpr char kAckUniqueOrderPrefix[] = "unique_order:";
inline constexpr size_t kAckMetaBytes = 40;
// Written before the ack log existed, with no epoch (read as epoch 0).
inline constexpr size_t kAckMetaBytesBeforeEpoch = 32;

// The ack_meta value: five 8-byte words in this order.
struct RemovalMeta {
  // Positions below the write cursor no longer in ack_items (acked and
  // applied, or failed), and their items' payload bytes (modulo 2^64).
  uint64_t removed_count = 0;
  uint64_t removed_payload_bytes = 0;
  // The write cursor, and the payload bytes pushed before it, when this
  // value was written: they tell where positions go on once the last items
  // pushed are all removed.
  uint64_t write_mark = 0;
  uint64_t pushed_at_mark = 0;
  // How many times the ack log was applied; it retires the log's records
  // of earlier epochs.
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

}  // namespace rocksq

#endif  // ROCKSQ_SRC_FORMAT_H_
