// A thread a queue owns for housekeeping (reclaiming disk space): it runs a
// body again and again, sleeping between runs as long as the body asks or
// until woken, and stops promptly when asked.

#ifndef ROCKSQ_SRC_BACKGROUND_LOOP_H_
#define ROCKSQ_SRC_BACKGROUND_LOOP_H_

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace rocksq {

class BackgroundLoop {
 public:
  // `body` returns how long to sleep before running again. An exception it
  // throws is swallowed and the body runs again after `retry_after`: the
  // work it failed to do (a compaction on a full disk, say) is retried.
  BackgroundLoop(std::function<std::chrono::microseconds()> body,
                 std::chrono::microseconds retry_after)
      : body_(std::move(body)), retry_after_(retry_after), thread_([this] { Run(); }) {}

  ~BackgroundLoop() { Stop(); }
  BackgroundLoop(const BackgroundLoop&) = delete;
  BackgroundLoop& operator=(const BackgroundLoop&) = delete;

  // Runs the body soon, even if it asked to sleep longer.
  void Wake() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      woken_ = true;
    }
    wake_.notify_one();
  }

  // Waits for the body to return, if it is running, and ends the thread.
  // Whoever owns what the body uses makes a running body return quickly
  // (for RocksDB: DisableManualCompaction) before calling this.
  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_one();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void Run() {
    std::unique_lock<std::mutex> lock(mutex_);
    while (!stopping_) {
      woken_ = false;
      lock.unlock();
      std::chrono::microseconds sleep = retry_after_;
      try {
        sleep = body_();
      } catch (...) {
      }
      lock.lock();
      wake_.wait_for(lock, sleep, [&] { return stopping_ || woken_; });
    }
  }

  const std::function<std::chrono::microseconds()> body_;
  const std::chrono::microseconds retry_after_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool woken_ = false;     // Guarded by mutex_.
  bool stopping_ = false;  // Guarded by mutex_.
  std::thread thread_;     // Last: starts once the members above exist.
};

}  // namespace rocksq

#endif  // ROCKSQ_SRC_BACKGROUND_LOOP_H_
