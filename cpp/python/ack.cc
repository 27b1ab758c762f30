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
#include "change_fd.h"
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

// A unique push's key: bytes as they are, a str as UTF-8 (so "a" and b"a"
// are one key).
std::string ToUniqueKey(nb::handle key, const char* function) {
  if (PyBytes_Check(key.ptr())) {
    return std::string(PyBytes_AS_STRING(key.ptr()),
                       static_cast<size_t>(PyBytes_GET_SIZE(key.ptr())));
  }
  if (PyUnicode_Check(key.ptr())) {
    Py_ssize_t size = 0;
    const char* utf8 = PyUnicode_AsUTF8AndSize(key.ptr(), &size);
    if (!utf8) throw nb::python_error();
    return std::string(utf8, static_cast<size_t>(size));
  }
  const std::string message = std::string(function) + "(): a key must be bytes or str, got " +
                              Py_TYPE(key.ptr())->tp_name;
  throw nb::type_error(message.c_str());
}

// The (key, item) pairs of a unique push: the keys copied, the items pinned.
struct KeyedBatch {
  std::vector<std::string> keys;
  PinnedItems items;

  // Views into the two above, taken once the batch stays where it is (a
  // moved short string's bytes move with it).
  std::vector<rocksq::KeyedItem> Keyed() const {
    std::vector<rocksq::KeyedItem> keyed;
    keyed.reserve(keys.size());
    for (size_t i = 0; i < keys.size(); ++i) keyed.push_back({keys[i], items.views()[i]});
    return keyed;
  }
};

KeyedBatch ToKeyedBatch(nb::handle pairs, const char* function) {
  // A tuple of the iterable's pairs, which stays put while items are pinned.
  nb::object snapshot = nb::steal(PySequence_Tuple(pairs.ptr()));
  if (!snapshot.is_valid()) throw nb::python_error();
  const Py_ssize_t count = PyTuple_GET_SIZE(snapshot.ptr());
  KeyedBatch batch{{}, PinnedItems(static_cast<size_t>(count))};
  batch.keys.reserve(static_cast<size_t>(count));
  for (Py_ssize_t i = 0; i < count; ++i) {
    PyObject* pair = PyTuple_GET_ITEM(snapshot.ptr(), i);
    if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) {
      const std::string message = std::string(function) + "(): entry " + std::to_string(i) +
                                  " is " + Py_TYPE(pair)->tp_name +
                                  ", expected a (key, item) tuple";
      throw nb::type_error(message.c_str());
    }
    batch.keys.push_back(ToUniqueKey(PyTuple_GET_ITEM(pair, 0), function));
    batch.items.Pin(PyTuple_GET_ITEM(pair, 1), function, i);
  }
  return batch;
}

nb::list ToBoolList(const std::vector<bool>& flags) {
  nb::list result;
  for (bool flag : flags) result.append(nb::bool_(flag));
  return result;
}

// A unique push of `batch` waiting up to `timeout` seconds (None: no limit)
// for room, in slices as PushWaiting. A batch of more entries than the
// queue holds may hold fewer new items, so it is tried once without waiting.
std::vector<bool> PushUniqueWaiting(const PyAckQueue& queue, const KeyedBatch& batch,
                                    std::optional<double> timeout) {
  const std::vector<rocksq::KeyedItem> keyed = batch.Keyed();
  std::vector<bool> stored;
  if (keyed.size() > queue->MaxElements()) {
    return Run(true, [&] { return queue->PushBatchUnique(keyed); });
  }
  const bool done = WaitInSlices(timeout, [&](std::chrono::nanoseconds slice) {
    try {
      stored = queue->PushBatchUniqueWait(keyed, slice);
      return true;
    } catch (const rocksq::Error& error) {
      if (error.kind() != rocksq::ErrorKind::kQueueFull) throw;
      return false;
    }
  });
  // Timed out: one more zero-wait attempt raises the current QueueFull.
  if (!done) stored = queue->PushBatchUniqueWait(keyed, std::chrono::nanoseconds::zero());
  return stored;
}

// An extension's timeout: the queue's for None.
std::chrono::milliseconds ToExtension(const PyAckQueue& queue, nb::handle visibility_timeout) {
  if (visibility_timeout.is_none()) return queue->VisibilityTimeout();
  return ToVisibilityTimeout(visibility_timeout);
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
      ", dedup_window: int = " + Repr(defaults.dedup_window) +
      ", attach: bool = " + Repr(defaults.attach) +
      ", attach_group: str | int | None = " + Repr(AttachGroupValue(defaults.attach_group)) +
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
             nb::handle visibility_timeout, nb::handle dedup_window, nb::handle attach,
             nb::handle attach_group) {
            rocksq::AckOptions options;
            options.max_elements = ToCount(max_elements, "max_elements");
            options.sync = ToFlag(sync, "sync");
            options.visibility_timeout = ToVisibilityTimeout(visibility_timeout);
            options.dedup_window = ToCount(dedup_window, "dedup_window");
            options.attach = ToFlag(attach, "attach");
            options.attach_group = ToAttachGroup(attach_group);
            OpenQueue(self, path, options);
          },
          nb::arg("path").none(), nb::arg("max_elements").none() = defaults.max_elements,
          nb::arg("sync").none() = defaults.sync,
          nb::arg("visibility_timeout").none() = Seconds(defaults.visibility_timeout),
          nb::arg("dedup_window").none() = defaults.dedup_window,
          nb::arg("attach").none() = defaults.attach,
          nb::arg("attach_group").none() = AttachGroupValue(defaults.attach_group),
          nb::sig(init_signature.c_str()),
          "Opens (creating if needed) the ack queue stored in `path`; with `attach`,\n"
          "attaches to the process that has it open instead of raising QueueAlreadyOpen.")
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
          "push_unique",
          [](const PyAckQueue& queue, nb::handle key, nb::handle item) {
            const std::string key_bytes = ToUniqueKey(key, "put_unique");
            PinnedItems pinned = PinItem(item, "put_unique");
            return Run(true, [&] { return queue->PushUnique(key_bytes, pinned.views().front()); });
          },
          nb::arg("key").none(), nb::arg("item").none(),
          nb::sig("def push_unique(self, key: bytes | str, item: typing_extensions.Buffer) "
                  "-> bool"),
          "Appends `item` unless `key` was pushed before; returns whether it did.")
      .def(
          "push_many_unique",
          [](const PyAckQueue& queue, nb::handle pairs) {
            const KeyedBatch batch = ToKeyedBatch(pairs, "put_many_unique");
            const std::vector<rocksq::KeyedItem> keyed = batch.Keyed();
            return ToBoolList(Run(true, [&] { return queue->PushBatchUnique(keyed); }));
          },
          nb::arg("pairs").none(),
          nb::sig("def push_many_unique(self, pairs: collections.abc.Iterable[tuple[bytes | str, "
                  "typing_extensions.Buffer]]) -> list[bool]"),
          "Appends the items whose keys are new, all or nothing; whether each was stored.")
      .def(
          "push_unique_wait",
          [](const PyAckQueue& queue, nb::handle key, nb::handle item,
             std::optional<double> timeout) {
            const KeyedBatch batch =
                ToKeyedBatch(nb::make_tuple(nb::make_tuple(key, item)), "put_unique");
            return static_cast<bool>(PushUniqueWaiting(queue, batch, timeout).front());
          },
          nb::arg("key").none(), nb::arg("item").none(), nb::arg("timeout").none() = nb::none(),
          nb::sig("def push_unique_wait(self, key: bytes | str, item: typing_extensions.Buffer, "
                  "timeout: float | None = None) -> bool"),
          "Like push_unique(), but waits up to `timeout` seconds (None: no limit) for\n"
          "room; then raises QueueFull.")
      .def(
          "push_many_unique_wait",
          [](const PyAckQueue& queue, nb::handle pairs, std::optional<double> timeout) {
            const KeyedBatch batch = ToKeyedBatch(pairs, "put_many_unique");
            return ToBoolList(PushUniqueWaiting(queue, batch, timeout));
          },
          nb::arg("pairs").none(), nb::arg("timeout").none() = nb::none(),
          nb::sig("def push_many_unique_wait(self, pairs: collections.abc.Iterable[tuple[bytes | "
                  "str, typing_extensions.Buffer]], timeout: float | None = None) -> list[bool]"),
          "Like push_many_unique(), but waits up to `timeout` seconds for room.")
      .def(
          "extend",
          [](const PyAckQueue& queue, nb::handle item, nb::handle visibility_timeout) {
            const rocksq::Delivery delivery = ToDelivery(item, "extend");
            const std::chrono::milliseconds timeout = ToExtension(queue, visibility_timeout);
            Run(true, [&] { queue->Extend(delivery, timeout); });
          },
          nb::arg("delivery"), nb::arg("visibility_timeout").none() = nb::none(),
          nb::sig("def extend(self, delivery: tuple[int, bytes, int, int], "
                  "visibility_timeout: float | None = None) -> None"),
          "Keeps the delivery's item handed out `visibility_timeout` seconds from now\n"
          "(None: the queue's; 0: for ever).")
      .def(
          "extend_many",
          [](const PyAckQueue& queue, nb::handle deliveries, nb::handle visibility_timeout) {
            const std::vector<rocksq::Delivery> extended = ToDeliveries(deliveries, "extend_many");
            const std::chrono::milliseconds timeout = ToExtension(queue, visibility_timeout);
            Run(true, [&] { queue->ExtendBatch(extended, timeout); });
          },
          nb::arg("deliveries"), nb::arg("visibility_timeout").none() = nb::none(),
          nb::sig("def extend_many(self, deliveries: collections.abc.Iterable[tuple[int, bytes, "
                  "int, int]], visibility_timeout: float | None = None) -> None"),
          "Extends every delivery or, if one is not outstanding, none.")
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
          "ready",
          [](const PyAckQueue& queue) {
            return AskCore(queue, [&] { return queue->ReadyLen(); });
          },
          "Items ready to be handed out.")
      .def_prop_ro(
          "unacked",
          [](const PyAckQueue& queue) {
            return AskCore(queue, [&] { return queue->UnackedLen(); });
          },
          "Items handed out and not yet settled.")
      .def_prop_ro(
          "failed_count",
          [](const PyAckQueue& queue) {
            return AskCore(queue, [&] { return queue->FailedLen(); });
          },
          "Failed items.")
      .def_prop_ro(
          "max_elements",
          [](const PyAckQueue& queue) {
            return AskCore(queue, [&] { return queue->MaxElements(); });
          },
          "The most items the queue holds at once.")
      .def_prop_ro(
          "dedup_window", [](const PyAckQueue& queue) { return queue->DedupWindow(); },
          "How many keys of push_unique the queue remembers.")
      .def_prop_ro(
          "visibility_timeout",
          [](const PyAckQueue& queue) { return Seconds(queue->VisibilityTimeout()); },
          "Seconds a handed-out item stays handed out; 0 for ever.")
      .def_prop_ro(
          "time_to_next_expiry",
          [](const PyAckQueue& queue) -> std::optional<double> {
            const std::chrono::nanoseconds next =
                AskCore(queue, [&] { return queue->TimeToNextExpiry(); });
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
  BindChangeFd(queue_class, "push, ack, nack, fail or requeue");
}

}  // namespace rocksq_python
