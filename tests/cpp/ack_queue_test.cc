// GoogleTest suite of rocksq::AckQueue, written against the public header
// only: every expectation here is a promise made in rocksq/ack_queue.h.
//
// Each test gets its own temporary directory and opens its queue at
// QueuePath() inside it. A process crash is a reopen as far as the queue's
// state goes (which items are handed out lives in memory only); the real
// SIGKILL test is tests/reliability/test_ack_crash.py.

#include "rocksq/rocksq.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "test_util.h"

namespace {

namespace fs = std::filesystem;
using rocksq::AckOptions;
using rocksq::Deliveries;
using rocksq::ErrorKind;
using AckQueuePtr = std::unique_ptr<rocksq::AckQueue>;
using namespace std::chrono_literals;

class AckTempDirTest : public rocksq::testing::TempDirTest {
 protected:
  AckQueuePtr OpenQueue(const AckOptions& options = {}) const {
    return rocksq::AckQueue::Open(QueuePath(), options);
  }
};

using AckQueue = AckTempDirTest;
using AckQueuePersistence = AckTempDirTest;
using AckQueueTimeout = AckTempDirTest;
using AckQueueErrors = AckTempDirTest;
using AckQueueFailed = AckTempDirTest;
using AckQueueConcurrency = AckTempDirTest;

AckOptions WithTimeout(std::chrono::milliseconds timeout) {
  AckOptions options;
  options.visibility_timeout = timeout;
  return options;
}

AckOptions WithMaxElements(uint64_t max_elements) {
  AckOptions options;
  options.max_elements = max_elements;
  return options;
}

void PushNumbered(rocksq::AckQueue& queue, int first, int count) {
  for (int i = first; i < first + count; ++i) queue.Push("item-" + std::to_string(i));
}

std::string Payload(const Deliveries& deliveries, size_t index) {
  return std::string(deliveries[index].payload);
}

// Gets one item, failing the test if there is none.
rocksq::Delivery GetOne(rocksq::AckQueue& queue, Deliveries* holder) {
  *holder = queue.Get(1);
  EXPECT_EQ(holder->size(), 1u);
  return (*holder)[0];
}

// Every payload the queue hands out until it is empty, acking each.
std::vector<std::string> DrainAcking(rocksq::AckQueue& queue) {
  std::vector<std::string> out;
  for (;;) {
    Deliveries deliveries = queue.Get(1);
    if (deliveries.empty()) return out;
    out.push_back(Payload(deliveries, 0));
    queue.Ack(deliveries[0]);
  }
}

// Runs `settle`, which must throw kNotOutstanding.
template <typename Settle>
void ExpectNotOutstanding(Settle settle) {
  try {
    settle();
    ADD_FAILURE() << "expected kNotOutstanding";
  } catch (const rocksq::Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kNotOutstanding) << error.what();
  }
}

// Every way to settle one delivery, alone or as a batch of one.
std::vector<std::function<void(rocksq::AckQueue&, const rocksq::Delivery&)>> EverySettle() {
  return {
      [](rocksq::AckQueue& queue, const rocksq::Delivery& d) { queue.Ack(d); },
      [](rocksq::AckQueue& queue, const rocksq::Delivery& d) { queue.Nack(d); },
      [](rocksq::AckQueue& queue, const rocksq::Delivery& d) { queue.AckFailed(d); },
      [](rocksq::AckQueue& queue, const rocksq::Delivery& d) { queue.AckBatch({d}); },
      [](rocksq::AckQueue& queue, const rocksq::Delivery& d) { queue.NackBatch({d}); },
      [](rocksq::AckQueue& queue, const rocksq::Delivery& d) { queue.AckFailedBatch({d}); },
  };
}

void ExpectCounts(const rocksq::AckQueue& queue, uint64_t ready, uint64_t unacked,
                  uint64_t failed) {
  EXPECT_EQ(queue.ReadyLen(), ready);
  EXPECT_EQ(queue.UnackedLen(), unacked);
  EXPECT_EQ(queue.FailedLen(), failed);
  EXPECT_EQ(queue.Len(), ready + unacked + failed);
}

// --- Basic contract --------------------------------------------------------------

TEST_F(AckQueue, GetHandsOutInPushOrderWithoutRemoving) {
  AckQueuePtr queue = OpenQueue();
  PushNumbered(*queue, 0, 3);
  Deliveries first = queue->Get(2);
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(Payload(first, 0), "item-0");
  EXPECT_EQ(Payload(first, 1), "item-1");
  EXPECT_EQ(first[0].attempt, 1u);
  EXPECT_LT(first[0].id, first[1].id);
  ExpectCounts(*queue, 1, 2, 0);
  EXPECT_EQ(queue->PayloadBytes(), 18u);
}

TEST_F(AckQueue, AckRemovesForGoodAndFreesPayload) {
  AckQueuePtr queue = OpenQueue();
  PushNumbered(*queue, 0, 2);
  Deliveries held;
  const rocksq::Delivery delivery = GetOne(*queue, &held);
  queue->Ack(delivery);
  ExpectCounts(*queue, 1, 0, 0);
  EXPECT_EQ(queue->PayloadBytes(), 6u);
  EXPECT_EQ(DrainAcking(*queue), std::vector<std::string>{"item-1"});
  EXPECT_TRUE(queue->IsEmpty());
}

TEST_F(AckQueue, GetOnEmptyQueueOrZeroItemsReturnsNothing) {
  AckQueuePtr queue = OpenQueue();
  EXPECT_TRUE(queue->Get(5).empty());
  queue->Push("x");
  EXPECT_TRUE(queue->Get(0).empty());
  ExpectCounts(*queue, 1, 0, 0);
}

TEST_F(AckQueue, NackPutsItemBackAtTheHeadBeforeNeverDeliveredItems) {
  AckQueuePtr queue = OpenQueue();
  PushNumbered(*queue, 0, 4);
  Deliveries taken = queue->Get(3);  // item-0, 1, 2
  queue->Nack(taken[2]);
  queue->Nack(taken[0]);
  Deliveries again = queue->Get(3);
  ASSERT_EQ(again.size(), 3u);
  EXPECT_EQ(Payload(again, 0), "item-0");  // Oldest nacked first...
  EXPECT_EQ(Payload(again, 1), "item-2");
  EXPECT_EQ(Payload(again, 2), "item-3");  // ...then never delivered.
  EXPECT_EQ(again[0].attempt, 2u);
  EXPECT_EQ(again[1].attempt, 2u);
  EXPECT_EQ(again[2].attempt, 1u);
  EXPECT_EQ(again[0].id, taken[0].id);
}

TEST_F(AckQueue, BatchFormsSettleEveryDeliveryOrNone) {
  AckQueuePtr queue = OpenQueue();
  PushNumbered(*queue, 0, 4);
  Deliveries taken = queue->Get(4);
  EXPECT_THROW(
      {
        try {
          queue->AckBatch({taken[0], taken[1], rocksq::Delivery{999, 1, {}, 0}});
        } catch (const rocksq::Error& error) {
          EXPECT_EQ(error.kind(), ErrorKind::kNotOutstanding);
          throw;
        }
      },
      rocksq::Error);
  ExpectCounts(*queue, 0, 4, 0);
  EXPECT_THROW(queue->AckBatch({taken[0], taken[0]}), rocksq::Error);
  ExpectCounts(*queue, 0, 4, 0);
  queue->AckBatch({taken[0], taken[1]});
  queue->NackBatch({taken[2]});
  queue->AckFailedBatch({taken[3]});
  ExpectCounts(*queue, 1, 0, 1);
  EXPECT_EQ(DrainAcking(*queue), std::vector<std::string>{"item-2"});
}

TEST_F(AckQueue, DeliveriesOutliveTheQueue) {
  AckQueuePtr queue = OpenQueue();
  PushNumbered(*queue, 0, 3);
  Deliveries one = queue->Get(1);
  Deliveries batch = queue->Get(2);
  queue->Close();
  queue.reset();
  EXPECT_EQ(Payload(one, 0), "item-0");
  EXPECT_EQ(Payload(batch, 1), "item-2");
  EXPECT_EQ(batch.payload_bytes(), 12u);
}

TEST_F(AckQueue, CapacityCountsReadyUnackedAndFailed) {
  AckQueuePtr queue = OpenQueue(WithMaxElements(3));
  PushNumbered(*queue, 0, 3);
  Deliveries taken = queue->Get(2);
  queue->AckFailed(taken[0]);
  try {
    queue->Push("more");
    FAIL() << "expected kQueueFull";
  } catch (const rocksq::Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kQueueFull);
  }
  EXPECT_THROW(queue->PushBatch({"a", "b"}), rocksq::Error);
  queue->Nack(taken[1]);  // A nack makes no room either.
  EXPECT_THROW(queue->Push("more"), rocksq::Error);
  Deliveries again = queue->Get(1);
  queue->Ack(again[0]);
  queue->Push("more");
  EXPECT_EQ(queue->Len(), 3u);
}

TEST_F(AckQueue, PushWaitWakesWhenAnAckMakesRoom) {
  AckQueuePtr queue = OpenQueue(WithMaxElements(1));
  queue->Push("a");
  Deliveries taken = queue->Get(1);
  std::thread acker([&] {
    std::this_thread::sleep_for(50ms);
    queue->Ack(taken[0]);
  });
  const auto start = std::chrono::steady_clock::now();
  queue->PushWait("b", 10s);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  acker.join();
  EXPECT_EQ(DrainAcking(*queue), std::vector<std::string>{"b"});
}

TEST_F(AckQueue, GetWaitWakesOnPushAndTimesOutEmpty) {
  AckQueuePtr queue = OpenQueue();
  EXPECT_TRUE(queue->GetWait(1, 30ms).empty());
  std::thread pusher([&] {
    std::this_thread::sleep_for(50ms);
    queue->Push("late");
  });
  Deliveries got = queue->GetWait(1, 10s);
  pusher.join();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(Payload(got, 0), "late");
}

TEST_F(AckQueue, CloseWakesWaitersWithClosed) {
  AckQueuePtr queue = OpenQueue();
  std::atomic<bool> closed_seen{false};
  std::thread waiter([&] {
    try {
      queue->GetWait(1, 30s);
    } catch (const rocksq::Error& error) {
      closed_seen = error.kind() == ErrorKind::kClosed;
    }
  });
  std::this_thread::sleep_for(50ms);
  queue->Close();
  waiter.join();
  EXPECT_TRUE(closed_seen);
  EXPECT_THROW(queue->Get(1), rocksq::Error);
}

TEST_F(AckQueue, ChangeListenerFiresOnPushAckAndNack) {
  AckQueuePtr queue = OpenQueue();
  std::atomic<int> changes{0};
  queue->SetChangeListener([&] { ++changes; });
  queue->Push("a");
  EXPECT_EQ(changes, 1);
  Deliveries taken = queue->Get(1);
  EXPECT_EQ(changes, 1);  // A get lets no waiter go on.
  queue->Nack(taken[0]);
  EXPECT_EQ(changes, 2);
  taken = queue->Get(1);
  queue->Ack(taken[0]);
  EXPECT_EQ(changes, 3);
}

// --- Persistence -----------------------------------------------------------------

TEST_F(AckQueuePersistence, ReopenRedeliversExactlyTheUnackedItemsOldestFirst) {
  {
    AckQueuePtr queue = OpenQueue();
    PushNumbered(*queue, 0, 6);
    Deliveries taken = queue->Get(4);  // 0..3 handed out, 4 and 5 never.
    queue->Ack(taken[1]);
    queue->Ack(taken[3]);
    queue->Nack(taken[2]);
    // Closed with item-0 handed out, item-2 returned: as a crash leaves it.
  }
  AckQueuePtr queue = OpenQueue();
  ExpectCounts(*queue, 4, 0, 0);
  EXPECT_EQ(queue->PayloadBytes(), 24u);
  EXPECT_EQ(DrainAcking(*queue),
            (std::vector<std::string>{"item-0", "item-2", "item-4", "item-5"}));
}

TEST_F(AckQueuePersistence, HolesAfterReopenAreSkippedOneAtATimeAndInBatches) {
  {
    AckQueuePtr queue = OpenQueue();
    PushNumbered(*queue, 0, 10);
    Deliveries taken = queue->Get(10);
    for (size_t i = 0; i < taken.size(); ++i) {
      if (i % 3 != 0) queue->Ack(taken[i]);  // Keep 0, 3, 6, 9.
    }
  }
  {
    AckQueuePtr queue = OpenQueue();
    Deliveries one = queue->Get(1);
    EXPECT_EQ(Payload(one, 0), "item-0");
    Deliveries next = queue->Get(1);  // A hole after item-0: 1 and 2 are acked.
    ASSERT_EQ(next.size(), 1u);
    EXPECT_EQ(Payload(next, 0), "item-3");
    Deliveries rest = queue->Get(10);
    ASSERT_EQ(rest.size(), 2u);
    EXPECT_EQ(Payload(rest, 0), "item-6");
    EXPECT_EQ(Payload(rest, 1), "item-9");
    EXPECT_TRUE(queue->Get(1).empty());
    ExpectCounts(*queue, 0, 4, 0);
    queue->Ack(next[0]);
  }
  AckQueuePtr queue = OpenQueue();
  EXPECT_EQ(DrainAcking(*queue), (std::vector<std::string>{"item-0", "item-6", "item-9"}));
}

TEST_F(AckQueuePersistence, CountsAndPayloadSurviveReopenInEveryState) {
  {
    AckQueuePtr queue = OpenQueue();
    queue->PushBatch({"a", "bb", "ccc", "dddd", "eeeee"});
    Deliveries taken = queue->Get(4);
    queue->Ack(taken[0]);        // a gone
    queue->AckFailed(taken[2]);  // ccc failed
    ExpectCounts(*queue, 1, 2, 1);
    EXPECT_EQ(queue->PayloadBytes(), 14u);
  }
  {
    AckQueuePtr queue = OpenQueue();
    ExpectCounts(*queue, 3, 0, 1);
    EXPECT_EQ(queue->PayloadBytes(), 14u);
    EXPECT_EQ(DrainAcking(*queue), (std::vector<std::string>{"bb", "dddd", "eeeee"}));
    ExpectCounts(*queue, 0, 0, 1);
    EXPECT_EQ(queue->PayloadBytes(), 3u);
  }
  // Reopened with ack_items empty: the counts come from the meta alone, and
  // ids go on from where they were.
  AckQueuePtr queue = OpenQueue();
  ExpectCounts(*queue, 0, 0, 1);
  EXPECT_EQ(queue->PayloadBytes(), 3u);
  queue->Push("ffffff");
  Deliveries got = queue->Get(1);
  EXPECT_EQ(got[0].id, 5u);
  EXPECT_EQ(queue->PayloadBytes(), 9u);
}

TEST_F(AckQueuePersistence, AckingTheLastItemKeepsCountsAndIdsAcrossReopen) {
  {
    AckQueuePtr queue = OpenQueue();
    queue->PushBatch({"a", "bb", "ccc"});
    Deliveries taken = queue->Get(3);
    queue->Ack(taken[2]);  // The last stored item: no record tells its position now.
  }
  {
    AckQueuePtr queue = OpenQueue();
    ExpectCounts(*queue, 2, 0, 0);
    EXPECT_EQ(queue->PayloadBytes(), 3u);
    queue->Push("dddd");
    Deliveries all = queue->Get(3);
    ASSERT_EQ(all.size(), 3u);
    EXPECT_EQ(all[2].id, 3u);  // Not 2: ids are never reused.
    EXPECT_EQ(Payload(all, 2), "dddd");
    queue->Ack(all[2]);
  }
  AckQueuePtr queue = OpenQueue();
  ExpectCounts(*queue, 2, 0, 0);
  EXPECT_EQ(queue->PayloadBytes(), 3u);
  queue->Push("e");
  EXPECT_EQ(queue->Get(3)[2].id, 4u);
}

TEST_F(AckQueuePersistence, AnAckedItemIsNeverDeliveredAgainAcrossManyReopens) {
  std::mt19937 random(7);
  std::set<std::string> acked;
  std::set<std::string> pushed;
  int next = 0;
  for (int round = 0; round < 8; ++round) {
    AckQueuePtr queue = OpenQueue();
    for (int i = 0; i < 20; ++i) {
      const std::string item = "item-" + std::to_string(next++);
      queue->Push(item);
      pushed.insert(item);
    }
    Deliveries taken = queue->Get(25);
    for (size_t i = 0; i < taken.size(); ++i) {
      const std::string item = Payload(taken, i);
      EXPECT_EQ(acked.count(item), 0u) << item << " was acked before";
      if (random() % 2 == 0) {
        queue->Ack(taken[i]);
        acked.insert(item);
      }
    }
    EXPECT_EQ(queue->Len(), pushed.size() - acked.size());
  }
  AckQueuePtr queue = OpenQueue();
  std::vector<std::string> rest = DrainAcking(*queue);
  std::set<std::string> remaining(rest.begin(), rest.end());
  EXPECT_EQ(remaining.size(), rest.size());
  for (const std::string& item : rest) EXPECT_EQ(acked.count(item), 0u);
  EXPECT_EQ(remaining.size() + acked.size(), pushed.size());
}

TEST_F(AckQueuePersistence, DeliveriesHandedOutBeforeReopenAreNotOutstanding) {
  rocksq::Delivery before;
  {
    AckQueuePtr queue = OpenQueue();
    queue->Push("a");
    before = queue->Get(1)[0];
  }
  AckQueuePtr queue = OpenQueue();
  ExpectNotOutstanding([&] { queue->Ack(before); });
  EXPECT_EQ(queue->ReadyLen(), 1u);
  // Handed out again by this open, under the same id: the earlier delivery
  // still settles nothing, in any way.
  Deliveries now = queue->Get(1);
  ASSERT_EQ(now.size(), 1u);
  ASSERT_EQ(now[0].id, before.id);
  ExpectNotOutstanding([&] { queue->Ack(before); });
  ExpectNotOutstanding([&] { queue->Nack(before); });
  ExpectNotOutstanding([&] { queue->AckFailed(before); });
  ExpectNotOutstanding([&] { queue->AckBatch({before}); });
  ExpectCounts(*queue, 0, 1, 0);
  queue->Ack(now[0]);
  EXPECT_TRUE(queue->IsEmpty());
}

// --- Acks in the ack log at a crash ------------------------------------------------
//
// An ack is appended to the file rocksq.ack_log and applied to the items in
// bulk, at the latest when the queue closes. A copy of the directory taken
// while the queue is open, with nothing being written, is what a process
// crash leaves: the log still holds the acks not yet applied.

fs::path AckLogOf(const fs::path& queue) { return queue / "rocksq.ack_log"; }

TEST_F(AckQueuePersistence, AcksStillInTheLogAtACrashAreAppliedAtOpen) {
  const fs::path crashed = dir_ / "crashed";
  {
    AckQueuePtr queue = OpenQueue();
    PushNumbered(*queue, 0, 10);
    Deliveries taken = queue->Get(10);
    queue->AckBatch({taken[0], taken[1], taken[2]});
    queue->Ack(taken[5]);
    ASSERT_GT(fs::file_size(AckLogOf(QueuePath())), 0u);  // Logged, not applied yet.
    rocksq::testing::CopyAsACrashLeavesIt(QueuePath(), crashed);
  }
  AckQueuePtr queue = rocksq::AckQueue::Open(crashed.string());
  ExpectCounts(*queue, 6, 0, 0);
  EXPECT_EQ(queue->PayloadBytes(), 6u * 6);
  EXPECT_EQ(fs::file_size(AckLogOf(crashed)), 0u);  // Applied, so emptied.
  EXPECT_EQ(DrainAcking(*queue), (std::vector<std::string>{"item-3", "item-4", "item-6",
                                                           "item-7", "item-8", "item-9"}));
}

TEST_F(AckQueuePersistence, LogRecordsAlreadyAppliedDoNotCountAgain) {
  // A crash between applying the log and emptying it leaves records whose
  // items are gone: their epoch is past, so they must not remove the items
  // that come after.
  const fs::path before_apply = dir_ / "log_before_apply";
  {
    AckQueuePtr queue = OpenQueue();
    PushNumbered(*queue, 0, 4);
    Deliveries taken = queue->Get(2);
    queue->Ack(taken[0]);
    queue->Ack(taken[1]);
    fs::copy_file(AckLogOf(QueuePath()), before_apply);
  }  // Closing applies the log and empties it.
  fs::copy_file(before_apply, AckLogOf(QueuePath()), fs::copy_options::overwrite_existing);
  {
    AckQueuePtr queue = OpenQueue();
    ExpectCounts(*queue, 2, 0, 0);
    EXPECT_EQ(DrainAcking(*queue), (std::vector<std::string>{"item-2", "item-3"}));
  }
  // The same records once more, now that ids 0 and 1 are long gone and the
  // epoch moved on again: still nothing.
  fs::copy_file(before_apply, AckLogOf(QueuePath()), fs::copy_options::overwrite_existing);
  AckQueuePtr queue = OpenQueue();
  ExpectCounts(*queue, 0, 0, 0);
}

TEST_F(AckQueuePersistence, ATornRecordAtTheLogsEndIsIgnoredAndTheRestApplied) {
  const fs::path crashed = dir_ / "crashed";
  {
    AckQueuePtr queue = OpenQueue();
    PushNumbered(*queue, 0, 5);
    Deliveries taken = queue->Get(5);
    queue->Ack(taken[0]);
    queue->AckBatch({taken[1], taken[2]});
    rocksq::testing::CopyAsACrashLeavesIt(QueuePath(), crashed);
  }
  // Cut the batch's record short, as a kill in the middle of its write would.
  const uintmax_t whole = fs::file_size(AckLogOf(crashed));
  fs::resize_file(AckLogOf(crashed), whole - 5);
  {
    AckQueuePtr queue = rocksq::AckQueue::Open(crashed.string());
    ExpectCounts(*queue, 4, 0, 0);  // The single ack counts, the torn batch not at all.
    EXPECT_EQ(DrainAcking(*queue),
              (std::vector<std::string>{"item-1", "item-2", "item-3", "item-4"}));
  }
  // Zeros where an unsynced append was (a machine crash) read as no record.
  const fs::path zeroed = dir_ / "zeroed";
  {
    AckQueuePtr queue = rocksq::AckQueue::Open(crashed.string());
    queue->Push("x");
    queue->Ack(queue->Get(1)[0]);
    queue->Push("y");
    rocksq::testing::CopyAsACrashLeavesIt(crashed.string(), zeroed);
  }
  fs::resize_file(AckLogOf(zeroed), fs::file_size(AckLogOf(zeroed)) + 64);
  AckQueuePtr queue = rocksq::AckQueue::Open(zeroed.string());
  ExpectCounts(*queue, 1, 0, 0);
  EXPECT_EQ(DrainAcking(*queue), std::vector<std::string>{"y"});
}

TEST_F(AckQueuePersistence, ManyAcksAreAppliedAsTheyGoAndEveryCountHoldsAtACrash) {
  // Past the apply threshold, the log is applied while the queue runs: the
  // file stays small, and a crash at any point still counts exactly.
  constexpr int kItems = 5000;
  AckQueuePtr queue = OpenQueue();
  std::vector<std::string_view> batch;
  std::vector<std::string> storage;
  for (int i = 0; i < kItems; ++i) storage.push_back("item-" + std::to_string(i));
  for (const std::string& item : storage) batch.push_back(item);
  queue->PushBatch(batch);
  uint64_t payload_left = 0;
  for (const std::string& item : storage) payload_left += item.size();
  for (int i = 0; i < kItems - 7; ++i) {
    Deliveries taken = queue->Get(1);
    payload_left -= taken[0].payload.size();
    queue->Ack(taken[0]);
  }
  EXPECT_LT(fs::file_size(AckLogOf(QueuePath())), 1100u * 32);
  const fs::path crashed = dir_ / "crashed";
  rocksq::testing::CopyAsACrashLeavesIt(QueuePath(), crashed);
  AckQueuePtr reopened = rocksq::AckQueue::Open(crashed.string());
  ExpectCounts(*reopened, 7, 0, 0);
  EXPECT_EQ(reopened->PayloadBytes(), payload_left);
  std::vector<std::string> rest = DrainAcking(*reopened);
  ASSERT_EQ(rest.size(), 7u);
  EXPECT_EQ(rest.front(), "item-" + std::to_string(kItems - 7));
}

TEST_F(AckQueuePersistence, AnAckWhosePushAPowerLossUndidNeverRemovesALaterItem) {
  // Without sync, a power loss can keep the ack log's page but lose the
  // push it acks (another file). The id is then given to the next push; the
  // old record must never ack that one, even if emptying the log is lost
  // too. Built from copies: a queue holding items 0 and 1, and the log of
  // a run that went on to push, take and ack item 2.
  const fs::path lost_push = dir_ / "lost_push";
  const fs::path stale_log = dir_ / "stale_log";
  {
    AckQueuePtr queue = OpenQueue();
    PushNumbered(*queue, 0, 2);
    rocksq::testing::CopyAsACrashLeavesIt(QueuePath(), lost_push);
    PushNumbered(*queue, 2, 1);
    Deliveries taken = queue->Get(3);
    queue->Ack(taken[2]);
    fs::copy_file(AckLogOf(QueuePath()), stale_log);
  }
  fs::copy_file(stale_log, AckLogOf(lost_push), fs::copy_options::overwrite_existing);
  {
    AckQueuePtr queue = rocksq::AckQueue::Open(lost_push.string());
    ExpectCounts(*queue, 2, 0, 0);  // Item 2 is not there to ack.
    queue->Push("later");           // Takes id 2.
  }
  fs::copy_file(stale_log, AckLogOf(lost_push), fs::copy_options::overwrite_existing);
  AckQueuePtr queue = rocksq::AckQueue::Open(lost_push.string());
  ExpectCounts(*queue, 3, 0, 0);
  EXPECT_EQ(DrainAcking(*queue), (std::vector<std::string>{"item-0", "item-1", "later"}));
}

TEST_F(AckQueuePersistence, AFailedMoveBetweenLoggedAcksKeepsBothCounted) {
  // A move to the failed items rewrites the meta while acks wait in the
  // log: both must count after a crash, neither twice.
  const fs::path crashed = dir_ / "crashed";
  {
    AckQueuePtr queue = OpenQueue();
    PushNumbered(*queue, 0, 6);
    Deliveries taken = queue->Get(6);
    queue->Ack(taken[0]);
    queue->AckFailed(taken[1]);
    queue->Ack(taken[2]);
    rocksq::testing::CopyAsACrashLeavesIt(QueuePath(), crashed);
  }
  AckQueuePtr queue = rocksq::AckQueue::Open(crashed.string());
  ExpectCounts(*queue, 3, 0, 1);
  EXPECT_EQ(queue->PayloadBytes(), 4u * 6);
  EXPECT_EQ(DrainAcking(*queue), (std::vector<std::string>{"item-3", "item-4", "item-5"}));
  EXPECT_EQ(queue->RequeueAllFailed(), 1u);
  EXPECT_EQ(DrainAcking(*queue), std::vector<std::string>{"item-1"});
}

TEST_F(AckQueuePersistence, KindMismatchWithFifoIsNotAQueue) {
  { rocksq::FifoQueue::Open(QueuePath()); }
  try {
    OpenQueue();
    FAIL() << "expected kNotAQueue";
  } catch (const rocksq::Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kNotAQueue);
    EXPECT_NE(std::string(error.what()).find("not an ack queue"), std::string::npos)
        << error.what();
  }
  rocksq::FifoQueue::Destroy(QueuePath());
  { OpenQueue(); }
  EXPECT_THROW(rocksq::FifoQueue::Open(QueuePath()), rocksq::Error);
  EXPECT_THROW(rocksq::FifoQueue::Destroy(QueuePath()), rocksq::Error);
  rocksq::AckQueue::Destroy(QueuePath());
  EXPECT_FALSE(fs::exists(QueuePath()));
}

// --- Visibility timeout ----------------------------------------------------------

TEST_F(AckQueueTimeout, AnExpiredItemIsDeliveredAgainAndItsIdDies) {
  AckQueuePtr queue = OpenQueue(WithTimeout(100ms));
  queue->Push("a");
  Deliveries first = queue->Get(1);
  ExpectCounts(*queue, 0, 1, 0);
  EXPECT_TRUE(queue->Get(1).empty());
  std::this_thread::sleep_for(150ms);
  ExpectCounts(*queue, 1, 0, 0);
  EXPECT_THROW(queue->Ack(first[0]), rocksq::Error);
  Deliveries second = queue->Get(1);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].id, first[0].id);
  EXPECT_EQ(second[0].attempt, 2u);
  queue->Ack(second[0]);
  EXPECT_TRUE(queue->IsEmpty());
}

// Issue 16, defect 7: a late nack from the first consumer returned the item
// while the second still worked on it, and a third got it too.
TEST_F(AckQueueTimeout, AnExpiredDeliveryCannotSettleTheItemHandedOutAgain) {
  for (const auto& settle : EverySettle()) {
    AckQueuePtr queue = OpenQueue(WithTimeout(100ms));
    queue->Push("job");
    Deliveries first = queue->Get(1);
    std::this_thread::sleep_for(150ms);
    Deliveries second = queue->Get(1);
    ASSERT_EQ(second.size(), 1u);
    ASSERT_EQ(second[0].id, first[0].id);
    EXPECT_NE(second[0].receipt, first[0].receipt);
    try {
      settle(*queue, first[0]);
      ADD_FAILURE() << "expected kNotOutstanding";
    } catch (const rocksq::Error& error) {
      EXPECT_EQ(error.kind(), ErrorKind::kNotOutstanding);
      EXPECT_EQ(std::string(error.what()),
                "Not outstanding: " + QueuePath() + ": item " + std::to_string(first[0].id) +
                    " is handed out by another delivery: this one expired or was nacked, or "
                    "comes from another queue or an earlier open");
    }
    ExpectCounts(*queue, 0, 1, 0);
    EXPECT_TRUE(queue->Get(1).empty());  // No third consumer gets it.
    settle(*queue, second[0]);
    queue->Close();
    rocksq::AckQueue::Destroy(QueuePath());
  }
}

TEST_F(AckQueueTimeout, GetWaitWakesWhenATimeoutExpires) {
  AckQueuePtr queue = OpenQueue(WithTimeout(200ms));
  queue->Push("a");
  Deliveries first = queue->Get(1);
  const auto start = std::chrono::steady_clock::now();
  Deliveries again = queue->GetWait(1, 10s);
  const auto waited = std::chrono::steady_clock::now() - start;
  ASSERT_EQ(again.size(), 1u);
  EXPECT_GE(waited, 150ms);
  EXPECT_LT(waited, 3s);
  EXPECT_EQ(queue->TimeToNextExpiry() > 0ns, true);
}

TEST_F(AckQueueTimeout, ZeroTimeoutNeverExpires) {
  AckQueuePtr queue = OpenQueue(WithTimeout(0ms));
  queue->Push("a");
  Deliveries first = queue->Get(1);
  EXPECT_EQ(queue->TimeToNextExpiry(), std::chrono::nanoseconds::max());
  EXPECT_TRUE(queue->GetWait(1, 100ms).empty());
  queue->Ack(first[0]);
}

TEST_F(AckQueueTimeout, NegativeTimeoutIsInvalid) {
  try {
    OpenQueue(WithTimeout(-1ms));
    FAIL() << "expected kInvalidArgument";
  } catch (const rocksq::Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kInvalidArgument);
  }
}

// --- Errors ----------------------------------------------------------------------

TEST_F(AckQueueErrors, SettlingAnUnknownOrSettledDeliveryIsNotOutstanding) {
  AckQueuePtr queue = OpenQueue();
  queue->Push("a");
  Deliveries taken = queue->Get(1);
  const rocksq::Delivery delivery = taken[0];
  const uint64_t id = delivery.id;
  queue->Ack(delivery);
  for (auto settle : {&rocksq::AckQueue::Ack, &rocksq::AckQueue::Nack,
                      &rocksq::AckQueue::AckFailed}) {
    try {
      ((*queue).*settle)(delivery);
      FAIL() << "expected kNotOutstanding";
    } catch (const rocksq::Error& error) {
      EXPECT_EQ(error.kind(), ErrorKind::kNotOutstanding);
      EXPECT_EQ(std::string(error.what()),
                "Not outstanding: " + QueuePath() + ": item " + std::to_string(id) +
                    " is not handed out (acked, nacked, failed, expired, or never delivered)");
    }
  }
  EXPECT_THROW(queue->Ack(rocksq::Delivery{12345, 1, {}, delivery.receipt}), rocksq::Error);
  EXPECT_TRUE(queue->IsEmpty());
}

TEST_F(AckQueueErrors, ANackedIdCannotBeAckedUntilHandedOutAgain) {
  AckQueuePtr queue = OpenQueue();
  queue->Push("a");
  Deliveries taken = queue->Get(1);
  queue->Nack(taken[0]);
  EXPECT_THROW(queue->Ack(taken[0]), rocksq::Error);
  Deliveries again = queue->Get(1);
  queue->Ack(again[0]);
  EXPECT_TRUE(queue->IsEmpty());
}

TEST_F(AckQueueErrors, ANackedDeliveryCannotSettleTheItemHandedOutAgain) {
  AckQueuePtr queue = OpenQueue(WithTimeout(0ms));
  queue->Push("job");
  Deliveries first = queue->Get(1);
  queue->Nack(first[0]);
  Deliveries second = queue->Get(1);
  ASSERT_EQ(second.size(), 1u);
  for (const auto& settle : EverySettle()) {
    ExpectNotOutstanding([&] { settle(*queue, first[0]); });
    ExpectCounts(*queue, 0, 1, 0);
  }
  // All or none: the current delivery beside the stale one stays handed out.
  ExpectNotOutstanding([&] { queue->AckBatch({second[0], first[0]}); });
  ExpectCounts(*queue, 0, 1, 0);
  queue->Ack(second[0]);
  EXPECT_TRUE(queue->IsEmpty());
}

TEST_F(AckQueueErrors, ADeliverySettlesOnce) {
  const std::vector<std::function<void(rocksq::AckQueue&, const rocksq::Delivery&)>> settles =
      EverySettle();
  for (size_t first = 0; first < settles.size(); ++first) {
    for (size_t then = 0; then < settles.size(); ++then) {
      AckQueuePtr queue = OpenQueue();
      queue->Push("job");
      Deliveries taken = queue->Get(1);
      settles[first](*queue, taken[0]);
      const uint64_t ready = queue->ReadyLen();
      const uint64_t failed = queue->FailedLen();
      ExpectNotOutstanding([&] { settles[then](*queue, taken[0]); });
      ExpectCounts(*queue, ready, 0, failed);
      queue->Close();
      rocksq::AckQueue::Destroy(QueuePath());
    }
  }
}

TEST_F(AckQueueErrors, ADeliveryOfAFailedAndRequeuedItemSettlesNothing) {
  AckQueuePtr queue = OpenQueue();
  queue->Push("job");
  Deliveries taken = queue->Get(1);
  queue->AckFailed(taken[0]);
  ASSERT_EQ(queue->RequeueAllFailed(), 1u);
  Deliveries again = queue->Get(1);
  ASSERT_EQ(again.size(), 1u);
  for (const auto& settle : EverySettle()) {
    ExpectNotOutstanding([&] { settle(*queue, taken[0]); });
  }
  ExpectCounts(*queue, 0, 1, 0);
  queue->Ack(again[0]);
  EXPECT_TRUE(queue->IsEmpty());
}

TEST_F(AckQueueErrors, ADeliveryFromAnotherQueueSettlesNothing) {
  AckQueuePtr queue = OpenQueue();
  AckQueuePtr other = rocksq::AckQueue::Open((dir_ / "other").string());
  queue->Push("mine");
  other->Push("theirs");
  Deliveries mine = queue->Get(1);
  Deliveries theirs = other->Get(1);
  ASSERT_EQ(mine[0].id, theirs[0].id);
  for (const auto& settle : EverySettle()) {
    ExpectNotOutstanding([&] { settle(*queue, theirs[0]); });
    ExpectCounts(*queue, 0, 1, 0);
  }
  queue->Ack(mine[0]);
  other->Ack(theirs[0]);
  EXPECT_TRUE(queue->IsEmpty());
  EXPECT_TRUE(other->IsEmpty());
}

TEST_F(AckQueueErrors, ABatchListingAnItemTwiceSaysSoAndSettlesNothing) {
  AckQueuePtr queue = OpenQueue();
  PushNumbered(*queue, 0, 2);
  Deliveries taken = queue->Get(2);
  for (auto settle : {&rocksq::AckQueue::AckBatch, &rocksq::AckQueue::NackBatch,
                      &rocksq::AckQueue::AckFailedBatch}) {
    try {
      ((*queue).*settle)({taken[0], taken[1], taken[0]});
      ADD_FAILURE() << "expected kNotOutstanding";
    } catch (const rocksq::Error& error) {
      EXPECT_EQ(error.kind(), ErrorKind::kNotOutstanding);
      EXPECT_EQ(std::string(error.what()), "Not outstanding: " + QueuePath() + ": item " +
                                               std::to_string(taken[0].id) + " is listed twice");
    }
    ExpectCounts(*queue, 0, 2, 0);
  }
  queue->AckBatch({taken[0], taken[1]});
  EXPECT_TRUE(queue->IsEmpty());
}

// --- Failed items ----------------------------------------------------------------

TEST_F(AckQueueFailed, FailedItemsAreListedAndRequeuedAtTheTail) {
  AckQueuePtr queue = OpenQueue();
  PushNumbered(*queue, 0, 4);
  Deliveries taken = queue->Get(2);
  queue->AckFailed(taken[1]);
  queue->AckFailed(taken[0]);
  ExpectCounts(*queue, 2, 0, 2);
  std::vector<rocksq::FailedItem> failed = queue->Failed(10);
  ASSERT_EQ(failed.size(), 2u);
  EXPECT_EQ(failed[0].id, taken[0].id);
  EXPECT_EQ(failed[0].payload, "item-0");
  EXPECT_EQ(failed[1].payload, "item-1");
  EXPECT_EQ(queue->Failed(1).size(), 1u);
  EXPECT_EQ(queue->Failed(10).size(), 2u);  // Listing consumes nothing.

  EXPECT_EQ(queue->RequeueFailed({taken[1].id, 999}), 1u);
  ExpectCounts(*queue, 3, 0, 1);
  EXPECT_EQ(queue->RequeueAllFailed(), 1u);
  EXPECT_EQ(queue->RequeueAllFailed(), 0u);
  ExpectCounts(*queue, 4, 0, 0);
  EXPECT_EQ(queue->PayloadBytes(), 24u);
  EXPECT_EQ(DrainAcking(*queue),
            (std::vector<std::string>{"item-2", "item-3", "item-1", "item-0"}));
}

TEST_F(AckQueueFailed, FailedAndRequeuedItemsSurviveReopen) {
  {
    AckQueuePtr queue = OpenQueue();
    PushNumbered(*queue, 0, 3);
    Deliveries taken = queue->Get(3);
    queue->AckFailed(taken[0]);
    queue->AckFailed(taken[1]);
    queue->Ack(taken[2]);
  }
  {
    AckQueuePtr queue = OpenQueue();
    ExpectCounts(*queue, 0, 0, 2);
    EXPECT_EQ(queue->PayloadBytes(), 12u);
    EXPECT_EQ(queue->RequeueFailed({0}), 1u);
  }
  AckQueuePtr queue = OpenQueue();
  ExpectCounts(*queue, 1, 0, 1);
  EXPECT_EQ(queue->PayloadBytes(), 12u);
  Deliveries got = queue->Get(1);
  EXPECT_EQ(Payload(got, 0), "item-0");
  EXPECT_EQ(got[0].id, 3u);  // Requeued with a new id at the tail.
}

// --- Concurrency -----------------------------------------------------------------

// Synced acks share fsyncs (AckLog::SyncThrough) while other threads
// append; every ack that returned is in the log a crash leaves.
TEST_F(AckQueueConcurrency, SyncedAcksFromManyThreadsAllCountAfterACrash) {
  constexpr int kConsumers = 4;
  constexpr int kPerConsumer = 150;
  AckOptions options;
  options.sync = true;
  AckQueuePtr queue = OpenQueue(options);
  PushNumbered(*queue, 0, kConsumers * kPerConsumer + 3);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < kConsumers; ++c) {
    threads.emplace_back([&] {
      try {
        for (int i = 0; i < kPerConsumer; ++i) {
          Deliveries got = queue->Get(1);
          queue->Ack(got[0]);
        }
      } catch (const std::exception&) {
        ++failures;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  ASSERT_EQ(failures.load(), 0);
  ExpectCounts(*queue, 3, 0, 0);
  const fs::path crashed = dir_ / "crashed";
  rocksq::testing::CopyAsACrashLeavesIt(QueuePath(), crashed);
  AckQueuePtr reopened = rocksq::AckQueue::Open(crashed.string());
  ExpectCounts(*reopened, 3, 0, 0);
  const int first_left = kConsumers * kPerConsumer;
  EXPECT_EQ(DrainAcking(*reopened),
            (std::vector<std::string>{"item-" + std::to_string(first_left),
                                      "item-" + std::to_string(first_left + 1),
                                      "item-" + std::to_string(first_left + 2)}));
}

// Consumers settle at about the moment their deliveries expire while others
// get the expired items again: a settle that is accepted comes from the
// item's latest delivery, and every item ends acked or failed exactly once.
TEST_F(AckQueueConcurrency, SettlesRacingVisibilityTimeoutsOnlyTakeTheLatestDelivery) {
  constexpr int kItems = 400;
  constexpr int kConsumers = 4;
  AckQueuePtr queue = OpenQueue(WithTimeout(2ms));
  PushNumbered(*queue, 0, kItems);
  std::mutex ledger_mutex;
  std::map<uint64_t, std::pair<uint32_t, uint64_t>> latest;  // Id -> attempt, receipt.
  std::map<std::string, int> finished;
  std::atomic<int> stale_accepted{0};
  std::atomic<int> stale_refused{0};
  const auto give_up = std::chrono::steady_clock::now() + 60s;
  std::vector<std::thread> threads;
  for (int c = 0; c < kConsumers; ++c) {
    threads.emplace_back([&, c] {
      std::mt19937 random(c);
      for (;;) {
        {
          std::lock_guard<std::mutex> lock(ledger_mutex);
          if (finished.size() == kItems || std::chrono::steady_clock::now() > give_up) return;
        }
        Deliveries got = queue->GetWait(1, 10ms);
        if (got.empty()) continue;
        const rocksq::Delivery delivery = got[0];
        {
          std::lock_guard<std::mutex> lock(ledger_mutex);
          auto& last = latest[delivery.id];
          last = std::max(last, std::make_pair(delivery.attempt, delivery.receipt));
        }
        std::this_thread::sleep_for(std::chrono::microseconds(random() % 4000));
        const int how = static_cast<int>(random() % 4);  // Ack twice as often.
        std::lock_guard<std::mutex> lock(ledger_mutex);
        try {
          if (how == 0) {
            queue->Nack(delivery);
          } else if (how == 1) {
            queue->AckFailed(delivery);
          } else {
            queue->Ack(delivery);
          }
        } catch (const rocksq::Error& error) {
          EXPECT_EQ(error.kind(), ErrorKind::kNotOutstanding);
          ++stale_refused;
          continue;
        }
        if (latest[delivery.id] != std::make_pair(delivery.attempt, delivery.receipt)) {
          ++stale_accepted;
        }
        if (how != 0) ++finished[std::string(delivery.payload)];
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(stale_accepted.load(), 0);
  EXPECT_GT(stale_refused.load(), 0) << "no settle raced an expiry";
  EXPECT_EQ(finished.size(), static_cast<size_t>(kItems));
  for (const auto& [item, count] : finished) EXPECT_EQ(count, 1) << item;
  EXPECT_EQ(queue->ReadyLen(), 0u);
  EXPECT_EQ(queue->UnackedLen(), 0u);
  EXPECT_EQ(queue->Len(), queue->FailedLen());
}

TEST_F(AckQueueConcurrency, ManyConsumersAckEveryItemExactlyOnce) {
  AckQueuePtr queue = OpenQueue(WithTimeout(0ms));
  constexpr int kProducers = 2;
  constexpr int kPerProducer = 2000;
  constexpr int kConsumers = 4;
  std::mutex seen_mutex;
  std::map<std::string, int> seen;
  uint64_t failed = 0;  // Guarded by seen_mutex.
  std::atomic<int> acked{0};
  std::vector<std::thread> threads;
  for (int p = 0; p < kProducers; ++p) {
    threads.emplace_back([&, p] {
      for (int i = 0; i < kPerProducer; ++i) {
        queue->Push(std::to_string(p) + ":" + std::to_string(i));
      }
    });
  }
  for (int c = 0; c < kConsumers; ++c) {
    threads.emplace_back([&, c] {
      std::mt19937 random(c);
      while (acked.load() < kProducers * kPerProducer) {
        Deliveries got = queue->GetWait(1 + random() % 5, 20ms);
        for (size_t i = 0; i < got.size(); ++i) {
          if (random() % 7 == 0) {
            queue->Nack(got[i]);  // Someone else (or this one) gets it again.
            continue;
          }
          // Some fail instead: moves to the failed items interleave with
          // the ack log's applications (every 1,024 acks).
          const bool fail = random() % 11 == 0;
          if (fail) {
            queue->AckFailed(got[i]);
          } else {
            queue->Ack(got[i]);
          }
          std::lock_guard<std::mutex> lock(seen_mutex);
          ++seen[std::string(got[i].payload)];
          if (fail) ++failed;
          ++acked;
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(seen.size(), static_cast<size_t>(kProducers * kPerProducer));
  for (const auto& [item, count] : seen) EXPECT_EQ(count, 1) << item;
  ExpectCounts(*queue, 0, 0, failed);
  const uint64_t failed_bytes = queue->PayloadBytes();
  queue->Close();
  AckQueuePtr reopened = OpenQueue();
  ExpectCounts(*reopened, 0, 0, failed);
  EXPECT_EQ(reopened->PayloadBytes(), failed_bytes);
  EXPECT_TRUE(reopened->Get(1).empty());
}

// --- Extending a delivery ----------------------------------------------------------

using AckQueueExtend = AckTempDirTest;

TEST_F(AckQueueExtend, AnExtendedDeliveryOutlivesItsOldDeadlineAndStillSettles) {
  AckQueuePtr queue = OpenQueue(WithTimeout(300ms));
  PushNumbered(*queue, 0, 2);
  Deliveries taken = queue->Get(2);
  queue->ExtendBatch({taken[0], taken[1]}, 60s);
  std::this_thread::sleep_for(600ms);  // Twice the queue's timeout.
  ExpectCounts(*queue, 0, 2, 0);
  EXPECT_TRUE(queue->Get(1).empty());
  queue->Ack(taken[0]);
  queue->Extend(taken[1], queue->VisibilityTimeout());
  queue->Nack(taken[1]);
  ExpectCounts(*queue, 1, 0, 0);
}

TEST_F(AckQueueExtend, ADeliveryNoLongerOutstandingIsRefusedAndNothingChanges) {
  AckQueuePtr queue = OpenQueue(WithTimeout(300ms));
  PushNumbered(*queue, 0, 3);
  Deliveries taken = queue->Get(3);
  queue->Ack(taken[0]);
  ExpectNotOutstanding([&] { queue->Extend(taken[0], 60s); });
  ExpectNotOutstanding([&] { queue->ExtendBatch({taken[1], taken[0]}, 60s); });
  ExpectNotOutstanding([&] { queue->ExtendBatch({taken[1], taken[1]}, 60s); });
  // taken[1] was not extended by the refused batches: it expires on time.
  std::this_thread::sleep_for(600ms);
  ExpectCounts(*queue, 2, 0, 0);
  ExpectNotOutstanding([&] { queue->Extend(taken[1], 60s); });
  EXPECT_EQ(rocksq::testing::KindThrownBy([&] { queue->Extend(taken[2], -1ms); }),
            ErrorKind::kInvalidArgument);
}

TEST_F(AckQueueExtend, ADeliveryFromBeforeAReopenIsNotOutstanding) {
  rocksq::Delivery before;
  {
    AckQueuePtr queue = OpenQueue();
    queue->Push("item");
    Deliveries taken = queue->Get(1);
    before = taken[0];
  }
  AckQueuePtr queue = OpenQueue();
  Deliveries again = queue->Get(1);
  ExpectNotOutstanding([&] { queue->Extend(before, 60s); });
  queue->Extend(again[0], 60s);
}

// --- Unique pushes -----------------------------------------------------------------

using AckQueueUnique = AckTempDirTest;

AckOptions WithDedupWindow(uint64_t dedup_window) {
  AckOptions options;
  options.dedup_window = dedup_window;
  return options;
}

TEST_F(AckQueueUnique, AKeyStoresItsItemOnceAcrossAckAndReopen) {
  {
    AckQueuePtr queue = OpenQueue();
    EXPECT_TRUE(queue->PushUnique("key", "first"));
    EXPECT_FALSE(queue->PushUnique("key", "second"));
    EXPECT_EQ(queue->Len(), 1u);
    Deliveries taken = queue->Get(1);
    EXPECT_EQ(Payload(taken, 0), "first");
    queue->Ack(taken[0]);
    EXPECT_FALSE(queue->PushUnique("key", "third"));  // Seen, though no longer stored.
  }
  AckQueuePtr queue = OpenQueue();
  EXPECT_FALSE(queue->PushUnique("key", "fourth"));
  EXPECT_TRUE(queue->PushUnique("other", "fifth"));
  EXPECT_EQ(queue->Len(), 1u);
}

TEST_F(AckQueueUnique, ABatchStoresTheNewKeysInOrderAndARepeatedKeyOnce) {
  AckQueuePtr queue = OpenQueue();
  queue->Push("plain");
  EXPECT_TRUE(queue->PushUnique("a", "a-1"));
  const std::vector<bool> stored =
      queue->PushBatchUnique({{"a", "a-2"}, {"b", "b-1"}, {"b", "b-2"}, {"c", "c-1"}});
  EXPECT_EQ(stored, (std::vector<bool>{false, true, false, true}));
  Deliveries taken = queue->Get(10);
  ASSERT_EQ(taken.size(), 4u);
  EXPECT_EQ(Payload(taken, 1), "a-1");
  EXPECT_EQ(Payload(taken, 2), "b-1");
  EXPECT_EQ(Payload(taken, 3), "c-1");
  EXPECT_EQ(taken[3].id, 3u);  // Ids continue those of plain pushes.
  EXPECT_TRUE(queue->PushBatchUnique({}).empty());
}

TEST_F(AckQueueUnique, TheWindowForgetsTheOldestKeysFirstAcrossReopens) {
  {
    AckQueuePtr queue = OpenQueue(WithDedupWindow(3));
    for (int i = 0; i < 5; ++i) EXPECT_TRUE(queue->PushUnique("k" + std::to_string(i), "x"));
    EXPECT_FALSE(queue->PushUnique("k2", "x"));  // k2, k3, k4 are remembered.
  }
  {
    AckQueuePtr queue = OpenQueue(WithDedupWindow(3));
    EXPECT_FALSE(queue->PushUnique("k2", "x"));
    EXPECT_TRUE(queue->PushUnique("k0", "x"));  // Forgotten: new again; k2 goes.
    EXPECT_TRUE(queue->PushUnique("k2", "x"));
  }
  // A smaller window forgets the excess at the next unique push.
  AckQueuePtr queue = OpenQueue(WithDedupWindow(1));
  EXPECT_FALSE(queue->PushUnique("k2", "x"));  // Remembered: k4, k0, k2.
  EXPECT_TRUE(queue->PushUnique("new", "x"));  // Keeps only "new".
  EXPECT_FALSE(queue->PushUnique("new", "x"));
  EXPECT_TRUE(queue->PushUnique("k4", "x"));
  EXPECT_TRUE(queue->PushUnique("new", "x"));
}

TEST_F(AckQueueUnique, ABatchLargerThanTheWindowKeepsItsNewestKeys) {
  AckQueuePtr queue = OpenQueue(WithDedupWindow(2));
  EXPECT_TRUE(queue->PushUnique("old", "x"));
  EXPECT_EQ(queue->PushBatchUnique({{"k0", "x"}, {"k1", "x"}, {"k2", "x"}, {"k3", "x"}}),
            std::vector<bool>(4, true));
  EXPECT_FALSE(queue->PushUnique("k3", "x"));
  EXPECT_FALSE(queue->PushUnique("k2", "x"));
  EXPECT_TRUE(queue->PushUnique("k1", "x"));
  EXPECT_TRUE(queue->PushUnique("old", "x"));
  EXPECT_EQ(queue->Len(), 7u);
}

TEST_F(AckQueueUnique, OnlyNewItemsCountAgainstTheCapacityAndAFullPushForgetsItsKey) {
  AckQueuePtr queue = OpenQueue(WithMaxElements(2));
  EXPECT_TRUE(queue->PushUnique("a", "x"));
  EXPECT_TRUE(queue->PushUnique("b", "x"));
  EXPECT_FALSE(queue->PushUnique("a", "x"));  // Full, but nothing to store.
  EXPECT_EQ(rocksq::testing::KindThrownBy([&] { queue->PushUnique("c", "x"); }),
            ErrorKind::kQueueFull);
  EXPECT_EQ(
      rocksq::testing::KindThrownBy([&] { queue->PushBatchUnique({{"a", "x"}, {"d", "x"}}); }),
      ErrorKind::kQueueFull);
  Deliveries taken = queue->Get(1);
  queue->Ack(taken[0]);
  // Room for one: a batch of a known key and a new one fits.
  EXPECT_EQ(queue->PushBatchUnique({{"a", "x"}, {"c", "x"}}), (std::vector<bool>{false, true}));
  EXPECT_EQ(queue->Len(), 2u);
}

TEST_F(AckQueueUnique, PushUniqueWaitWakesWhenAnAckMakesRoom) {
  AckQueuePtr queue = OpenQueue(WithMaxElements(1));
  queue->Push("held");
  Deliveries taken = queue->Get(1);
  EXPECT_EQ(rocksq::testing::KindThrownBy([&] { queue->PushUniqueWait("new", "x", 50ms); }),
            ErrorKind::kQueueFull);
  std::thread acker([&] {
    std::this_thread::sleep_for(100ms);
    queue->Ack(taken[0]);
  });
  EXPECT_TRUE(queue->PushUniqueWait("new", "x", 10s));
  acker.join();
  EXPECT_FALSE(queue->PushUniqueWait("new", "x", 0ms));  // Seen: no wait, no error.
}

TEST_F(AckQueueUnique, ACrashKeepsEachItemWithItsKey) {
  const fs::path crashed = dir_ / "crashed";
  {
    AckOptions options;
    options.sync = true;
    AckQueuePtr queue = OpenQueue(options);
    EXPECT_EQ(queue->PushBatchUnique({{"a", "1"}, {"b", "2"}}), std::vector<bool>(2, true));
    EXPECT_TRUE(queue->PushUnique("c", "3"));
    rocksq::testing::CopyAsACrashLeavesIt(QueuePath(), crashed);
  }
  AckQueuePtr queue = rocksq::AckQueue::Open(crashed.string());
  EXPECT_EQ(queue->Len(), 3u);
  EXPECT_EQ(queue->PushBatchUnique({{"a", "x"}, {"b", "x"}, {"c", "x"}, {"d", "4"}}),
            (std::vector<bool>{false, false, false, true}));
}

}  // namespace
