// The Env RocksQ's databases run their background work on (process_env.h):
// its pools run what is scheduled, unschedule what has not started, follow
// the thread limits RocksDB sets, and a fork() child gets an Env of its own
// whose threads run there.

#include "process_env.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace {

using namespace std::chrono_literals;
using Priority = rocksdb::Env::Priority;

// A count that jobs raise and a test waits on, for at most 20 s.
struct Counter {
  std::mutex mutex;
  std::condition_variable changed;
  int value = 0;

  void Add() {
    std::lock_guard<std::mutex> lock(mutex);
    ++value;
    changed.notify_all();
  }
  bool WaitFor(int wanted) {
    std::unique_lock<std::mutex> lock(mutex);
    return changed.wait_for(lock, 20s, [&] { return value >= wanted; });
  }
};

void Count(void* counter) { static_cast<Counter*>(counter)->Add(); }

// The unschedule function: RocksDB's free what the job would have.
std::atomic<int> unscheduled{0};
void NoteUnscheduled(void*) { unscheduled.fetch_add(1); }

// A job that holds its pool's thread until released.
struct Gate {
  std::mutex mutex;
  std::condition_variable opened_cv;
  bool opened = false;
  Counter entered;

  void Open() {
    std::lock_guard<std::mutex> lock(mutex);
    opened = true;
    opened_cv.notify_all();
  }
  static void Hold(void* arg) {
    Gate* gate = static_cast<Gate*>(arg);
    gate->entered.Add();
    std::unique_lock<std::mutex> lock(gate->mutex);
    gate->opened_cv.wait(lock, [&] { return gate->opened; });
  }
};

TEST(ProcessEnvConcurrency, RunsWorkScheduledFromManyThreads) {
  rocksdb::Env* env = rocksq::ThisProcessEnv();
  EXPECT_EQ(env, rocksq::ThisProcessEnv());
  env->IncBackgroundThreadsIfNeeded(2, Priority::USER);
  Counter done;
  std::vector<std::thread> schedulers;
  for (int t = 0; t < 4; ++t) {
    schedulers.emplace_back([&] {
      for (int i = 0; i < 250; ++i) env->Schedule(&Count, &done, Priority::USER);
    });
  }
  for (std::thread& thread : schedulers) thread.join();
  EXPECT_TRUE(done.WaitFor(1000));
}

TEST(ProcessEnvConcurrency, UnschedulesOnlyWorkNotStartedWithItsTag) {
  rocksdb::Env* env = rocksq::ThisProcessEnv();
  env->SetBackgroundThreads(1, Priority::USER);
  Gate gate;
  env->Schedule(&Gate::Hold, &gate, Priority::USER);
  ASSERT_TRUE(gate.entered.WaitFor(1));  // The pool's one thread is held.
  Counter ran;
  int tag = 0;
  int other_tag = 0;
  for (int i = 0; i < 3; ++i) env->Schedule(&Count, &ran, Priority::USER, &tag, &NoteUnscheduled);
  env->Schedule(&Count, &ran, Priority::USER, &other_tag, &NoteUnscheduled);
  EXPECT_EQ(env->GetThreadPoolQueueLen(Priority::USER), 4u);
  EXPECT_EQ(env->UnSchedule(&tag, Priority::USER), 3);
  EXPECT_EQ(unscheduled.load(), 3);
  EXPECT_EQ(env->GetThreadPoolQueueLen(Priority::USER), 1u);
  gate.Open();
  EXPECT_TRUE(ran.WaitFor(1));  // The other tag's job still runs.
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(ran.value, 1);
}

TEST(ProcessEnvConcurrency, FollowsTheThreadLimits) {
  rocksdb::Env* env = rocksq::ThisProcessEnv();
  env->SetBackgroundThreads(0, Priority::BOTTOM);
  EXPECT_EQ(env->GetBackgroundThreads(Priority::BOTTOM), 0);
  Counter done;
  env->Schedule(&Count, &done, Priority::BOTTOM);
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(done.value, 0);  // No thread allowed: it waits, as in RocksDB.
  env->IncBackgroundThreadsIfNeeded(1, Priority::BOTTOM);
  EXPECT_TRUE(done.WaitFor(1));
  env->IncBackgroundThreadsIfNeeded(0, Priority::BOTTOM);  // Never lowers.
  EXPECT_EQ(env->GetBackgroundThreads(Priority::BOTTOM), 1);
  env->SetBackgroundThreads(0, Priority::BOTTOM);  // Lowers.
  EXPECT_EQ(env->GetBackgroundThreads(Priority::BOTTOM), 0);
}

// Not under TSan (sanitize.sh leaves the fork tests out): it ends a fork()
// child that starts a thread.
TEST(ProcessEnvForkTest, ChildGetsAnEnvOfItsOwnThatRunsWork) {
  rocksdb::Env* parents = rocksq::ThisProcessEnv();
  parents->IncBackgroundThreadsIfNeeded(1, Priority::LOW);
  Counter before;
  parents->Schedule(&Count, &before, Priority::LOW);
  ASSERT_TRUE(before.WaitFor(1));  // The parent's pool has a thread.
  const pid_t child = ::fork();
  if (child == 0) {
    rocksdb::Env* own = rocksq::ThisProcessEnv();
    int status = own == parents ? 1 : 0;
    own->IncBackgroundThreadsIfNeeded(1, Priority::LOW);
    Counter done;
    own->Schedule(&Count, &done, Priority::LOW);
    if (!done.WaitFor(1)) status = 2;
    ::_exit(status);
  }
  int status = 0;
  for (int waited_ms = 0; ::waitpid(child, &status, WNOHANG) == 0; waited_ms += 10) {
    if (waited_ms > 20'000) {
      ::kill(child, SIGKILL);
      ::waitpid(child, &status, 0);
      break;
    }
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
