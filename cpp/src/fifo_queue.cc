#include "rocksq/fifo_queue.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <shared_mutex>
#include <thread>

#include <unistd.h>

#include "attach_client.h"
#include "attach_server.h"
#include "attached_fifo_queue.h"
#include "fifo_attach_handler.h"
#include "cursor_file.h"
#include "format.h"
#include "item_log.h"
#include "popped_items_rep.h"
#include "process_owned.h"
#include "storage.h"
#include "waiting.h"

namespace rocksq {
namespace {

// A FIFO queue is the item log (item_log.h) with a read cursor: positions
// [read cursor, write cursor) hold the stored items. A pop records itself by
// storing the read cursor (cursor_file.h); the popped keys are deleted later,
// a batch at a time (ItemLog::DeletePrefix), and the reclaimer compacts them.
// The log's removed count is the read cursor: pops remove a prefix.
class FifoQueueImpl final : public FifoQueue, public ServedFifoQueue {
 public:
  FifoQueueImpl(QueueDatabase database, const FifoOptions& options);
  ~FifoQueueImpl() override;

  void Push(std::string_view item) override { Append(&item, 1); }
  void PushBatch(const std::vector<std::string_view>& items) override {
    Append(items.data(), items.size());
  }
  PoppedItems Pop(size_t max_items) override;
  PoppedItems PopWait(size_t max_items, std::chrono::nanoseconds timeout) override;
  void PushWait(std::string_view item, std::chrono::nanoseconds timeout) override {
    log_.AppendWait(1, DeadlineAfter(timeout), [&] { Append(&item, 1); });
  }
  void PushBatchWait(const std::vector<std::string_view>& items,
                     std::chrono::nanoseconds timeout) override {
    log_.AppendWait(items.size(), DeadlineAfter(timeout),
                    [&] { Append(items.data(), items.size()); });
  }
  void SetChangeListener(std::function<void()> listener) override {
    change_listener_.Set(std::move(listener));
  }

  uint64_t Len() const override;
  uint64_t PayloadBytes() const override;
  uint64_t DiskBytes() const override;
  uint64_t MaxElements() const override { return log_.MaxElements(); }
  const std::string& Path() const override { return database_.path; }
  const std::string& QueueId() const override { return database_.queue_id; }
  const std::string& RecoveryWarning() const override {
    return database_.recovery_warning;
  }
  std::string LastBackgroundError() const override {
    return log_.background_failures().Last();
  }
  void SetMaxElements(uint64_t max_elements) override;
  void Shutdown(bool immediate) override;
  bool IsShutDown() const override {
    log_.ThrowIfClosed();
    return log_.shutdown_state() != ItemLog::kRunning;
  }
  void Close() override;

  uint64_t TaskDone() override;
  uint64_t UnfinishedTasks() const override {
    log_.ThrowIfClosed();
    return UnfinishedTasksAbove(settled_tasks_.load(std::memory_order_acquire));
  }
  bool JoinWait(std::chrono::nanoseconds timeout) override;

  // Serves this queue to the processes that attach to it, until Close().
  void StartAttachServer(const FifoOptions& options) {
    attach_server_ = StartServing(
        MakeFifoAttachHandler(this, options, [this] { return OldestItemAge(); }),
        &change_listener_, options.attach_group);
  }

  // ServedFifoQueue.
  FifoQueue& queue() override { return *this; }
  CallLedger& ledger() override { return *ledger_; }
  void PushForCalls(const std::vector<std::string_view>& items,
                    const std::vector<CallId>& calls) override {
    const GroupCommit::SideRecords records = ledger_->pushes().Records(calls);
    Append(items.data(), items.size(), &records);
    ledger_->pushes().Note(calls);
  }
  PoppedItems PopForCalls(const std::vector<uint64_t>& wanted,
                          const std::vector<CallId>& calls) override;
  PoppedItems ReadPopped(uint64_t first, uint64_t count) override {
    std::shared_lock<std::shared_mutex> lifetime(lifetime_mutex_);
    log_.ThrowIfClosed();
    auto rep = std::make_unique<PoppedItems::Rep>();
    rep->block_cache = database_.block_cache;
    log_.ReadItems(first, static_cast<size_t>(count), rep.get());
    return PoppedItems(std::move(rep));
  }
  // The oldest item's age (age_marks.h): the item at the read cursor.
  ItemAge OldestItemAge();

 private:
  void Append(const std::string_view* items, size_t count,
              const GroupCommit::SideRecords* side_records = nullptr);
  // Pop without the notifications: takes at most `max_items` and calls
  // store_cursor(first, count) to make the pop take effect (it writes the
  // cursor, with pop records for attached calls), which returns the
  // cursor file's ticket to wait for (0: none). The wait is outside the
  // pop lock, so that the pops of other threads write meanwhile and share
  // the next sync.
  template <typename StoreCursor>
  PoppedItems Take(size_t max_items, StoreCursor store_cursor);
  // Where popped keys may be deleted up to: `end`, unless the cursor is
  // durable only below it (a crash would bring those items back), or the
  // call ledger keeps some of them for a retry.
  uint64_t DeletableBelow(uint64_t end) const {
    end = std::min(end, cursor_file_->DurablePosition());
    return ledger_ ? std::min(end, ledger_->KeepFrom()) : end;
  }
  uint64_t DeletePopped();  // The reclaimer's: returns where deleted keys end.
  // The unfinished tasks if `settled` is settled_tasks_ (see there).
  uint64_t UnfinishedTasksAbove(uint64_t settled) const;
  rocksdb::ColumnFamilyHandle* items() const { return database_.families[0]; }

  QueueDatabase database_;

  // Every operation holds this shared; Close() holds it exclusively, so the
  // database is never closed under a running call.
  mutable std::shared_mutex lifetime_mutex_;

  std::mutex pop_mutex_;  // Pops, deletions of popped keys, and Shutdown().
  // Set by Shutdown(true) before it waits for pop_mutex_: a pop that gets the
  // lock first gives way instead of taking items, so threads popping without
  // pause cannot keep an immediate shutdown waiting (std::mutex is not fair).
  std::atomic<bool> immediate_shutdown_asked_{false};
  std::unique_ptr<CursorFile> cursor_file_;  // Stores the read cursor (pops only).
  // Only while served to attached processes (opened with attach).
  std::unique_ptr<CallLedger> ledger_;
  ChangeListener change_listener_;
  std::unique_ptr<AttachServer> attach_server_;  // Only if opened with attach.

  // The task count (FifoQueue::TaskDone) is the write cursor less this:
  // the position of the oldest item stored at open, plus one per TaskDone()
  // since. So a push counts its items in the same step that lets pops see
  // them (the write cursor moving), and no pop can take an item whose task
  // is not counted yet. Only TaskDone() moves it, never past the write
  // cursor.
  std::atomic<uint64_t> settled_tasks_{0};
  // Notified when no task is left unfinished, and at Shutdown and Close.
  WaitSignal all_tasks_done_;

  ItemLog log_;  // Last: its reclaimer uses the members above.
};

// Reads skip the range-tombstone check (ItemLog::Options): a batch pop
// deletes its keys with one range tombstone (a pop of N keys
// would otherwise insert N tombstones into the memtable's skip list, which
// measured slower than reading them). RocksDB checks every read against
// every range tombstone in the memtable, which gets slower with each pop;
// pops skip that check. It is safe because a range tombstone only hides
// entries older than itself, every tombstone lies below the read cursor when
// it is written, and pops read only keys at or above the read cursor that
// were written after it moved there. (If an empty queue is reopened without
// its cursor file, which only a machine crash can lose, positions start
// again at 0 over old tombstones: the new entries are newer than those, and
// pops never read past the write cursor, where older deleted entries may
// lie.) Keys popped but not yet deleted also lie only below the read cursor.
FifoQueueImpl::FifoQueueImpl(QueueDatabase database, const FifoOptions& options)
    : database_(std::move(database)),
      cursor_file_(std::make_unique<CursorFile>(database_.path, options.sync)),
      log_(&database_, items(),
           {options.sync, options.max_elements, /*also_counted=*/nullptr,
            /*reads_ignore_range_deletions=*/true, ReclaimTuning(), /*removes_prefix=*/true}) {
  if (options.attach) {
    // Before the recovery, which deletes popped keys: an earlier owner's
    // pop records may still need theirs.
    ledger_ = std::make_unique<CallLedger>(&database_, cursor_file_.get());
  }
  log_.RecoverPrefix(cursor_file_->Load(), DeletableBelow(UINT64_MAX));
  settled_tasks_.store(log_.removed(), std::memory_order_release);  // Tasks: the items stored.
  log_.StartReclaimer([this] { return DeletePopped(); });
}

FifoQueueImpl::~FifoQueueImpl() {
  try {
    Close();
  } catch (const Error&) {
    // Reported by an explicit Close(); a destructor must not throw.
  }
}

void FifoQueueImpl::SetMaxElements(uint64_t max_elements) {
  {
    std::shared_lock<std::shared_mutex> lifetime(lifetime_mutex_);
    log_.ThrowIfClosed();
    log_.SetMaxElements(max_elements);
  }
  change_listener_.Fire();
}

void FifoQueueImpl::Shutdown(bool immediate) {
  {
    std::shared_lock<std::shared_mutex> lifetime(lifetime_mutex_);
    log_.ThrowIfClosed();
    // Pops read the shutdown state under this lock: a pop under way
    // finishes before the shutdown, and none takes items after it returned.
    if (immediate) immediate_shutdown_asked_.store(true);
    std::lock_guard<std::mutex> lock(pop_mutex_);
    log_.Shutdown(immediate);
  }
  all_tasks_done_.Notify();  // An immediate shutdown may leave no unfinished task.
  change_listener_.Fire();
}

uint64_t FifoQueueImpl::UnfinishedTasksAbove(uint64_t settled) const {
  // Read after `settled`: the write cursor only grows, and never was below it.
  const uint64_t counted = log_.write_cursor() - settled;
  if (log_.shutdown_state() != ItemLog::kShutDownImmediately) return counted;
  // The items left stored after an immediate shutdown no pop can take.
  const uint64_t stored = log_.StoredItems();
  return counted > stored ? counted - stored : 0;
}

uint64_t FifoQueueImpl::TaskDone() {
  log_.ThrowIfClosed();
  uint64_t settled = settled_tasks_.load(std::memory_order_acquire);
  uint64_t left;
  do {
    const uint64_t unfinished = UnfinishedTasksAbove(settled);
    if (unfinished == 0) {
      throw Error(ErrorKind::kInvalidArgument, Path(),
                  "task_done() called too many times: no task is unfinished");
    }
    left = unfinished - 1;
  } while (!settled_tasks_.compare_exchange_weak(settled, settled + 1, std::memory_order_acq_rel));
  if (left == 0) {
    all_tasks_done_.Notify();
    change_listener_.Fire();  // Wakes the joins of attached processes and event loops.
  }
  return left;
}

bool FifoQueueImpl::JoinWait(std::chrono::nanoseconds timeout) {
  const bool finished = all_tasks_done_.WaitUntil(DeadlineAfter(timeout), [this] {
    return log_.closed() ||
           UnfinishedTasksAbove(settled_tasks_.load(std::memory_order_acquire)) == 0;
  });
  log_.ThrowIfClosed();
  return finished;
}

uint64_t FifoQueueImpl::Len() const {
  log_.ThrowIfClosed();
  return log_.StoredItems();
}

uint64_t FifoQueueImpl::PayloadBytes() const {
  log_.ThrowIfClosed();
  return log_.PayloadBytes();
}

uint64_t FifoQueueImpl::DiskBytes() const {
  log_.ThrowIfClosed();
  return DirectoryBytes(Path());
}

ItemAge FifoQueueImpl::OldestItemAge() {
  // The read cursor is the removed count; items at and past it are stored.
  const uint64_t read_cursor = log_.removed();
  if (read_cursor == log_.write_cursor()) return ItemAge();  // None stored.
  return log_.OldestItemAge(read_cursor);
}

void FifoQueueImpl::Close() {
  // The attached processes go first, while the queue still serves their
  // calls under way.
  if (attach_server_) {
    attach_server_->Stop();
    change_listener_.SetServer(nullptr);
  }
  log_.BeginClose();
  all_tasks_done_.Notify();  // Its waiters throw kClosed.
  std::unique_lock<std::shared_mutex> lifetime(lifetime_mutex_);
  if (database_.db) {
    std::lock_guard<std::mutex> lock(pop_mutex_);
    try {
      log_.DeletePrefix(DeletableBelow(log_.removed()), 0, /*force=*/true);
    } catch (const Error&) {
      // The next open deletes them.
    }
  }
  log_.StopReclaimer();
  cursor_file_.reset();  // Closes its descriptor: the directory is free to go.
  database_.Close();
}

void FifoQueueImpl::Append(const std::string_view* items, size_t count,
                           const GroupCommit::SideRecords* side_records) {
  {
    std::shared_lock<std::shared_mutex> lifetime(lifetime_mutex_);
    log_.ThrowIfClosed();
    log_.Append(items, count, side_records);
    if (count == 0) return;
  }
  change_listener_.Fire();
}

PoppedItems FifoQueueImpl::PopWait(size_t max_items, std::chrono::nanoseconds timeout) {
  const Clock::time_point deadline = DeadlineAfter(timeout);
  for (;;) {
    PoppedItems items = Pop(max_items);
    if (!items.empty() || max_items == 0) return items;
    // Another consumer may take what woke this one: then wait again.
    // After a shutdown, Pop() returns what is left or throws kShutDown.
    const bool arrived = log_.items_arrived().WaitUntil(deadline, [&] {
      return log_.StoredItems() != 0 || log_.closed() ||
             log_.shutdown_state() != ItemLog::kRunning;
    });
    log_.ThrowIfClosed();
    if (!arrived) return PoppedItems();
  }
}

PoppedItems FifoQueueImpl::Pop(size_t max_items) {
  PoppedItems items = Take(max_items, [this](uint64_t first, uint64_t count) {
    return cursor_file_->Write(first + count);
  });
  if (!items.empty()) {
    log_.NoteRemoved(items.size(), items.payload_bytes());
    change_listener_.Fire();
  }
  return items;
}

PoppedItems FifoQueueImpl::PopForCalls(const std::vector<uint64_t>& wanted,
                                       const std::vector<CallId>& calls) {
  PoppedItems items =
      Take(AttachHandler::TotalWanted(wanted), [&](uint64_t first, uint64_t count) {
        // Each call's share has its record, the cursor after the last.
        std::vector<std::pair<CallId, uint64_t>> shares;
        const std::vector<size_t> counts =
            AttachHandler::ShareInArrivalOrder(wanted, static_cast<size_t>(count));
        for (size_t i = 0; i < calls.size(); ++i) {
          if (counts[i] != 0) shares.emplace_back(calls[i], counts[i]);
        }
        // A failed sync of this write fails the calls, and every later
        // pop; the reopened queue finds neither these records nor the
        // cursor past them.
        return ledger_->StorePops(first, shares);
      });
  if (!items.empty()) {
    log_.NoteRemoved(items.size(), items.payload_bytes());
    change_listener_.Fire();
  }
  return items;
}

template <typename StoreCursor>
PoppedItems FifoQueueImpl::Take(size_t max_items, StoreCursor store_cursor) {
  std::shared_lock<std::shared_mutex> lifetime(lifetime_mutex_);
  log_.ThrowIfClosed();
  std::unique_lock<std::mutex> lock(pop_mutex_);
  const ItemLog::ShutdownState shutdown = log_.shutdown_state();
  if (shutdown == ItemLog::kShutDownImmediately || immediate_shutdown_asked_.load()) {
    log_.ThrowShutDown();
  }
  const uint64_t first = log_.removed();
  const uint64_t end = log_.write_cursor();
  if (shutdown != ItemLog::kRunning && first == end) log_.ThrowShutDown();
  const size_t count = static_cast<size_t>(std::min<uint64_t>(max_items, end - first));
  if (count == 0) return PoppedItems();

  auto rep = std::make_unique<PoppedItems::Rep>();
  rep->block_cache = database_.block_cache;
  log_.ReadItems(first, count, rep.get());

  // The pop happens here: if writing the cursor fails, nothing was popped.
  // If the sync fails, the cursor file keeps the durable cursor, and the
  // queue pops no more: the next open delivers these items again.
  const uint64_t ticket = store_cursor(first, count);
  log_.CountRemoved(count, rep->payload_bytes);
  try {
    log_.DeletePrefix(DeletableBelow(first + count), rep->payload_bytes, /*force=*/false);
  } catch (const Error&) {
    // Not the pop's failure: the keys stay, unread below the read cursor,
    // and the next deletion (or the next open) deletes them.
  }
  lock.unlock();
  if (ticket != 0) cursor_file_->WaitDurable(ticket);
  return PoppedItems(std::move(rep));
}

uint64_t FifoQueueImpl::DeletePopped() {
  std::lock_guard<std::mutex> lock(pop_mutex_);
  log_.DeletePrefix(DeletableBelow(log_.removed()), 0, /*force=*/true);
  return log_.deleted_below();
}

}  // namespace

FifoQueue::~FifoQueue() = default;

std::unique_ptr<ServedFifoQueue> OpenFifoQueueToServe(const std::string& path,
                                                      const FifoOptions& options) {
  FifoOptions served = options;
  served.attach = true;  // Keeps the call ledger.
  return std::make_unique<FifoQueueImpl>(
      OpenQueueDatabase(path, QueueKind::kFifo, {kFifoItemsFamily}), served);
}

namespace {

// Opens the queue for this process: owns it, or attaches to the process
// that does (options.attach). Not yet wrapped by OwnedByThisProcess.
std::unique_ptr<FifoQueue> OpenInThisProcess(const std::string& path, const FifoOptions& options) {
  const auto open_owned = [path](const FifoOptions& options) -> std::unique_ptr<FifoQueue> {
    QueueDatabase database = OpenQueueDatabase(path, QueueKind::kFifo, {kFifoItemsFamily});
    auto queue = std::make_unique<FifoQueueImpl>(std::move(database), options);
    if (options.attach) queue->StartAttachServer(options);
    return queue;
  };
  return OpenOwnedOrAttached<FifoQueue>(
      path, options.attach, [&] { return open_owned(options); },
      [&] { return AttachFifoQueue(path, options, open_owned); });
}

}  // namespace

std::unique_ptr<FifoQueue> FifoQueue::Open(const std::string& path, const FifoOptions& options) {
  ItemLog::CheckMaxElements(path, options.max_elements);
  if (path.empty()) throw Error(ErrorKind::kInvalidArgument, path, "the path is empty");
  // An unknown group fails at any open, not at a later take-over.
  ResolveAttachGroup(path, options.attach_group);
  // A fork() child that inherits the queue opens it again the same way.
  return OwnedByThisProcess(OpenInThisProcess(path, options), options,
                            [path](const FifoOptions& options) {
                              return OpenInThisProcess(path, options);
                            });
}

void FifoQueue::Destroy(const std::string& path) { DestroyQueueDatabase(path, QueueKind::kFifo); }

}  // namespace rocksq
