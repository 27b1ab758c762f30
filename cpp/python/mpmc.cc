// Binds rocksq._core.MpmcQueue (rocksq::MpmcQueue), under the blocking,
// nonblocking and asyncio MPMC faces.

#include <nanobind/nanobind.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>

#include <optional>
#include <string>
#include <utility>

#include "convert.h"
#include "change_fd.h"
#include "queue_holder.h"
#include "rocksq/rocksq.h"
#include "worker.h"

namespace rocksq_python {

void init_mpmc(nb::module_& m) {
  const rocksq::MpmcOptions defaults;
  const std::string init_signature =
      "def __init__(self, path: str | os.PathLike[str], ttl: int, sync: bool = " +
      Repr(defaults.sync) + ", attach: bool = " + Repr(defaults.attach) +
      ", attach_group: str | int | None = " + Repr(AttachGroupValue(defaults.attach_group)) +
      ") -> None";

  auto queue_class = nb::class_<PyMpmcQueue>(
      m, "MpmcQueue",
      "A persistent log of byte strings in the directory `path`, read by\n"
      "labelled consumers, whose elements expire `ttl` seconds after they\n"
      "were added.\n\n"
      "Every method that reads or writes the queue releases the GIL while the\n"
      "core works, unless its `no_gil` argument is False. Errors raise the\n"
      "exceptions of rocksq._errors; a bad argument raises TypeError or\n"
      "ValueError naming it.");
  queue_class
      .def(
          "__init__",
          [](PyMpmcQueue* self, nb::handle path, nb::handle ttl, nb::handle sync,
             nb::handle attach, nb::handle attach_group) {
            rocksq::MpmcOptions options;
            options.ttl = ToTtl(ttl);
            options.sync = ToFlag(sync, "sync");
            options.attach = ToFlag(attach, "attach");
            options.attach_group = ToAttachGroup(attach_group);
            OpenQueue(self, path, options);
          },
          nb::arg("path").none(), nb::arg("ttl").none(), nb::arg("sync").none() = defaults.sync,
          nb::arg("attach").none() = defaults.attach,
          nb::arg("attach_group").none() = AttachGroupValue(defaults.attach_group),
          nb::sig(init_signature.c_str()),
          "Opens (creating if needed) the MPMC queue stored in `path`; with `attach`,\n"
          "attaches to the process that has it open instead of raising QueueAlreadyOpen.")
      .def(
          "add",
          [](const PyMpmcQueue& queue, nb::handle items, bool no_gil) {
            PinnedItems pinned = PinItems(items, "add");
            Run(no_gil, [&] { queue->AddBatch(pinned.views()); });
          },
          nb::arg("items").none(), nb::arg("no_gil") = true,
          nb::sig("def add(self, items: list[typing_extensions.Buffer] | "
                  "tuple[typing_extensions.Buffer, ...], no_gil: bool = True) -> None"),
          "Appends the items in order, all or nothing.")
      .def(
          "next",
          [](const PyMpmcQueue& queue, nb::handle label, nb::handle start_position,
             nb::handle max_items, bool no_gil) {
            const rocksq::StartPosition position = ToStartPosition(start_position, "next");
            const std::string name = ToLabel(label, "next");
            const size_t count = ToItemCount(max_items);
            rocksq::MpmcRead read = Run(no_gil, [&] { return queue->Next(name, position, count); });
            return nb::make_tuple(ToList(read.items), read.expired);
          },
          nb::arg("label").none(), nb::arg("start_position").none(),
          nb::arg("max_elements").none() = 1, nb::arg("no_gil") = true,
          nb::sig("def next(self, label: str, start_position: StartPosition, "
                  "max_elements: int = 1, no_gil: bool = True) -> tuple[list[bytes], bool]"),
          "Returns up to `max_elements` elements `label` has not read, and\n"
          "whether unread elements expired before it got to them.\n"
          "`start_position` places a new label.")
      .def(
          "remove_label",
          [](const PyMpmcQueue& queue, nb::handle label, bool no_gil) {
            const std::string name = ToLabel(label, "remove_label");
            return Run(no_gil, [&] { return queue->RemoveLabel(name); });
          },
          nb::arg("label").none(), nb::arg("no_gil") = true,
          nb::sig("def remove_label(self, label: str, no_gil: bool = True) -> bool"),
          "Deletes the label; False if there was none.")
      .def_prop_ro(
          "labels",
          [](const PyMpmcQueue& queue) {
            return ToStrList(AskCore(queue, [&] { return queue->Labels(); }));
          },
          nb::for_getter(nb::sig("def labels(self) -> list[str]")), "The labels, sorted.")
      .def_prop_ro(
          "ttl", [](const PyMpmcQueue& queue) { return TtlSeconds(queue->Ttl()); },
          "Seconds an element lives after it was added.");
  BindQueueBasics(queue_class,
                  "Stops expiry, flushes and closes the queue; later calls raise QueueClosed.");
  BindChangeFd(queue_class, "add, or remove_label() that removed a label,");
  BindWorker(queue_class);
  // Arguments are checked at submission; results and the core's errors are
  // taken from the PendingOperation.
  queue_class
      .def(
          "submit_add",
          [](PyMpmcQueue& queue, nb::handle items) {
            return Submit(queue, PinItems(items, "add"),
                          [](rocksq::MpmcQueue& core, Outcome& outcome) {
                            core.AddBatch(outcome.inputs->views());
                          });
          },
          nb::arg("items").none())
      .def(
          "submit_next",
          [](PyMpmcQueue& queue, nb::handle label, nb::handle start_position,
             nb::handle max_items) {
            const rocksq::StartPosition position = ToStartPosition(start_position, "next");
            std::string name = ToLabel(label, "next");
            const size_t count = ToItemCount(max_items);
            return Submit(queue, std::nullopt,
                          [name = std::move(name), position, count](rocksq::MpmcQueue& core,
                                                                    Outcome& outcome) {
                            outcome.result = core.Next(name, position, count);
                          });
          },
          nb::arg("label").none(), nb::arg("start_position").none(),
          nb::arg("max_items").none(),
          nb::sig("def submit_next(self, label: str, start_position: StartPosition, "
                  "max_items: int) -> PendingOperation"))
      .def(
          "submit_remove_label",
          [](PyMpmcQueue& queue, nb::handle label) {
            std::string name = ToLabel(label, "remove_label");
            return Submit(queue, std::nullopt,
                          [name = std::move(name)](rocksq::MpmcQueue& core, Outcome& outcome) {
                            outcome.result = core.RemoveLabel(name);
                          });
          },
          nb::arg("label").none())
      .def("submit_labels", [](PyMpmcQueue& queue) {
        return Submit(queue, std::nullopt, [](rocksq::MpmcQueue& core, Outcome& outcome) {
          outcome.result = core.Labels();
        });
      });
}

}  // namespace rocksq_python
