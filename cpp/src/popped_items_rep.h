// The storage behind rocksq::PoppedItems: RocksDB's pinned values.

#ifndef ROCKSQ_SRC_POPPED_ITEMS_REP_H_
#define ROCKSQ_SRC_POPPED_ITEMS_REP_H_

#include <cstddef>
#include <memory>
#include <vector>

#include "rocksdb/cache.h"
#include "rocksdb/slice.h"
#include "rocksq/popped_items.h"

namespace rocksq {

// Each value is a stored record (see record.h); the item is the record minus
// its header, so the views skip `header_bytes` of every value.
struct PoppedItems::Rep {
  // Declared first so it is destroyed last: the values may pin blocks of
  // this cache, and must release them while it exists, even if the queue
  // and its database were closed first.
  std::shared_ptr<rocksdb::Cache> block_cache;
  std::vector<rocksdb::PinnableSlice> values;
  size_t header_bytes = 0;
  size_t payload_bytes = 0;
};

}  // namespace rocksq

#endif  // ROCKSQ_SRC_POPPED_ITEMS_REP_H_
