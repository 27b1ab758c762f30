// How an ack queue's counts are read back from its families: shared by the
// queue (ack_queue.cc) and by inspection (inspect.cc), so both derive the
// same numbers from the same bytes.

#ifndef ROCKSQ_SRC_ACK_RECORDS_H_
#define ROCKSQ_SRC_ACK_RECORDS_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "format.h"
#include "rocksdb/db.h"
#include "rocksdb/options.h"

namespace rocksq {

// The families and the ack_meta value are in format.h. Their counts are
// derived from two records and the meta (docs/format.rst, "Ack queue"):
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
// decrease, so the rule finds the true write cursor. ack_failed is small:
// it is counted by reading it through. The acks in the ack log are not
// applied yet: these counts describe the families alone, and a reader
// subtracts the log's records of the meta's epoch.

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
