// What the three queue classes of rocksq._core (FifoQueue, MpmcQueue,
// AckQueue) share: the Python object that owns one open core queue, the
// methods every kind has (BindQueueBasics), and the pushes that wait for
// room (BindPushWaiting, FIFO and ack).

#ifndef ROCKSQ_PYTHON_QUEUE_HOLDER_H_
#define ROCKSQ_PYTHON_QUEUE_HOLDER_H_

#include <nanobind/nanobind.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "convert.h"
#include "rocksq/rocksq.h"
#include "serial_worker.h"

namespace rocksq_python {

// Owns one open core queue (Core: rocksq::FifoQueue, MpmcQueue or
// AckQueue), and what the waiting and nonblocking faces attach to it.
template <typename Core>
class QueueHolder {
 public:
  using CoreQueue = Core;
  // `serves_fork_child`: the core queue was opened with attach, so a fork()
  // child's calls go through it (rocksq/process.h).
  QueueHolder(std::unique_ptr<Core> queue, bool serves_fork_child)
      : serves_fork_child(serves_fork_child), queue_(std::move(queue)) {}
  QueueHolder(const QueueHolder&) = delete;
  QueueHolder& operator=(const QueueHolder&) = delete;
  // Closing an open queue flushes it to disk; other threads run meanwhile.
  // In a fork() child the core leaves the inherited queue alone (see
  // rocksq/process.h) and closes the child's own, if it opened one.
  ~QueueHolder() {
    LeakAncestorsWorker();
    GilRelease released;
    CloseChangeFd();  // It may use the queue (its listener).
    worker.reset();  // Runs what was submitted, while the queue is open.
    queue_.reset();
  }

  Core* operator->() const { return queue_.get(); }
  Core& operator*() const { return *queue_; }

  // Runs every operation submitted to the worker, so that their responses
  // hold their results, then closes the queue (see the core's Close()). An
  // operation submitted once this began is not run; its outcome is
  // QueueClosed (see Submit). Call it without the GIL.
  void Close() {
    LeakAncestorsWorker();
    if (worker) worker->Stop();
    queue_->Close();
  }

  // The worker for this process (see worker.h). In a fork() child, the
  // parent's worker has no thread: a queue that serves the child gets a
  // worker of its own, with the same limit; any other raises
  // ForkedProcessError. Call it with the GIL held (it serializes the
  // threads that get here first in a child).
  SerialWorker& WorkerOfThisProcess() {
    if (worker_process.IsCurrent()) return *worker;
    if (!serves_fork_child) process.Check(queue_->Path());
    const size_t max_inflight = worker->max_inflight();
    LeakAncestorsWorker();
    worker = std::make_unique<SerialWorker>(max_inflight);
    worker_process = rocksq::OpeningProcess();
    return *worker;
  }

  // Made by change_fd() (see change_fd.h), for rocksq.aio, in the process
  // change_fd_process.
  std::unique_ptr<rocksq::ChangeFd> change_fd;
  rocksq::OpeningProcess change_fd_process;
  // The change fd of this process, made at the first call. In a fork()
  // child the inherited one watches the parent's queue: it is leaked
  // untouched (see CloseChangeFd), and the child makes its own, which
  // watches the queue the child's calls reach.
  rocksq::ChangeFd& ChangeFdOfThisProcess() {
    if (!change_fd_process.IsCurrent()) {
      (void)change_fd.release();
      change_fd_process = rocksq::OpeningProcess();
    }
    if (!change_fd) change_fd = queue_->WatchChanges();
    return *change_fd;
  }
  // Destroys change_fd. In a fork() child that has not made its own, it is
  // an ancestor's, watching that process's queue: leaked untouched, as the
  // worker.
  void CloseChangeFd() {
    if (!change_fd_process.IsCurrent()) {
      (void)change_fd.release();
      change_fd_process = rocksq::OpeningProcess();  // Closed here.
      return;
    }
    change_fd.reset();
  }
  // Started by start_worker (see worker.h), for rocksq.nonblocking.
  std::unique_ptr<SerialWorker> worker;
  // The process that started the worker: the only one where it has a thread.
  rocksq::OpeningProcess worker_process;
  // The process that opened the queue.
  const rocksq::OpeningProcess process;
  const bool serves_fork_child;

 private:
  // A fork() child: the worker's thread exists only in an ancestor, so
  // stopping or joining it would never return, and its lock may have been
  // copied held. Leaked untouched.
  void LeakAncestorsWorker() {
    if (worker && !worker_process.IsCurrent()) (void)worker.release();
  }

  std::unique_ptr<Core> queue_;
};

using PyFifoQueue = QueueHolder<rocksq::FifoQueue>;
using PyMpmcQueue = QueueHolder<rocksq::MpmcQueue>;
using PyAckQueue = QueueHolder<rocksq::AckQueue>;

// Opens the Core queue in `path` with the GIL released.
template <typename Core, typename Options>
void OpenQueue(QueueHolder<Core>* self, nb::handle path, const Options& options) {
  const std::string path_string = ToPath(path);
  new (self) QueueHolder<Core>(Run(true, [&] { return Core::Open(path_string, options); }),
                               options.attach);
}

// Runs `call`, a count or setting of `queue`'s core (it must not touch
// Python objects), with the GIL released only if the core may call another
// process (rocksq::FifoQueue::MayCallAnotherProcess): there it waits for a
// round trip, which must not stop the other threads. In the owning process
// it reads memory under a short lock, and keeping the GIL is cheaper than
// handing it over: a busy Python thread may take it, and taking it back
// then waits up to its switch interval (5 ms). Measured with one busy
// thread, an empty pop() averaged 0.2-0.8 us with the GIL released, but
// once 105 us over 200 calls; 0.2-0.3 us holding it.
template <typename Holder, typename Call>
auto AskCore(const Holder& queue, Call&& call) -> decltype(call()) {
  return Run(queue->MayCallAnotherProcess(), std::forward<Call>(call));
}

// The methods every queue kind has. The sizes keep the GIL unless the queue
// may call another process (AskCore); disk_size walks the directory.
// `close_doc` says what closing this kind does.
template <typename Holder>
void BindQueueBasics(nb::class_<Holder>& queue_class, const char* close_doc) {
  using Core = typename Holder::CoreQueue;
  queue_class
      .def_prop_ro(
          "len", [](const Holder& queue) { return AskCore(queue, [&] { return queue->Len(); }); },
          "The number of items stored (for an MPMC queue: alive).")
      .def_prop_ro(
          "payload_size",
          [](const Holder& queue) { return AskCore(queue, [&] { return queue->PayloadBytes(); }); },
          "The sum of the stored items' sizes, in bytes.")
      .def_prop_ro(
          "disk_size", [](const Holder& queue) { return queue->DiskBytes(); },
          nb::call_guard<GilRelease>(),
          "The size of the queue's files, in bytes; lags behind removals.")
      .def_prop_ro(
          "is_empty",
          [](const Holder& queue) { return AskCore(queue, [&] { return queue->IsEmpty(); }); },
          "True if no item is stored.")
      .def_prop_ro(
          "path", [](const Holder& queue) { return FromPathBytes(queue->Path()); },
          "The queue's directory, as given when it was opened.")
      .def_prop_ro(
          "queue_id", [](const Holder& queue) { return queue->QueueId(); },
          "The queue's identity: 32 lowercase hex digits chosen when it was created.")
      .def_prop_ro(
          "recovery_warning",
          [](const Holder& queue) { return FromPathBytes(queue->RecoveryWarning()); },
          nb::sig("def recovery_warning(self) -> str"),
          "Empty, or says that opening dropped records of a damaged write-ahead log.")
      .def_prop_ro(
          "last_background_error",
          [](const Holder& queue) {
            return FromPathBytes(AskCore(queue, [&] { return queue->LastBackgroundError(); }));
          },
          nb::sig("def last_background_error(self) -> str"),
          "Empty, or the last failure of background work since the queue opened,\n"
          "with its UTC time.")
      .def(
          "close", [](Holder& queue) { queue.Close(); }, nb::call_guard<GilRelease>(),
          close_doc)
      .def_static(
          "destroy",
          [](nb::handle path) {
            const std::string path_string = ToPath(path);
            Run(true, [&] { Core::Destroy(path_string); });
          },
          nb::arg("path").none(), nb::sig("def destroy(path: str | os.PathLike[str]) -> None"),
          "Deletes the queue stored in `path`; does nothing if it does not exist.\n"
          "Raises QueueAlreadyOpen if it is open.");
}

// Pushes the pinned items, waiting up to `timeout` seconds (None: no limit)
// for room; the last slice's QueueFull is the timeout's.
template <typename Holder>
void PushWaiting(const Holder& queue, const PinnedItems& pinned,
                 std::optional<double> timeout) {
  const bool done = WaitInSlices(timeout, [&](std::chrono::nanoseconds slice) {
    try {
      queue->PushBatchWait(pinned.views(), slice);
      return true;
    } catch (const rocksq::Error& error) {
      if (error.kind() != rocksq::ErrorKind::kQueueFull ||
          pinned.views().size() > queue->MaxElements()) {
        throw;
      }
      return false;
    }
  });
  // Timed out: one more zero-wait attempt raises the current QueueFull.
  if (!done) queue->PushBatchWait(pinned.views(), std::chrono::nanoseconds::zero());
}

// push_wait and push_many_wait, for the kinds with a capacity (FIFO, ack).
// A bad item's TypeError names `item_function` or `items_function`, the
// face's method that took it.
template <typename Holder>
void BindPushWaiting(nb::class_<Holder>& queue_class, const char* item_function,
                     const char* items_function) {
  queue_class
      .def(
          "push_wait",
          [item_function](const Holder& queue, nb::handle item, std::optional<double> timeout) {
            PushWaiting(queue, PinItem(item, item_function), timeout);
          },
          nb::arg("item").none(), nb::arg("timeout").none() = nb::none(),
          nb::sig("def push_wait(self, item: typing_extensions.Buffer, "
                  "timeout: float | None = None) -> None"),
          "Like push(), but waits up to `timeout` seconds (None: no limit) for\n"
          "room; then raises QueueFull.")
      .def(
          "push_many_wait",
          [items_function](const Holder& queue, nb::handle items,
                           std::optional<double> timeout) {
            PushWaiting(queue, PinItems(items, items_function), timeout);
          },
          nb::arg("items").none(), nb::arg("timeout").none() = nb::none(),
          nb::sig("def push_many_wait(self, items: list[typing_extensions.Buffer] | "
                  "tuple[typing_extensions.Buffer, ...], timeout: float | None = None) -> None"),
          "Like push_many(), but waits up to `timeout` seconds for room for all.");
}

}  // namespace rocksq_python

#endif  // ROCKSQ_PYTHON_QUEUE_HOLDER_H_
