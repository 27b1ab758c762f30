// The thread behind rocksq.nonblocking: runs a queue's operations one at a
// time, in the order they were submitted, while the submitting Python
// thread goes on. Support for worker.h; no Python in here.

#ifndef ROCKSQ_PYTHON_SERIAL_WORKER_H_
#define ROCKSQ_PYTHON_SERIAL_WORKER_H_

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace rocksq_python {

class SerialWorker {
 public:
  // How many operations may wait unfinished unless the caller says
  // otherwise (rocksq 0.3.0's max_inflight_ops).
  static constexpr size_t kDefaultMaxInflight = 1000;

  // At most `max_inflight` operations are submitted and unfinished at once;
  // Submit() waits for one to finish past that (rocksq 0.3.0's behaviour).
  explicit SerialWorker(size_t max_inflight)
      : max_inflight_(max_inflight == 0 ? 1 : max_inflight), thread_([this] { Run(); }) {}

  ~SerialWorker() { Stop(); }

  SerialWorker(const SerialWorker&) = delete;
  SerialWorker& operator=(const SerialWorker&) = delete;

  // Queues `operation`; returns false, queuing nothing, once Stop() began
  // (a call waiting for a free slot then returns false too).
  bool Submit(std::function<void()> operation) {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [&] { return stopping_ || inflight_ < max_inflight_; });
    if (stopping_) return false;
    ++inflight_;
    operations_.push_back(std::move(operation));
    changed_.notify_all();
    return true;
  }

  // Refuses new operations, runs every one already submitted, then ends the
  // thread. Any thread but the worker's may call it, any number of times;
  // each call returns once the thread has ended.
  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    changed_.notify_all();
    std::call_once(joined_, [this] { thread_.join(); });
  }

  size_t inflight() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return inflight_;
  }

  size_t max_inflight() const { return max_inflight_; }

 private:
  void Run() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      changed_.wait(lock, [&] { return stopping_ || !operations_.empty(); });
      if (operations_.empty()) return;  // Stopping, and nothing left.
      std::function<void()> operation = std::move(operations_.front());
      operations_.pop_front();
      lock.unlock();
      operation();  // Reports its own outcome; must not throw.
      lock.lock();
      --inflight_;
      changed_.notify_all();
    }
  }

  const size_t max_inflight_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::function<void()>> operations_;
  size_t inflight_ = 0;
  bool stopping_ = false;
  std::once_flag joined_;
  std::thread thread_;  // Last: starts once the members above exist.
};

}  // namespace rocksq_python

#endif  // ROCKSQ_PYTHON_SERIAL_WORKER_H_
