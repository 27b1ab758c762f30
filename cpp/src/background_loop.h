// A thread a queue owns for housekeeping (reclaiming disk space): it runs a
// body again and again, sleeping between runs as long as the body asks or
// until woken, and stops promptly when asked. What fails there is kept in
// BackgroundFailures, never dropped.

#ifndef ROCKSQ_SRC_BACKGROUND_LOOP_H_
#define ROCKSQ_SRC_BACKGROUND_LOOP_H_

#include <chrono>
#include <condition_variable>
#include <ctime>
#include <exception>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "rocksdb/env.h"

namespace rocksq {

// The last failure of a queue's background work (reclaiming, expiring):
// written to the queue's RocksDB info log (the LOG file in its directory)
// and kept, with its time, for LastBackgroundError() and for the message
// of a write that fails after it. `rocksq stats` reads it back from the
// LOG (LastLogged), so a failure outlives the process that had it.
class BackgroundFailures {
 public:
  // What precedes a failure's message and time in a LOG line.
  static constexpr char kLogTag[] = "[rocksq] background work failed: ";

  // Where Record() writes: the database's info log; null logs nothing.
  void SetLog(std::shared_ptr<rocksdb::Logger> log) { log_ = std::move(log); }

  void Record(const std::string& what) noexcept {
    try {
      const std::time_t now = std::time(nullptr);
      std::tm utc{};
      gmtime_r(&now, &utc);
      char when[32];
      std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &utc);
      std::string described = what + " (at " + when + ")";
      if (log_) rocksdb::Error(log_, "%s%s", kLogTag, described.c_str());
      std::lock_guard<std::mutex> lock(mutex_);
      last_ = std::move(described);
    } catch (...) {
      // Out of memory while describing a failure: nothing better to do.
    }
  }

  // "" if nothing failed since the queue opened; else the last failure's
  // message and time.
  std::string Last() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return last_;
  }

  // The newest failure Record() wrote to the LOG in `directory`, as Last()
  // gave it then; "" if there is none (or no LOG). Only the LOG file is
  // read: the queue's info log (storage.cc's DiagnosticLog) appends to that
  // one file and starts it over past 1 MiB, so RocksDB keeps no LOG.old.*
  // of it, and a failure older than the last restart is gone.
  static std::string LastLogged(const std::string& directory) {
    std::ifstream log(directory + "/LOG");
    std::string line;
    std::string last;
    while (std::getline(log, line)) {
      const size_t tag = line.find(kLogTag);
      if (tag != std::string::npos) last = line.substr(tag + sizeof(kLogTag) - 1);
    }
    return last;
  }

 private:
  std::shared_ptr<rocksdb::Logger> log_;
  mutable std::mutex mutex_;
  std::string last_;
};

class BackgroundLoop {
 public:
  // `body` returns how long to sleep before running again. An exception it
  // throws is recorded in `failures` and the body runs again after
  // `retry_after`: the work it failed to do (a compaction on a full disk,
  // say) is retried.
  BackgroundLoop(std::function<std::chrono::microseconds()> body,
                 std::chrono::microseconds retry_after, BackgroundFailures* failures)
      : body_(std::move(body)),
        retry_after_(retry_after),
        failures_(failures),
        thread_([this] { Run(); }) {}

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
      } catch (const std::exception& error) {
        failures_->Record(error.what());
      } catch (...) {
        failures_->Record("an unknown error");
      }
      lock.lock();
      wake_.wait_for(lock, sleep, [&] { return stopping_ || woken_; });
    }
  }

  const std::function<std::chrono::microseconds()> body_;
  const std::chrono::microseconds retry_after_;
  BackgroundFailures* const failures_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool woken_ = false;     // Guarded by mutex_.
  bool stopping_ = false;  // Guarded by mutex_.
  std::thread thread_;     // Last: starts once the members above exist.
};

}  // namespace rocksq

#endif  // ROCKSQ_SRC_BACKGROUND_LOOP_H_
