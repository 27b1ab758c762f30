// How a queue lets callers wait for its state to change, and tells an
// event loop that it changed.

#ifndef ROCKSQ_SRC_WAITING_H_
#define ROCKSQ_SRC_WAITING_H_

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

namespace rocksq {

using Clock = std::chrono::steady_clock;

// The deadline `timeout` from now, saturating instead of overflowing for
// "wait forever" timeouts.
inline Clock::time_point DeadlineAfter(std::chrono::nanoseconds timeout) {
  const Clock::time_point now = Clock::now();
  if (timeout <= std::chrono::nanoseconds::zero()) return now;
  if (timeout >= Clock::time_point::max() - now) return Clock::time_point::max();
  return now + std::chrono::duration_cast<Clock::duration>(timeout);
}

// What is left of `timeout`, which ends at `deadline` (DeadlineAfter).
inline std::chrono::nanoseconds Remaining(std::chrono::nanoseconds timeout,
                                          Clock::time_point deadline) {
  if (deadline == Clock::time_point::max()) return timeout;
  return std::max(std::chrono::nanoseconds::zero(),
                  std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - Clock::now()));
}

// The longest a group waits for its callers to come back before it is
// written without them (gathering: GroupCommit's, and the attach server's
// for merge groups run on workers).
inline constexpr std::chrono::microseconds kMaxGatherWait(500);

// Calls `ready` until it returns true or `span` has passed, yielding the
// CPU between calls; returns its last answer. For the attach transport's
// waits, which are short when the other process is running: waking a
// process asleep on a socket costs tens of microseconds (on a virtual
// machine, as on this project's test machines, a blocking round trip took
// 54 us where one polling on both sides took 8 us), more than the call's
// own work. Yielding keeps a crowded machine's other threads running; the
// span bounds what an idle wait burns.
template <typename Ready>
bool PollFor(std::chrono::microseconds span, Ready ready) {
  const Clock::time_point until = Clock::now() + span;
  for (;;) {
    if (ready()) return true;
    if (Clock::now() >= until) return false;
    std::this_thread::yield();
  }
}

// PollFor, for as long as polling pays. A wait that outlasted its polling
// (the other process was busy, or found no free CPU, as when more
// processes call than there are cores) makes the next waits sleep at once:
// 16 of them, twice as many after each further miss (up to 1024), so that
// polling processes never take the CPU from the one they wait for; a poll
// that finds its answer starts the count again.
class AdaptivePoll {
 public:
  explicit AdaptivePoll(std::chrono::microseconds span) : span_(span) {}

  // Polls `ready` as PollFor does, or not at all (false) after a miss.
  template <typename Ready>
  bool operator()(Ready ready) {
    if (waits_to_sleep_.load(std::memory_order_relaxed) > 0) {
      waits_to_sleep_.fetch_sub(1, std::memory_order_relaxed);
      return false;
    }
    if (PollFor(span_, ready)) {
      sleeps_after_miss_.store(kFewestSleepsAfterMiss, std::memory_order_relaxed);
      return true;
    }
    const int sleeps = sleeps_after_miss_.load(std::memory_order_relaxed);
    waits_to_sleep_.store(sleeps, std::memory_order_relaxed);
    sleeps_after_miss_.store(std::min(2 * sleeps, kMostSleepsAfterMiss),
                             std::memory_order_relaxed);
    return false;
  }

 private:
  static constexpr int kFewestSleepsAfterMiss = 16;
  static constexpr int kMostSleepsAfterMiss = 1024;
  const std::chrono::microseconds span_;
  std::atomic<int> waits_to_sleep_{0};
  std::atomic<int> sleeps_after_miss_{kFewestSleepsAfterMiss};
};

// A condition variable for a predicate over atomics that other threads make
// true. Those threads call Notify() after each change; it costs a fence and
// a load when nobody waits, so it can sit on every push and pop.
class WaitSignal {
 public:
  // Waits until `ready()` or the deadline; returns `ready()`.
  template <typename Predicate>
  bool WaitUntil(Clock::time_point deadline, Predicate ready) {
    std::unique_lock<std::mutex> lock(mutex_);
    // Counted before `ready` is tested, so a change made after the test
    // sees a waiter (Notify's fence pairs with this read-modify-write).
    waiters_.fetch_add(1, std::memory_order_seq_cst);
    const bool result = cv_.wait_until(lock, deadline, ready);
    waiters_.fetch_sub(1, std::memory_order_relaxed);
    return result;
  }

  void Notify() {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (waiters_.load(std::memory_order_relaxed) == 0) return;
    // Taking the lock orders this notify after a waiter that tested
    // `ready` and is about to sleep.
    { std::lock_guard<std::mutex> lock(mutex_); }
    cv_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::atomic<int> waiters_{0};
};

// What the attach server is to the queue it serves: told of every change.
// Read without a lock on each push and pop of the owner's threads, so its
// owner keeps it alive, and callable after it stopped, as long as the queue
// may change.
class ChangeSink {
 public:
  virtual void NoteChange() = 0;

 protected:
  ~ChangeSink() = default;
};

// Two optional callbacks, called after changes: the user's (Set) and the
// attach server's (SetServer), in slots of their own so that neither
// displaces the other. Set, SetServer and Fire may race.
class ChangeListener {
 public:
  void Set(std::function<void()> listener) { user_.Set(std::move(listener)); }
  void SetServer(ChangeSink* server) { server_.store(server, std::memory_order_release); }

  void Fire() const {
    if (ChangeSink* server = server_.load(std::memory_order_acquire)) server->NoteChange();
    user_.Fire();
  }

 private:
  // Not std::atomic_load/atomic_store of the shared_ptr: libstdc++ guards
  // those with a process-wide pool of mutexes, which a fork() child copies
  // locked if a parent thread was inside one at the fork; RocksDB's own
  // atomic shared_ptr operations (a new MemTable) then waited for ever in
  // a child that opened a queue while the parent's threads pushed. A
  // slot's own mutex is only locked by users of this queue, which a child
  // never touches (rocksq/process.h).
  class Slot {
   public:
    void Set(std::function<void()> listener) {
      std::shared_ptr<const std::function<void()>> next;
      if (listener) next = std::make_shared<const std::function<void()>>(std::move(listener));
      const bool present = next != nullptr;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        listener_.swap(next);  // The old listener is destroyed unlocked.
      }
      present_.store(present, std::memory_order_release);
    }

    void Fire() const {
      if (!present_.load(std::memory_order_acquire)) return;  // The usual case, lock-free.
      std::shared_ptr<const std::function<void()>> listener;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        listener = listener_;
      }
      if (listener) (*listener)();
    }

   private:
    std::atomic<bool> present_{false};
    mutable std::mutex mutex_;
    std::shared_ptr<const std::function<void()>> listener_;  // Guarded by mutex_.
  };

  Slot user_;
  std::atomic<ChangeSink*> server_{nullptr};
};

}  // namespace rocksq

#endif  // ROCKSQ_SRC_WAITING_H_
