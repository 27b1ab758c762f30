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

TEST(AdaptivePollTest, AfterAMissTheNextWaitsSleepAtOnceThenItPollsAgain) {
  AdaptivePoll poll(std::chrono::microseconds(100));
  int asked = 0;
  const auto never = [&] {
    ++asked;
    return false;
  };
  EXPECT_FALSE(poll(never));  // A miss.
  asked = 0;
  for (int wait = 0; wait < 16; ++wait) EXPECT_FALSE(poll(never));
  EXPECT_EQ(asked, 0);  // Those waits did not poll.
  EXPECT_TRUE(poll([&] { return ++asked == 2; }));
  EXPECT_EQ(asked, 2);
  EXPECT_TRUE(poll([] { return true; }));  // A hit keeps it polling.
}

}  // namespace
}  // namespace rocksq
