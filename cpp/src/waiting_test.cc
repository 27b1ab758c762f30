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

// How many waits sleep at once before `poll` polls again (and misses).
int SleepsBeforeItPollsAgain(AdaptivePoll* poll) {
  int sleeps = 0;
  for (bool polled = false; !polled;) {
    (*poll)([&] {
      polled = true;
      return false;
    });
    if (!polled) ++sleeps;
  }
  return sleeps;
}

TEST(AdaptivePollTest, EachFurtherMissDoublesTheSleepsUpTo1024AndAHitStartsAgain) {
  AdaptivePoll poll(std::chrono::microseconds(1));
  EXPECT_FALSE(poll([] { return false; }));  // A first miss.
  EXPECT_EQ(SleepsBeforeItPollsAgain(&poll), 16);
  EXPECT_EQ(SleepsBeforeItPollsAgain(&poll), 32);
  EXPECT_EQ(SleepsBeforeItPollsAgain(&poll), 64);
  for (int miss = 0; miss < 4; ++miss) SleepsBeforeItPollsAgain(&poll);
  EXPECT_EQ(SleepsBeforeItPollsAgain(&poll), 1024);
  EXPECT_EQ(SleepsBeforeItPollsAgain(&poll), 1024);
  for (int wait = 0; wait < 1024; ++wait) poll([] { return false; });
  EXPECT_TRUE(poll([] { return true; }));  // A hit...
  EXPECT_FALSE(poll([] { return false; }));
  EXPECT_EQ(SleepsBeforeItPollsAgain(&poll), 16);  // ...starts the count again.
}

}  // namespace
}  // namespace rocksq
