// The waiting side of the FIFO queue's public API: PopWait, PushWait,
// PushBatchWait and the change listener.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "rocksq/rocksq.h"
#include "test_util.h"

namespace {

using rocksq::ErrorKind;
using rocksq::testing::KindThrownBy;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

class FifoQueueWait : public rocksq::testing::TempDirTest {
 protected:
  std::unique_ptr<rocksq::FifoQueue> Open(uint64_t max_elements = 1000) {
    rocksq::FifoOptions options;
    options.max_elements = max_elements;
    return rocksq::FifoQueue::Open(QueuePath(), options);
  }
};

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

TEST_F(FifoQueueWait, PopWaitReturnsAtOnceWhenAnItemIsStored) {
  auto queue = Open();
  queue->Push("ready");
  const auto start = Clock::now();
  rocksq::PoppedItems items = queue->PopWait(5, 10s);
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0], "ready");
  EXPECT_LT(SecondsSince(start), 1.0);
}

TEST_F(FifoQueueWait, PopWaitReturnsNothingAfterItsTimeout) {
  auto queue = Open();
  const auto start = Clock::now();
  EXPECT_TRUE(queue->PopWait(1, 200ms).empty());
  EXPECT_GE(SecondsSince(start), 0.19);
  EXPECT_LT(SecondsSince(start), 2.0);
}

TEST_F(FifoQueueWait, PopWaitWakesWhenAnotherThreadPushes) {
  auto queue = Open();
  auto popped = std::async(std::launch::async, [&] {
    const auto start = Clock::now();
    rocksq::PoppedItems items = queue->PopWait(1, 10s);
    return std::make_pair(items.empty() ? std::string() : items.ToString(0), SecondsSince(start));
  });
  std::this_thread::sleep_for(100ms);
  queue->Push("late");
  auto [item, waited] = popped.get();
  EXPECT_EQ(item, "late");
  EXPECT_GE(waited, 0.09);
  EXPECT_LT(waited, 5.0);
}

TEST_F(FifoQueueWait, PushWaitWaitsForAPopToMakeRoom) {
  auto queue = Open(1);
  queue->Push("first");
  auto pushed = std::async(std::launch::async, [&] {
    const auto start = Clock::now();
    queue->PushWait("second", 10s);
    return SecondsSince(start);
  });
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(queue->Pop(1).ToString(0), "first");
  EXPECT_GE(pushed.get(), 0.09);
  EXPECT_EQ(queue->Pop(1).ToString(0), "second");
}

TEST_F(FifoQueueWait, PushWaitThrowsQueueFullAfterItsTimeout) {
  auto queue = Open(1);
  queue->Push("only");
  const auto start = Clock::now();
  EXPECT_EQ(KindThrownBy([&] { queue->PushWait("more", 200ms); }), ErrorKind::kQueueFull);
  EXPECT_GE(SecondsSince(start), 0.19);
  EXPECT_EQ(queue->Len(), 1u);
}

TEST_F(FifoQueueWait, PushBatchWaitThatCanNeverFitThrowsAtOnce) {
  auto queue = Open(2);
  const auto start = Clock::now();
  EXPECT_EQ(KindThrownBy([&] { queue->PushBatchWait({"a", "b", "c"}, 10s); }),
            ErrorKind::kQueueFull);
  EXPECT_LT(SecondsSince(start), 1.0);
}

TEST_F(FifoQueueWait, CloseWakesAPushWaiterOfAFullQueue) {
  auto queue = Open(1);
  queue->Push("fills it");
  auto waiting = std::async(std::launch::async, [&] {
    return KindThrownBy([&] { queue->PushWait("more", 30s); }) == ErrorKind::kClosed;
  });
  std::this_thread::sleep_for(100ms);
  const auto start = Clock::now();
  queue->Close();
  EXPECT_TRUE(waiting.get());
  EXPECT_LT(SecondsSince(start), 2.0);
}

TEST_F(FifoQueueWait, CloseWakesAPopWaiterOfAnEmptyQueue) {
  auto queue = Open();
  auto waiting = std::async(std::launch::async, [&] {
    return KindThrownBy([&] { queue->PopWait(1, 30s); }) == ErrorKind::kClosed;
  });
  std::this_thread::sleep_for(100ms);
  const auto start = Clock::now();
  queue->Close();
  EXPECT_TRUE(waiting.get());
  EXPECT_LT(SecondsSince(start), 2.0);
}

TEST_F(FifoQueueWait, ManyWaitingConsumersReceiveEveryItemOnce) {
  auto queue = Open(16);
  constexpr int kItems = 2000;
  constexpr int kConsumers = 4;
  std::atomic<int> received{0};
  std::vector<std::vector<int>> seen(kConsumers);
  std::vector<std::thread> consumers;
  for (int c = 0; c < kConsumers; ++c) {
    consumers.emplace_back([&, c] {
      while (received.load() < kItems) {
        rocksq::PoppedItems items = queue->PopWait(3, 50ms);
        for (size_t i = 0; i < items.size(); ++i) seen[c].push_back(std::stoi(items.ToString(i)));
        received += static_cast<int>(items.size());
      }
    });
  }
  for (int i = 0; i < kItems; ++i) queue->PushWait(std::to_string(i), 10s);
  for (std::thread& consumer : consumers) consumer.join();
  std::vector<int> all;
  for (const auto& items : seen) {
    EXPECT_TRUE(std::is_sorted(items.begin(), items.end()));  // FIFO per consumer.
    all.insert(all.end(), items.begin(), items.end());
  }
  std::sort(all.begin(), all.end());
  ASSERT_EQ(all.size(), static_cast<size_t>(kItems));
  for (int i = 0; i < kItems; ++i) ASSERT_EQ(all[i], i);
}

TEST_F(FifoQueueWait, ChangeListenerIsCalledAfterPushesAndPopsUntilRemoved) {
  auto queue = Open();
  std::atomic<int> calls{0};
  queue->SetChangeListener([&] { ++calls; });
  queue->Push("a");
  queue->PushBatch({"b", "c"});
  EXPECT_EQ(calls.load(), 2);
  queue->Pop(2);
  EXPECT_EQ(calls.load(), 3);
  queue->Pop(0);  // Changes nothing.
  EXPECT_EQ(calls.load(), 3);
  queue->SetChangeListener(nullptr);
  queue->Push("d");
  EXPECT_EQ(calls.load(), 3);
}

// The kind of rocksq::Error that `call` throws, or nullopt if it returns.
template <typename Call>
std::optional<rocksq::ErrorKind> ErrorOf(Call&& call) {
  try {
    call();
  } catch (const rocksq::Error& error) {
    return error.kind();
  }
  return std::nullopt;
}

// --- SetMaxElements ------------------------------------------------------------

TEST_F(FifoQueueWait, RaisingMaxElementsWakesAPushWaiterWhichThenStoresItsItem) {
  auto queue = Open(1);
  queue->Push("fills it");
  auto pushed = std::async(std::launch::async, [&] { queue->PushWait("second", 30s); });
  std::this_thread::sleep_for(100ms);
  const auto start = Clock::now();
  queue->SetMaxElements(2);
  ASSERT_EQ(pushed.wait_for(10s), std::future_status::ready);
  pushed.get();
  EXPECT_LT(SecondsSince(start), 5.0);
  EXPECT_EQ(queue->MaxElements(), 2u);
  EXPECT_EQ(queue->Len(), 2u);
}

TEST_F(FifoQueueWait, LoweringMaxElementsKeepsTheItemsAndRefusesPushesUntilBelowIt) {
  auto queue = Open(3);
  queue->PushBatch({"a", "b", "c"});
  queue->SetMaxElements(2);
  EXPECT_EQ(ErrorOf([&] { queue->Push("d"); }), rocksq::ErrorKind::kQueueFull);
  EXPECT_EQ(queue->Len(), 3u);
  queue->Pop(2);
  queue->Push("d");
  EXPECT_EQ(queue->Len(), 2u);
}

TEST_F(FifoQueueWait, SetMaxElementsOutsideItsRangeThrowsInvalidArgumentAndKeepsTheLimit) {
  auto queue = Open(3);
  EXPECT_EQ(ErrorOf([&] { queue->SetMaxElements(0); }), rocksq::ErrorKind::kInvalidArgument);
  EXPECT_EQ(ErrorOf([&] { queue->SetMaxElements(rocksq::kMaxElementsLimit + 1); }),
            rocksq::ErrorKind::kInvalidArgument);
  EXPECT_EQ(queue->MaxElements(), 3u);
}

// --- Shutdown ------------------------------------------------------------------

TEST_F(FifoQueueWait, AfterShutdownPushesThrowAndPopsDrainTheQueueThenThrow) {
  auto queue = Open();
  queue->PushBatch({"a", "b"});
  queue->Shutdown(false);
  EXPECT_TRUE(queue->IsShutDown());
  EXPECT_EQ(ErrorOf([&] { queue->Push("c"); }), rocksq::ErrorKind::kShutDown);
  EXPECT_EQ(ErrorOf([&] { queue->PushWait("c", 1s); }), rocksq::ErrorKind::kShutDown);
  EXPECT_EQ(queue->Pop(1).ToString(0), "a");
  EXPECT_EQ(queue->PopWait(1, 1s).ToString(0), "b");
  EXPECT_EQ(ErrorOf([&] { queue->Pop(1); }), rocksq::ErrorKind::kShutDown);
  EXPECT_EQ(ErrorOf([&] { queue->PopWait(1, 1s); }), rocksq::ErrorKind::kShutDown);
}

TEST_F(FifoQueueWait, ImmediateShutdownStopsPopsAtOnceAndKeepsTheItemsForTheNextOpen) {
  {
    auto queue = Open();
    queue->PushBatch({"a", "b"});
    EXPECT_FALSE(queue->IsShutDown());
    queue->Shutdown(true);
    EXPECT_TRUE(queue->IsShutDown());
    EXPECT_EQ(ErrorOf([&] { queue->Pop(1); }), rocksq::ErrorKind::kShutDown);
    EXPECT_EQ(queue->Len(), 2u);
  }
  auto reopened = Open();
  EXPECT_FALSE(reopened->IsShutDown());  // Never stored.
  reopened->Push("c");
  EXPECT_EQ(reopened->Pop(3).size(), 3u);
}

TEST_F(FifoQueueWait, ShutdownWakesAPopWaiterAndAPushWaiter) {
  auto empty = Open();
  auto popping = std::async(std::launch::async, [&] { return ErrorOf([&] { empty->PopWait(1, 30s); }); });
  std::this_thread::sleep_for(100ms);
  empty->Shutdown(false);
  ASSERT_EQ(popping.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(popping.get(), rocksq::ErrorKind::kShutDown);
  empty->Close();

  auto full = Open(1);
  full->Push("fills it");
  auto pushing = std::async(std::launch::async, [&] { return ErrorOf([&] { full->PushWait("x", 30s); }); });
  std::this_thread::sleep_for(100ms);
  full->Shutdown(false);
  ASSERT_EQ(pushing.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(pushing.get(), rocksq::ErrorKind::kShutDown);
}

TEST_F(FifoQueueWait, ALaterShutdownCanMakeItImmediateButNeverUndoesIt) {
  auto queue = Open();
  queue->Push("a");
  queue->Shutdown(true);
  queue->Shutdown(false);
  EXPECT_EQ(ErrorOf([&] { queue->Pop(1); }), rocksq::ErrorKind::kShutDown);
}

// Once Shutdown(true) returns no pop takes an item, not even one that
// began before: what is stored when it returns is still stored when every
// pop has ended. Four threads contend for the pop lock, so at any moment
// some are between starting a pop and taking items; each round shuts down
// once they have begun. Each popper takes at most its quota, so that items
// remain at the shutdown however late it comes: a loaded machine may starve
// the shutting-down thread for as long as the pops take to drain the queue
// (which once failed the round). A popper done with its quota pops once
// more after the shutdown, which must throw.
TEST_F(FifoQueueWait, NoPopTakesAnItemOnceAnImmediateShutdownReturned) {
  constexpr int kRounds = 10;
  constexpr int kPoppers = 4;
  constexpr int kQuota = 4000;
  const std::vector<std::string_view> items(20000, "item");
  static_assert(kPoppers * kQuota < 20000, "items must remain after every quota");
  for (int round = 0; round < kRounds; ++round) {
    rocksq::FifoOptions options;
    options.max_elements = items.size();
    auto queue = rocksq::FifoQueue::Open((Dir() / std::to_string(round)).string(), options);
    queue->PushBatch(items);
    std::atomic<bool> shut_down{false};
    std::vector<std::thread> poppers;
    for (int i = 0; i < kPoppers; ++i) {
      poppers.emplace_back([&] {
        EXPECT_EQ(KindThrownBy([&] {
                    for (int taken = 0; taken < kQuota; ++taken) queue->Pop(1);
                    while (!shut_down.load()) std::this_thread::yield();
                    queue->Pop(1);
                  }),
                  ErrorKind::kShutDown);
      });
    }
    while (queue->Len() == items.size()) std::this_thread::yield();  // Pops have begun.
    queue->Shutdown(true);
    const uint64_t stored_when_shutdown_returned = queue->Len();
    shut_down.store(true);
    for (std::thread& popper : poppers) popper.join();
    ASSERT_EQ(queue->Len(), stored_when_shutdown_returned) << "in round " << round;
  }
}

}  // namespace
