// GoogleTest suite of the MPMC queue, written against the public header
// only: every expectation here is a promise made in
// cpp/include/rocksq/mpmc_queue.h.
//
// Each test gets its own temporary directory and opens its queue at
// QueuePath() inside it. Expiry tests use ttls of a few hundred
// milliseconds and wait a little longer than the promise they check.

#include "rocksq/rocksq.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "test_util.h"

namespace {

namespace fs = std::filesystem;
using rocksq::ErrorKind;
using rocksq::MpmcOptions;
using rocksq::MpmcRead;
using rocksq::StartPosition;
using QueuePtr = std::unique_ptr<rocksq::MpmcQueue>;
using namespace std::chrono_literals;

constexpr StartPosition kOldest = StartPosition::kOldest;
constexpr StartPosition kNewest = StartPosition::kNewest;

class MpmcTempDirTest : public rocksq::testing::TempDirTest {
 public:
  QueuePtr OpenQueue(std::chrono::milliseconds ttl = 1h) const {
    MpmcOptions options;
    options.ttl = ttl;
    return rocksq::MpmcQueue::Open(QueuePath(), options);
  }
};

using MpmcQueue = MpmcTempDirTest;
using MpmcQueueLabels = MpmcTempDirTest;
using MpmcQueuePersistence = MpmcTempDirTest;
using MpmcQueueExpiry = MpmcTempDirTest;
using MpmcQueueLifecycle = MpmcTempDirTest;
using MpmcQueueConcurrency = MpmcTempDirTest;

// --- Helpers -----------------------------------------------------------------

std::vector<std::string> NumberedItems(int count, const std::string& prefix = "item-") {
  std::vector<std::string> items;
  for (int i = 0; i < count; ++i) items.push_back(prefix + std::to_string(i));
  return items;
}

void AddAll(rocksq::MpmcQueue& queue, const std::vector<std::string>& items) {
  queue.AddBatch(std::vector<std::string_view>(items.begin(), items.end()));
}

std::vector<std::string> Copies(const MpmcRead& read) {
  std::vector<std::string> copies;
  for (size_t i = 0; i < read.items.size(); ++i) copies.push_back(read.items.ToString(i));
  return copies;
}

std::vector<std::string> ReadAll(rocksq::MpmcQueue& queue, const std::string& label,
                                 StartPosition start = kOldest) {
  return Copies(queue.Next(label, start, 1'000'000));
}

template <typename Call>
::testing::AssertionResult ThrowsError(Call&& call, ErrorKind kind,
                                       const std::string& detail_part = "") {
  try {
    call();
  } catch (const rocksq::Error& error) {
    if (error.kind() != kind) {
      return ::testing::AssertionFailure() << "threw " << rocksq::ErrorKindName(error.kind())
                                           << ", want " << rocksq::ErrorKindName(kind)
                                           << "; what(): " << error.what();
    }
    if (error.detail().find(detail_part) == std::string::npos) {
      return ::testing::AssertionFailure()
             << "detail lacks \"" << detail_part << "\"; what(): " << error.what();
    }
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << "threw nothing, want " << rocksq::ErrorKindName(kind);
}

// Polls `condition` until it holds or `limit` passes; returns whether it held.
template <typename Condition>
bool Eventually(Condition condition, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return condition();
}

// --- Reading by label -------------------------------------------------------

TEST_F(MpmcQueue, NewQueueIsEmptyWithoutLabels) {
  QueuePtr queue = OpenQueue();
  EXPECT_EQ(queue->Len(), 0u);
  EXPECT_TRUE(queue->IsEmpty());
  EXPECT_EQ(queue->PayloadBytes(), 0u);
  EXPECT_TRUE(queue->Labels().empty());
}

TEST_F(MpmcQueue, LabelAtOldestReadsEveryElementInAddOrder) {
  QueuePtr queue = OpenQueue();
  queue->Add("a");
  AddAll(*queue, {"b", "c"});
  MpmcRead read = queue->Next("reader", kOldest, 10);
  EXPECT_EQ(Copies(read), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_FALSE(read.expired);
}

TEST_F(MpmcQueue, NextReturnsAtMostMaxItemsAndContinuesWhereItStopped) {
  QueuePtr queue = OpenQueue();
  AddAll(*queue, NumberedItems(5));
  EXPECT_EQ(Copies(queue->Next("reader", kOldest, 2)),
            (std::vector<std::string>{"item-0", "item-1"}));
  EXPECT_EQ(Copies(queue->Next("reader", kOldest)), (std::vector<std::string>{"item-2"}));
  EXPECT_EQ(Copies(queue->Next("reader", kOldest, 10)),
            (std::vector<std::string>{"item-3", "item-4"}));
}

TEST_F(MpmcQueue, ReadingDoesNotRemoveElements) {
  QueuePtr queue = OpenQueue();
  AddAll(*queue, NumberedItems(3));
  ReadAll(*queue, "reader");
  EXPECT_EQ(queue->Len(), 3u);
  EXPECT_EQ(ReadAll(*queue, "other"), NumberedItems(3));
}

TEST_F(MpmcQueue, OldestOnEmptyQueueReadsElementsAddedLater) {
  QueuePtr queue = OpenQueue();
  EXPECT_TRUE(queue->Next("reader", kOldest, 10).items.empty());
  AddAll(*queue, {"a", "b"});
  EXPECT_EQ(ReadAll(*queue, "reader"), (std::vector<std::string>{"a", "b"}));
}

TEST_F(MpmcQueue, NewestOnEmptyQueueReadsEveryElementAddedLater) {
  QueuePtr queue = OpenQueue();
  EXPECT_TRUE(queue->Next("reader", kNewest, 10).items.empty());
  AddAll(*queue, {"a", "b"});
  EXPECT_EQ(ReadAll(*queue, "reader"), (std::vector<std::string>{"a", "b"}));
}

TEST_F(MpmcQueue, NewestOnNonEmptyQueueStartsAtTheNewestElement) {
  QueuePtr queue = OpenQueue();
  AddAll(*queue, {"a", "b", "c"});
  EXPECT_EQ(ReadAll(*queue, "reader", kNewest), (std::vector<std::string>{"c"}));
  queue->Add("d");
  EXPECT_EQ(ReadAll(*queue, "reader", kNewest), (std::vector<std::string>{"d"}));
}

TEST_F(MpmcQueue, LabelPastTheEndReadsNothingThenSeesNewElements) {
  QueuePtr queue = OpenQueue();
  AddAll(*queue, {"a"});
  ReadAll(*queue, "reader");
  MpmcRead past_end = queue->Next("reader", kOldest, 10);
  EXPECT_TRUE(past_end.items.empty());
  EXPECT_FALSE(past_end.expired);
  AddAll(*queue, {"b", "c"});
  EXPECT_EQ(ReadAll(*queue, "reader"), (std::vector<std::string>{"b", "c"}));
}

TEST_F(MpmcQueue, StartPositionIsIgnoredForAnExistingLabel) {
  QueuePtr queue = OpenQueue();
  AddAll(*queue, {"a", "b", "c"});
  queue->Next("reader", kOldest, 1);
  EXPECT_EQ(ReadAll(*queue, "reader", kNewest), (std::vector<std::string>{"b", "c"}));
}

TEST_F(MpmcQueue, EmptyElementRoundTrips) {
  QueuePtr queue = OpenQueue();
  queue->Add("");
  queue->Add(std::string("\0x\0", 3));
  EXPECT_EQ(ReadAll(*queue, "reader"), (std::vector<std::string>{"", std::string("\0x\0", 3)}));
}

TEST_F(MpmcQueue, LenAndPayloadBytesCountAddedElements) {
  QueuePtr queue = OpenQueue();
  AddAll(*queue, {"a", "bb", "ccc"});
  queue->Add("dddd");
  EXPECT_EQ(queue->Len(), 4u);
  EXPECT_FALSE(queue->IsEmpty());
  EXPECT_EQ(queue->PayloadBytes(), 10u);
  EXPECT_GT(queue->DiskBytes(), 0u);
}

TEST_F(MpmcQueue, AddBatchOfNoElementsStoresNothing) {
  QueuePtr queue = OpenQueue();
  queue->AddBatch({});
  EXPECT_EQ(queue->Len(), 0u);
}

// --- Labels -------------------------------------------------------------------

TEST_F(MpmcQueueLabels, LabelsAtDifferentSpeedsReadIndependently) {
  QueuePtr queue = OpenQueue();
  AddAll(*queue, NumberedItems(6));
  EXPECT_EQ(Copies(queue->Next("fast", kOldest, 4)), std::vector<std::string>(
                                                         {"item-0", "item-1", "item-2", "item-3"}));
  EXPECT_EQ(Copies(queue->Next("slow", kOldest, 1)), std::vector<std::string>({"item-0"}));
  EXPECT_EQ(Copies(queue->Next("fast", kOldest, 4)),
            std::vector<std::string>({"item-4", "item-5"}));
  EXPECT_EQ(Copies(queue->Next("slow", kOldest, 2)),
            std::vector<std::string>({"item-1", "item-2"}));
}

TEST_F(MpmcQueueLabels, LabelsListsEveryLabelInByteOrder) {
  QueuePtr queue = OpenQueue();
  queue->Next("b", kOldest);
  queue->Next("a", kNewest);
  queue->Next("c", kOldest, 0);
  EXPECT_EQ(queue->Labels(), (std::vector<std::string>{"a", "b", "c"}));
}

TEST_F(MpmcQueueLabels, RemovedLabelStartsAfreshWhenUsedAgain) {
  QueuePtr queue = OpenQueue();
  AddAll(*queue, {"a", "b", "c"});
  ReadAll(*queue, "reader");
  EXPECT_TRUE(queue->RemoveLabel("reader"));
  EXPECT_TRUE(queue->Labels().empty());
  EXPECT_EQ(ReadAll(*queue, "reader"), (std::vector<std::string>{"a", "b", "c"}));
}

TEST_F(MpmcQueueLabels, RemovingAnUnknownLabelReturnsFalse) {
  QueuePtr queue = OpenQueue();
  EXPECT_FALSE(queue->RemoveLabel("nobody"));
  queue->Next("reader", kOldest);
  EXPECT_TRUE(queue->RemoveLabel("reader"));
  EXPECT_FALSE(queue->RemoveLabel("reader"));
}

TEST_F(MpmcQueueLabels, EmptyLabelIsALabelThatSurvivesReopen) {
  {
    QueuePtr queue = OpenQueue();
    AddAll(*queue, {"a", "b"});
    EXPECT_EQ(Copies(queue->Next("", kOldest)), (std::vector<std::string>{"a"}));
    EXPECT_EQ(queue->Labels(), (std::vector<std::string>{""}));
  }
  QueuePtr reopened = OpenQueue();
  EXPECT_EQ(Copies(reopened->Next("", kNewest)), (std::vector<std::string>{"b"}));
  EXPECT_TRUE(reopened->RemoveLabel(""));
}

// --- Persistence ------------------------------------------------------------

TEST_F(MpmcQueuePersistence, ElementsLabelsAndPositionsSurviveReopen) {
  {
    QueuePtr queue = OpenQueue();
    AddAll(*queue, NumberedItems(5));
    queue->Next("fast", kOldest, 4);
    queue->Next("slow", kOldest, 1);
    queue->Next("idle", kNewest, 0);
    queue->Close();
  }
  QueuePtr queue = OpenQueue();
  EXPECT_EQ(queue->Len(), 5u);
  EXPECT_EQ(queue->PayloadBytes(), 30u);
  EXPECT_EQ(queue->Labels(), (std::vector<std::string>{"fast", "idle", "slow"}));
  EXPECT_EQ(ReadAll(*queue, "fast"), (std::vector<std::string>{"item-4"}));
  EXPECT_EQ(ReadAll(*queue, "slow"),
            (std::vector<std::string>{"item-1", "item-2", "item-3", "item-4"}));
  EXPECT_EQ(ReadAll(*queue, "idle"), (std::vector<std::string>{"item-4"}));
}

TEST_F(MpmcQueuePersistence, ElementsAddedAfterReopenFollowEarlierOnes) {
  {
    QueuePtr queue = OpenQueue();
    AddAll(*queue, {"a", "b"});
    ReadAll(*queue, "reader");
  }
  QueuePtr queue = OpenQueue();
  queue->Add("c");
  EXPECT_EQ(ReadAll(*queue, "reader"), (std::vector<std::string>{"c"}));
  EXPECT_EQ(ReadAll(*queue, "new"), (std::vector<std::string>{"a", "b", "c"}));
}

TEST_F(MpmcQueuePersistence, RemovedLabelStaysRemovedAfterReopen) {
  {
    QueuePtr queue = OpenQueue();
    queue->Next("reader", kOldest);
    queue->RemoveLabel("reader");
  }
  EXPECT_TRUE(OpenQueue()->Labels().empty());
}

// --- Expiry -------------------------------------------------------------------

TEST_F(MpmcQueueExpiry, ExpiredElementsAreNeverReturnedAndStopCounting) {
  QueuePtr queue = OpenQueue(300ms);
  AddAll(*queue, {"a", "bb"});
  EXPECT_EQ(queue->Len(), 2u);
  std::this_thread::sleep_for(400ms);
  EXPECT_EQ(queue->Len(), 0u);
  EXPECT_TRUE(queue->IsEmpty());
  EXPECT_EQ(queue->PayloadBytes(), 0u);
  EXPECT_TRUE(queue->Next("late", kOldest, 10).items.empty());
}

TEST_F(MpmcQueueExpiry, ReaderBeforeTheExpiredRangeSkipsToLiveElementsAndIsTold) {
  QueuePtr queue = OpenQueue(400ms);
  queue->Next("reader", kOldest, 0);
  AddAll(*queue, {"old-1", "old-2"});
  std::this_thread::sleep_for(500ms);
  AddAll(*queue, {"new"});
  MpmcRead read = queue->Next("reader", kOldest, 10);
  EXPECT_EQ(Copies(read), (std::vector<std::string>{"new"}));
  EXPECT_TRUE(read.expired);
  MpmcRead again = queue->Next("reader", kOldest, 10);
  EXPECT_FALSE(again.expired);  // Told once.
}

TEST_F(MpmcQueueExpiry, ReaderInsideTheExpiredRangeSkipsToLiveElementsAndIsTold) {
  QueuePtr queue = OpenQueue(400ms);
  AddAll(*queue, {"old-1", "old-2", "old-3"});
  queue->Next("reader", kOldest, 1);
  std::this_thread::sleep_for(500ms);
  AddAll(*queue, {"new"});
  MpmcRead read = queue->Next("reader", kOldest, 10);
  EXPECT_EQ(Copies(read), (std::vector<std::string>{"new"}));
  EXPECT_TRUE(read.expired);
}

TEST_F(MpmcQueueExpiry, ReaderAfterTheExpiredRangeIsNotTold) {
  QueuePtr queue = OpenQueue(400ms);
  AddAll(*queue, {"old-1", "old-2"});
  ReadAll(*queue, "reader");
  std::this_thread::sleep_for(500ms);
  AddAll(*queue, {"new"});
  MpmcRead read = queue->Next("reader", kOldest, 10);
  EXPECT_EQ(Copies(read), (std::vector<std::string>{"new"}));
  EXPECT_FALSE(read.expired);
}

TEST_F(MpmcQueueExpiry, NewLabelIsNeverToldOfExpiry) {
  QueuePtr queue = OpenQueue(300ms);
  AddAll(*queue, {"old"});
  std::this_thread::sleep_for(400ms);
  queue->Add("new");
  MpmcRead read = queue->Next("reader", kOldest, 10);
  EXPECT_EQ(Copies(read), (std::vector<std::string>{"new"}));
  EXPECT_FALSE(read.expired);
}

TEST_F(MpmcQueueExpiry, ElementsExpireOneByOneInAddOrder) {
  QueuePtr queue = OpenQueue(600ms);
  queue->Add("first");
  std::this_thread::sleep_for(300ms);
  queue->Add("second");
  std::this_thread::sleep_for(400ms);  // "first" expired, "second" not.
  EXPECT_EQ(queue->Len(), 1u);
  EXPECT_EQ(queue->PayloadBytes(), 6u);
  EXPECT_EQ(ReadAll(*queue, "reader"), (std::vector<std::string>{"second"}));
}

TEST_F(MpmcQueueExpiry, ElementsExpireWhileTheQueueIsClosed) {
  {
    QueuePtr queue = OpenQueue(300ms);
    AddAll(*queue, {"a", "b"});
    queue->Next("reader", kOldest, 1);
  }
  std::this_thread::sleep_for(400ms);
  QueuePtr queue = OpenQueue(300ms);
  EXPECT_EQ(queue->Len(), 0u);
  queue->Add("c");
  MpmcRead read = queue->Next("reader", kOldest, 10);
  EXPECT_EQ(Copies(read), (std::vector<std::string>{"c"}));
  EXPECT_TRUE(read.expired);
}

TEST_F(MpmcQueueExpiry, PositionsGoOnAfterEveryElementExpiredAndWasDeleted) {
  {
    QueuePtr queue = OpenQueue(200ms);
    AddAll(*queue, NumberedItems(3));
    ReadAll(*queue, "reader");
    // Give the sweeper time to delete the elements from disk.
    std::this_thread::sleep_for(600ms);
  }
  QueuePtr queue = OpenQueue(1h);
  EXPECT_EQ(queue->Len(), 0u);
  queue->Add("next");
  MpmcRead read = queue->Next("reader", kOldest, 10);
  EXPECT_EQ(Copies(read), (std::vector<std::string>{"next"}));
  EXPECT_FALSE(read.expired);
  EXPECT_EQ(ReadAll(*queue, "fresh"), (std::vector<std::string>{"next"}));
}

TEST_F(MpmcQueueExpiry, ReopeningWithALongerTtlRevivesNothingAlreadyDeleted) {
  {
    QueuePtr queue = OpenQueue(200ms);
    AddAll(*queue, {"a"});
    std::this_thread::sleep_for(600ms);
  }
  QueuePtr queue = OpenQueue(1h);
  EXPECT_EQ(queue->Len(), 0u);
  EXPECT_TRUE(queue->Next("reader", kOldest, 10).items.empty());
}

// Leaves at QueuePath() a queue whose first segment (elements added within
// ttl / 1000 of each other, expired together by Len()) holds "a" and, 1 s
// later, "b", by adding them with a ttl of an hour; then reopens it with a
// ttl of 1.5 s and waits until "a" has expired and "b" has not. Len() may
// still count "a" then; Next() must not return it.
QueuePtr OpenWithHalfExpiredSegment(const MpmcTempDirTest& test, bool with_reader) {
  const auto added = std::chrono::steady_clock::now();
  {
    QueuePtr queue = test.OpenQueue(1h);
    if (with_reader) queue->Next("reader", kOldest, 0);
    queue->Add("a");
    std::this_thread::sleep_for(1s);
    queue->Add("b");
  }
  QueuePtr queue = test.OpenQueue(1500ms);
  std::this_thread::sleep_until(added + 2s);
  return queue;
}

TEST_F(MpmcQueueExpiry, NextChecksEachElementsOwnAddTime) {
  QueuePtr queue = OpenWithHalfExpiredSegment(*this, /*with_reader=*/true);
  MpmcRead read = queue->Next("reader", kOldest, 10);
  EXPECT_EQ(Copies(read), (std::vector<std::string>{"b"}));
  EXPECT_TRUE(read.expired);
}

TEST_F(MpmcQueueExpiry, NewLabelSkippingAnExpiredElementIsNotTold) {
  QueuePtr queue = OpenWithHalfExpiredSegment(*this, /*with_reader=*/false);
  MpmcRead read = queue->Next("new", kOldest, 10);
  EXPECT_EQ(Copies(read), (std::vector<std::string>{"b"}));
  EXPECT_FALSE(read.expired);
}

TEST_F(MpmcQueueExpiry, ExpiredDiskSpaceIsReclaimedWithoutAnyCall) {
  QueuePtr queue = OpenQueue(500ms);
  const std::string payload(1 << 20, 'x');
  for (int i = 0; i < 64; ++i) queue->Add(payload);
  const uint64_t full = queue->DiskBytes();
  EXPECT_GT(full, 60u << 20);
  // Left alone: nothing reads, nothing is called but DiskBytes().
  EXPECT_TRUE(Eventually([&] { return queue->DiskBytes() < (4u << 20); }, 5s))
      << "still " << queue->DiskBytes() << " bytes on disk, " << full << " when full";
}

TEST_F(MpmcQueueExpiry, TtlOutOfRangeThrowsInvalidArgument) {
  EXPECT_TRUE(ThrowsError([&] { OpenQueue(0ms); }, ErrorKind::kInvalidArgument, "ttl"));
  EXPECT_TRUE(ThrowsError([&] { OpenQueue(-1ms); }, ErrorKind::kInvalidArgument, "ttl"));
  EXPECT_TRUE(ThrowsError([&] { OpenQueue(rocksq::kMaxTtl + 1ms); }, ErrorKind::kInvalidArgument,
                          "ttl"));
  EXPECT_FALSE(fs::exists(QueuePath()));
}

// --- Lifecycle ----------------------------------------------------------------

TEST_F(MpmcQueueLifecycle, CloseReturnsPromptlyWhileTheSweeperWaits) {
  QueuePtr queue = OpenQueue(24h);
  queue->Add("a");
  std::this_thread::sleep_for(50ms);
  const auto start = std::chrono::steady_clock::now();
  queue->Close();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
}

TEST_F(MpmcQueueLifecycle, CallsAfterCloseThrowClosed) {
  QueuePtr queue = OpenQueue();
  queue->Close();
  EXPECT_TRUE(ThrowsError([&] { queue->Add("a"); }, ErrorKind::kClosed));
  EXPECT_TRUE(ThrowsError([&] { queue->Next("r", kOldest); }, ErrorKind::kClosed));
  EXPECT_TRUE(ThrowsError([&] { queue->Len(); }, ErrorKind::kClosed));
  EXPECT_TRUE(ThrowsError([&] { queue->Labels(); }, ErrorKind::kClosed));
  EXPECT_TRUE(ThrowsError([&] { queue->RemoveLabel("r"); }, ErrorKind::kClosed));
  queue->Close();  // A second Close() does nothing.
}

TEST_F(MpmcQueueLifecycle, OpeningTheSamePathTwiceThrowsAlreadyOpen) {
  QueuePtr queue = OpenQueue();
  EXPECT_TRUE(ThrowsError([&] { OpenQueue(); }, ErrorKind::kAlreadyOpen));
}

TEST_F(MpmcQueueLifecycle, FifoQueueOpenedAsMpmcThrowsNotAQueueNamingWhatItHolds) {
  rocksq::FifoQueue::Open(QueuePath())->Push("fifo item");
  EXPECT_TRUE(ThrowsError([&] { OpenQueue(); }, ErrorKind::kNotAQueue,
                          "holds a RocksQ FIFO queue, not an MPMC queue"));
  EXPECT_TRUE(ThrowsError([&] { rocksq::MpmcQueue::Destroy(QueuePath()); },
                          ErrorKind::kNotAQueue, "FIFO queue"));
  EXPECT_EQ(rocksq::FifoQueue::Open(QueuePath())->Len(), 1u);
}

TEST_F(MpmcQueueLifecycle, MpmcQueueOpenedAsFifoThrowsNotAQueueNamingWhatItHolds) {
  OpenQueue()->Add("mpmc element");
  EXPECT_TRUE(ThrowsError([&] { rocksq::FifoQueue::Open(QueuePath()); }, ErrorKind::kNotAQueue,
                          "holds a RocksQ MPMC queue, not a FIFO queue"));
  EXPECT_TRUE(ThrowsError([&] { rocksq::FifoQueue::Destroy(QueuePath()); },
                          ErrorKind::kNotAQueue, "MPMC queue"));
  EXPECT_EQ(OpenQueue()->Len(), 1u);
}

TEST_F(MpmcQueueLifecycle, DestroyRemovesTheQueue) {
  OpenQueue()->Add("a");
  rocksq::MpmcQueue::Destroy(QueuePath());
  EXPECT_FALSE(fs::exists(QueuePath()));
  rocksq::MpmcQueue::Destroy(QueuePath());  // Missing: nothing to do.
}

TEST_F(MpmcQueueLifecycle, DestroyOfOpenQueueThrowsAlreadyOpen) {
  QueuePtr queue = OpenQueue();
  EXPECT_TRUE(ThrowsError([&] { rocksq::MpmcQueue::Destroy(QueuePath()); },
                          ErrorKind::kAlreadyOpen));
}

// --- Concurrency --------------------------------------------------------------

TEST_F(MpmcQueueConcurrency, EveryLabelSeesEveryElementOnceInAddOrder) {
  constexpr int kProducers = 4;
  constexpr int kPerProducer = 2000;
  constexpr int kLabels = 3;
  QueuePtr queue = OpenQueue();
  std::atomic<int> producers_done{0};
  std::vector<std::vector<std::string>> seen(kLabels);
  std::vector<std::thread> threads;
  for (int p = 0; p < kProducers; ++p) {
    threads.emplace_back([&, p] {
      for (int i = 0; i < kPerProducer; i += 2) {
        const std::string first = std::to_string(p) + ":" + std::to_string(i);
        const std::string second = std::to_string(p) + ":" + std::to_string(i + 1);
        queue->AddBatch({first, second});
      }
      producers_done.fetch_add(1);
    });
  }
  for (int l = 0; l < kLabels; ++l) {
    threads.emplace_back([&, l] {
      const std::string label = "label-" + std::to_string(l);
      for (;;) {
        const bool done = producers_done.load() == kProducers;
        MpmcRead read = queue->Next(label, kOldest, static_cast<size_t>(l * 7 + 1));
        for (size_t i = 0; i < read.items.size(); ++i) seen[l].push_back(read.items.ToString(i));
        if (done && read.items.empty()) return;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();

  // Every label saw the same sequence: each element once, each producer's in
  // its order.
  for (int l = 0; l < kLabels; ++l) {
    ASSERT_EQ(seen[l].size(), static_cast<size_t>(kProducers * kPerProducer)) << "label " << l;
    EXPECT_EQ(seen[l], seen[0]) << "label " << l;
    std::map<int, int> next_of_producer;
    for (const std::string& item : seen[l]) {
      const int producer = std::stoi(item.substr(0, item.find(':')));
      const int sequence = std::stoi(item.substr(item.find(':') + 1));
      ASSERT_EQ(sequence, next_of_producer[producer]) << "label " << l << " item " << item;
      ++next_of_producer[producer];
    }
  }
}

TEST_F(MpmcQueueConcurrency, ThreadsSharingALabelGetEachElementOnce) {
  constexpr int kElements = 5000;
  constexpr int kReaders = 4;
  QueuePtr queue = OpenQueue();
  AddAll(*queue, NumberedItems(kElements));
  std::vector<std::vector<std::string>> seen(kReaders);
  std::vector<std::thread> readers;
  for (int r = 0; r < kReaders; ++r) {
    readers.emplace_back([&, r] {
      for (;;) {
        MpmcRead read = queue->Next("shared", kOldest, 3);
        if (read.items.empty()) return;
        for (size_t i = 0; i < read.items.size(); ++i) seen[r].push_back(read.items.ToString(i));
      }
    });
  }
  for (std::thread& reader : readers) reader.join();
  std::vector<std::string> all;
  for (const auto& part : seen) all.insert(all.end(), part.begin(), part.end());
  std::sort(all.begin(), all.end());
  std::vector<std::string> expected = NumberedItems(kElements);
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(all, expected);
}

TEST_F(MpmcQueueConcurrency, RemoveLabelRacingWithNextLeavesNoStoredGhost) {
  QueuePtr queue = OpenQueue();
  AddAll(*queue, NumberedItems(100));
  std::atomic<bool> stop{false};
  std::thread reader([&] {
    while (!stop.load()) queue->Next("racer", kOldest, 1);
  });
  for (int i = 0; i < 200; ++i) queue->RemoveLabel("racer");
  stop.store(true);
  reader.join();
  const bool in_memory = !queue->Labels().empty();
  queue->Close();
  QueuePtr reopened = OpenQueue();
  EXPECT_EQ(!reopened->Labels().empty(), in_memory);
}

// --- Change listener ----------------------------------------------------------

using MpmcQueueChangeListener = MpmcTempDirTest;

TEST_F(MpmcQueueChangeListener, IsCalledAfterAddsAndLabelRemovalsUntilRemoved) {
  QueuePtr queue = OpenQueue();
  std::atomic<int> calls{0};
  queue->SetChangeListener([&] { ++calls; });
  queue->Add("a");
  AddAll(*queue, {"b", "c"});
  EXPECT_EQ(calls.load(), 2);
  AddAll(*queue, {});  // Stores nothing.
  queue->Next("reader", kOldest, 10);  // Makes nothing readable.
  EXPECT_EQ(calls.load(), 2);
  EXPECT_TRUE(queue->RemoveLabel("reader"));  // Its next Next() reads again.
  EXPECT_EQ(calls.load(), 3);
  EXPECT_FALSE(queue->RemoveLabel("reader"));
  EXPECT_EQ(calls.load(), 3);
  queue->SetChangeListener(nullptr);
  queue->Add("d");
  EXPECT_EQ(calls.load(), 3);
}

TEST_F(MpmcQueueChangeListener, RunsOnTheAddingThreadOnceTheElementsAreReadable) {
  QueuePtr queue = OpenQueue();
  queue->Next("reader", kNewest, 0);  // Placed at the next element added.
  std::promise<std::thread::id> called;
  queue->SetChangeListener([&] { called.set_value(std::this_thread::get_id()); });
  std::thread adder([&] { AddAll(*queue, {"x", "y"}); });
  const std::thread::id adder_id = adder.get_id();
  // What an event loop does when woken: read, on a thread of its own.
  EXPECT_EQ(called.get_future().get(), adder_id);
  EXPECT_EQ(Copies(queue->Next("reader", kOldest, 10)), (std::vector<std::string>{"x", "y"}));
  adder.join();
}

TEST_F(MpmcQueueChangeListener, AFailedAddDoesNotCallIt) {
  QueuePtr queue = OpenQueue();
  std::atomic<int> calls{0};
  queue->SetChangeListener([&] { ++calls; });
  queue->Close();
  EXPECT_TRUE(ThrowsError([&] { queue->Add("late"); }, ErrorKind::kClosed));
  EXPECT_EQ(calls.load(), 0);
}

}  // namespace
