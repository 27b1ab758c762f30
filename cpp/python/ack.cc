// Binds rocksq._core.AckQueue (rocksq::AckQueue), under rocksq.AckQueue and
// rocksq.aio.AckQueue. Deliveries become (id, bytes, attempt, receipt)
// tuples, which rocksq/_ack_face.py turns into rocksq.Delivery; settling
// takes them back.

#include <nanobind/nanobind.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>

#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "convert.h"
#include "notifier.h"
#include "queue_holder.h"
#include "rocksq/rocksq.h"

namespace rocksq_python {

namespace {

// A delivery's id or receipt: an int as get() made it (converted directly,
// which settling each item needs to be quick), or anything ToCount takes.
uint64_t ToDeliveryField(PyObject* field) {
  if (!PyLong_CheckExact(field)) return ToCount(field);
  const unsigned long long value = PyLong_AsUnsignedLongLong(field);
  if (value == static_cast<unsigned long long>(-1) && PyErr_Occurred()) {
    throw nb::python_error();
  }
  return value;
}

// A delivery to settle: a rocksq.Delivery, i.e. a tuple (id, data, attempt,
// receipt), of which the id and the receipt count. A bare id is refused: it
// cannot tell the delivery that holds an item from an earlier one whose
// visibility timeout expired.
rocksq::Delivery ToDelivery(nb::handle item, const char* function) {
  if (!PyTuple_Check(item.ptr()) || PyTuple_GET_SIZE(item.ptr()) != 4) {
    std::string message = std::string(function) +
                          "(): expected a Delivery that get() returned, got " +
                          Py_TYPE(item.ptr())->tp_name;
    if (PyLong_Check(item.ptr())) {
      message += " (an id alone cannot tell the item's current delivery from an expired one)";
    }
    throw nb::type_error(message.c_str());
  }
  return rocksq::Delivery{ToDeliveryField(PyTuple_GET_ITEM(item.ptr(), 0)), 0, {},
                          ToDeliveryField(PyTuple_GET_ITEM(item.ptr(), 3))};
}

// Each element of the iterable `items`, converted by `convert`.
template <typename Convert>
auto ToVector(nb::handle items, Convert convert) -> std::vector<decltype(convert(items))> {
  std::vector<decltype(convert(items))> result;
  nb::object iterator = nb::steal(PyObject_GetIter(items.ptr()));
  if (!iterator.is_valid()) throw nb::python_error();
  while (PyObject* item = PyIter_Next(iterator.ptr())) {
    nb::object owned = nb::steal(item);
    result.push_back(convert(owned));
  }
  if (PyErr_Occurred()) throw nb::python_error();
  return result;
}

std::vector<rocksq::Delivery> ToDeliveries(nb::handle items, const char* function) {
  return ToVector(items, [function](nb::handle item) { return ToDelivery(item, function); });
}

// A failed item's id: an int, or a tuple whose first field is the id (an
// entry of failed(), or the Delivery the item was failed from).
std::vector<uint64_t> ToIds(nb::handle ids) {
  return ToVector(ids, [](nb::handle item) {
    if (PyTuple_Check(item.ptr()) && PyTuple_GET_SIZE(item.ptr()) > 0) {
      return ToCount(PyTuple_GET_ITEM(item.ptr(), 0));
    }
    return ToCount(item);
  });
}

nb::object ToDeliveryTuple(const rocksq::Delivery& delivery) {
  constexpr Py_ssize_t kFields = 4;
  nb::object tuple = nb::steal(PyTuple_New(kFields));
  if (!tuple.is_valid()) throw nb::python_error();
  PyObject* fields[kFields] = {
      PyLong_FromUnsignedLongLong(delivery.id),
      PyBytes_FromStringAndSize(delivery.payload.data(),
                                static_cast<Py_ssize_t>(delivery.payload.size())),
      PyLong_FromUnsignedLong(delivery.attempt),
      PyLong_FromUnsignedLongLong(delivery.receipt)};
  for (Py_ssize_t field = 0; field < kFields; ++field) {
    // The tuple owns each field, created or not, and releases it.
    PyTuple_SET_ITEM(tuple.ptr(), field, fields[field]);
  }
  for (PyObject* field : fields) {
    if (!field) throw nb::python_error();
  }
  return tuple;
}

nb::list ToDeliveryTuples(const rocksq::Deliveries& deliveries) {
  nb::list result = nb::steal<nb::list>(PyList_New(static_cast<Py_ssize_t>(deliveries.size())));
  if (!result.is_valid()) throw nb::python_error();
  for (size_t i = 0; i < deliveries.size(); ++i) {
    PyList_SET_ITEM(result.ptr(), static_cast<Py_ssize_t>(i),
                    ToDeliveryTuple(deliveries[i]).release().ptr());
  }
  return result;
}

// Binds `name` (one delivery) and `name_many` (every delivery or none) to
// the core's `settle` and `settle_many`.
void BindSettling(nb::class_<PyAckQueue>& queue_class, const char* name, const char* name_many,
                  void (rocksq::AckQueue::*settle)(const rocksq::Delivery&),
                  void (rocksq::AckQueue::*settle_many)(const std::vector<rocksq::Delivery>&),
                  const char* doc, const char* doc_many) {
  queue_class
      .def(
          name,
          [name, settle](const PyAckQueue& queue, nb::handle item) {
            const rocksq::Delivery delivery = ToDelivery(item, name);
            Run(true, [&] { ((*queue).*settle)(delivery); });
          },
          nb::arg("delivery"), doc)
      .def(
          name_many,
          [name_many, settle_many](const PyAckQueue& queue, nb::handle deliveries) {
            const std::vector<rocksq::Delivery> settled = ToDeliveries(deliveries, name_many);
            Run(true, [&] { ((*queue).*settle_many)(settled); });
          },
          nb::arg("deliveries"), doc_many);
}

}  // namespace

void init_ack(nb::module_& m) {
  const rocksq::AckOptions defaults;
  const std::string init_signature =
      "def __init__(self, path: str | os.PathLike[str], max_elements: int = " +
      Repr(defaults.max_elements) + ", sync: bool = " + Repr(defaults.sync) +
      ", visibility_timeout: float = " + Repr(Seconds(defaults.visibility_timeout)) +
      ") -> None";

  auto queue_class = nb::class_<PyAckQueue>(
      m, "AckQueue",
      "A persistent at-least-once queue of byte strings in the directory `path`.\n\n"
      "get() hands items out as (id, bytes, attempt, receipt) without removing\n"
      "them; ack() removes, nack() returns, ack_failed() sets aside the item of\n"
      "such a delivery. Calls that touch the disk release the GIL. Errors raise\n"
      "the exceptions of rocksq._errors.");
  queue_class
      .def(
          "__init__",
          [](PyAckQueue* self, nb::handle path, nb::handle max_elements, nb::handle sync,
             nb::handle visibility_timeout) {
            rocksq::AckOptions options;
            options.max_elements = ToCount(max_elements, "max_elements");
            options.sync = ToFlag(sync, "sync");
            options.visibility_timeout = ToVisibilityTimeout(visibility_timeout);
            OpenQueue(self, path, options);
          },
          nb::arg("path").none(), nb::arg("max_elements").none() = defaults.max_elements,
          nb::arg("sync").none() = defaults.sync,
          nb::arg("visibility_timeout").none() = Seconds(defaults.visibility_timeout),
          nb::sig(init_signature.c_str()),
          "Opens (creating if needed) the ack queue stored in `path`.")
      .def(
          "push",
          [](const PyAckQueue& queue, nb::handle item) {
            PinnedItems pinned = PinItem(item, "put");
            Run(true, [&] { queue->Push(pinned.views().front()); });
          },
          nb::arg("item").none(), nb::sig("def push(self, item: typing_extensions.Buffer) -> None"),
          "Appends one item; raises QueueFull if the queue is full.")
      .def(
          "push_many",
          [](const PyAckQueue& queue, nb::handle items) {
            PinnedItems pinned = PinItems(items, "put_many");
            Run(true, [&] { queue->PushBatch(pinned.views()); });
          },
          nb::arg("items").none(),
          nb::sig("def push_many(self, items: list[typing_extensions.Buffer] | "
                  "tuple[typing_extensions.Buffer, ...]) -> None"),
          "Appends the items in order, all or nothing.")
      .def(
          "get",
          [](const PyAckQueue& queue, nb::handle max_items) {
            const size_t count = ToItemCount(max_items);
            return ToDeliveryTuples(Run(true, [&] { return queue->Get(count); }));
          },
          nb::arg("max_items").none() = 1,
          nb::sig("def get(self, max_items: int = 1) -> list[tuple[int, bytes, int, int]]"),
          "Hands out up to `max_items` ready items as (id, bytes, attempt, receipt); [] if none.")
      .def(
          "get_one",
          [](const PyAckQueue& queue) -> nb::object {
            rocksq::Deliveries deliveries = Run(true, [&] { return queue->Get(1); });
            if (deliveries.empty()) return nb::none();
            return ToDeliveryTuple(deliveries[0]);
          },
          nb::sig("def get_one(self) -> tuple[int, bytes, int, int] | None"),
          "Hands out the oldest ready item as (id, bytes, attempt, receipt), or None.")
      .def(
          "get_wait",
          [](const PyAckQueue& queue, nb::handle max_items, std::optional<double> timeout) {
            const size_t count = ToItemCount(max_items);
            return ToDeliveryTuples(ReadWaiting(timeout, count, [&](auto slice) {
              return queue->GetWait(count, slice);
            }));
          },
          nb::arg("max_items").none() = 1, nb::arg("timeout").none() = nb::none(),
          nb::sig("def get_wait(self, max_items: int = 1, timeout: float | None = None) "
                  "-> list[tuple[int, bytes, int, int]]"),
          "Like get(), but waits up to `timeout` seconds (None: no limit) for an item;\n"
          "Ctrl-C interrupts it within 100 ms.")
      .def(
          "failed",
          [](const PyAckQueue& queue, nb::handle max_items) {
            const size_t count = max_items.is_none() ? std::numeric_limits<size_t>::max()
                                                     : ToItemCount(max_items);
            std::vector<rocksq::FailedItem> items =
                Run(true, [&] { return queue->Failed(count); });
            nb::list result;
            for (const rocksq::FailedItem& item : items) {
              result.append(
                  nb::make_tuple(item.id, nb::bytes(item.payload.data(), item.payload.size())));
            }
            return result;
          },
          nb::arg("max_items").none() = nb::none(),
          nb::sig("def failed(self, max_items: int | None = None) -> list[tuple[int, bytes]]"),
          "Up to `max_items` (None: all) failed items as (id, bytes), smallest id first.")
      .def(
          "requeue_failed",
          [](const PyAckQueue& queue, nb::handle ids) {
            if (ids.is_none()) return Run(true, [&] { return queue->RequeueAllFailed(); });
            const std::vector<uint64_t> id_list = ToIds(ids);
            return Run(true, [&] { return queue->RequeueFailed(id_list); });
          },
          nb::arg("ids").none() = nb::none(),
          nb::sig("def requeue_failed(self, ids: collections.abc.Iterable[int] | None = None) "
                  "-> int"),
          "Appends the failed items `ids` (None: all) as ready ones with new ids;\n"
          "returns how many were failed and are now requeued.")
      .def_prop_ro(
          "ready", [](const PyAckQueue& queue) { return queue->ReadyLen(); },
          "Items ready to be handed out.")
      .def_prop_ro(
          "unacked", [](const PyAckQueue& queue) { return queue->UnackedLen(); },
          "Items handed out and not yet settled.")
      .def_prop_ro(
          "failed_count", [](const PyAckQueue& queue) { return queue->FailedLen(); },
          "Failed items.")
      .def_prop_ro(
          "max_elements", [](const PyAckQueue& queue) { return queue->MaxElements(); },
          "The most items the queue holds at once.")
      .def_prop_ro(
          "visibility_timeout",
          [](const PyAckQueue& queue) { return Seconds(queue->VisibilityTimeout()); },
          "Seconds a handed-out item stays handed out; 0 for ever.")
      .def_prop_ro(
          "time_to_next_expiry",
          [](const PyAckQueue& queue) -> std::optional<double> {
            const std::chrono::nanoseconds next = queue->TimeToNextExpiry();
            if (next == std::chrono::nanoseconds::max()) return std::nullopt;
            return std::chrono::duration<double>(next).count();
          },
          "Seconds until the next handed-out item expires; None if none will.");
  BindSettling(queue_class, "ack", "ack_many", &rocksq::AckQueue::Ack, &rocksq::AckQueue::AckBatch,
               "Removes the item handed out by `delivery` for good.",
               "Acks every delivery or none, in one record of the ack log.");
  BindSettling(queue_class, "nack", "nack_many", &rocksq::AckQueue::Nack,
               &rocksq::AckQueue::NackBatch,
               "Returns the item handed out by `delivery` to the head.",
               "Nacks every delivery or none.");
  BindSettling(queue_class, "ack_failed", "ack_failed_many", &rocksq::AckQueue::AckFailed,
               &rocksq::AckQueue::AckFailedBatch,
               "Moves the item handed out by `delivery` among the failed ones.",
               "Fails every delivery or none, in one write.");
  BindPushWaiting(queue_class, "put", "put_many");
  BindQueueBasics(queue_class, "Closes the queue; unsettled items are ready at the next open.");
  BindChangeNotifier(queue_class, "push, ack, nack, fail or requeue");
}

}  // namespace rocksq_python
