#include "age_marks.h"

#include <algorithm>

namespace rocksq {

void AgeMarks::NoteWrite(uint64_t position, Clock::time_point committed,
                         uint64_t oldest_position) {
  if (marked_ && committed - last_mark_ < kMarkInterval) return;
  marked_ = true;
  last_mark_ = committed;
  std::lock_guard<std::mutex> lock(mutex_);
  DropPassed(oldest_position);
  if (marks_.size() >= kMaxMarks) {
    // Keeps the even ones, the oldest among them: what lay between two
    // kept marks counts from the older.
    size_t kept = 0;
    for (size_t i = 0; i < marks_.size(); i += 2) marks_[kept++] = marks_[i];
    marks_.resize(kept);
  }
  marks_.push_back({position, committed});
}

ItemAge AgeMarks::AgeOf(uint64_t oldest_position, Clock::time_point now) {
  ItemAge age;
  Clock::time_point stored;
  if (oldest_position < first_new_position_) {
    stored = opened_;
    age.lower_bound = true;
  } else {
    std::lock_guard<std::mutex> lock(mutex_);
    DropPassed(oldest_position);
    // Every write since the open left a mark at or below its first item.
    if (marks_.empty() || marks_.front().position > oldest_position) return age;
    stored = marks_.front().time;
  }
  age.micros = std::max<int64_t>(
      0, std::chrono::duration_cast<std::chrono::microseconds>(now - stored).count());
  return age;
}

void AgeMarks::DropPassed(uint64_t oldest_position) {
  while (marks_.size() >= 2 && marks_[1].position <= oldest_position) marks_.pop_front();
}

}  // namespace rocksq
