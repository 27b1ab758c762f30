#include "age_marks.h"

#include <chrono>

#include "gtest/gtest.h"

namespace rocksq {
namespace {

using std::chrono::milliseconds;
using Clock = AgeMarks::Clock;

int64_t Micros(Clock::duration duration) {
  return std::chrono::duration_cast<std::chrono::microseconds>(duration).count();
}

const Clock::time_point kOpened = Clock::time_point() + std::chrono::hours(1);

TEST(AgeMarksTest, OldestItemCountsFromTheNewestMarkAtOrBelowIt) {
  AgeMarks marks(/*first_new_position=*/0, kOpened);
  marks.NoteWrite(0, kOpened + milliseconds(100), 0);  // Items 0..9.
  marks.NoteWrite(10, kOpened + milliseconds(200), 0);
  const Clock::time_point now = kOpened + milliseconds(1000);
  EXPECT_EQ(marks.AgeOf(0, now).micros, Micros(milliseconds(900)));
  EXPECT_FALSE(marks.AgeOf(0, now).lower_bound);
  EXPECT_EQ(marks.AgeOf(9, now).micros, Micros(milliseconds(900)));
  EXPECT_EQ(marks.AgeOf(10, now).micros, Micros(milliseconds(800)));
  EXPECT_EQ(marks.AgeOf(15, now).micros, Micros(milliseconds(800)));
}

TEST(AgeMarksTest, WritesWithinTheIntervalLeaveNoMarkAndCountFromTheOlderOne) {
  AgeMarks marks(0, kOpened);
  marks.NoteWrite(0, kOpened + milliseconds(100), 0);
  marks.NoteWrite(5, kOpened + milliseconds(105), 0);  // Under 10 ms later: no mark.
  marks.NoteWrite(8, kOpened + milliseconds(110), 0);  // 10 ms: a mark.
  EXPECT_EQ(marks.size(), 2u);
  const Clock::time_point now = kOpened + milliseconds(200);
  EXPECT_EQ(marks.AgeOf(5, now).micros, Micros(milliseconds(100)));
  EXPECT_EQ(marks.AgeOf(8, now).micros, Micros(milliseconds(90)));
}

TEST(AgeMarksTest, ItemsStoredBeforeTheOpenAreAtLeastTheOpenOld) {
  AgeMarks marks(/*first_new_position=*/50, kOpened);
  marks.NoteWrite(50, kOpened + milliseconds(100), 0);
  const Clock::time_point now = kOpened + milliseconds(3000);
  const ItemAge old_item = marks.AgeOf(49, now);
  EXPECT_EQ(old_item.micros, Micros(milliseconds(3000)));
  EXPECT_TRUE(old_item.lower_bound);
  const ItemAge new_item = marks.AgeOf(50, now);
  EXPECT_EQ(new_item.micros, Micros(milliseconds(2900)));
  EXPECT_FALSE(new_item.lower_bound);
}

TEST(AgeMarksTest, MarksTheOldestItemPassedAreDroppedByWritesAndByReads) {
  AgeMarks marks(0, kOpened);
  for (uint64_t i = 0; i < 10; ++i) marks.NoteWrite(i * 10, kOpened + milliseconds(10 * i), 0);
  EXPECT_EQ(marks.size(), 10u);
  // The oldest stored item is 35: the mark at 30 still dates it.
  marks.NoteWrite(100, kOpened + milliseconds(100), /*oldest_position=*/35);
  EXPECT_EQ(marks.size(), 8u);  // 30, 40, ..., 90, 100.
  EXPECT_EQ(marks.AgeOf(35, kOpened + milliseconds(100)).micros, Micros(milliseconds(70)));
  EXPECT_EQ(marks.AgeOf(90, kOpened + milliseconds(100)).micros, Micros(milliseconds(10)));
  EXPECT_EQ(marks.size(), 2u);
}

TEST(AgeMarksTest, StaysBoundedWhateverTheRateAndErrsOld) {
  AgeMarks marks(0, kOpened);
  const uint64_t writes = 10 * AgeMarks::kMaxMarks;
  for (uint64_t i = 0; i < writes; ++i) {
    marks.NoteWrite(i, kOpened + milliseconds(10 * i), /*oldest_position=*/0);
    ASSERT_LE(marks.size(), AgeMarks::kMaxMarks);
  }
  const Clock::time_point now = kOpened + milliseconds(10 * writes);
  // The first mark stays; a thinned-out item counts from an older mark.
  EXPECT_EQ(marks.AgeOf(0, now).micros, Micros(now - kOpened));
  const uint64_t middle = writes / 2 + 1;
  const ItemAge age = marks.AgeOf(middle, now);
  EXPECT_GE(age.micros, Micros(now - (kOpened + milliseconds(10 * middle))));
  EXPECT_LE(age.micros, Micros(now - (kOpened + milliseconds(10 * middle))) +
                            Micros(milliseconds(10 * 64)));
}

TEST(AgeMarksTest, NothingWrittenSinceTheOpenIsUnknownAtOrPastIt) {
  AgeMarks marks(/*first_new_position=*/7, kOpened);
  EXPECT_EQ(marks.AgeOf(7, kOpened + milliseconds(5)).micros, -1);
}

}  // namespace
}  // namespace rocksq
