// Items returned by a pop, read in place from RocksDB's memory.

#ifndef ROCKSQ_POPPED_ITEMS_H_
#define ROCKSQ_POPPED_ITEMS_H_

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace rocksq {

// The items one Pop() returned, oldest first. The bytes stay pinned in
// RocksDB's memtable or block cache until this object is destroyed, so
// callers copy each item once, straight to where it is needed (a Python
// bytes object, a socket); the string_views are valid as long as this
// object lives. Movable, not copyable.
class PoppedItems {
 public:
  PoppedItems() noexcept;
  PoppedItems(PoppedItems&&) noexcept;
  PoppedItems& operator=(PoppedItems&&) noexcept;
  ~PoppedItems();

  size_t size() const noexcept;
  bool empty() const noexcept { return size() == 0; }
  // Throws std::out_of_range if index >= size().
  std::string_view operator[](size_t index) const;

  // Sum of the items' sizes, in bytes.
  size_t payload_bytes() const noexcept;

  // Copies item `index` out.
  std::string ToString(size_t index) const { return std::string((*this)[index]); }

  // Items that own their bytes: a copy of `items`. For implementations of
  // the queue interfaces that do not read from RocksDB (a test double, a
  // queue reached through another process).
  static PoppedItems Copy(const std::vector<std::string_view>& items);

  struct Rep;  // Defined by the implementation.
  explicit PoppedItems(std::unique_ptr<Rep> rep) noexcept;

 private:
  std::unique_ptr<Rep> rep_;
};

}  // namespace rocksq

#endif  // ROCKSQ_POPPED_ITEMS_H_
