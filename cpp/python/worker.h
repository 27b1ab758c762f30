// The nonblocking runtime behind rocksq.nonblocking: each queue may start
// one worker thread (serial_worker.h) that runs its submit_* operations in
// order, and each submission returns a PendingOperation, the Python future
// of its result. Submit() queues an operation; BindWorker() gives a queue
// class start_worker, inflight_ops and the submit_* operations every kind
// has; each kind's file adds its own submit_* operations.

#ifndef ROCKSQ_PYTHON_WORKER_H_
#define ROCKSQ_PYTHON_WORKER_H_

#include <nanobind/nanobind.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "convert.h"
#include "queue_holder.h"
#include "rocksq/rocksq.h"
#include "serial_worker.h"

namespace rocksq_python {

// What one submitted operation produced; shared by the worker's task and
// the PendingOperation the caller holds.
struct Outcome {
  std::mutex mutex;
  std::condition_variable finished_signal;
  bool finished = false;  // Guarded by mutex; the fields below are written before it.
  std::exception_ptr error;
  // None, popped items (list[bytes]), an MPMC read ((list[bytes], bool)), a
  // count or size (int), a flag (bool), labels (list[str]).
  std::variant<std::monostate, rocksq::PoppedItems, rocksq::MpmcRead, uint64_t, bool,
               std::vector<std::string>>
      result;
  // The caller's pinned buffers; released by the PendingOperation, with the
  // GIL, once the operation has finished with them.
  std::optional<PinnedItems> inputs;
  // Where the worker runs, and its queue's path: a fork() child has no
  // worker thread, so an operation unfinished at the fork never finishes
  // there. The path is read only then, in the child, where the queue it
  // belongs to is leaked and lives for ever.
  const rocksq::OpeningProcess process;
  const std::string* path = nullptr;

  bool Finished();
  bool WaitFinished(std::chrono::nanoseconds timeout);
  void Finish();
};

// The Python object `rocksq._core.PendingOperation`: one operation's future.
class PendingOperation {
 public:
  explicit PendingOperation(std::shared_ptr<Outcome> outcome) : outcome_(std::move(outcome)) {}
  PendingOperation(PendingOperation&&) = default;
  PendingOperation(const PendingOperation&) = delete;
  PendingOperation& operator=(const PendingOperation&) = delete;
  ~PendingOperation();

  bool ready() const { return outcome_->Finished(); }

  // (True, result) once finished, else (False, None) without waiting, or
  // waiting (Ctrl-C can interrupt it) if `wait`. The result is taken once:
  // rocksq 0.3.0 raised RuntimeError for a second take, and so does this.
  nb::tuple Take(bool wait);

 private:
  std::shared_ptr<Outcome> outcome_;
  bool taken_ = false;
};

// Queues `operation(core_queue, outcome)` on the queue's worker; waits for a
// free slot (GIL released) if max_inflight operations are under way. Once
// the queue's close() began, the operation is not queued and its outcome is
// QueueClosed.
template <typename Holder, typename Operation>
PendingOperation Submit(Holder& queue, std::optional<PinnedItems> inputs, Operation operation) {
  if (!queue.worker) throw std::logic_error("start_worker() was not called");
  SerialWorker& worker = queue.WorkerOfThisProcess();
  auto outcome = std::make_shared<Outcome>();
  outcome->path = &queue->Path();
  if (inputs) outcome->inputs.emplace(std::move(*inputs));
  typename Holder::CoreQueue* core = &*queue;
  auto task = [outcome, core, operation] {
    try {
      operation(*core, *outcome);
    } catch (...) {
      outcome->error = std::current_exception();
    }
    outcome->Finish();
  };
  bool accepted;
  {
    GilRelease released;
    accepted = worker.Submit(std::move(task));
  }
  if (!accepted) {
    // Submitted once close() began: not run; get() raises QueueClosed, as
    // every other error of an operation.
    outcome->error = std::make_exception_ptr(
        rocksq::Error(rocksq::ErrorKind::kClosed, queue->Path(), "the queue was closed"));
    outcome->finished = true;  // No other thread knows the outcome yet.
  }
  return PendingOperation(std::move(outcome));
}

// start_worker, inflight_ops, and the submit_* operations of every kind.
template <typename Holder>
void BindWorker(nb::class_<Holder>& queue_class) {
  using Core = typename Holder::CoreQueue;
  queue_class
      .def(
          "start_worker",
          [](Holder& queue, nb::handle max_inflight) {
            if (queue.worker) throw std::logic_error("the worker was already started");
            if (!queue.serves_fork_child) queue.process.Check(queue->Path());
            queue.worker =
                std::make_unique<SerialWorker>(ToCount(max_inflight, "max_inflight_ops"));
            queue.worker_process = rocksq::OpeningProcess();
          },
          nb::arg("max_inflight").none(),
          "Starts the thread that runs submit_* operations in order; at most\n"
          "`max_inflight` wait unfinished, past that submitting waits.")
      .def_prop_ro(
          "inflight_ops",
          [](const Holder& queue) -> size_t {
            if (!queue.worker) return 0;
            if (!queue.worker_process.IsCurrent()) {
              // The worker, and its lock, are an ancestor's.
              if (queue.serves_fork_child) return 0;  // This process's is not started yet.
              queue.process.Check(queue->Path());
            }
            return queue.worker->inflight();
          },
          "Operations submitted and not finished.")
      .def("submit_len",
           [](Holder& queue) {
             return Submit(queue, std::nullopt,
                           [](Core& core, Outcome& outcome) { outcome.result = core.Len(); });
           })
      .def("submit_payload_size",
           [](Holder& queue) {
             return Submit(queue, std::nullopt, [](Core& core, Outcome& outcome) {
               outcome.result = core.PayloadBytes();
             });
           })
      .def("submit_disk_size", [](Holder& queue) {
        return Submit(queue, std::nullopt,
                      [](Core& core, Outcome& outcome) { outcome.result = core.DiskBytes(); });
      });
}

}  // namespace rocksq_python

#endif  // ROCKSQ_PYTHON_WORKER_H_
