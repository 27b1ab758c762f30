// How items are laid out in RocksDB. Every queue kind uses these encodings.
//
// Key: the item's position as an 8-byte big-endian unsigned integer, so
// RocksDB's bytewise key order is the queue's order, and a range of
// positions is a contiguous key range. Positions start at 0 and grow by one
// per item; the write cursor is one past the last stored key, so it needs
// no key of its own. (The FIFO queue keeps its read cursor in a file of its
// own, cursor_file.h; the MPMC queue's oldest element is its first key.)
//
// Value: an 8-byte big-endian header holding the number of payload bytes
// pushed before this item (a running total), then the item's bytes. The
// payload size of a non-empty queue is therefore
//   (header of last item + size of last item) - header of first unread item,
// two reads at open, with no counter written beside the items: the totals
// can never disagree with the items because they are part of them.
//
// MPMC queues (mpmc_queue.cc) store timed records: the same running total,
// then the time the element was added, then its bytes:
//   [payload bytes added before it: 8, big-endian]
//   [added at, microseconds since 1970-01-01 UTC on the system clock: 8, big-endian]
//   [the element's bytes]
// Added-at times never decrease from one position to the next (an add takes
// the later of the clock and the previous add's time), so the elements that
// have expired are always a prefix of the stored ones.

#ifndef ROCKSQ_SRC_RECORD_H_
#define ROCKSQ_SRC_RECORD_H_

#include <cstddef>
#include <cstdint>

namespace rocksq {

inline constexpr size_t kKeyBytes = 8;
inline constexpr size_t kRecordHeaderBytes = 8;
inline constexpr size_t kTimedRecordHeaderBytes = 16;

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

// A key's bytes, kept by value so a Slice over it can outlive a loop body.
struct EncodedKey {
  explicit EncodedKey(uint64_t position) { EncodeBigEndian64(position, bytes); }
  char bytes[kKeyBytes];
};

}  // namespace rocksq

#endif  // ROCKSQ_SRC_RECORD_H_
