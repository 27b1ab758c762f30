// How old the oldest item of a FIFO or ack queue is. Their records carry
// no time (format.h), and the on-disk format stays as it is, so the owner
// keeps marks in memory instead (docs/design/many-processes.md, "Stats"):
// each mark is the position of the first item of a committed write and
// when that write committed, at most one per kMarkInterval. Every item at
// or after a mark's position was stored at or after its time, so the
// oldest item's age is the time since the newest mark at or below it: too
// old by at most kMarkInterval plus one write's duration, never too young.
// Items stored before this process opened the queue have no mark: their
// age is at least the time since the open, and says so (lower_bound).
//
// Memory stays bounded whatever the push rate: marks the oldest item has
// passed are dropped, and past kMaxMarks every other mark goes (each item
// then counts from an older mark: its age errs further, on the old side).
//
// Thread safety: NoteWrite calls are serialised by the caller (the group
// commit's lock); AgeOf may run at any time, from any thread.

#ifndef ROCKSQ_SRC_AGE_MARKS_H_
#define ROCKSQ_SRC_AGE_MARKS_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>

namespace rocksq {

// The oldest item's age as its owner knows it.
struct ItemAge {
  // Microseconds since the item was stored; -1 if unknown (none stored).
  int64_t micros = -1;
  // The item was stored before the owner opened the queue: `micros` is the
  // time since the open, and the item is at least that old.
  bool lower_bound = false;
};

class AgeMarks {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr Clock::duration kMarkInterval = std::chrono::milliseconds(10);
  // 16 bytes each: 16 KiB at most.
  static constexpr size_t kMaxMarks = 1024;

  // Positions below `first_new_position` were stored before `opened`.
  AgeMarks(uint64_t first_new_position, Clock::time_point opened)
      : first_new_position_(first_new_position), opened_(opened) {}
  AgeMarks(const AgeMarks&) = delete;
  AgeMarks& operator=(const AgeMarks&) = delete;

  // A write whose first item is at `position` committed at `committed`
  // (positions and times ascend from call to call). Marks it unless the
  // last mark is younger than kMarkInterval. Marks below `oldest_position`
  // (the oldest item still stored, or any position at or below it) are
  // dropped first.
  void NoteWrite(uint64_t position, Clock::time_point committed, uint64_t oldest_position);

  // The age at `now` of the item at `oldest_position`, the oldest stored
  // (positions only grow from call to call: the marks below it go).
  ItemAge AgeOf(uint64_t oldest_position, Clock::time_point now);

  size_t size() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return marks_.size();
  }

 private:
  struct Mark {
    uint64_t position;
    Clock::time_point time;
  };
  // Keeps the newest mark at or below `oldest_position`, and those above it.
  void DropPassed(uint64_t oldest_position);  // Needs mutex_.

  const uint64_t first_new_position_;
  const Clock::time_point opened_;
  bool marked_ = false;             // NoteWrite's own: no lock needed.
  Clock::time_point last_mark_{};   // NoteWrite's own.
  mutable std::mutex mutex_;
  std::deque<Mark> marks_;  // Guarded by mutex_; ascending.
};

}  // namespace rocksq

#endif  // ROCKSQ_SRC_AGE_MARKS_H_
