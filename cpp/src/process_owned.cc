#include "process_owned.h"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <utility>

#include "rocksq/error.h"

namespace rocksq {
namespace {

// Bumped in the child by every fork(): an object stamped with another
// generation was made in an ancestor process. A counter, not getpid(),
// because comparing it costs no system call on every queue call.
std::atomic<uint64_t> fork_generation{0};
std::atomic<int> process_id{0};  // getpid(), kept here so stamping costs no system call.
std::atomic<bool> database_opened{false};

// A fork() child of a process that used RocksDB cannot run RocksDB's static
// destructors: they destroy condition variables that RocksDB's threads
// wait on in the parent, and in the child, where those threads do not
// exist, pthread_cond_destroy waits for them for ever (facebook/rocksdb
// #6742): a child that merely returns from main() or calls exit() never
// ends. RocksQ's databases keep their flushes and compactions off the
// default Env's pools (process_env.h), but every open database also
// registers tasks with RocksDB's process-wide periodic-task Timer, whose
// destructor hangs so in a child forked while a queue was open; and a
// program may use RocksDB directly besides. RocksDB
// registered those destructors in the parent, before the fork; a handler
// registered in the child runs before every one of them, so it ends the
// process there: it flushes stdio and calls _exit with the exit status.
// What this skips in such a child: every atexit(), on_exit() and C++ static
// destructor registered before the fork, in every library (RocksDB's
// included), and shared libraries' destructors. Python's own shutdown (its
// atexit callbacks, flushing sys.stdout) runs before exit() and is not
// skipped; children started by multiprocessing end with os._exit anyway.
void ExitSkippingStaticDestructors(int status, void*) {
  std::fflush(nullptr);
  ::_exit(status);
}

// The descriptors CloseInForkChild tracks, as fd + 1 (0: a free slot).
constexpr size_t kTrackedDescriptors = 4096;
std::atomic<int> tracked_descriptors[kTrackedDescriptors];

void InForkChild() {
  fork_generation.fetch_add(1, std::memory_order_relaxed);
  process_id.store(static_cast<int>(::getpid()), std::memory_order_relaxed);
  if (database_opened.load(std::memory_order_relaxed)) {
    ::on_exit(ExitSkippingStaticDestructors, nullptr);
  }
  for (std::atomic<int>& slot : tracked_descriptors) {
    const int tracked = slot.exchange(0);
    if (tracked != 0) ::close(tracked - 1);
  }
}

// Once per process, before the first queue is stamped or opened.
void RegisterForkHandler() noexcept {
  static const bool registered = [] {
    process_id.store(static_cast<int>(::getpid()), std::memory_order_relaxed);
    return ::pthread_atfork(nullptr, nullptr, InForkChild) == 0;
  }();
  (void)registered;
}

// What a fork() child is told when it calls a queue it inherited that was
// opened without attach.
Error InheritedQueueRefused(const std::string& path, int opening_pid) {
  return Error(ErrorKind::kForkedProcess, path,
               "this queue was opened by process " + std::to_string(opening_pid) +
                   "; this process (" + std::to_string(::getpid()) +
                   ") is a child created by fork(), and a queue belongs to the process that "
                   "opened it: " +
                   "open it with attach=True and a child attaches to its owner instead; or "
                   "open the queue in the child after the fork, or start workers with "
                   "multiprocessing's 'spawn' or 'forkserver' method");
}

// The object Open returns: forwards every call to the queue it holds (see
// process_owned.h), so the three kinds share the check, the leak and the
// child's own queue.
template <typename Queue>
class ProcessOwned : public Queue {
 public:
  explicit ProcessOwned(std::unique_ptr<Queue> queue)
      : queue_(std::move(queue)),
        path_(queue_->Path()),
        queue_id_(queue_->QueueId()),
        recovery_warning_(queue_->RecoveryWarning()) {}

  // In a fork() child the queue's destructor would close the parent's
  // database (RocksDB may flush a memtable into its directory), join
  // threads that do not exist here and destroy condition variables that
  // had waiters in the parent (pthread_cond_destroy then blocks for ever):
  // the child leaks the queue whole instead, untouched. A queue opened for
  // an ancestor that was itself a child is leaked the same way; the one
  // opened for this process is closed.
  ~ProcessOwned() override {
    if (!process_.IsCurrent()) (void)queue_.release();
    delete ChildQueueOfThisProcess();
  }

  const std::string& Path() const override { return path_; }
  // Fixed at the open, as Path(): the child's own queue is the same queue.
  const std::string& QueueId() const override { return queue_id_; }
  // What the open found, as Path(): no call on the queue, so fine in a child.
  const std::string& RecoveryWarning() const override { return recovery_warning_; }
  std::string LastBackgroundError() const override { return Use().LastBackgroundError(); }
  // A child's calls attach (or are refused): the inherited queue is not asked.
  bool MayCallAnotherProcess() const override {
    return !process_.IsCurrent() || queue_->MayCallAnotherProcess();
  }

  // In a child: closes the child's own queue, if it has one, and forgets the
  // inherited one; it succeeds either way, so that cleanup code (a `with`
  // block) does not fail over it, and later calls throw kClosed.
  void Close() override {
    if (process_.IsCurrent()) {
      queue_->Close();
      return;
    }
    closed_in_generation_.store(ForkGeneration());
    if (Queue* own = ChildQueueOfThisProcess()) own->Close();
  }

 protected:
  // Opens the queue again for a fork() child; null if a child cannot use it.
  void SetOpenInChild(std::function<std::unique_ptr<Queue>()> open_in_child) {
    open_in_child_ = std::move(open_in_child);
  }

  // The queue this process uses: one atomic load in the opening process.
  Queue& Use() const {
    if (process_.IsCurrent()) return *queue_;
    return ChildQueue();
  }

 private:
  static constexpr uint64_t kNoGeneration = ~uint64_t{0};

  Queue* ChildQueueOfThisProcess() const {
    if (child_generation_.load(std::memory_order_acquire) != ForkGeneration()) return nullptr;
    return child_queue_.load(std::memory_order_acquire);
  }

  // The child's own queue, opened by the first thread that asks; the others
  // wait for it. Generations, not a mutex, tell who opens: a mutex could
  // have been copied locked by a parent thread that was opening it for the
  // parent (itself a child) at the fork.
  Queue& ChildQueue() const {
    const uint64_t generation = ForkGeneration();
    for (;;) {
      if (Queue* own = ChildQueueOfThisProcess()) return *own;
      if (!open_in_child_) throw InheritedQueueRefused(path_, process_.pid());
      if (closed_in_generation_.load() == generation) {
        throw Error(ErrorKind::kClosed, path_, "the queue was closed");
      }
      uint64_t claimed = opening_generation_.load();
      if (claimed != generation &&
          opening_generation_.compare_exchange_strong(claimed, generation)) {
        std::unique_ptr<Queue> opened;
        try {
          opened = open_in_child_();
        } catch (...) {
          opening_generation_.store(kNoGeneration);  // Another call tries again.
          throw;
        }
        child_queue_.store(opened.release(), std::memory_order_release);
        child_generation_.store(generation, std::memory_order_release);
        continue;
      }
      // Another thread of this process is opening it (attaching waits at
      // most the owner's start, see FifoQueue::Open).
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
  }

  std::unique_ptr<Queue> queue_;
  const std::string path_;
  const std::string queue_id_;
  const std::string recovery_warning_;
  const OpeningProcess process_;
  std::function<std::unique_ptr<Queue>()> open_in_child_;
  // The queue open_in_child_ opened, valid in the process of fork
  // generation child_generation_ only (written before it); older ones are
  // leaked, as queue_ is.
  mutable std::atomic<Queue*> child_queue_{nullptr};
  mutable std::atomic<uint64_t> child_generation_{kNoGeneration};
  // The generation whose thread is opening child_queue_, if any.
  mutable std::atomic<uint64_t> opening_generation_{kNoGeneration};
  // The generation that closed this object before using it.
  std::atomic<uint64_t> closed_in_generation_{kNoGeneration};
};

class ProcessOwnedFifo final : public ProcessOwned<FifoQueue> {
 public:
  ProcessOwnedFifo(std::unique_ptr<FifoQueue> queue, const FifoOptions& options,
                   OpenFifoInChild open_in_child)
      : ProcessOwned(std::move(queue)),
        options_(options),
        max_elements_(options.max_elements) {
    if (!options.attach || !open_in_child) return;
    SetOpenInChild([this, open_in_child = std::move(open_in_child)] {
      FifoOptions options = options_;
      options.max_elements = max_elements_.load();
      return open_in_child(options);
    });
  }
  void Push(std::string_view item) override { Use().Push(item); }
  void PushBatch(const std::vector<std::string_view>& items) override { Use().PushBatch(items); }
  PoppedItems Pop(size_t max_items) override { return Use().Pop(max_items); }
  PoppedItems PopWait(size_t max_items, std::chrono::nanoseconds timeout) override {
    return Use().PopWait(max_items, timeout);
  }
  void PushWait(std::string_view item, std::chrono::nanoseconds timeout) override {
    Use().PushWait(item, timeout);
  }
  void PushBatchWait(const std::vector<std::string_view>& items,
                     std::chrono::nanoseconds timeout) override {
    Use().PushBatchWait(items, timeout);
  }
  void SetChangeListener(std::function<void()> listener) override {
    Use().SetChangeListener(std::move(listener));
  }
  std::unique_ptr<ChangeFd> WatchChanges() override { return Use().WatchChanges(); }
  uint64_t Len() const override { return Use().Len(); }
  uint64_t PayloadBytes() const override { return Use().PayloadBytes(); }
  uint64_t DiskBytes() const override { return Use().DiskBytes(); }
  uint64_t MaxElements() const override { return Use().MaxElements(); }
  void SetMaxElements(uint64_t max_elements) override {
    Use().SetMaxElements(max_elements);
    max_elements_.store(max_elements);  // A child attaching later agrees with it.
  }
  void Shutdown(bool immediate) override { Use().Shutdown(immediate); }
  bool IsShutDown() const override { return Use().IsShutDown(); }
  uint64_t TaskDone() override { return Use().TaskDone(); }
  uint64_t UnfinishedTasks() const override { return Use().UnfinishedTasks(); }
  bool JoinWait(std::chrono::nanoseconds timeout) override { return Use().JoinWait(timeout); }

 private:
  const FifoOptions options_;
  std::atomic<uint64_t> max_elements_;
};

class ProcessOwnedMpmc final : public ProcessOwned<MpmcQueue> {
 public:
  ProcessOwnedMpmc(std::unique_ptr<MpmcQueue> queue,
                   std::function<std::unique_ptr<MpmcQueue>()> open_in_child)
      : ProcessOwned(std::move(queue)) {
    if (open_in_child) SetOpenInChild(std::move(open_in_child));
  }
  void Add(std::string_view item) override { Use().Add(item); }
  void AddBatch(const std::vector<std::string_view>& items) override { Use().AddBatch(items); }
  MpmcRead Next(std::string_view label, StartPosition start, size_t max_items) override {
    return Use().Next(label, start, max_items);
  }
  bool RemoveLabel(std::string_view label) override { return Use().RemoveLabel(label); }
  std::vector<std::string> Labels() const override { return Use().Labels(); }
  void SetChangeListener(std::function<void()> listener) override {
    Use().SetChangeListener(std::move(listener));
  }
  std::unique_ptr<ChangeFd> WatchChanges() override { return Use().WatchChanges(); }
  uint64_t Len() const override { return Use().Len(); }
  uint64_t PayloadBytes() const override { return Use().PayloadBytes(); }
  uint64_t DiskBytes() const override { return Use().DiskBytes(); }
  std::chrono::milliseconds Ttl() const override { return Use().Ttl(); }
};

class ProcessOwnedAck final : public ProcessOwned<AckQueue> {
 public:
  ProcessOwnedAck(std::unique_ptr<AckQueue> queue,
                  std::function<std::unique_ptr<AckQueue>()> open_in_child)
      : ProcessOwned(std::move(queue)) {
    if (open_in_child) SetOpenInChild(std::move(open_in_child));
  }
  void Push(std::string_view item) override { Use().Push(item); }
  void PushBatch(const std::vector<std::string_view>& items) override { Use().PushBatch(items); }
  bool PushUnique(std::string_view key, std::string_view item) override {
    return Use().PushUnique(key, item);
  }
  std::vector<bool> PushBatchUnique(const std::vector<KeyedItem>& keyed_items) override {
    return Use().PushBatchUnique(keyed_items);
  }
  bool PushUniqueWait(std::string_view key, std::string_view item,
                      std::chrono::nanoseconds timeout) override {
    return Use().PushUniqueWait(key, item, timeout);
  }
  std::vector<bool> PushBatchUniqueWait(const std::vector<KeyedItem>& keyed_items,
                                        std::chrono::nanoseconds timeout) override {
    return Use().PushBatchUniqueWait(keyed_items, timeout);
  }
  uint64_t DedupWindow() const override { return Use().DedupWindow(); }
  Deliveries Get(size_t max_items) override { return Use().Get(max_items); }
  Deliveries GetWait(size_t max_items, std::chrono::nanoseconds timeout) override {
    return Use().GetWait(max_items, timeout);
  }
  void PushWait(std::string_view item, std::chrono::nanoseconds timeout) override {
    Use().PushWait(item, timeout);
  }
  void PushBatchWait(const std::vector<std::string_view>& items,
                     std::chrono::nanoseconds timeout) override {
    Use().PushBatchWait(items, timeout);
  }
  void Ack(const Delivery& delivery) override { Use().Ack(delivery); }
  void AckBatch(const std::vector<Delivery>& deliveries) override { Use().AckBatch(deliveries); }
  void Nack(const Delivery& delivery) override { Use().Nack(delivery); }
  void NackBatch(const std::vector<Delivery>& deliveries) override { Use().NackBatch(deliveries); }
  void AckFailed(const Delivery& delivery) override { Use().AckFailed(delivery); }
  void AckFailedBatch(const std::vector<Delivery>& deliveries) override {
    Use().AckFailedBatch(deliveries);
  }
  void Extend(const Delivery& delivery, std::chrono::milliseconds visibility_timeout) override {
    Use().Extend(delivery, visibility_timeout);
  }
  void ExtendBatch(const std::vector<Delivery>& deliveries,
                   std::chrono::milliseconds visibility_timeout) override {
    Use().ExtendBatch(deliveries, visibility_timeout);
  }
  std::vector<FailedItem> Failed(size_t max_items) const override {
    return Use().Failed(max_items);
  }
  uint64_t RequeueFailed(const std::vector<uint64_t>& ids) override {
    return Use().RequeueFailed(ids);
  }
  uint64_t RequeueAllFailed() override { return Use().RequeueAllFailed(); }
  void SetChangeListener(std::function<void()> listener) override {
    Use().SetChangeListener(std::move(listener));
  }
  std::unique_ptr<ChangeFd> WatchChanges() override { return Use().WatchChanges(); }
  std::chrono::nanoseconds TimeToNextExpiry() const override { return Use().TimeToNextExpiry(); }
  uint64_t ReadyLen() const override { return Use().ReadyLen(); }
  uint64_t UnackedLen() const override { return Use().UnackedLen(); }
  uint64_t FailedLen() const override { return Use().FailedLen(); }
  uint64_t Len() const override { return Use().Len(); }
  uint64_t PayloadBytes() const override { return Use().PayloadBytes(); }
  uint64_t DiskBytes() const override { return Use().DiskBytes(); }
  uint64_t MaxElements() const override { return Use().MaxElements(); }
  std::chrono::milliseconds VisibilityTimeout() const override {
    return Use().VisibilityTimeout();
  }
};

}  // namespace

OpeningProcess::OpeningProcess() noexcept {
  RegisterForkHandler();
  generation_ = fork_generation.load(std::memory_order_relaxed);
  pid_ = process_id.load(std::memory_order_relaxed);
}

bool OpeningProcess::IsCurrent() const noexcept {
  return generation_ == fork_generation.load(std::memory_order_relaxed);
}

void OpeningProcess::Check(const std::string& path) const {
  if (IsCurrent()) return;
  throw InheritedQueueRefused(path, pid_);
}

std::unique_ptr<FifoQueue> OwnedByThisProcess(std::unique_ptr<FifoQueue> queue,
                                              const FifoOptions& options,
                                              OpenFifoInChild open_in_child) {
  return std::make_unique<ProcessOwnedFifo>(std::move(queue), options, std::move(open_in_child));
}

std::unique_ptr<MpmcQueue> OwnedByThisProcess(
    std::unique_ptr<MpmcQueue> queue, std::function<std::unique_ptr<MpmcQueue>()> open_in_child) {
  return std::make_unique<ProcessOwnedMpmc>(std::move(queue), std::move(open_in_child));
}

std::unique_ptr<AckQueue> OwnedByThisProcess(
    std::unique_ptr<AckQueue> queue, std::function<std::unique_ptr<AckQueue>()> open_in_child) {
  return std::make_unique<ProcessOwnedAck>(std::move(queue), std::move(open_in_child));
}

uint64_t ForkGeneration() noexcept { return fork_generation.load(std::memory_order_relaxed); }

void NoteDatabaseOpened() noexcept {
  RegisterForkHandler();
  database_opened.store(true, std::memory_order_relaxed);
}

void CloseInForkChild(int fd) noexcept {
  RegisterForkHandler();
  for (std::atomic<int>& slot : tracked_descriptors) {
    int free_slot = 0;
    if (slot.load(std::memory_order_relaxed) == 0 &&
        slot.compare_exchange_strong(free_slot, fd + 1)) {
      return;
    }
  }
}

void CloseTrackedDescriptor(int fd) noexcept {
  for (std::atomic<int>& slot : tracked_descriptors) {
    int mine = fd + 1;
    if (slot.load(std::memory_order_relaxed) == mine && slot.compare_exchange_strong(mine, 0)) {
      break;
    }
  }
  ::close(fd);
}

}  // namespace rocksq
