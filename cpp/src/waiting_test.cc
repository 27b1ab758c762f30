// PollFor (waiting.h): the attach transport's brief polling before it sleeps.

#include "waiting.h"

#include <gtest/gtest.h>

namespace rocksq {
namespace {

TEST(PollForTest, StopsAtTheFirstTrueAnswer) {
  int asked = 0;
  EXPECT_TRUE(PollFor(std::chrono::seconds(60), [&] { return ++asked == 3; }));
  EXPECT_EQ(asked, 3);
}

TEST(PollForTest, GivesUpAfterItsSpanWithTheLastAnswer) {
  int asked = 0;
  EXPECT_FALSE(PollFor(std::chrono::microseconds(200), [&] {
    ++asked;
    return false;
  }));
  EXPECT_GE(asked, 2);  // Asked at the start and once more at the end at least.
}

TEST(PollForTest, AZeroSpanAsksOnce) {
  int asked = 0;
  EXPECT_FALSE(PollFor(std::chrono::microseconds(0), [&] {
    ++asked;
    return false;
  }));
  EXPECT_EQ(asked, 1);
}

}  // namespace
}  // namespace rocksq
