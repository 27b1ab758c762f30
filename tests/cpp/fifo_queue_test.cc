// GoogleTest suite of the RocksQ C++ core, written against the public header
// only: every expectation here is a promise made in cpp/include/rocksq/.
//
// Each test gets its own temporary directory (rocksq::testing::TempDirTest,
// test_util.h) and opens its queue at QueuePath() inside it.

#include "rocksq/rocksq.h"

#include <gtest/gtest.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <future>
#include <iterator>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "test_util.h"

namespace {

namespace fs = std::filesystem;
using rocksq::ErrorKind;
using rocksq::FifoOptions;
using rocksq::PoppedItems;
using QueuePtr = std::unique_ptr<rocksq::FifoQueue>;
using namespace std::chrono_literals;

// --- Fixture -----------------------------------------------------------------

class FifoQueueTest : public rocksq::testing::TempDirTest {
 protected:
  QueuePtr OpenQueue(const FifoOptions& options = {}) const {
    return rocksq::FifoQueue::Open(QueuePath(), options);
  }
};

// Suites group the behaviours; all share the temporary-directory fixture.
using FifoQueue = FifoQueueTest;
using FifoQueueCapacity = FifoQueueTest;
using FifoQueuePersistence = FifoQueueTest;
using FifoQueueLifecycle = FifoQueueTest;
using FifoQueueOptions = FifoQueueTest;
using FifoQueueErrors = FifoQueueTest;
using FifoQueueAfterClose = FifoQueueTest;
using PoppedItemsLifetime = FifoQueueTest;
using FifoQueueConcurrency = FifoQueueTest;

// --- Helpers -----------------------------------------------------------------

FifoOptions WithMaxElements(uint64_t max_elements) {
  FifoOptions options;
  options.max_elements = max_elements;
  return options;
}

// "item-0", "item-1", ...: distinct, recognisable items.
std::vector<std::string> NumberedItems(int count, const std::string& prefix = "item-") {
  std::vector<std::string> items;
  for (int i = 0; i < count; ++i) items.push_back(prefix + std::to_string(i));
  return items;
}

// `size` pseudo-random bytes, NULs and high bytes included.
std::string RandomBytes(size_t size, uint32_t seed) {
  std::mt19937 generator(seed);
  std::string bytes(size, '\0');
  for (char& byte : bytes) byte = static_cast<char>(generator() & 0xff);
  return bytes;
}

std::vector<std::string_view> Views(const std::vector<std::string>& items) {
  return {items.begin(), items.end()};
}

std::vector<std::string> Copies(const PoppedItems& items) {
  std::vector<std::string> copies;
  for (size_t i = 0; i < items.size(); ++i) copies.push_back(items.ToString(i));
  return copies;
}

void PushAll(rocksq::FifoQueue& queue, const std::vector<std::string>& items) {
  for (const std::string& item : items) queue.Push(item);
}

// Pops until the queue reports no items, copying every item out.
std::vector<std::string> PopAll(rocksq::FifoQueue& queue) {
  std::vector<std::string> all;
  for (;;) {
    PoppedItems items = queue.Pop(1000);
    if (items.empty()) return all;
    for (size_t i = 0; i < items.size(); ++i) all.push_back(items.ToString(i));
  }
}

// Succeeds if `call` throws rocksq::Error of `kind` whose message reads
// "KIND: PATH: DETAIL" with a non-empty detail. `path`, when given, must be
// the error's path; it is left out where the test spells the path unusually.
template <typename Call>
::testing::AssertionResult ThrowsError(Call&& call, ErrorKind kind,
                                       const std::optional<std::string>& path) {
  try {
    call();
  } catch (const rocksq::Error& error) {
    const std::string what = error.what();
    if (error.kind() != kind) {
      return ::testing::AssertionFailure()
             << "threw " << rocksq::ErrorKindName(error.kind()) << ", want "
             << rocksq::ErrorKindName(kind) << "; what(): " << what;
    }
    if (path && error.path() != *path) {
      return ::testing::AssertionFailure()
             << "error path is \"" << error.path() << "\", want \"" << *path
             << "\"; what(): " << what;
    }
    if (error.detail().empty()) {
      return ::testing::AssertionFailure() << "empty detail; what(): " << what;
    }
    const std::string expected = std::string(rocksq::ErrorKindName(kind)) + ": " +
                                 error.path() + ": " + error.detail();
    if (what != expected) {
      return ::testing::AssertionFailure()
             << "what() is \"" << what << "\", want \"" << expected << "\"";
    }
    return ::testing::AssertionSuccess();
  } catch (const std::exception& other) {
    return ::testing::AssertionFailure()
           << "threw a non-rocksq exception: " << other.what();
  }
  return ::testing::AssertionFailure()
         << "threw nothing, want " << rocksq::ErrorKindName(kind);
}

// Runs `call` on another thread and returns its result. If it has not
// returned after `limit`, the process exits with a message: a call that
// blocks forever fails its test instead of stalling ctest.
template <typename Call>
auto ReturnsWithin(std::chrono::seconds limit, const char* what, Call call) {
  auto result = std::async(std::launch::async, std::move(call));
  if (result.wait_for(limit) != std::future_status::ready) {
    std::fprintf(stderr, "FAILED: %s did not return within %lld s\n", what,
                 static_cast<long long>(limit.count()));
    std::fflush(stderr);
    std::_Exit(1);
  }
  return result.get();
}

std::set<std::string> DirectoryListing(const fs::path& dir) {
  std::set<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) {
    names.insert(entry.path().filename().string());
  }
  return names;
}

using rocksq::testing::ReadFile;
using rocksq::testing::WriteFile;

// Another process holding a queue open is this test binary started again
// with ROCKSQ_TEST_HOLD_QUEUE set: the global environment below then opens
// that queue, reports on one pipe, waits on another, and exits without
// running a test. A fresh exec, not a bare fork, because a forked child
// inherits RocksDB's background thread pool without its threads.
constexpr char kHoldQueueVariable[] = "ROCKSQ_TEST_HOLD_QUEUE";
constexpr char kReportFdVariable[] = "ROCKSQ_TEST_REPORT_FD";
constexpr char kReleaseFdVariable[] = "ROCKSQ_TEST_RELEASE_FD";

class QueueHolderEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    const char* path = std::getenv(kHoldQueueVariable);
    if (path == nullptr) return;
    const int report_fd = std::atoi(std::getenv(kReportFdVariable));
    const int release_fd = std::atoi(std::getenv(kReleaseFdVariable));
    char report = 'E';
    try {
      QueuePtr queue = rocksq::FifoQueue::Open(path);
      report = 'O';
      (void)!::write(report_fd, &report, 1);
      char release;
      (void)!::read(release_fd, &release, 1);  // Returns at the parent's byte or exit.
      ::_exit(0);  // Skips the queue's destructor: the lock goes with the process.
    } catch (...) {
      (void)!::write(report_fd, &report, 1);
      ::_exit(1);
    }
  }
};
::testing::Environment* const queue_holder_environment =
    ::testing::AddGlobalTestEnvironment(new QueueHolderEnvironment);

// Holds the queue at `path` open in another process while this object lives.
class QueueHeldByChildProcess {
 public:
  explicit QueueHeldByChildProcess(const std::string& path) {
    int to_parent[2];
    int to_child[2];
    if (::pipe(to_parent) != 0 || ::pipe(to_child) != 0) return;
    from_child_ = to_parent[0];
    to_child_ = to_child[1];

    // Everything the child needs is built before fork(): after it, the child
    // calls only async-signal-safe functions until execve().
    std::vector<std::string> environment;
    for (char** variable = environ; *variable != nullptr; ++variable) {
      environment.emplace_back(*variable);
    }
    environment.push_back(std::string(kHoldQueueVariable) + "=" + path);
    environment.push_back(std::string(kReportFdVariable) + "=" + std::to_string(to_parent[1]));
    environment.push_back(std::string(kReleaseFdVariable) + "=" + std::to_string(to_child[0]));
    std::vector<char*> envp;
    for (std::string& variable : environment) envp.push_back(variable.data());
    envp.push_back(nullptr);
    // The environment acts only if a test is selected; this one is cheap.
    std::string program = "/proc/self/exe";
    std::string filter = "--gtest_filter=FifoQueueErrors.WhatJoinsKindPathAndDetail";
    char* argv[] = {program.data(), filter.data(), nullptr};
    const int dev_null = ::open("/dev/null", O_WRONLY);

    child_ = ::fork();
    if (child_ == 0) {
      ::close(from_child_);
      ::close(to_child_);
      if (dev_null >= 0) ::dup2(dev_null, STDOUT_FILENO);
      ::execve(program.c_str(), argv, envp.data());
      ::_exit(127);
    }
    if (dev_null >= 0) ::close(dev_null);
    ::close(to_parent[1]);
    ::close(to_child[0]);
    if (child_ < 0) return;

    pollfd wait_for_report{from_child_, POLLIN, 0};
    char report = 'E';
    if (::poll(&wait_for_report, 1, 10'000) == 1 && ::read(from_child_, &report, 1) == 1) {
      opened_ = report == 'O';
    }
  }

  ~QueueHeldByChildProcess() {
    if (to_child_ >= 0) {
      char release = 'R';
      (void)!::write(to_child_, &release, 1);
      ::close(to_child_);
    }
    if (from_child_ >= 0) ::close(from_child_);
    if (child_ > 0) {
      int status = 0;
      ::waitpid(child_, &status, 0);
    }
  }

  QueueHeldByChildProcess(const QueueHeldByChildProcess&) = delete;
  QueueHeldByChildProcess& operator=(const QueueHeldByChildProcess&) = delete;

  bool opened() const { return opened_; }

 private:
  pid_t child_ = -1;
  int from_child_ = -1;
  int to_child_ = -1;
  bool opened_ = false;
};

// Items of the concurrency tests name their producer and their place in that
// producer's sequence, then carry a padding whose length and bytes follow
// from both, so a torn or mixed-up item fails ParseNumberedItem.
std::string NumberedItem(uint32_t producer, uint64_t sequence) {
  const size_t padding = (sequence * 7 + producer) % 50;
  std::string item(sizeof producer + sizeof sequence + padding,
                   static_cast<char>('a' + (producer + sequence) % 26));
  std::memcpy(&item[0], &producer, sizeof producer);
  std::memcpy(&item[sizeof producer], &sequence, sizeof sequence);
  return item;
}

bool ParseNumberedItem(std::string_view item, uint32_t* producer, uint64_t* sequence) {
  if (item.size() < sizeof *producer + sizeof *sequence) return false;
  std::memcpy(producer, item.data(), sizeof *producer);
  std::memcpy(sequence, item.data() + sizeof *producer, sizeof *sequence);
  return item == NumberedItem(*producer, *sequence);
}

// --- Order -------------------------------------------------------------------

TEST_F(FifoQueue, PopReturnsItemsInPushOrder) {
  QueuePtr queue = OpenQueue();
  const std::vector<std::string> items = NumberedItems(20);
  PushAll(*queue, items);

  std::vector<std::string> popped;
  for (size_t i = 0; i < items.size(); ++i) {
    PoppedItems one = queue->Pop();
    ASSERT_EQ(one.size(), 1u);
    popped.push_back(one.ToString(0));
  }
  EXPECT_EQ(popped, items);
}

TEST_F(FifoQueue, PushBatchAppendsItemsInOrderAfterEarlierPushes) {
  QueuePtr queue = OpenQueue();
  queue->Push("first");
  queue->PushBatch({"batch-0", "batch-1", "batch-2"});
  queue->Push("last");

  EXPECT_EQ(Copies(queue->Pop(10)),
            (std::vector<std::string>{"first", "batch-0", "batch-1", "batch-2", "last"}));
}

TEST_F(FifoQueue, ConsecutiveBatchesKeepTheirOrder) {
  QueuePtr queue = OpenQueue();
  const std::vector<std::string> first = NumberedItems(50, "a-");
  const std::vector<std::string> second = NumberedItems(50, "b-");
  queue->PushBatch(Views(first));
  queue->PushBatch(Views(second));

  std::vector<std::string> expected = first;
  expected.insert(expected.end(), second.begin(), second.end());
  EXPECT_EQ(PopAll(*queue), expected);
}

TEST_F(FifoQueue, PopReturnsAtMostTheRequestedNumberOfItems) {
  QueuePtr queue = OpenQueue();
  PushAll(*queue, NumberedItems(5));

  EXPECT_EQ(Copies(queue->Pop(3)), (std::vector<std::string>{"item-0", "item-1", "item-2"}));
  EXPECT_EQ(Copies(queue->Pop(10)), (std::vector<std::string>{"item-3", "item-4"}));
}

TEST_F(FifoQueue, PopWithHugeMaxItemsReturnsEveryStoredItem) {
  QueuePtr queue = OpenQueue();
  PushAll(*queue, NumberedItems(3));

  PoppedItems items = queue->Pop(std::numeric_limits<size_t>::max());

  EXPECT_EQ(Copies(items), NumberedItems(3));
}

TEST_F(FifoQueue, PopOnEmptyQueueReturnsNoItemsWithoutBlocking) {
  QueuePtr queue = OpenQueue();

  const size_t popped =
      ReturnsWithin(5s, "Pop() on an empty queue", [&] { return queue->Pop(5).size(); });

  EXPECT_EQ(popped, 0u);
}

TEST_F(FifoQueue, PopAfterDrainReturnsNoItems) {
  QueuePtr queue = OpenQueue();
  PushAll(*queue, NumberedItems(3));
  ASSERT_EQ(queue->Pop(3).size(), 3u);

  EXPECT_TRUE(queue->Pop(3).empty());
}

TEST_F(FifoQueue, PushBatchOfNoItemsStoresNothing) {
  QueuePtr queue = OpenQueue();

  queue->PushBatch({});

  EXPECT_EQ(queue->Len(), 0u);
  EXPECT_TRUE(queue->Pop(1).empty());
}

// --- Item contents -----------------------------------------------------------

TEST_F(FifoQueue, EmptyItemRoundTrips) {
  QueuePtr queue = OpenQueue();
  queue->Push("");
  queue->PushBatch({"", "x", ""});

  EXPECT_EQ(queue->Len(), 4u);
  EXPECT_EQ(Copies(queue->Pop(10)), (std::vector<std::string>{"", "", "x", ""}));
}

TEST_F(FifoQueue, ItemWithNulBytesRoundTripsWhole) {
  QueuePtr queue = OpenQueue();
  std::string every_byte;
  for (int byte = 0; byte < 256; ++byte) every_byte.push_back(static_cast<char>(byte));
  const std::string nul_framed("\0middle\0\0", 9);
  queue->Push(every_byte);
  queue->PushBatch({nul_framed, std::string_view("\0", 1)});

  PoppedItems items = queue->Pop(3);

  ASSERT_EQ(items.size(), 3u);
  EXPECT_EQ(items[0], every_byte);
  EXPECT_EQ(items[1], nul_framed);
  EXPECT_EQ(items[2], std::string_view("\0", 1));
}

TEST_F(FifoQueue, LargeItemRoundTrips) {
  QueuePtr queue = OpenQueue();
  const std::string large = RandomBytes(8 << 20, 7);
  queue->Push(large);

  PoppedItems items = queue->Pop();

  ASSERT_EQ(items.size(), 1u);
  EXPECT_TRUE(items[0] == large) << "8 MiB item came back altered";
}

TEST_F(FifoQueue, PushCopiesTheItemBytes) {
  QueuePtr queue = OpenQueue();
  std::string item = "original";
  queue->Push(item);
  item.assign("scribble");

  EXPECT_EQ(queue->Pop().ToString(0), "original");
}

// --- Counters ----------------------------------------------------------------

TEST_F(FifoQueue, NewQueueIsEmpty) {
  QueuePtr queue = OpenQueue();

  EXPECT_EQ(queue->Len(), 0u);
  EXPECT_TRUE(queue->IsEmpty());
  EXPECT_EQ(queue->PayloadBytes(), 0u);
}

TEST_F(FifoQueue, LenCountsItemsPushedAndNotYetPopped) {
  QueuePtr queue = OpenQueue();
  PushAll(*queue, NumberedItems(4));
  queue->PushBatch({"a", "b", "c"});
  EXPECT_EQ(queue->Len(), 7u);

  queue->Pop(5);
  EXPECT_EQ(queue->Len(), 2u);
  EXPECT_FALSE(queue->IsEmpty());

  queue->Pop(5);
  EXPECT_EQ(queue->Len(), 0u);
  EXPECT_TRUE(queue->IsEmpty());
}

TEST_F(FifoQueue, PayloadBytesSumsTheSizesOfStoredItems) {
  QueuePtr queue = OpenQueue();
  queue->Push("abc");                                        // 3
  queue->Push("");                                           // 0
  queue->PushBatch({"0123456789", std::string(1000, 'z')});  // 10 + 1000
  EXPECT_EQ(queue->PayloadBytes(), 1013u);

  queue->Pop(2);  // "abc" and ""
  EXPECT_EQ(queue->PayloadBytes(), 1010u);

  queue->Pop(2);
  EXPECT_EQ(queue->PayloadBytes(), 0u);
}

TEST_F(FifoQueue, DiskBytesIsPositiveOnceItemsArePushed) {
  QueuePtr queue = OpenQueue();
  queue->Push(std::string(4096, 'd'));

  EXPECT_GT(queue->DiskBytes(), 0u);
}

TEST_F(FifoQueue, MaxElementsReportsTheOpenOption) {
  QueuePtr queue = OpenQueue(WithMaxElements(1234));

  EXPECT_EQ(queue->MaxElements(), 1234u);
}

TEST_F(FifoQueue, PathReportsTheOpenPath) {
  QueuePtr queue = OpenQueue();

  EXPECT_EQ(queue->Path(), QueuePath());
}

// --- Capacity ----------------------------------------------------------------

TEST_F(FifoQueueCapacity, ExactlyMaxElementsItemsFit) {
  QueuePtr queue = OpenQueue(WithMaxElements(3));

  PushAll(*queue, NumberedItems(3));

  EXPECT_EQ(queue->Len(), 3u);
}

TEST_F(FifoQueueCapacity, PushIntoFullQueueThrowsQueueFullAndStoresNothing) {
  QueuePtr queue = OpenQueue(WithMaxElements(2));
  queue->Push("a");
  queue->Push("b");

  EXPECT_TRUE(ThrowsError([&] { queue->Push("c"); }, ErrorKind::kQueueFull, QueuePath()));

  EXPECT_EQ(queue->Len(), 2u);
  EXPECT_EQ(queue->PayloadBytes(), 2u);
  EXPECT_EQ(PopAll(*queue), (std::vector<std::string>{"a", "b"}));
}

TEST_F(FifoQueueCapacity, PopMakesRoomInFullQueue) {
  QueuePtr queue = OpenQueue(WithMaxElements(2));
  queue->Push("a");
  queue->Push("b");
  ASSERT_EQ(queue->Pop().ToString(0), "a");

  queue->Push("c");

  EXPECT_EQ(PopAll(*queue), (std::vector<std::string>{"b", "c"}));
}

TEST_F(FifoQueueCapacity, PushBatchThatDoesNotFitThrowsQueueFullAndStoresNone) {
  QueuePtr queue = OpenQueue(WithMaxElements(5));
  queue->Push("a");
  queue->Push("b");

  EXPECT_TRUE(ThrowsError([&] { queue->PushBatch({"c", "d", "e", "f"}); },
                          ErrorKind::kQueueFull, QueuePath()));

  EXPECT_EQ(queue->Len(), 2u);
  EXPECT_EQ(queue->PayloadBytes(), 2u);
  EXPECT_EQ(PopAll(*queue), (std::vector<std::string>{"a", "b"}));
}

TEST_F(FifoQueueCapacity, PushBatchThatExactlyFillsTheQueueSucceeds) {
  QueuePtr queue = OpenQueue(WithMaxElements(4));
  queue->Push("a");

  queue->PushBatch({"b", "c", "d"});

  EXPECT_EQ(queue->Len(), 4u);
}

TEST_F(FifoQueueCapacity, RejectedBatchLeavesRoomForSmallerPushes) {
  QueuePtr queue = OpenQueue(WithMaxElements(3));
  EXPECT_TRUE(ThrowsError([&] { queue->PushBatch({"a", "b", "c", "d"}); },
                          ErrorKind::kQueueFull, QueuePath()));

  queue->PushBatch({"x", "y", "z"});

  EXPECT_EQ(PopAll(*queue), (std::vector<std::string>{"x", "y", "z"}));
}

// --- Persistence -------------------------------------------------------------

TEST_F(FifoQueuePersistence, PopReturnsItemsInPushOrderAcrossReopen) {
  const std::vector<std::string> items = NumberedItems(100);
  {
    QueuePtr queue = OpenQueue();
    PushAll(*queue, std::vector<std::string>(items.begin(), items.begin() + 50));
    queue->PushBatch(Views(std::vector<std::string>(items.begin() + 50, items.end())));
    queue->Close();
  }
  QueuePtr queue = OpenQueue();

  EXPECT_EQ(PopAll(*queue), items);
}

TEST_F(FifoQueuePersistence, LenAndPayloadBytesSurviveReopen) {
  {
    QueuePtr queue = OpenQueue();
    queue->PushBatch({"12345", "", "123"});
    queue->Push(std::string(100, 'p'));
    queue->Pop();  // "12345"
    queue->Close();
  }
  QueuePtr queue = OpenQueue();

  EXPECT_EQ(queue->Len(), 3u);
  EXPECT_EQ(queue->PayloadBytes(), 103u);
}

TEST_F(FifoQueuePersistence, PoppedItemsDoNotReappearAfterReopen) {
  {
    QueuePtr queue = OpenQueue();
    PushAll(*queue, NumberedItems(5));
    queue->Pop(2);
    queue->Close();
  }
  QueuePtr queue = OpenQueue();

  EXPECT_EQ(PopAll(*queue), (std::vector<std::string>{"item-2", "item-3", "item-4"}));
}

TEST_F(FifoQueuePersistence, ItemsPushedAfterReopenFollowEarlierItems) {
  {
    QueuePtr queue = OpenQueue();
    queue->Push("before-0");
    queue->Push("before-1");
    queue->Pop();
    queue->Close();
  }
  QueuePtr queue = OpenQueue();
  queue->Push("after");

  EXPECT_EQ(PopAll(*queue), (std::vector<std::string>{"before-1", "after"}));
}

TEST_F(FifoQueuePersistence, ReopenAfterFullDrainAcceptsPushesAndPops) {
  {
    QueuePtr queue = OpenQueue();
    PushAll(*queue, NumberedItems(3));
    ASSERT_EQ(PopAll(*queue).size(), 3u);
    queue->Close();
  }
  QueuePtr queue = OpenQueue();
  EXPECT_EQ(queue->Len(), 0u);
  EXPECT_EQ(queue->PayloadBytes(), 0u);
  EXPECT_TRUE(queue->Pop().empty());

  queue->Push("x");
  queue->PushBatch({"y", "z"});

  EXPECT_EQ(queue->Len(), 3u);
  EXPECT_EQ(PopAll(*queue), (std::vector<std::string>{"x", "y", "z"}));
}

TEST_F(FifoQueuePersistence, EmptyItemSurvivesReopen) {
  {
    QueuePtr queue = OpenQueue();
    queue->Push("");
    queue->Close();
  }
  QueuePtr queue = OpenQueue();

  EXPECT_EQ(queue->Len(), 1u);
  EXPECT_EQ(PopAll(*queue), (std::vector<std::string>{""}));
}

TEST_F(FifoQueuePersistence, DestructorWithoutCloseKeepsItemsAndReleasesThePath) {
  {
    QueuePtr queue = OpenQueue();
    PushAll(*queue, NumberedItems(3));
  }
  QueuePtr queue = OpenQueue();

  EXPECT_EQ(PopAll(*queue), NumberedItems(3));
}

TEST_F(FifoQueuePersistence, ReopenWithLowerMaxElementsKeepsItemsAndRejectsPushesUntilBelowLimit) {
  {
    QueuePtr queue = OpenQueue(WithMaxElements(10));
    PushAll(*queue, NumberedItems(5));
    queue->Close();
  }
  QueuePtr queue = OpenQueue(WithMaxElements(3));
  EXPECT_EQ(queue->Len(), 5u);
  EXPECT_TRUE(ThrowsError([&] { queue->Push("new"); }, ErrorKind::kQueueFull, QueuePath()));

  queue->Pop(2);  // 3 of 3: still full.
  EXPECT_TRUE(ThrowsError([&] { queue->Push("new"); }, ErrorKind::kQueueFull, QueuePath()));

  queue->Pop(1);  // 2 of 3.
  queue->Push("new");
  EXPECT_EQ(PopAll(*queue), (std::vector<std::string>{"item-3", "item-4", "new"}));
}

TEST_F(FifoQueuePersistence, ReopenWithHigherMaxElementsAcceptsMorePushes) {
  {
    QueuePtr queue = OpenQueue(WithMaxElements(2));
    PushAll(*queue, NumberedItems(2));
    queue->Close();
  }
  QueuePtr queue = OpenQueue(WithMaxElements(4));

  queue->PushBatch({"x", "y"});

  EXPECT_EQ(queue->Len(), 4u);
}

// --- Open, Close, Destroy ----------------------------------------------------

TEST_F(FifoQueueLifecycle, OpenCreatesMissingParentDirectories) {
  const std::string nested = (dir_ / "a" / "b" / "queue").string();

  QueuePtr queue = rocksq::FifoQueue::Open(nested);
  queue->Push("x");

  EXPECT_TRUE(fs::is_directory(nested));
  EXPECT_EQ(queue->Len(), 1u);
}

TEST_F(FifoQueueLifecycle, OpenOfEmptyExistingDirectoryCreatesAQueue) {
  fs::create_directories(QueuePath());

  QueuePtr queue = OpenQueue();
  queue->Push("x");

  EXPECT_EQ(PopAll(*queue), (std::vector<std::string>{"x"}));
}

TEST_F(FifoQueueLifecycle, OpeningTheSamePathTwiceThrowsAlreadyOpen) {
  QueuePtr queue = OpenQueue();

  EXPECT_TRUE(ThrowsError([&] { OpenQueue(); }, ErrorKind::kAlreadyOpen, QueuePath()));
}

TEST_F(FifoQueueLifecycle, FailedSecondOpenLeavesTheFirstUsable) {
  QueuePtr queue = OpenQueue();
  queue->Push("x");
  ASSERT_THROW(OpenQueue(), rocksq::Error);

  queue->Push("y");

  EXPECT_EQ(PopAll(*queue), (std::vector<std::string>{"x", "y"}));
}

TEST_F(FifoQueueLifecycle, OpeningTheSameDirectorySpelledDifferentlyThrowsAlreadyOpen) {
  QueuePtr queue = OpenQueue();
  const std::string respelled = QueuePath() + "/./";

  EXPECT_TRUE(ThrowsError([&] { rocksq::FifoQueue::Open(respelled); },
                          ErrorKind::kAlreadyOpen, std::nullopt));
}

TEST_F(FifoQueueLifecycle, OpeningAQueueHeldByAnotherProcessAttachesToIt) {
  QueueHeldByChildProcess child(QueuePath());
  ASSERT_TRUE(child.opened()) << "the child process could not open the queue";

  QueuePtr attached = OpenQueue();
  attached->PushBatch({"a", "b"});
  EXPECT_EQ(attached->Len(), 2u);
  EXPECT_EQ(attached->Pop(1).size(), 1u);
}

TEST_F(FifoQueueLifecycle, OpeningAQueueHeldByAnotherProcessWithoutAttachThrowsAlreadyOpen) {
  QueueHeldByChildProcess child(QueuePath());
  ASSERT_TRUE(child.opened()) << "the child process could not open the queue";
  FifoOptions options;
  options.attach = false;

  EXPECT_TRUE(ThrowsError([&] { OpenQueue(options); }, ErrorKind::kAlreadyOpen, QueuePath()));
}

TEST_F(FifoQueueLifecycle, CloseReleasesThePathForAnotherOpener) {
  QueuePtr first = OpenQueue();
  first->Push("x");
  first->Close();

  QueuePtr second = OpenQueue();

  EXPECT_EQ(second->Len(), 1u);
}

TEST_F(FifoQueueLifecycle, DestroyRemovesTheQueueDirectory) {
  QueuePtr queue = OpenQueue();
  queue->Push("x");
  queue->Close();  // The closed object stays alive across Destroy on purpose.

  rocksq::FifoQueue::Destroy(QueuePath());

  EXPECT_FALSE(fs::exists(QueuePath()));
  EXPECT_TRUE(fs::exists(dir_)) << "Destroy removed the queue's parent directory";
}

TEST_F(FifoQueueLifecycle, QueueReopenedAfterDestroyIsEmpty) {
  {
    QueuePtr queue = OpenQueue();
    PushAll(*queue, NumberedItems(3));
  }
  rocksq::FifoQueue::Destroy(QueuePath());

  QueuePtr queue = OpenQueue();

  EXPECT_EQ(queue->Len(), 0u);
  EXPECT_TRUE(queue->Pop().empty());
}

TEST_F(FifoQueueLifecycle, DestroyOfMissingPathDoesNothing) {
  const std::string missing = (dir_ / "missing").string();

  EXPECT_NO_THROW(rocksq::FifoQueue::Destroy(missing));

  EXPECT_FALSE(fs::exists(missing));
}

TEST_F(FifoQueueLifecycle, DestroyOfOpenQueueThrowsAlreadyOpenAndKeepsItsItems) {
  QueuePtr queue = OpenQueue();
  PushAll(*queue, NumberedItems(2));

  EXPECT_TRUE(ThrowsError([&] { rocksq::FifoQueue::Destroy(QueuePath()); },
                          ErrorKind::kAlreadyOpen, QueuePath()));

  EXPECT_TRUE(fs::is_directory(QueuePath()));
  EXPECT_EQ(PopAll(*queue), NumberedItems(2));
}

TEST_F(FifoQueueLifecycle, DestroyOfQueueHeldByAnotherProcessThrowsAlreadyOpen) {
  QueueHeldByChildProcess child(QueuePath());
  ASSERT_TRUE(child.opened()) << "the child process could not open the queue";

  EXPECT_TRUE(ThrowsError([&] { rocksq::FifoQueue::Destroy(QueuePath()); },
                          ErrorKind::kAlreadyOpen, QueuePath()));

  EXPECT_TRUE(fs::is_directory(QueuePath()));
}

TEST_F(FifoQueueLifecycle, DestroyOfDirectoryThatIsNotAQueueThrowsNotAQueueAndKeepsItsFiles) {
  const fs::path user_dir = QueuePath();
  fs::create_directories(user_dir);
  WriteFile(user_dir / "notes.txt", "keep me");

  EXPECT_TRUE(ThrowsError([&] { rocksq::FifoQueue::Destroy(user_dir.string()); },
                          ErrorKind::kNotAQueue, user_dir.string()));

  EXPECT_EQ(DirectoryListing(user_dir), (std::set<std::string>{"notes.txt"}));
  EXPECT_EQ(ReadFile(user_dir / "notes.txt"), "keep me");
}

TEST_F(FifoQueueLifecycle, DestroyOfRegularFileThrowsNotAQueueAndKeepsIt) {
  const fs::path user_file = dir_ / "file.bin";
  WriteFile(user_file, "keep me");

  EXPECT_TRUE(ThrowsError([&] { rocksq::FifoQueue::Destroy(user_file.string()); },
                          ErrorKind::kNotAQueue, user_file.string()));

  EXPECT_EQ(ReadFile(user_file), "keep me");
}

TEST_F(FifoQueueLifecycle, OpenOfDirectoryThatIsNotAQueueThrowsNotAQueueAndLeavesItUntouched) {
  const fs::path user_dir = QueuePath();
  fs::create_directories(user_dir);
  WriteFile(user_dir / "notes.txt", "keep me");

  EXPECT_TRUE(ThrowsError([&] { OpenQueue(); }, ErrorKind::kNotAQueue, QueuePath()));

  EXPECT_EQ(DirectoryListing(user_dir), (std::set<std::string>{"notes.txt"}));
  EXPECT_EQ(ReadFile(user_dir / "notes.txt"), "keep me");
}

TEST_F(FifoQueueLifecycle, OpenOfRegularFileThrowsAndKeepsIt) {
  const fs::path user_file = dir_ / "file.bin";
  WriteFile(user_file, "keep me");

  // The header names no kind for this case; any rocksq::Error will do.
  EXPECT_THROW(rocksq::FifoQueue::Open(user_file.string()), rocksq::Error);

  EXPECT_TRUE(fs::is_regular_file(user_file));
  EXPECT_EQ(ReadFile(user_file), "keep me");
}

// --- Options -----------------------------------------------------------------

TEST_F(FifoQueueOptions, DefaultsAreTheDocumentedOnes) {
  const FifoOptions defaults;

  EXPECT_EQ(defaults.max_elements, rocksq::kMaxElementsLimit);
  EXPECT_FALSE(defaults.sync);
}

TEST_F(FifoQueueOptions, ZeroMaxElementsThrowsInvalidArgument) {
  EXPECT_TRUE(ThrowsError([&] { OpenQueue(WithMaxElements(0)); },
                          ErrorKind::kInvalidArgument, QueuePath()));
}

TEST_F(FifoQueueOptions, MaxElementsAboveTheLimitThrowsInvalidArgument) {
  EXPECT_TRUE(ThrowsError([&] { OpenQueue(WithMaxElements(rocksq::kMaxElementsLimit + 1)); },
                          ErrorKind::kInvalidArgument, QueuePath()));
}

TEST_F(FifoQueueOptions, MaxElementsOfUint64MaxThrowsInvalidArgument) {
  EXPECT_TRUE(
      ThrowsError([&] { OpenQueue(WithMaxElements(std::numeric_limits<uint64_t>::max())); },
                  ErrorKind::kInvalidArgument, QueuePath()));
}

TEST_F(FifoQueueOptions, MaxElementsAtTheLimitIsAccepted) {
  QueuePtr queue = OpenQueue(WithMaxElements(rocksq::kMaxElementsLimit));

  queue->Push("x");

  EXPECT_EQ(queue->MaxElements(), rocksq::kMaxElementsLimit);
}

TEST_F(FifoQueueOptions, MaxElementsOfOneHoldsOneItem) {
  QueuePtr queue = OpenQueue(WithMaxElements(1));
  queue->Push("only");

  EXPECT_TRUE(ThrowsError([&] { queue->Push("more"); }, ErrorKind::kQueueFull, QueuePath()));
}

TEST_F(FifoQueueOptions, SyncedQueuePopsInPushOrderAcrossReopen) {
  FifoOptions synced;
  synced.sync = true;
  {
    QueuePtr queue = OpenQueue(synced);
    queue->Push("a");
    queue->PushBatch({"b", "c"});
    queue->Pop();
    queue->Close();
  }
  QueuePtr queue = OpenQueue(synced);

  EXPECT_EQ(PopAll(*queue), (std::vector<std::string>{"b", "c"}));
}

// --- Error values ------------------------------------------------------------

TEST_F(FifoQueueErrors, WhatJoinsKindPathAndDetail) {
  const rocksq::Error error(ErrorKind::kStorage, "/data/q", "disk on fire");

  EXPECT_STREQ(error.what(), "Storage error: /data/q: disk on fire");
  EXPECT_EQ(error.kind(), ErrorKind::kStorage);
  EXPECT_EQ(error.path(), "/data/q");
  EXPECT_EQ(error.detail(), "disk on fire");
}

TEST_F(FifoQueueErrors, KindNamesAreDistinctAndNonEmpty) {
  const ErrorKind kinds[] = {ErrorKind::kQueueFull,   ErrorKind::kStorage,
                             ErrorKind::kCorruption,  ErrorKind::kAlreadyOpen,
                             ErrorKind::kNotAQueue,   ErrorKind::kInvalidArgument,
                             ErrorKind::kClosed,      ErrorKind::kNotOutstanding,
                             ErrorKind::kShutDown};
  std::set<std::string> names;
  for (ErrorKind kind : kinds) {
    const char* name = rocksq::ErrorKindName(kind);
    ASSERT_NE(name, nullptr);
    EXPECT_STRNE(name, "") << "kind " << static_cast<int>(kind);
    names.insert(name);
  }

  EXPECT_EQ(names.size(), std::size(kinds));
}

TEST_F(FifoQueueErrors, QueueFullMessageReadsKindPathDetail) {
  QueuePtr queue = OpenQueue(WithMaxElements(1));
  queue->Push("x");

  try {
    queue->Push("y");
    FAIL() << "Push into a full queue threw nothing";
  } catch (const rocksq::Error& error) {
    EXPECT_EQ(std::string(error.what()).rfind("Queue is full: " + QueuePath() + ": ", 0), 0u)
        << "what(): " << error.what();
    EXPECT_FALSE(error.detail().empty());
  }
}

TEST_F(FifoQueueErrors, ErrorsAreStdRuntimeErrorsNamingThePath) {
  QueuePtr queue = OpenQueue();

  try {
    OpenQueue();
    FAIL() << "second Open threw nothing";
  } catch (const std::runtime_error& error) {
    EXPECT_NE(std::string(error.what()).find(QueuePath()), std::string::npos)
        << "what(): " << error.what();
  }
}

// --- After Close -------------------------------------------------------------

TEST_F(FifoQueueAfterClose, PushThrowsClosed) {
  QueuePtr queue = OpenQueue();
  queue->Close();

  EXPECT_TRUE(ThrowsError([&] { queue->Push("x"); }, ErrorKind::kClosed, QueuePath()));
}

TEST_F(FifoQueueAfterClose, PushBatchThrowsClosed) {
  QueuePtr queue = OpenQueue();
  queue->Close();

  EXPECT_TRUE(ThrowsError([&] { queue->PushBatch({"x", "y"}); }, ErrorKind::kClosed,
                          QueuePath()));
}

TEST_F(FifoQueueAfterClose, PopThrowsClosed) {
  QueuePtr queue = OpenQueue();
  queue->Push("x");
  queue->Close();

  EXPECT_TRUE(ThrowsError([&] { queue->Pop(); }, ErrorKind::kClosed, QueuePath()));
}

TEST_F(FifoQueueAfterClose, CountersThrowClosed) {
  QueuePtr queue = OpenQueue();
  queue->Close();

  EXPECT_TRUE(ThrowsError([&] { queue->Len(); }, ErrorKind::kClosed, QueuePath()));
  EXPECT_TRUE(ThrowsError([&] { queue->PayloadBytes(); }, ErrorKind::kClosed, QueuePath()));
  EXPECT_TRUE(ThrowsError([&] { queue->DiskBytes(); }, ErrorKind::kClosed, QueuePath()));
}

// --- PoppedItems -------------------------------------------------------------

TEST_F(PoppedItemsLifetime, DefaultConstructedHoldsNoItems) {
  const PoppedItems items;

  EXPECT_EQ(items.size(), 0u);
  EXPECT_TRUE(items.empty());
  EXPECT_EQ(items.payload_bytes(), 0u);
}

TEST_F(PoppedItemsLifetime, PayloadBytesSumsThePoppedItemSizes) {
  QueuePtr queue = OpenQueue();
  queue->PushBatch({"abc", "", "0123456789", "left behind"});

  const PoppedItems items = queue->Pop(3);

  EXPECT_EQ(items.payload_bytes(), 13u);
}

TEST_F(PoppedItemsLifetime, MovedItemsKeepTheirBytes) {
  QueuePtr queue = OpenQueue();
  PushAll(*queue, NumberedItems(3));
  PoppedItems original = queue->Pop(3);
  const char* first_byte = original[0].data();

  PoppedItems moved = std::move(original);
  PoppedItems assigned;
  assigned = std::move(moved);

  EXPECT_EQ(Copies(assigned), NumberedItems(3));
  EXPECT_EQ(assigned[0].data(), first_byte) << "a move copied the bytes";
}

TEST_F(PoppedItemsLifetime, ViewsStayValidAfterFurtherPushesAndPops) {
  QueuePtr queue = OpenQueue();
  std::vector<std::string> originals;
  for (uint32_t i = 0; i < 10; ++i) originals.push_back(RandomBytes(1000 + i, i));
  PushAll(*queue, originals);
  const PoppedItems held = queue->Pop(10);

  for (uint32_t i = 0; i < 2000; ++i) {
    queue->Push(RandomBytes(1000, 100 + i));
    if (i % 2 == 1) queue->Pop(1);
  }

  EXPECT_EQ(Copies(held), originals);
}

TEST_F(PoppedItemsLifetime, ViewsStayValidAfterMemtableFlushes) {
  QueuePtr queue = OpenQueue();
  std::vector<std::string> originals;
  for (uint32_t i = 0; i < 10; ++i) originals.push_back(RandomBytes(1024, i));
  PushAll(*queue, originals);
  const PoppedItems held = queue->Pop(10);

  // 200 MiB of pushes and pops fills RocksDB's 64 MiB default write buffer
  // several times over, so the memtable the held items came from is flushed.
  const std::string filler(1 << 20, 'f');
  for (int i = 0; i < 200; ++i) {
    queue->Push(filler);
    if (i % 10 == 9) ASSERT_EQ(queue->Pop(10).size(), 10u);
  }

  EXPECT_EQ(Copies(held), originals);
}

TEST_F(PoppedItemsLifetime, ViewsStayValidAfterTheQueueIsClosedAndDestroyed) {
  std::vector<std::string> originals;
  for (uint32_t i = 0; i < 10; ++i) originals.push_back(RandomBytes(512, i));
  PoppedItems held;
  {
    QueuePtr queue = OpenQueue();
    PushAll(*queue, originals);
    queue->Push("left behind");
    held = queue->Pop(10);
    queue->Close();
  }

  EXPECT_EQ(Copies(held), originals);
}

TEST_F(PoppedItemsLifetime, ViewsOfItemsReadFromDiskStayValidWhileTheQueueChurns) {
  std::vector<std::string> originals;
  for (uint32_t i = 0; i < 10; ++i) originals.push_back(RandomBytes(4096, i));
  {
    QueuePtr queue = OpenQueue();
    PushAll(*queue, originals);
    queue->Close();  // Flushes: the reopened queue reads its items from table files.
  }
  QueuePtr queue = OpenQueue();
  const PoppedItems held = queue->Pop(10);

  // 100 MiB through the queue: memtables flush, table files are compacted
  // away, and the block cache turns over.
  const std::string filler(1 << 20, 'f');
  for (int i = 0; i < 100; ++i) {
    queue->Push(filler);
    ASSERT_EQ(queue->Pop().size(), 1u);
  }

  EXPECT_EQ(Copies(held), originals);
}

TEST_F(PoppedItemsLifetime, ViewsOfItemsReadFromDiskStayValidAfterTheQueueIsClosedAndDestroyed) {
  std::vector<std::string> originals;
  for (uint32_t i = 0; i < 10; ++i) originals.push_back(RandomBytes(4096, i));
  {
    QueuePtr queue = OpenQueue();
    PushAll(*queue, originals);
    queue->Close();  // Flushes: the reopened queue reads its items from table files.
  }
  PoppedItems held;
  {
    QueuePtr queue = OpenQueue();
    held = queue->Pop(10);
    queue->Close();
  }
  // Overwrite freed memory, should the views point into it.
  std::vector<std::string> scribble;
  for (int i = 0; i < 1000; ++i) scribble.emplace_back(4096, 'S');

  EXPECT_EQ(Copies(held), originals);
}

// --- Concurrency -------------------------------------------------------------

TEST_F(FifoQueueConcurrency, ProducersAndConsumersDeliverEveryItemOnceInProducerOrder) {
  constexpr uint32_t kProducers = 4;
  constexpr uint32_t kConsumers = 4;
  constexpr uint64_t kItemsPerProducer = 5000;
  constexpr uint64_t kTotal = kProducers * kItemsPerProducer;
  QueuePtr queue = OpenQueue();

  std::mutex failures_mutex;
  std::vector<std::string> failures;
  auto record_failure = [&](std::string failure) {
    std::lock_guard<std::mutex> lock(failures_mutex);
    failures.push_back(std::move(failure));
  };

  std::vector<std::thread> producers;
  for (uint32_t producer = 0; producer < kProducers; ++producer) {
    producers.emplace_back([&, producer] {
      try {
        std::mt19937 random(producer);
        uint64_t sequence = 0;
        while (sequence < kItemsPerProducer) {
          if (random() % 2 == 0) {
            queue->Push(NumberedItem(producer, sequence++));
            continue;
          }
          const uint64_t count = std::min<uint64_t>(1 + random() % 16, kItemsPerProducer - sequence);
          std::vector<std::string> batch;
          for (uint64_t i = 0; i < count; ++i) batch.push_back(NumberedItem(producer, sequence++));
          queue->PushBatch(Views(batch));
        }
      } catch (const std::exception& error) {
        record_failure(std::string("producer: ") + error.what());
      }
    });
  }

  // Each consumer remembers what it got, in the order it got it.
  struct Received {
    uint32_t producer;
    uint64_t sequence;
  };
  std::vector<std::vector<Received>> received(kConsumers);
  std::atomic<uint64_t> consumed{0};
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  std::vector<std::thread> consumers;
  for (uint32_t consumer = 0; consumer < kConsumers; ++consumer) {
    consumers.emplace_back([&, consumer] {
      try {
        std::mt19937 random(100 + consumer);
        while (consumed.load() < kTotal && std::chrono::steady_clock::now() < deadline) {
          PoppedItems items = queue->Pop(1 + random() % 32);
          if (items.empty()) {
            std::this_thread::yield();
            continue;
          }
          for (size_t i = 0; i < items.size(); ++i) {
            Received item{};
            if (!ParseNumberedItem(items[i], &item.producer, &item.sequence) ||
                item.producer >= kProducers || item.sequence >= kItemsPerProducer) {
              record_failure("consumer got a malformed item of " +
                             std::to_string(items[i].size()) + " bytes");
              continue;
            }
            received[consumer].push_back(item);
          }
          consumed += items.size();
        }
      } catch (const std::exception& error) {
        record_failure(std::string("consumer: ") + error.what());
      }
    });
  }
  for (std::thread& thread : producers) thread.join();
  for (std::thread& thread : consumers) thread.join();

  EXPECT_EQ(failures, std::vector<std::string>{});
  ASSERT_EQ(consumed.load(), kTotal) << "consumers stopped at the deadline";

  std::vector<std::vector<int>> deliveries(kProducers, std::vector<int>(kItemsPerProducer, 0));
  for (uint32_t consumer = 0; consumer < kConsumers; ++consumer) {
    // A consumer's pops happen one after another, so whatever it received
    // from one producer must be in that producer's order.
    std::vector<int64_t> last_sequence(kProducers, -1);
    for (const Received& item : received[consumer]) {
      ++deliveries[item.producer][item.sequence];
      EXPECT_LT(last_sequence[item.producer], static_cast<int64_t>(item.sequence))
          << "consumer " << consumer << " got producer " << item.producer << "'s item "
          << item.sequence << " after item " << last_sequence[item.producer];
      last_sequence[item.producer] = static_cast<int64_t>(item.sequence);
    }
  }
  uint64_t wrong_counts = 0;
  for (uint32_t producer = 0; producer < kProducers; ++producer) {
    for (uint64_t sequence = 0; sequence < kItemsPerProducer; ++sequence) {
      if (deliveries[producer][sequence] != 1) ++wrong_counts;
    }
  }
  EXPECT_EQ(wrong_counts, 0u) << "items delivered zero or several times";
  EXPECT_EQ(queue->Len(), 0u);
  EXPECT_EQ(queue->PayloadBytes(), 0u);
}

TEST_F(FifoQueueConcurrency, SyncedPushesFromEightThreadsAllLand) {
  constexpr uint32_t kThreads = 8;
  constexpr uint64_t kPushesPerThread = 40;
  FifoOptions synced;
  synced.sync = true;
  {
    QueuePtr queue = OpenQueue(synced);
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (uint32_t thread = 0; thread < kThreads; ++thread) {
      threads.emplace_back([&, thread] {
        try {
          for (uint64_t sequence = 0; sequence < kPushesPerThread; ++sequence) {
            queue->Push(NumberedItem(thread, sequence));
          }
        } catch (const std::exception&) {
          ++failures;
        }
      });
    }
    for (std::thread& thread : threads) thread.join();
    ASSERT_EQ(failures.load(), 0);
    EXPECT_EQ(queue->Len(), kThreads * kPushesPerThread);
    queue->Close();
  }

  QueuePtr queue = OpenQueue();
  std::vector<uint64_t> next_sequence(kThreads, 0);
  for (const std::string& item : PopAll(*queue)) {
    uint32_t thread = 0;
    uint64_t sequence = 0;
    ASSERT_TRUE(ParseNumberedItem(item, &thread, &sequence));
    ASSERT_LT(thread, kThreads);
    // Each thread's pushes returned one after another, so the queue holds
    // them in that order.
    EXPECT_EQ(sequence, next_sequence[thread]) << "thread " << thread;
    next_sequence[thread] = sequence + 1;
  }
  EXPECT_EQ(next_sequence, std::vector<uint64_t>(kThreads, kPushesPerThread));
}

// Eight threads push "x" into `queue` (room for kRaceMaxElements) until
// each made attempts_of(thread) attempts; every push either lands or throws
// kQueueFull, and exactly kRaceMaxElements land.
constexpr uint64_t kRaceMaxElements = 100;

template <typename AttemptsOf>
void ExpectRacingPushesFillExactly(rocksq::FifoQueue& queue, AttemptsOf attempts_of) {
  constexpr int kThreads = 8;
  std::atomic<uint64_t> stored{0};
  std::atomic<int> other_failures{0};
  std::vector<std::thread> threads;
  for (int thread = 0; thread < kThreads; ++thread) {
    threads.emplace_back([&, thread] {
      for (int attempt = 0; attempt < attempts_of(thread); ++attempt) {
        try {
          queue.Push("x");
          ++stored;
        } catch (const rocksq::Error& error) {
          if (error.kind() != ErrorKind::kQueueFull) ++other_failures;
        } catch (...) {
          ++other_failures;
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();

  EXPECT_EQ(other_failures.load(), 0);
  EXPECT_EQ(stored.load(), kRaceMaxElements);
  EXPECT_EQ(queue.Len(), kRaceMaxElements);
  EXPECT_EQ(PopAll(queue).size(), kRaceMaxElements);
}

TEST_F(FifoQueueConcurrency, RacingPushesNeverExceedMaxElements) {
  QueuePtr queue = OpenQueue(WithMaxElements(kRaceMaxElements));
  ExpectRacingPushesFillExactly(*queue, [](int) { return 50; });
}

// Synced, so groups gather (group_commit.h); threads also come and go: each
// stops after a different number of attempts, and the last ones push alone.
TEST_F(FifoQueueConcurrency, RacingSyncedPushesNeverExceedMaxElements) {
  FifoOptions options = WithMaxElements(kRaceMaxElements);
  options.sync = true;
  QueuePtr queue = OpenQueue(options);
  ExpectRacingPushesFillExactly(*queue, [](int thread) { return 4 + 8 * thread; });
}

TEST_F(FifoQueueConcurrency, PushesRacingWithCloseEitherLandOrThrowClosed) {
  constexpr uint32_t kThreads = 4;
  std::vector<uint64_t> landed(kThreads, 0);
  std::atomic<int> other_failures{0};
  {
    QueuePtr queue = OpenQueue();
    std::vector<std::thread> threads;
    for (uint32_t thread = 0; thread < kThreads; ++thread) {
      threads.emplace_back([&, thread] {
        const auto deadline = std::chrono::steady_clock::now() + 10s;
        while (std::chrono::steady_clock::now() < deadline) {
          try {
            queue->Push(NumberedItem(thread, landed[thread]));
            ++landed[thread];
          } catch (const rocksq::Error& error) {
            if (error.kind() != ErrorKind::kClosed) ++other_failures;
            return;
          } catch (...) {
            ++other_failures;
            return;
          }
        }
        ++other_failures;  // Close() never took effect.
      });
    }
    std::this_thread::sleep_for(50ms);
    queue->Close();
    for (std::thread& thread : threads) thread.join();
  }
  EXPECT_EQ(other_failures.load(), 0);

  // Every push that returned is on disk, in its thread's order.
  QueuePtr queue = OpenQueue();
  std::vector<uint64_t> next_sequence(kThreads, 0);
  for (const std::string& item : PopAll(*queue)) {
    uint32_t thread = 0;
    uint64_t sequence = 0;
    ASSERT_TRUE(ParseNumberedItem(item, &thread, &sequence));
    ASSERT_LT(thread, kThreads);
    EXPECT_EQ(sequence, next_sequence[thread]) << "thread " << thread;
    next_sequence[thread] = sequence + 1;
  }
  EXPECT_EQ(next_sequence, landed);
}

}  // namespace

namespace {

// Pops read without checking range tombstones (see FifoQueueImpl's
// constructor). A queue drained and reopened starts its positions at 0 again,
// over the range tombstones and the deleted entries of its earlier life: a
// pop must return only what was pushed since, never an older entry.
TEST_F(FifoQueuePersistence, ReopenedDrainedQueueNeverReturnsItemsDeletedBefore) {
  {
    QueuePtr queue = OpenQueue();
    PushAll(*queue, NumberedItems(500, "old-"));
    while (!queue->Pop(7).empty()) {
    }
    queue->Close();
  }
  QueuePtr queue = OpenQueue();
  PushAll(*queue, NumberedItems(20, "new-"));
  std::vector<std::string> popped = Copies(queue->Pop(100));
  EXPECT_EQ(popped, NumberedItems(20, "new-"));
  EXPECT_TRUE(queue->Pop(100).empty());
  queue->Push("after");
  EXPECT_EQ(Copies(queue->Pop(100)), std::vector<std::string>{"after"});
}

TEST_F(FifoQueue, BatchPopsInterleavedWithSinglePopsKeepOrder) {
  QueuePtr queue = OpenQueue();
  PushAll(*queue, NumberedItems(1000));
  std::vector<std::string> popped;
  for (size_t batch = 1; !queue->IsEmpty(); batch = batch % 13 + 1) {
    for (const std::string& item : Copies(queue->Pop(batch))) popped.push_back(item);
  }
  EXPECT_EQ(popped, NumberedItems(1000));
}

}  // namespace

// --- The read cursor file ------------------------------------------------------
//
// A pop is recorded by rewriting the read cursor in its own file; popped keys
// are deleted later, in bulk. A process that dies between the two leaves
// popped keys behind, which must never come back.

using FifoQueueReadCursor = FifoQueueTest;

TEST_F(FifoQueueReadCursor, ItemsPoppedBeforeACrashDoNotReappear) {
  const std::string crashed = QueuePath() + "-crashed";
  QueuePtr queue = OpenQueue();
  PushAll(*queue, NumberedItems(10));
  queue->Pop();   // item-0: a single pop
  queue->Pop(3);  // item-1..3: a batch
  rocksq::testing::CopyAsACrashLeavesIt(QueuePath(), crashed);

  QueuePtr reopened = rocksq::FifoQueue::Open(crashed);
  EXPECT_EQ(reopened->Len(), 6u);
  EXPECT_EQ(reopened->PayloadBytes(), 6u * 6);  // "item-4" .. "item-9"
  EXPECT_EQ(PopAll(*reopened), (std::vector<std::string>{"item-4", "item-5", "item-6",
                                                         "item-7", "item-8", "item-9"}));
}

TEST_F(FifoQueueReadCursor, AQueueDrainedBeforeACrashReopensEmptyAndKeepsOrder) {
  const std::string crashed = QueuePath() + "-crashed";
  QueuePtr queue = OpenQueue();
  PushAll(*queue, NumberedItems(5));
  ASSERT_EQ(PopAll(*queue).size(), 5u);
  rocksq::testing::CopyAsACrashLeavesIt(QueuePath(), crashed);
  {
    QueuePtr reopened = rocksq::FifoQueue::Open(crashed);
    EXPECT_EQ(reopened->Len(), 0u);
    EXPECT_EQ(reopened->PayloadBytes(), 0u);
    EXPECT_TRUE(reopened->Pop().empty());
    reopened->PushBatch({"a", "b"});
    reopened->Close();
  }
  QueuePtr reopened = rocksq::FifoQueue::Open(crashed);
  EXPECT_EQ(PopAll(*reopened), (std::vector<std::string>{"a", "b"}));
}

TEST_F(FifoQueueReadCursor, ManyPopsAcrossTheBulkDeletionsKeepLenAndOrderAcrossACrash) {
  // More pops than one bulk deletion covers, ending between two of them.
  const std::string crashed = QueuePath() + "-crashed";
  const std::vector<std::string> items = NumberedItems(5000);
  QueuePtr queue = OpenQueue();
  queue->PushBatch(Views(items));
  for (int i = 0; i < 2500; ++i) queue->Pop();
  rocksq::testing::CopyAsACrashLeavesIt(QueuePath(), crashed);

  QueuePtr reopened = rocksq::FifoQueue::Open(crashed);
  EXPECT_EQ(reopened->Len(), 2500u);
  EXPECT_EQ(PopAll(*reopened), std::vector<std::string>(items.begin() + 2500, items.end()));
}

TEST_F(FifoQueueReadCursor, AZeroedCursorFileCountsAsNoCursor) {
  {
    QueuePtr queue = OpenQueue();
    PushAll(*queue, NumberedItems(5));
    queue->Pop(2);
    queue->Close();  // Deletes the popped keys.
  }
  WriteFile(fs::path(QueuePath()) / "rocksq.read_cursor", std::string(16, '\0'));
  QueuePtr queue = OpenQueue();

  EXPECT_EQ(PopAll(*queue), (std::vector<std::string>{"item-2", "item-3", "item-4"}));
}

TEST_F(FifoQueueReadCursor, ADamagedCursorFileThrowsCorruptionAndKeepsTheItems) {
  {
    QueuePtr queue = OpenQueue();
    PushAll(*queue, NumberedItems(3));
    queue->Pop();
    queue->Close();
  }
  const fs::path cursor = fs::path(QueuePath()) / "rocksq.read_cursor";
  WriteFile(cursor, "not a cursor, 16");
  try {
    OpenQueue();
    FAIL() << "opened a queue whose read cursor is damaged";
  } catch (const rocksq::Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kCorruption);
    EXPECT_NE(std::string(error.what()).find("rocksq.read_cursor"), std::string::npos)
        << error.what();
  }
  fs::remove(cursor);  // A user's way out: items come back from the first stored one.
  QueuePtr queue = OpenQueue();
  EXPECT_EQ(PopAll(*queue), (std::vector<std::string>{"item-1", "item-2"}));
}
