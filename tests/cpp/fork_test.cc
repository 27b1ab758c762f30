// A queue's RocksDB handle belongs to the process that opened it
// (rocksq/process.h). In a fork() child, a FIFO queue opened with attach
// serves the child through a queue of the child's own (attached to the
// owner, or owning the queue once no process has it open); on any other
// queue every call throws kForkedProcess and changes nothing. Dropping an
// inherited queue leaves the parent's alone, and the child exits promptly.
// Also: a second path to an open queue's directory is refused. Every child
// ends with _exit (or exit, where exiting is what is tested) and every wait
// is bounded, so a regression fails instead of hanging.

#include "rocksq/rocksq.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "test_util.h"

namespace {

namespace fs = std::filesystem;
using rocksq::ErrorKind;
using namespace std::chrono_literals;

using rocksq::testing::WaitBounded;

// Runs `body` in a fork() child that then ends with _exit(body()); returns
// its exit status (-1: killed, or hung).
int InChild(const std::function<int()>& body) {
  const pid_t child = ::fork();
  if (child == 0) {
    int status = 90;
    try {
      status = body();
    } catch (...) {
      status = 91;
    }
    ::_exit(status);
  }
  return WaitBounded(child);
}

// 0 if `call` throws rocksq::Error of `kind`, else 1.
int Throws(ErrorKind kind, const std::function<void()>& call) {
  try {
    call();
  } catch (const rocksq::Error& error) {
    return error.kind() == kind ? 0 : 1;
  }
  return 1;
}

using ForkTest = rocksq::testing::TempDirTest;

// Options without attach: a handle opened so refuses a fork() child, which
// the first tests check (handles opened with attach serve the child: the
// tests further down).
template <typename Options>
Options WithoutAttach() {
  Options options;
  options.attach = false;
  return options;
}

TEST_F(ForkTest, InheritedFifoQueueRefusesEveryCallAndIsLeftAlone) {
  auto queue = rocksq::FifoQueue::Open(QueuePath(), WithoutAttach<rocksq::FifoOptions>());
  for (int i = 0; i < 100; ++i) queue->Push("item " + std::to_string(i));
  const int status = InChild([&] {
    constexpr ErrorKind kForked = ErrorKind::kForkedProcess;
    int failures = Throws(kForked, [&] { queue->Pop(10); }) +
                   Throws(kForked, [&] { queue->PopWait(1, 0s); }) +
                   Throws(kForked, [&] { queue->Push("child"); }) +
                   Throws(kForked, [&] { queue->PushBatch({"a", "b"}); }) +
                   Throws(kForked, [&] { queue->Len(); }) +
                   Throws(kForked, [&] { queue->DiskBytes(); }) +
                   Throws(kForked, [&] { queue->SetChangeListener(nullptr); });
    try {
      queue->Pop(1);
    } catch (const rocksq::Error& error) {
      const std::string what = error.what();
      if (what.find("fork()") == std::string::npos ||
          what.find(std::to_string(::getppid())) == std::string::npos ||
          what.find("attach=True") == std::string::npos) {
        ++failures;
      }
    }
    queue->Close();  // Forgets the parent's queue; must not close it.
    queue.reset();   // Must neither join the parent's threads nor hang.
    return failures;
  });
  EXPECT_EQ(status, 0);
  ASSERT_EQ(queue->Len(), 100u);
  EXPECT_EQ(queue->Pop(1).ToString(0), "item 0");
  queue->Close();
  queue = rocksq::FifoQueue::Open(QueuePath());
  EXPECT_EQ(queue->Len(), 99u);
  EXPECT_EQ(queue->Pop(1).ToString(0), "item 1");
}

TEST_F(ForkTest, InheritedMpmcAndAckQueuesRefuseCallsInChild) {
  auto mpmc =
      rocksq::MpmcQueue::Open((dir_ / "mpmc").string(), WithoutAttach<rocksq::MpmcOptions>());
  auto ack = rocksq::AckQueue::Open((dir_ / "ack").string(), WithoutAttach<rocksq::AckOptions>());
  mpmc->Add("m");
  ack->Push("a");
  const int status = InChild([&] {
    constexpr ErrorKind kForked = ErrorKind::kForkedProcess;
    const int failures =
        Throws(kForked, [&] { mpmc->Next("reader", rocksq::StartPosition::kOldest, 1); }) +
        Throws(kForked, [&] { mpmc->Labels(); }) + Throws(kForked, [&] { mpmc->Len(); }) +
        Throws(kForked, [&] { ack->Get(1); }) +
        Throws(kForked, [&] { ack->Ack(rocksq::Delivery{0, 1, {}, 0}); }) +
        Throws(kForked, [&] { ack->ReadyLen(); });
    mpmc.reset();
    ack.reset();
    return failures;
  });
  EXPECT_EQ(status, 0);
  EXPECT_EQ(mpmc->Next("reader", rocksq::StartPosition::kOldest, 5).items.size(), 1u);
  EXPECT_EQ(ack->Get(5).size(), 1u);
}

// RocksDB's static destructors hang in a fork() child (facebook/rocksdb
// #6742); RocksQ ends such a child before they run, keeping its status.
TEST_F(ForkTest, ChildOfAProcessThatUsedRocksDbExitsWithItsStatus) {
  rocksq::FifoQueue::Open(QueuePath())->Close();  // Closed before the fork.
  for (int wanted : {0, 3}) {
    const pid_t child = ::fork();
    if (child == 0) std::exit(wanted);
    EXPECT_EQ(WaitBounded(child), wanted);
  }
  auto open = rocksq::AckQueue::Open((dir_ / "open").string());  // Open at the fork.
  const pid_t child = ::fork();
  if (child == 0) std::exit(7);
  EXPECT_EQ(WaitBounded(child), 7);
  open->Push("still mine");
  EXPECT_EQ(open->Len(), 1u);
}

// RocksDB's record of the parent's lock, copied into the child, must not
// keep the child out once the parent closed the queue.
TEST_F(ForkTest, ChildOpensWhatTheParentHadOpenOnceItIsClosed) {
  const auto options = WithoutAttach<rocksq::FifoOptions>();
  auto queue = rocksq::FifoQueue::Open(QueuePath(), options);
  queue->Push("from the parent");
  int tried[2];  // The child tried while the parent held the queue.
  int closed[2];  // Then the parent closed it.
  ASSERT_EQ(::pipe(tried), 0);
  ASSERT_EQ(::pipe(closed), 0);
  const pid_t child = ::fork();
  if (child == 0) {
    int status = 0;
    try {
      rocksq::FifoQueue::Open(QueuePath(), options);
      status = 1;
    } catch (const rocksq::Error& error) {
      const std::string what = error.what();
      if (error.kind() != ErrorKind::kAlreadyOpen || what.find("fork()") == std::string::npos ||
          what.find(std::to_string(::getppid())) == std::string::npos) {
        status = 2;
      }
    }
    char byte = 'x';
    if (::write(tried[1], &byte, 1) != 1) status = 5;
    if (status == 0 && ::read(closed[0], &byte, 1) == 1) {
      try {
        auto own = rocksq::FifoQueue::Open(QueuePath());
        if (own->Pop(1).ToString(0) != "from the parent") status = 3;
        own->Push("from the child");
        own->Close();
      } catch (...) {
        status = 4;
      }
    }
    ::_exit(status);
  }
  pollfd child_tried{tried[0], POLLIN, 0};
  EXPECT_EQ(::poll(&child_tried, 1, 20'000), 1);
  queue->Close();
  ASSERT_EQ(::write(closed[1], "x", 1), 1);
  EXPECT_EQ(WaitBounded(child), 0);
  for (int fd : {tried[0], tried[1], closed[0], closed[1]}) ::close(fd);
  queue = rocksq::FifoQueue::Open(QueuePath());
  ASSERT_EQ(queue->Len(), 1u);
  EXPECT_EQ(queue->Pop(1).ToString(0), "from the child");
}

TEST_F(ForkTest, ChildOpensAQueueClosedBeforeTheFork) {
  rocksq::FifoQueue::Open(QueuePath())->Push("from the parent");
  const int status = InChild([&] {
    auto queue = rocksq::FifoQueue::Open(QueuePath());
    const bool ok = queue->Pop(1).ToString(0) == "from the parent";
    queue->Push("from the child");
    queue->Close();
    return ok ? 0 : 1;
  });
  EXPECT_EQ(status, 0);
  auto queue = rocksq::FifoQueue::Open(QueuePath());
  ASSERT_EQ(queue->Len(), 1u);
  EXPECT_EQ(queue->Pop(1).ToString(0), "from the child");
}

// RocksDB runs flushes and compactions on its Env's background threads,
// which fork() does not copy: a child that waited for one there (creating
// a queue, which flushes; a reclaim or a sweep, which flush and compact)
// waited for ever. kMiBItems items of 1 MiB fill a 64 MiB memtable and
// cross the reclaimers' 64 MiB threshold.
constexpr int kMiBItems = 72;
constexpr uint64_t kReclaimedBytes = 16 << 20;

enum class Kind { kFifo, kAck, kMpmc };

// True once `done()`; false if it is still not after 15 s.
bool Eventually(const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + 15s;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

// True once `queue`'s files take at most kReclaimedBytes.
template <typename Queue>
bool Reclaimed(const Queue& queue) {
  return Eventually([&] { return queue.DiskBytes() <= kReclaimedBytes; });
}

// Opens (or creates) the queue of `kind` at `path`, adds `count` items of
// 1 MiB, takes them all (MPMC: lets them expire), waits for their space to
// be given back, closes the queue and reopens it to see it empty: 0 if all
// went as it should.
int FillDrainAndReclaim(Kind kind, const std::string& path, int count) {
  const std::string item(1 << 20, 'x');
  switch (kind) {
    case Kind::kFifo: {
      auto queue = rocksq::FifoQueue::Open(path);
      for (int i = 0; i < count; ++i) queue->Push(item);
      for (int taken = 0; taken < count;) {
        const size_t popped = queue->Pop(8).size();
        if (popped == 0) return 1;
        taken += static_cast<int>(popped);
      }
      if (!Reclaimed(*queue)) return 2;
      queue->Close();
      return rocksq::FifoQueue::Open(path)->Len() == 0 ? 0 : 3;
    }
    case Kind::kAck: {
      auto queue = rocksq::AckQueue::Open(path);
      for (int i = 0; i < count; ++i) queue->Push(item);
      for (int taken = 0; taken < count;) {
        const rocksq::Deliveries got = queue->Get(8);
        if (got.empty()) return 1;
        for (size_t i = 0; i < got.size(); ++i) queue->Ack(got[i]);
        taken += static_cast<int>(got.size());
      }
      if (!Reclaimed(*queue)) return 2;
      queue->Close();
      return rocksq::AckQueue::Open(path)->Len() == 0 ? 0 : 3;
    }
    case Kind::kMpmc: {
      rocksq::MpmcOptions options;
      options.ttl = 1s;  // Swept every 100 ms.
      auto queue = rocksq::MpmcQueue::Open(path, options);
      // One batch, so that all expire at once and one sweep reclaims them.
      queue->AddBatch(std::vector<std::string_view>(count, item));
      if (!Eventually([&] { return queue->Len() == 0; }) || !Reclaimed(*queue)) return 2;
      queue->Close();
      return rocksq::MpmcQueue::Open(path, options)->Len() == 0 ? 0 : 3;
    }
  }
  return 4;
}

// The documented way to use queues in a fork() child, opening them there,
// while the parent has a queue open: creating one, filling a memtable,
// reclaiming or sweeping, and closing all finish in the child.
TEST_F(ForkTest, ChildCreatesFillsAndReclaimsQueuesOfEveryKind) {
  auto parents = rocksq::FifoQueue::Open(QueuePath());  // Open at the fork.
  parents->Push("from the parent");
  for (Kind kind : {Kind::kFifo, Kind::kAck, Kind::kMpmc}) {
    const std::string name = std::to_string(static_cast<int>(kind));
    const std::string existing = (dir_ / ("existing" + name)).string();
    ASSERT_EQ(FillDrainAndReclaim(kind, existing, 1), 0);  // Made before the fork.
    const int status = InChild([&] {
      const int used = FillDrainAndReclaim(kind, existing, kMiBItems);
      if (used != 0) return 10 + used;
      return 20 + FillDrainAndReclaim(kind, (dir_ / ("new" + name)).string(), 1);
    });
    EXPECT_EQ(status, 20) << "kind " << name << " (-1: the child hung)";
  }
  EXPECT_EQ(parents->Pop(1).ToString(0), "from the parent");
}

// Open's check compares the directory, not the path's spelling: a symlink
// and a bind mount (root only; skipped otherwise) reach the same directory
// by another path, and RocksDB's own lock would let this process open it
// twice through one of them.
TEST_F(ForkTest, SecondPathToAnOpenQueueIsRefused) {
  auto queue = rocksq::FifoQueue::Open(QueuePath());
  const std::string link = (dir_ / "link").string();
  fs::create_directory_symlink(QueuePath(), link);
  std::vector<std::string> others = {link, (dir_ / "." / "queue").string(), QueuePath() + "/"};
  const std::string bound = (dir_ / "bound").string();
  fs::create_directory(bound);
  const bool mounted = ::mount(QueuePath().c_str(), bound.c_str(), nullptr, MS_BIND, nullptr) == 0;
  // Unmounted however the test ends, before TearDown removes the directory.
  const std::unique_ptr<const char, void (*)(const char*)> unmount(
      mounted ? bound.c_str() : nullptr, [](const char* target) { ::umount2(target, MNT_DETACH); });
  if (mounted) others.push_back(bound);
  for (const std::string& other : others) {
    try {
      rocksq::FifoQueue::Open(other);
      ADD_FAILURE() << other << " opened twice";
    } catch (const rocksq::Error& error) {
      EXPECT_EQ(error.kind(), ErrorKind::kAlreadyOpen) << error.what();
    }
    try {
      rocksq::FifoQueue::Destroy(other);
      ADD_FAILURE() << other << " destroyed while open";
    } catch (const rocksq::Error& error) {
      EXPECT_EQ(error.kind(), ErrorKind::kAlreadyOpen) << error.what();
    }
  }
  queue->Push("kept");
  queue->Close();
  {
    auto through_link = rocksq::FifoQueue::Open(mounted ? bound : link);
    EXPECT_EQ(through_link->Pop(1).ToString(0), "kept");
  }
  if (!mounted) GTEST_SKIP() << "no bind mount (needs root): only the symlink was tried";
}

// --- Queues opened with attach: the child attaches ----------------------------

rocksq::FifoOptions Attaching() {
  rocksq::FifoOptions options;
  options.attach = true;
  return options;
}

// Threads of the child call the inherited queue at once: one opens the
// child's own queue (attached to the parent), the others wait for it, and
// every call goes through it.
TEST_F(ForkTest, InheritedAttachQueueServesEveryThreadOfTheChildThroughTheOwner) {
  auto queue = rocksq::FifoQueue::Open(QueuePath(), Attaching());
  for (int i = 0; i < 100; ++i) queue->Push("item " + std::to_string(i));
  const int status = InChild([&] {
    std::vector<std::thread> threads;
    std::atomic<int> popped{0};
    std::atomic<int> failures{0};
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&] {
        try {
          for (int i = 0; i < 10; ++i) popped += static_cast<int>(queue->Pop(1).size());
          queue->Push("from the child");
        } catch (...) {
          ++failures;
        }
      });
    }
    for (std::thread& thread : threads) thread.join();
    if (failures != 0 || popped != 40) return 1;
    if (queue->Len() != 64) return 2;
    queue->Close();  // The child's own queue; the parent's is left alone.
    if (Throws(ErrorKind::kClosed, [&] { queue->Len(); }) != 0) return 3;
    queue.reset();
    return 0;
  });
  EXPECT_EQ(status, 0);
  ASSERT_EQ(queue->Len(), 64u);
  EXPECT_EQ(queue->Pop(1).ToString(0), "item 40");
  queue->Close();
  queue = rocksq::FifoQueue::Open(QueuePath());
  EXPECT_EQ(queue->Len(), 63u);
}

// The inherited handle finds no owner once the parent closed the queue: it
// opens the queue itself, which checks that RocksDB's process-wide state
// copied from the parent (its table of locked files names the parent's
// LOCK; its thread pools have no threads here) lets the child own it: the
// open takes LOCK, a memtable's worth of pushes is flushed by the child's
// own background threads, and a grandchild attaches to the child.
TEST_F(ForkTest, ChildOfTheOwnerOwnsTheQueueOnceTheParentClosedIt) {
  auto queue = rocksq::FifoQueue::Open(QueuePath(), Attaching());
  queue->Push("from the parent");
  int closed[2];
  ASSERT_EQ(::pipe(closed), 0);
  const pid_t child = ::fork();
  if (child == 0) {
    int status = 90;
    try {
      char byte;
      if (::read(closed[0], &byte, 1) != 1) ::_exit(1);
      if (queue->Len() != 1) ::_exit(2);  // Owns it from here.
      const std::string mebibyte(1 << 20, 'm');
      for (int i = 0; i < kMiBItems; ++i) queue->Push(mebibyte);
      const auto deadline = std::chrono::steady_clock::now() + 10s;
      auto flushed = [&] {
        for (const auto& entry : fs::directory_iterator(QueuePath())) {
          if (entry.path().extension() == ".sst") return true;
        }
        return false;
      };
      while (!flushed()) {
        if (std::chrono::steady_clock::now() > deadline) ::_exit(3);
        std::this_thread::sleep_for(20ms);
      }
      const int grandchild = InChild([&] {
        return queue->Pop(1).ToString(0) == "from the parent" ? 0 : 1;
      });
      if (grandchild != 0) ::_exit(4);
      status = queue->Len() == static_cast<uint64_t>(kMiBItems) ? 0 : 5;
      queue->Close();
    } catch (...) {
      status = 91;
    }
    ::_exit(status);
  }
  queue->Close();
  ASSERT_EQ(::write(closed[1], "x", 1), 1);
  EXPECT_EQ(WaitBounded(child, 60s), 0);
  for (int fd : {closed[0], closed[1]}) ::close(fd);
  queue = rocksq::FifoQueue::Open(QueuePath());
  EXPECT_EQ(queue->Len(), static_cast<uint64_t>(kMiBItems));
}

// Forks at random moments while threads of the owner push and pop (RocksDB's
// and the attach server's locks and threads busy): each child attaches
// through the inherited queue, and owns a queue of its own, within the
// watchdog's bound.
TEST_F(ForkTest, ChildrenForkedUnderLoadAttachAndOwnQueuesOfTheirOwn) {
  auto queue = rocksq::FifoQueue::Open(QueuePath(), Attaching());
  std::atomic<bool> stop{false};
  std::vector<std::thread> load;
  for (int t = 0; t < 2; ++t) {
    load.emplace_back([&] {
      while (!stop) {
        queue->PushBatch({"load", "load"});
        queue->Pop(2);
      }
    });
  }
  std::srand(static_cast<unsigned>(::getpid()));
  constexpr int kForks = 50;
  std::vector<int> failed;  // "fork number: status" of each child that failed.
  for (int i = 0; i < kForks; ++i) {
    std::this_thread::sleep_for(std::chrono::microseconds(std::rand() % 5000));
    const std::string own = (dir_ / ("own" + std::to_string(i))).string();
    const int status = InChild([&] {
      try {
        queue->Push("child " + std::to_string(i));
      } catch (const rocksq::Error& error) {
        std::fprintf(stderr, "attaching: %s\n", error.what());
        return 2;
      }
      try {
        auto mine = rocksq::FifoQueue::Open(own);
        mine->Push("mine");
        const bool kept = mine->Pop(1).ToString(0) == "mine";
        mine->Close();
        return kept ? 0 : 1;
      } catch (const rocksq::Error& error) {
        std::fprintf(stderr, "owning: %s\n", error.what());
        return 3;
      }
    });
    if (status != 0) {
      failed.push_back(i);
      failed.push_back(status);
    }
  }
  stop = true;
  for (std::thread& thread : load) thread.join();
  EXPECT_TRUE(failed.empty()) << ::testing::PrintToString(failed) << " (fork, status; -1: hung)";
  queue->Close();
}

}  // namespace
