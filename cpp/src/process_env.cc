#include "process_env.h"

#include <pthread.h>

#include <atomic>
#include <cstdlib>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "rocksq/process.h"
#include "wal_file_system.h"

namespace rocksq {
namespace {

// One priority's background threads: they run the work RocksDB schedules
// in the order it arrives. Threads start when work first arrives, up to the
// limit RocksDB asks for, and are detached: a pool is never destroyed (see
// ThisProcessEnv); at exit only the jobs under way are waited for (Drain).
class BackgroundPool {
 public:
  explicit BackgroundPool(const char* thread_name) : thread_name_(thread_name) {}

  void Schedule(void (*function)(void*), void* arg, void* tag, void (*unschedule)(void*)) {
    std::lock_guard<std::mutex> lock(mutex_);
    jobs_.push_back(Job{function, arg, tag, unschedule});
    StartThreadsLocked();
    work_.notify_one();
  }

  // Takes the jobs tagged `tag` that no thread has started, and runs their
  // unschedule functions (which free what the jobs would have); returns
  // how many there were.
  int UnSchedule(void* tag) {
    std::vector<Job> removed;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (auto job = jobs_.begin(); job != jobs_.end();) {
        if (job->tag == tag) {
          removed.push_back(*job);
          job = jobs_.erase(job);
        } else {
          ++job;
        }
      }
    }
    // Outside the lock, as RocksDB's own pool does: the function may
    // schedule more work.
    for (const Job& job : removed) {
      if (job.unschedule != nullptr) job.unschedule(job.arg);
    }
    return static_cast<int>(removed.size());
  }

  unsigned int QueueLen() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return static_cast<unsigned int>(jobs_.size());
  }

  int Limit() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return limit_;
  }

  // At exit: no job starts any more (those waiting are dropped, as
  // RocksDB's own pools drop theirs), and this returns once the jobs under
  // way have finished, so none runs while the process destroys the
  // objects it uses.
  void Drain() {
    std::unique_lock<std::mutex> lock(mutex_);
    exiting_ = true;
    work_.notify_all();
    idle_.wait(lock, [this] { return running_ == 0; });
  }

  // Sets the number of threads to `limit`; with `allow_lower` false, only
  // raises it. Threads past a lowered limit end when their job is done.
  void SetLimit(int limit, bool allow_lower) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (limit < 0) limit = 0;
    if (limit > limit_ || (allow_lower && limit < limit_)) {
      limit_ = limit;
      StartThreadsLocked();
      work_.notify_all();
    }
  }

 private:
  struct Job {
    void (*function)(void*);
    void* arg;
    void* tag;
    void (*unschedule)(void*);
  };

  // Once there is work, as many threads as the limit allows (as RocksDB's
  // own pools do): a job may take long, and the others must not wait on it.
  void StartThreadsLocked() {
    while (threads_ < limit_ && !jobs_.empty()) {
      std::thread(&BackgroundPool::Work, this).detach();
      ++threads_;
    }
  }

  void Work() {
    ::pthread_setname_np(::pthread_self(), thread_name_);
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      work_.wait(lock, [this] { return exiting_ || threads_ > limit_ || !jobs_.empty(); });
      if (exiting_ || threads_ > limit_) break;
      const Job job = jobs_.front();
      jobs_.pop_front();
      ++running_;
      lock.unlock();
      job.function(job.arg);
      lock.lock();
      if (--running_ == 0) idle_.notify_all();
    }
    --threads_;
  }

  const char* const thread_name_;  // At most 15 characters, as Linux allows.
  mutable std::mutex mutex_;
  std::condition_variable work_;
  std::condition_variable idle_;  // Notified when running_ drops to 0.
  std::deque<Job> jobs_;
  int limit_ = 0;    // As RocksDB's own pools: none until DB::Open asks.
  int threads_ = 0;  // Started and not ended.
  int running_ = 0;  // Threads inside a job.
  bool exiting_ = false;
};

// Env::Default() but for background threads, which come from pools of
// this object's own (see process_env.h).
class ProcessEnv final : public rocksdb::EnvWrapper {
 public:
  ProcessEnv() : EnvWrapper(rocksdb::Env::Default()) {
    // The default Env's file system (but for how write-ahead logs grow and
    // are read: wal_file_system.h) and clock themselves, so that files
    // behave as they would under Env::Default() (EnvWrapper alone would
    // route them through the older Env file interface).
    file_system_ = NewWalFileSystem();
    system_clock_ = rocksdb::Env::Default()->GetSystemClock();
  }

  const char* Name() const override { return "RocksQProcessEnv"; }

  // See BackgroundPool::Drain.
  void DrainPools() {
    for (const std::unique_ptr<BackgroundPool>& pool : pools_) pool->Drain();
  }

  void Schedule(void (*function)(void*), void* arg, Priority priority, void* tag,
                void (*unschedule)(void*)) override {
    Pool(priority).Schedule(function, arg, tag, unschedule);
  }
  int UnSchedule(void* tag, Priority priority) override { return Pool(priority).UnSchedule(tag); }
  unsigned int GetThreadPoolQueueLen(Priority priority) const override {
    return pools_[Index(priority)]->QueueLen();
  }
  void SetBackgroundThreads(int number, Priority priority) override {
    Pool(priority).SetLimit(number, /*allow_lower=*/true);
  }
  void IncBackgroundThreadsIfNeeded(int number, Priority priority) override {
    Pool(priority).SetLimit(number, /*allow_lower=*/false);
  }
  int GetBackgroundThreads(Priority priority) override { return Pool(priority).Limit(); }

  // Threads kept in reserve for subcompactions: none (Env's own answer),
  // so a compaction runs as one job.
  int ReserveThreads(int, Priority) override { return 0; }
  int ReleaseThreads(int, Priority) override { return 0; }

  // Lowering the pools' priorities is not offered (Env's own answer).
  void LowerThreadPoolIOPriority(Priority) override {}
  void LowerThreadPoolCPUPriority(Priority) override {}
  rocksdb::Status LowerThreadPoolCPUPriority(Priority, rocksdb::CpuPriority) override {
    return rocksdb::Status::NotSupported("RocksQProcessEnv does not lower thread priorities");
  }

  // A thread of the caller's own, ended by returning; WaitForJoin waits
  // for every one. RocksDB itself does not use these.
  void StartThread(void (*function)(void*), void* arg) override {
    std::lock_guard<std::mutex> lock(started_mutex_);
    started_.emplace_back(function, arg);
  }
  void WaitForJoin() override {
    std::vector<std::thread> started;
    {
      std::lock_guard<std::mutex> lock(started_mutex_);
      started.swap(started_);
    }
    for (std::thread& thread : started) thread.join();
  }

 private:
  static size_t Index(Priority priority) {
    // RocksDB only schedules on BOTTOM, LOW, HIGH and USER; anything else
    // runs with LOW's work rather than out of bounds.
    return priority >= BOTTOM && priority < TOTAL ? static_cast<size_t>(priority)
                                                   : static_cast<size_t>(LOW);
  }
  BackgroundPool& Pool(Priority priority) { return *pools_[Index(priority)]; }

  // Indexed by Priority: BOTTOM, LOW, HIGH, USER.
  const std::unique_ptr<BackgroundPool> pools_[TOTAL] = {
      std::make_unique<BackgroundPool>("rocksq:bottom"),
      std::make_unique<BackgroundPool>("rocksq:low"),
      std::make_unique<BackgroundPool>("rocksq:high"),
      std::make_unique<BackgroundPool>("rocksq:user"),
  };
  std::mutex started_mutex_;
  std::vector<std::thread> started_;
};

// A process's Env and the process it belongs to.
struct OwnedEnv {
  OpeningProcess owner;
  ProcessEnv env;
};

std::atomic<OwnedEnv*> current_env{nullptr};

// Registered with atexit when a process makes its Env, so it runs before
// the destructors of RocksDB's and the C++ library's statics registered
// earlier: a queue left open at exit (by a daemon thread still inside a
// call, say) may have a flush or compaction under way, which must not run
// on while they are destroyed. RocksDB's own pools are joined at exit for
// the same reason. Only this process's Env is drained: a fork() child's
// copy of its parent's has threads that do not exist there.
void DrainAtExit() {
  OwnedEnv* owned = current_env.load(std::memory_order_acquire);
  if (owned != nullptr && owned->owner.IsCurrent()) owned->env.DrainPools();
}

}  // namespace

rocksdb::Env* ThisProcessEnv() {
  OwnedEnv* owned = current_env.load(std::memory_order_acquire);
  while (owned == nullptr || !owned->owner.IsCurrent()) {
    // No lock: a mutex could be held at the fork by a thread the child
    // does not have. Two first callers may both make one; one is kept.
    // A parent's Env replaced here is leaked: its pools' locks and
    // threads are the parent's.
    auto made = std::make_unique<OwnedEnv>();
    if (current_env.compare_exchange_strong(owned, made.get(), std::memory_order_acq_rel,
                                            std::memory_order_acquire)) {
      std::atexit(DrainAtExit);
      return &made.release()->env;
    }
  }
  return &owned->env;
}

}  // namespace rocksq
