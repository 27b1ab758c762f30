// Binds rocksq._core.FifoQueue (rocksq::FifoQueue), under rocksq.Queue,
// rocksq.aio.Queue and the seed, blocking and nonblocking FIFO faces.

#include <nanobind/nanobind.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>

#include <chrono>
#include <optional>
#include <string>

#include "convert.h"
#include "change_fd.h"
#include "queue_holder.h"
#include "rocksq/rocksq.h"
#include "worker.h"

namespace rocksq_python {

void init_fifo(nb::module_& m) {
  const rocksq::FifoOptions defaults;
  const std::string init_signature =
      "def __init__(self, path: str | os.PathLike[str], max_elements: int = " +
      Repr(defaults.max_elements) + ", sync: bool = " + Repr(defaults.sync) +
      ", attach: bool = " + Repr(defaults.attach) +
      ", attach_group: str | int | None = " + Repr(AttachGroupValue(defaults.attach_group)) +
      ") -> None";

  auto queue_class = nb::class_<PyFifoQueue>(
      m, "FifoQueue",
      "A persistent FIFO queue of byte strings in the directory `path`.\n\n"
      "Every method that reads or writes the queue releases the GIL while the\n"
      "core works, unless its `no_gil` argument is False. Errors raise the\n"
      "exceptions of rocksq._errors; a bad argument raises ValueError.");
  queue_class
      .def(
          "__init__",
          [](PyFifoQueue* self, nb::handle path, nb::handle max_elements, nb::handle sync,
             nb::handle attach, nb::handle attach_group) {
            rocksq::FifoOptions options;
            options.max_elements = ToCount(max_elements, "max_elements");
            options.sync = ToFlag(sync, "sync");
            options.attach = ToFlag(attach, "attach");
            options.attach_group = ToAttachGroup(attach_group);
            OpenQueue(self, path, options);
          },
          nb::arg("path").none(), nb::arg("max_elements").none() = defaults.max_elements,
          nb::arg("sync").none() = defaults.sync, nb::arg("attach").none() = defaults.attach,
          nb::arg("attach_group").none() = AttachGroupValue(defaults.attach_group),
          nb::sig(init_signature.c_str()),
          "Opens (creating if needed) the queue stored in `path`; with `attach`, attaches\n"
          "to the process that has it open instead of raising QueueAlreadyOpen.")
      .def(
          "push",
          [](const PyFifoQueue& queue, nb::handle item, bool no_gil) {
            PinnedItems pinned = PinItem(item, "push");
            Run(no_gil, [&] { queue->Push(pinned.views().front()); });
          },
          nb::arg("item").none(), nb::arg("no_gil") = true,
          nb::sig("def push(self, item: typing_extensions.Buffer, no_gil: bool = True) -> None"),
          "Appends one bytes-like item; raises QueueFull if the queue is full.")
      .def(
          "push_many",
          [](const PyFifoQueue& queue, nb::handle items, bool no_gil) {
            PinnedItems pinned = PinItems(items, "push_many");
            Run(no_gil, [&] { queue->PushBatch(pinned.views()); });
          },
          nb::arg("items").none(), nb::arg("no_gil") = true,
          nb::sig("def push_many(self, items: list[typing_extensions.Buffer] | "
                  "tuple[typing_extensions.Buffer, ...], no_gil: bool = True) -> None"),
          "Appends the items in order, all or nothing.")
      .def(
          "pop",
          [](const PyFifoQueue& queue, nb::handle max_items, bool no_gil) {
            const size_t count = ToItemCount(max_items);
            return ToList(Run(no_gil, [&] { return queue->Pop(count); }));
          },
          nb::arg("max_items").none() = 1, nb::arg("no_gil") = true,
          nb::sig("def pop(self, max_items: int = 1, no_gil: bool = True) -> list[bytes]"),
          "Removes and returns up to `max_items` items, oldest first; [] if the queue is empty.")
      .def(
          "pop_one",
          [](const PyFifoQueue& queue, bool no_gil) -> nb::object {
            rocksq::PoppedItems items = Run(no_gil, [&] { return queue->Pop(1); });
            if (items.empty()) return nb::none();
            const std::string_view item = items[0];
            return nb::bytes(item.data(), item.size());
          },
          nb::arg("no_gil") = true,
          nb::sig("def pop_one(self, no_gil: bool = True) -> bytes | None"),
          "Removes and returns the oldest item, or None if the queue is empty.")
      .def(
          "pop_wait",
          [](const PyFifoQueue& queue, nb::handle max_items, std::optional<double> timeout) {
            const size_t count = ToItemCount(max_items);
            return ToList(ReadWaiting(timeout, count, [&](auto slice) {
              return queue->PopWait(count, slice);
            }));
          },
          nb::arg("max_items").none() = 1, nb::arg("timeout").none() = nb::none(),
          nb::sig("def pop_wait(self, max_items: int = 1, timeout: float | None = None) "
                  "-> list[bytes]"),
          "Like pop(), but waits up to `timeout` seconds (None: no limit) for an\n"
          "item; [] if none came. Releases the GIL while waiting; Ctrl-C\n"
          "interrupts it within 100 ms.")
      .def_prop_rw(
          "max_elements",
          [](const PyFifoQueue& queue) {
            return AskCore(queue, [&] { return queue->MaxElements(); });
          },
          [](PyFifoQueue& queue, nb::handle max_elements) {
            const uint64_t limit = ToCount(max_elements, "max_elements");
            AskCore(queue, [&] { queue->SetMaxElements(limit); });
          },
          "The most items the queue holds at once; setting it wakes waiting pushes.")
      .def(
          "shutdown",
          [](PyFifoQueue& queue, bool immediate) {
            AskCore(queue, [&] { queue->Shutdown(immediate); });
          },
          nb::arg("immediate") = false,
          "Later pushes raise ShutDown; pops raise it once the queue is empty, "
          "or at once if `immediate` (the items stay stored).")
      .def_prop_ro(
          "is_shutdown",
          [](const PyFifoQueue& queue) {
            return AskCore(queue, [&] { return queue->IsShutDown(); });
          },
          "True once shutdown() reached the queue, from any process using it.")
      .def(
          "task_done",
          [](PyFifoQueue& queue) { return AskCore(queue, [&] { return queue->TaskDone(); }); },
          "Marks one task done, for the whole queue (every process); returns the unfinished\n"
          "tasks left. Raises ValueError if none was unfinished.")
      .def_prop_ro(
          "unfinished_tasks",
          [](const PyFifoQueue& queue) {
            return AskCore(queue, [&] { return queue->UnfinishedTasks(); });
          },
          "Items pushed (or found when the owner opened the queue) and not yet marked done.")
      .def(
          "join_wait",
          [](PyFifoQueue& queue, std::optional<double> timeout) {
            return WaitInSlices(timeout, [&](std::chrono::nanoseconds slice) {
              return queue->JoinWait(slice);
            });
          },
          nb::arg("timeout").none() = nb::none(),
          nb::sig("def join_wait(self, timeout: float | None = None) -> bool"),
          "Waits up to `timeout` seconds (None: no limit) until no task is unfinished;\n"
          "returns whether none is. Releases the GIL while waiting; Ctrl-C interrupts\n"
          "it within 100 ms. Raises QueueClosed if the queue is (or gets) closed.");
  BindPushWaiting(queue_class, "push_wait", "push_many_wait");
  BindQueueBasics(queue_class, "Flushes and closes the queue; later calls raise QueueClosed.");
  BindChangeFd(queue_class, "push or pop");
  BindWorker(queue_class);
  queue_class
      .def(
          "submit_push_many",
          [](PyFifoQueue& queue, nb::handle items) {
            return Submit(queue, PinItems(items, "push"),
                          [](rocksq::FifoQueue& core, Outcome& outcome) {
                            core.PushBatch(outcome.inputs->views());
                          });
          },
          nb::arg("items").none())
      .def(
          "submit_pop",
          [](PyFifoQueue& queue, nb::handle max_items) {
            const size_t count = ToItemCount(max_items);
            return Submit(queue, std::nullopt,
                          [count](rocksq::FifoQueue& core, Outcome& outcome) {
                            outcome.result = core.Pop(count);
                          });
          },
          nb::arg("max_items").none());
}

}  // namespace rocksq_python
