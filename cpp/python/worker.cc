// Binds rocksq._core.PendingOperation and the worker's default; the
// futures of worker.h.

#include "worker.h"

#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>

#include <chrono>
#include <mutex>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

namespace rocksq_python {

bool Outcome::Finished() {
  std::lock_guard<std::mutex> lock(mutex);
  return finished;
}

bool Outcome::WaitFinished(std::chrono::nanoseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex);
  return finished_signal.wait_for(lock, timeout, [&] { return finished; });
}

void Outcome::Finish() {
  {
    std::lock_guard<std::mutex> lock(mutex);
    finished = true;
  }
  finished_signal.notify_all();
}

PendingOperation::~PendingOperation() {
  if (!outcome_) return;  // Moved from.
  if (!outcome_->process.IsCurrent()) {
    // A fork() child: nothing finishes an operation here, and its mutex
    // and condition variable may have been in use in the parent; leak it
    // untouched.
    new std::shared_ptr<Outcome>(std::move(outcome_));
    return;
  }
  if (!outcome_->Finished()) {
    GilRelease released;  // The worker may still be reading the inputs.
    outcome_->WaitFinished(std::chrono::hours(24 * 365));
  }
  outcome_->inputs.reset();
}

namespace {

nb::object ToPython(const decltype(Outcome::result)& result) {
  if (const auto* items = std::get_if<rocksq::PoppedItems>(&result)) return ToList(*items);
  if (const auto* read = std::get_if<rocksq::MpmcRead>(&result)) {
    return nb::make_tuple(ToList(read->items), read->expired);
  }
  if (const auto* number = std::get_if<uint64_t>(&result)) return nb::int_(*number);
  if (const auto* flag = std::get_if<bool>(&result)) return nb::bool_(*flag);
  if (const auto* names = std::get_if<std::vector<std::string>>(&result)) {
    return ToStrList(*names);
  }
  return nb::none();
}

}  // namespace

nb::tuple PendingOperation::Take(bool wait) {
  if (taken_) {
    throw std::runtime_error(
        "Failed to get response: it was already taken by an earlier get() or try_get()");
  }
  if (!outcome_->Finished()) {
    outcome_->process.Check(*outcome_->path);
    if (!wait) return nb::make_tuple(false, nb::none());
    WaitInSlices(std::nullopt, [&](std::chrono::nanoseconds slice) {
      return outcome_->WaitFinished(slice);
    });
  }
  taken_ = true;
  outcome_->inputs.reset();
  if (outcome_->error) std::rethrow_exception(outcome_->error);
  nb::object value = ToPython(outcome_->result);
  outcome_->result = std::monostate();  // Unpins read items now, not when dropped.
  return nb::make_tuple(true, value);
}

void init_worker(nb::module_& m) {
  // rocksq 0.3.0's default for the nonblocking queues' max_inflight_ops.
  m.attr("DEFAULT_MAX_INFLIGHT_OPS") = SerialWorker::kDefaultMaxInflight;

  nb::class_<PendingOperation>(
      m, "PendingOperation", "The future result of an operation submitted to a queue's worker.")
      .def_prop_ro(
          "is_ready", [](const PendingOperation& operation) { return operation.ready(); },
          "True once the operation finished.")
      .def(
          "take", [](PendingOperation& operation, bool wait) { return operation.Take(wait); },
          nb::arg("wait"), nb::sig("def take(self, wait: bool) -> tuple[bool, typing.Any]"),
          "(True, result) once finished (waiting for it if `wait`), else\n"
          "(False, None); raises the operation's error. Only once.");
}

}  // namespace rocksq_python
