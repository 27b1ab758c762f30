// The storage behind rocksq::PoppedItems: RocksDB's pinned values, or
// copies read through an iterator.

#ifndef ROCKSQ_SRC_POPPED_ITEMS_REP_H_
#define ROCKSQ_SRC_POPPED_ITEMS_REP_H_

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "rocksdb/cache.h"
#include "rocksdb/slice.h"
#include "rocksq/popped_items.h"

namespace rocksq {

struct PoppedItems::Rep {
  // Declared first so it is destroyed last: the values may pin blocks of
  // this cache, and must release them while it exists, even if the queue
  // and its database were closed first.
  std::shared_ptr<rocksdb::Cache> block_cache;

  // Either pinned values, each a stored record (see format.h) whose item is
  // the record minus its first `header_bytes`...
  std::vector<rocksdb::PinnableSlice> values;
  size_t header_bytes = 0;
  // ...or the items themselves, back to back in `copied` from
  // `copied_begin`, item i ending at copied_ends[i] (copies, or the reply
  // an attached queue received, kept whole).
  std::string copied;
  size_t copied_begin = 0;
  std::vector<size_t> copied_ends;

  size_t payload_bytes = 0;

  size_t size() const { return values.empty() ? copied_ends.size() : values.size(); }

  std::string_view item(size_t index) const {
    if (values.empty()) {
      const size_t begin = index == 0 ? copied_begin : copied_ends[index - 1];
      return std::string_view(copied.data() + begin, copied_ends[index] - begin);
    }
    const rocksdb::PinnableSlice& value = values[index];
    return std::string_view(value.data() + header_bytes, value.size() - header_bytes);
  }
};

}  // namespace rocksq

#endif  // ROCKSQ_SRC_POPPED_ITEMS_REP_H_
