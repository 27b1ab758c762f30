// rocksq._core: the one place Python meets the C++ core.
//
// This file converts arguments and results, releases the GIL around calls
// that touch the disk, and maps rocksq::Error to the Python exceptions of
// rocksq/_errors.py. Queue behaviour lives in the core; API shapes live in the
// Python faces (rocksq/_seed.py, rocksq/blocking.py).

#include <nanobind/nanobind.h>
#include <nanobind/stl/filesystem.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <filesystem>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#if defined(__GLIBCXX__)
#include <cxxabi.h>
#endif

#include "rocksq/inspect.h"
#include "rocksq/rocksq.h"
#include "serial_worker.h"

namespace nb = nanobind;

namespace {

constexpr const char* kExpectedItem =
    "expected a bytes-like object with C-contiguous data "
    "(bytes, bytearray, memoryview, array.array, numpy array)";

// Items reach the core as string_views into the callers' own buffers, with no
// copy on the Python side. Each buffer stays exported (pinned: its memory
// cannot move, a bytearray cannot be resized) until this object is
// destroyed, which must happen with the GIL held.
class PinnedItems {
 public:
  explicit PinnedItems(size_t capacity)
      : buffers_(std::make_unique<Py_buffer[]>(capacity)) {
    views_.reserve(capacity);
  }
  PinnedItems(PinnedItems&&) = default;  // Moved-from views_ is empty.
  PinnedItems(const PinnedItems&) = delete;
  PinnedItems& operator=(const PinnedItems&) = delete;
  ~PinnedItems() {
    for (size_t i = 0; i < views_.size(); ++i) PyBuffer_Release(&buffers_[i]);
  }

  // Pins `item`'s bytes, or throws TypeError naming its type and, when
  // `index` is not negative, its position in the caller's list.
  void Pin(PyObject* item, const char* function, Py_ssize_t index) {
    Py_buffer& buffer = buffers_[views_.size()];
    auto refuse = [&](const char* why) {
      std::string message = std::string(function) + "(): item ";
      if (index >= 0) message += std::to_string(index) + " ";
      message += std::string("is ") + Py_TYPE(item)->tp_name + why + ", " + kExpectedItem;
      throw nb::type_error(message.c_str());
    };
    if (PyObject_GetBuffer(item, &buffer, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) != 0) {
      const bool has_buffer = PyObject_CheckBuffer(item);
      PyErr_Clear();  // The BufferError, if any, is replaced by the TypeError.
      refuse(has_buffer ? " whose data is not C-contiguous" : "");
    }
    // Object references (a NumPy dtype=object array) are addresses, valid
    // only in this process: stored, they would read back as garbage.
    if (HoldsObjectReferences(buffer.format)) {
      PyBuffer_Release(&buffer);
      refuse(" holding Python object references (buffer format 'O'), not data");
    }
    views_.emplace_back(static_cast<const char*>(buffer.buf),
                        static_cast<size_t>(buffer.len));
  }

  const std::vector<std::string_view>& views() const { return views_; }

 private:
  // Whether the struct-module `format` (NULL: plain bytes) has an 'O' code.
  // Field names, written ":name:" inside T{...}, are not codes.
  static bool HoldsObjectReferences(const char* format) {
    bool in_name = false;
    for (const char* c = format; c != nullptr && *c != '\0'; ++c) {
      if (*c == ':') {
        in_name = !in_name;
      } else if (*c == 'O' && !in_name) {
        return true;
      }
    }
    return false;
  }

  // A Py_buffer may point into itself (PyBuffer_FillInfo sets shape to
  // &view->len), so the array never reallocates.
  std::unique_ptr<Py_buffer[]> buffers_;
  std::vector<std::string_view> views_;
};

// Releases the GIL for its lifetime, as nb::gil_scoped_release does, but is
// safe for daemon threads at exit. Before 3.14, CPython ends a thread that
// takes the GIL back after interpreter shutdown began with pthread_exit(),
// whose unwinding would reach nanobind's and our noexcept frames and abort
// the process ("terminate called without an active exception"). Such a
// thread stops here instead and waits for the process to end, as CPython
// 3.14 makes it wait.
class GilRelease {
 public:
  GilRelease() noexcept : state_(PyEval_SaveThread()) {}
  GilRelease(const GilRelease&) = delete;
  GilRelease& operator=(const GilRelease&) = delete;
  ~GilRelease() {
#if defined(__GLIBCXX__) && PY_VERSION_HEX < 0x030E0000
    try {
      PyEval_RestoreThread(state_);
    } catch (abi::__forced_unwind&) {
      for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
    }
#else
    PyEval_RestoreThread(state_);
#endif
  }

 private:
  PyThreadState* state_;
};

// Runs `call` with the GIL released when `no_gil` is true. `call` must not
// touch Python objects.
template <typename Call>
auto Run(bool no_gil, Call&& call) -> decltype(call()) {
  if (!no_gil) return call();
  GilRelease released;
  return call();
}

// A count argument (a capacity, a number of items to pop). rocksq 0.3.0
// raised OverflowError "can't convert negative int to unsigned" for a
// negative count, as CPython's own unsigned conversion does, where nanobind's
// integer caster would raise TypeError; so the argument arrives as an object
// and CPython converts it.
uint64_t ToCount(nb::handle value) {
  nb::object index = nb::steal(PyNumber_Index(value.ptr()));
  if (!index.is_valid()) throw nb::python_error();
  const unsigned long long count = PyLong_AsUnsignedLongLong(index.ptr());
  if (count == static_cast<unsigned long long>(-1) && PyErr_Occurred()) {
    throw nb::python_error();
  }
  return count;
}

// A count option of a constructor (max_elements, max_inflight_ops): as
// ToCount, with the option's name in front of CPython's message, e.g.
// "max_elements: 'NoneType' object cannot be interpreted as an integer".
uint64_t ToCount(nb::handle value, const char* name) {
  try {
    return ToCount(value);
  } catch (nb::python_error& error) {
    // The same exception type, with the option's name in front.
    const std::string message = std::string(name) + ": " + nb::str(error.value()).c_str();
    error.restore();
    PyObject* type = PyErr_Occurred();
    PyErr_SetString(type, message.c_str());
    throw nb::python_error();
  }
}

// A flag option (sync): True or False. nanobind's bool caster would answer
// 1 or "yes" with a dump of every signature; this names the option.
bool ToFlag(nb::handle value, const char* name) {
  if (value.ptr() == Py_True) return true;
  if (value.ptr() == Py_False) return false;
  const std::string message =
      std::string(name) + " must be True or False, not " + Py_TYPE(value.ptr())->tp_name;
  throw nb::type_error(message.c_str());
}

// Paths are bytes on Linux. A path argument (str, bytes or os.PathLike)
// becomes those bytes as os.fsencode() makes them, so a str that is not
// valid UTF-8 (surrogate escapes) keeps its bytes; a wrong type or an
// embedded NUL raises TypeError or ValueError as open() does.
std::string ToPath(nb::handle path) {
  nb::object native_path = nb::steal(PyOS_FSPath(path.ptr()));
  if (!native_path.is_valid()) throw nb::python_error();
  PyObject* encoded = nullptr;
  if (!PyUnicode_FSConverter(native_path.ptr(), &encoded)) throw nb::python_error();
  nb::object bytes = nb::steal(encoded);  // Released on return.
  return std::string(PyBytes_AS_STRING(bytes.ptr()),
                     static_cast<size_t>(PyBytes_GET_SIZE(bytes.ptr())));
}

// Bytes that hold a path (or a message naming one) back to str as
// os.fsdecode() does: bytes that do not decode become surrogate escapes,
// so the str round-trips through ToPath.
nb::str FromPathBytes(const std::string& bytes) {
  PyObject* text =
      PyUnicode_DecodeFSDefaultAndSize(bytes.data(), static_cast<Py_ssize_t>(bytes.size()));
  if (text == nullptr) throw nb::python_error();
  return nb::steal<nb::str>(text);
}

// The Python objects `rocksq._core.FifoQueue` (Core = rocksq::FifoQueue) and
// `rocksq._core.MpmcQueue` (rocksq::MpmcQueue): each owns one open core queue,
// and what the waiting and nonblocking faces attach to it.
template <typename Core>
class QueueHolder {
 public:
  using CoreQueue = Core;

  explicit QueueHolder(std::unique_ptr<Core> queue) : queue_(std::move(queue)) {}
  QueueHolder(const QueueHolder&) = delete;
  QueueHolder& operator=(const QueueHolder&) = delete;
  // Closing an open queue flushes it to disk; other threads run meanwhile.
  ~QueueHolder() {
    if (!process.IsCurrent()) {
      // A fork() child: the worker's thread exists only in the parent, so
      // joining it would never return, and the queue is the parent's. Both
      // are leaked untouched (see rocksq/process.h).
      (void)worker.release();
      (void)queue_.release();
      return;
    }
    GilRelease released;
    worker.reset();  // Runs what was submitted, while the queue is open.
    queue_.reset();
  }

  Core* operator->() const { return queue_.get(); }

  // Runs every operation submitted to the worker, so that their responses
  // hold their results, then closes the queue (see the core's Close()). An
  // operation submitted once this began is not run; its outcome is
  // QueueClosed (see Submit). Call it without the GIL.
  void Close() {
    if (worker) worker->Stop();
    queue_->Close();
  }

  // Set by set_change_fd (see ChangeNotifier); shared with the core's listener.
  std::shared_ptr<class ChangeNotifier> notifier;
  // Started by start_worker, for rocksq.nonblocking.
  std::unique_ptr<rocksq_python::SerialWorker> worker;
  // The process that opened the queue and runs the worker.
  const rocksq::OpeningProcess process;

 private:
  std::unique_ptr<Core> queue_;
};

using PyFifoQueue = QueueHolder<rocksq::FifoQueue>;
using PyMpmcQueue = QueueHolder<rocksq::MpmcQueue>;

void Push(const PyFifoQueue& queue, nb::handle item, bool no_gil) {
  PinnedItems pinned(1);
  pinned.Pin(item.ptr(), "push", -1);
  Run(no_gil, [&] { queue->Push(pinned.views().front()); });
}

// Pins every item of the list or tuple `items`; TypeError names the first
// that is not bytes-like, and nothing is pinned then.
PinnedItems PinItems(nb::handle items, const char* function) {
  // A tuple snapshot of a list: an item's buffer export may run Python code
  // that changes the list, which must not move what is being walked.
  nb::object snapshot;
  if (PyTuple_Check(items.ptr())) {
    snapshot = nb::borrow(items);
  } else if (PyList_Check(items.ptr())) {
    snapshot = nb::steal(PyList_AsTuple(items.ptr()));
    if (!snapshot.is_valid()) throw nb::python_error();
  } else {
    const std::string message =
        std::string(function) + "(): items is " + Py_TYPE(items.ptr())->tp_name +
        ", expected a list or tuple of bytes-like objects";
    throw nb::type_error(message.c_str());
  }
  const Py_ssize_t count = PyTuple_GET_SIZE(snapshot.ptr());
  PinnedItems pinned(static_cast<size_t>(count));
  for (Py_ssize_t i = 0; i < count; ++i) {
    pinned.Pin(PyTuple_GET_ITEM(snapshot.ptr(), i), function, i);
  }
  return pinned;
}

void PushMany(const PyFifoQueue& queue, nb::handle items, bool no_gil) {
  PinnedItems pinned = PinItems(items, "push_many");
  Run(no_gil, [&] { queue->PushBatch(pinned.views()); });
}

// Items are copied once, from the core's pinned memory straight into new
// bytes objects, with the GIL held.
nb::list ToList(const rocksq::PoppedItems& items) {
  nb::list result = nb::steal<nb::list>(
      PyList_New(static_cast<Py_ssize_t>(items.size())));
  if (!result.is_valid()) throw nb::python_error();
  for (size_t i = 0; i < items.size(); ++i) {
    const std::string_view item = items[i];
    PyObject* bytes = PyBytes_FromStringAndSize(
        item.data(), static_cast<Py_ssize_t>(item.size()));
    if (bytes == nullptr) throw nb::python_error();
    PyList_SET_ITEM(result.ptr(), static_cast<Py_ssize_t>(i), bytes);
  }
  return result;
}

// A label's bytes as a str: UTF-8, and any bytes that are not (written by
// C++ code, or a str with surrogate escapes, see ToLabel) as surrogate
// escapes, so that the str names the same label again.
nb::str ToLabelStr(const std::string& name) {
  PyObject* text = PyUnicode_DecodeUTF8(name.data(), static_cast<Py_ssize_t>(name.size()),
                                        "surrogateescape");
  if (text == nullptr) throw nb::python_error();
  return nb::steal<nb::str>(text);
}

nb::list ToStrList(const std::vector<std::string>& names) {
  nb::list result;
  for (const std::string& name : names) result.append(ToLabelStr(name));
  return result;
}

size_t ToItemCount(nb::handle max_items) {
  return static_cast<size_t>(
      std::min<uint64_t>(ToCount(max_items), std::numeric_limits<size_t>::max()));
}

nb::list Pop(const PyFifoQueue& queue, nb::handle max_items, bool no_gil) {
  const size_t count = ToItemCount(max_items);
  return ToList(Run(no_gil, [&] { return queue->Pop(count); }));
}

nb::object PopOne(const PyFifoQueue& queue, bool no_gil) {
  rocksq::PoppedItems items = Run(no_gil, [&] { return queue->Pop(1); });
  if (items.empty()) return nb::none();
  const std::string_view item = items[0];
  return nb::bytes(item.data(), item.size());
}

// --- Waiting -----------------------------------------------------------------

// Waits are cut into slices of at most this long, and the GIL is taken back
// between slices to run Python's signal handlers, so Ctrl-C interrupts a
// blocked call within this time.
constexpr auto kSignalCheckInterval = std::chrono::milliseconds(100);

// Calls `attempt(slice)` with the GIL released until it returns true or
// `timeout_seconds` (None: no limit) has passed; returns whether it
// succeeded. A pending KeyboardInterrupt (or any signal handler's
// exception) is raised between slices.
template <typename Attempt>
bool WaitInSlices(std::optional<double> timeout_seconds, Attempt attempt) {
  using Clock = std::chrono::steady_clock;
  // Past a billion seconds (31 years) a deadline is "never", and cannot
  // overflow the clock.
  const bool forever = !timeout_seconds.has_value() || *timeout_seconds > 1e9;
  const Clock::time_point deadline =
      forever ? Clock::time_point::max()
              : Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                   std::chrono::duration<double>(std::max(0.0, *timeout_seconds)));
  for (;;) {
    const Clock::time_point now = Clock::now();
    const auto slice = std::min<Clock::duration>(
        kSignalCheckInterval, deadline > now ? deadline - now : Clock::duration::zero());
    bool done;
    {
      GilRelease released;
      done = attempt(std::chrono::duration_cast<std::chrono::nanoseconds>(slice));
    }
    if (done) return true;
    if (Clock::now() >= deadline) return false;
    if (PyErr_CheckSignals() != 0) throw nb::python_error();
  }
}

nb::list PopWait(const PyFifoQueue& queue, nb::handle max_items,
                 std::optional<double> timeout) {
  const size_t count = ToItemCount(max_items);
  rocksq::PoppedItems items;
  WaitInSlices(timeout, [&](std::chrono::nanoseconds slice) {
    items = queue->PopWait(count, slice);
    return !items.empty() || count == 0;
  });
  return ToList(items);
}

// Pushes, waiting for room; the last slice's kQueueFull is the timeout's.
void PushBatchWait(const PyFifoQueue& queue, const PinnedItems& pinned,
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

void PushWait(const PyFifoQueue& queue, nb::handle item, std::optional<double> timeout) {
  PinnedItems pinned(1);
  pinned.Pin(item.ptr(), "push_wait", -1);
  PushBatchWait(queue, pinned, timeout);
}

void PushManyWait(const PyFifoQueue& queue, nb::handle items, std::optional<double> timeout) {
  PushBatchWait(queue, PinItems(items, "push_many_wait"), timeout);
}

// An event loop waits for a file descriptor, not a condition variable: once
// armed, the next change of the queue (a call of the core's change listener)
// writes one byte to `fd` (the write end of a non-blocking pipe the loop
// reads). Disarmed, a change costs one load.
class ChangeNotifier {
 public:
  explicit ChangeNotifier(int fd) : fd_(fd) {}

  // Makes `queue` write to `fd` after the changes that follow an Arm(), or
  // (fd None) stops it, after which no byte is written to the old fd.
  template <typename Holder>
  static void Attach(Holder& queue, std::optional<int> fd) {
    if (queue.notifier) queue.notifier->Detach();
    queue.notifier.reset();
    // In a fork() child the queue is not this process's to change; its
    // close (rocksq.aio's includes this call) only forgets it.
    if (!fd && !queue.process.IsCurrent()) return;
    if (!fd) {
      queue->SetChangeListener(nullptr);
      return;
    }
    auto notifier = std::make_shared<ChangeNotifier>(*fd);
    queue->SetChangeListener([notifier] { notifier->OnChange(); });
    queue.notifier = std::move(notifier);
  }

  void Arm() { armed_.store(true, std::memory_order_seq_cst); }

  void OnChange() {
    if (!armed_.exchange(false, std::memory_order_seq_cst)) return;
    std::lock_guard<std::mutex> lock(mutex_);  // Only when armed: rare.
    if (fd_ < 0) return;
    const char byte = 1;
    // A full pipe already holds a wake-up; nothing is lost by dropping this.
    [[maybe_unused]] ssize_t written = ::write(fd_, &byte, 1);
  }

 private:
  // The owner may close the fd once this returns: a listener call already
  // under way (the core may have loaded it before the detach) writes nothing.
  void Detach() {
    std::lock_guard<std::mutex> lock(mutex_);
    fd_ = -1;
  }

  std::mutex mutex_;
  int fd_;  // Guarded by mutex_.
  std::atomic<bool> armed_{false};
};

// --- Operations run by a worker (rocksq.nonblocking) ----------------------------

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

  bool Finished() {
    std::lock_guard<std::mutex> lock(mutex);
    return finished;
  }
  bool WaitFinished(std::chrono::nanoseconds timeout) {
    std::unique_lock<std::mutex> lock(mutex);
    return finished_signal.wait_for(lock, timeout, [&] { return finished; });
  }
};

// The Python object `rocksq._core.PendingOperation`: one operation's future.
class PendingOperation {
 public:
  explicit PendingOperation(std::shared_ptr<Outcome> outcome) : outcome_(std::move(outcome)) {}
  PendingOperation(PendingOperation&&) = default;
  PendingOperation(const PendingOperation&) = delete;
  PendingOperation& operator=(const PendingOperation&) = delete;
  ~PendingOperation() {
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

  bool ready() const { return outcome_->Finished(); }

  static nb::object ToPython(const decltype(Outcome::result)& result) {
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

  // (True, result) once finished, else (False, None) without waiting, or
  // waiting (Ctrl-C can interrupt it) if `wait`. The result is taken once:
  // rocksq 0.3.0 raised RuntimeError for a second take, and so does this.
  nb::tuple Take(bool wait) {
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
  queue.process.Check(queue->Path());  // A fork() child has no worker thread.
  auto outcome = std::make_shared<Outcome>();
  outcome->path = &queue->Path();
  if (inputs) outcome->inputs.emplace(std::move(*inputs));
  typename Holder::CoreQueue* core = queue.operator->();
  auto task = [outcome, core, operation] {
    try {
      operation(*core, *outcome);
    } catch (...) {
      outcome->error = std::current_exception();
    }
    {
      std::lock_guard<std::mutex> lock(outcome->mutex);
      outcome->finished = true;
    }
    outcome->finished_signal.notify_all();
  };
  bool accepted;
  {
    GilRelease released;
    accepted = queue.worker->Submit(std::move(task));
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

// --- MPMC queue (rocksq.blocking.MpmcQueue) -----------------------------------

// The ttl argument: an int number of seconds (rocksq 0.3.0), at least 1.
std::chrono::milliseconds ToTtl(nb::handle ttl) {
  if (PyBool_Check(ttl.ptr()) || !PyIndex_Check(ttl.ptr())) {
    const std::string message = std::string("ttl must be an int number of seconds, not ") +
                                Py_TYPE(ttl.ptr())->tp_name;
    throw nb::type_error(message.c_str());
  }
  nb::object index = nb::steal(PyNumber_Index(ttl.ptr()));
  if (!index.is_valid()) throw nb::python_error();
  int overflow = 0;
  const long long seconds = PyLong_AsLongLongAndOverflow(index.ptr(), &overflow);
  if (seconds == -1 && PyErr_Occurred()) throw nb::python_error();
  const long long max_seconds = rocksq::kMaxTtl.count() / 1000;
  if (overflow < 0 || (overflow == 0 && seconds < 1)) {
    const std::string message =
        "ttl must be a positive number of seconds, got " +
        nb::cast<std::string>(nb::str(index));
    throw nb::value_error(message.c_str());
  }
  if (overflow > 0 || seconds > max_seconds) {
    const std::string message =
        "ttl must be at most " + std::to_string(max_seconds) + " seconds, got " +
        nb::cast<std::string>(nb::str(index));
    throw nb::value_error(message.c_str());
  }
  return std::chrono::seconds(seconds);
}

// A label argument: a str, passed on as its UTF-8 bytes. Surrogate escapes
// (a label read back from bytes that are not UTF-8) become those bytes
// again: the inverse of ToLabelStr.
std::string ToLabel(nb::handle label, const char* function) {
  if (!PyUnicode_Check(label.ptr())) {
    const std::string message = std::string(function) + "(): label must be a str, not " +
                                Py_TYPE(label.ptr())->tp_name;
    throw nb::type_error(message.c_str());
  }
  nb::object utf8 =
      nb::steal(PyUnicode_AsEncodedString(label.ptr(), "utf-8", "surrogateescape"));
  if (!utf8.is_valid()) throw nb::python_error();
  return std::string(PyBytes_AS_STRING(utf8.ptr()),
                     static_cast<size_t>(PyBytes_GET_SIZE(utf8.ptr())));
}

rocksq::StartPosition ToStartPosition(int start) {
  switch (start) {
    case 0: return rocksq::StartPosition::kOldest;
    case 1: return rocksq::StartPosition::kNewest;
  }
  const std::string message =
      "start_position must be 0 (Oldest) or 1 (Newest), got " + std::to_string(start);
  throw nb::value_error(message.c_str());
}

void MpmcAdd(const PyMpmcQueue& queue, nb::handle items, bool no_gil) {
  PinnedItems pinned = PinItems(items, "add");
  Run(no_gil, [&] { queue->AddBatch(pinned.views()); });
}

nb::tuple MpmcNext(const PyMpmcQueue& queue, nb::handle label, int start,
                   nb::handle max_items, bool no_gil) {
  const std::string name = ToLabel(label, "next");
  const rocksq::StartPosition position = ToStartPosition(start);
  const size_t count = ToItemCount(max_items);
  rocksq::MpmcRead read = Run(no_gil, [&] { return queue->Next(name, position, count); });
  return nb::make_tuple(ToList(read.items), read.expired);
}

bool MpmcRemoveLabel(const PyMpmcQueue& queue, nb::handle label, bool no_gil) {
  const std::string name = ToLabel(label, "remove_label");
  return Run(no_gil, [&] { return queue->RemoveLabel(name); });
}

nb::list MpmcLabels(const PyMpmcQueue& queue) { return ToStrList(queue->Labels()); }

// --- End of the MPMC queue's functions ------------------------------------------

// What both queue classes offer the waiting faces (rocksq.aio) and the
// nonblocking ones (the worker, and the submit_* operations both cores have).
// `set_change_fd_doc` says which changes write to the fd.
template <typename Holder>
void DefChangeFdAndWorker(nb::class_<Holder>& queue_class, const char* set_change_fd_doc) {
  using Core = typename Holder::CoreQueue;
  queue_class
      .def("set_change_fd", &ChangeNotifier::Attach<Holder>, nb::arg("fd").none(),
           set_change_fd_doc)
      .def("check_process",
           [](const Holder& queue) { queue.process.Check(queue->Path()); },
           "Raises ForkedProcessError in a child fork() created after the queue was\n"
           "opened; for faces whose calls do not all reach the core.")
      .def("arm_change_fd",
           [](Holder& queue) {
             if (queue.notifier) queue.notifier->Arm();
           },
           "Asks for one byte on the change fd after the next change.")
      .def("start_worker",
           [](Holder& queue, nb::handle max_inflight) {
             if (queue.worker) throw std::logic_error("the worker was already started");
             queue.process.Check(queue->Path());
             queue.worker = std::make_unique<rocksq_python::SerialWorker>(
                 ToCount(max_inflight, "max_inflight_ops"));
           },
           nb::arg("max_inflight").none(),
           "Starts the thread that runs submit_* operations in order; at most\n"
           "`max_inflight` wait unfinished, past that submitting waits.")
      .def_prop_ro(
          "inflight_ops",
          [](const Holder& queue) { return queue.worker ? queue.worker->inflight() : 0; },
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

// Python exception classes for rocksq::ErrorKind, imported from
// rocksq._errors once. The references are never released: the translator
// may run until the interpreter exits.
struct ErrorClasses {
  PyObject* base;
  PyObject* queue_full;
  PyObject* storage;
  PyObject* corruption;
  PyObject* already_open;
  PyObject* not_a_queue;
  PyObject* closed;
  PyObject* not_outstanding;
  PyObject* forked_process;
  PyObject* shut_down;

  PyObject* For(rocksq::ErrorKind kind) const {
    switch (kind) {
      case rocksq::ErrorKind::kQueueFull: return queue_full;
      case rocksq::ErrorKind::kStorage: return storage;
      case rocksq::ErrorKind::kCorruption: return corruption;
      case rocksq::ErrorKind::kAlreadyOpen: return already_open;
      case rocksq::ErrorKind::kNotAQueue: return not_a_queue;
      case rocksq::ErrorKind::kInvalidArgument: return PyExc_ValueError;
      case rocksq::ErrorKind::kClosed: return closed;
      case rocksq::ErrorKind::kNotOutstanding: return not_outstanding;
      case rocksq::ErrorKind::kForkedProcess: return forked_process;
      case rocksq::ErrorKind::kShutDown: return shut_down;
    }
    return base;
  }
};

void TranslateError(const std::exception_ptr& error, void* payload) {
  try {
    std::rethrow_exception(error);
  } catch (const rocksq::Error& e) {
    // The message names the queue's path: its bytes decode as a path does.
    PyObject* message = PyUnicode_DecodeFSDefault(e.what());
    if (message == nullptr) return;  // The decoding error is raised instead.
    PyErr_SetObject(static_cast<const ErrorClasses*>(payload)->For(e.kind()), message);
    Py_DECREF(message);
  }
}

// --- Ack queue (rocksq.AckQueue) ------------------------------------------------
// Deliveries become (id, bytes, attempt, receipt) tuples, which
// rocksq/_ack_face.py turns into rocksq.Delivery; settling takes them back.

using PyAckQueue = QueueHolder<rocksq::AckQueue>;

// The visibility_timeout argument: seconds (int or float), 0 for never.
std::chrono::milliseconds ToVisibilityTimeout(nb::handle value) {
  // A real number: anything float() takes but a str or bytes (a float,
  // an int, numpy.float32, Decimal), and not a bool.
  PyNumberMethods* number = Py_TYPE(value.ptr())->tp_as_number;
  if (PyBool_Check(value.ptr()) || number == nullptr ||
      (number->nb_float == nullptr && number->nb_index == nullptr)) {
    const std::string message = std::string("visibility_timeout must be a number of seconds, not ") +
                                Py_TYPE(value.ptr())->tp_name;
    throw nb::type_error(message.c_str());
  }
  double seconds = PyFloat_AsDouble(value.ptr());
  if (seconds == -1.0 && PyErr_Occurred()) {
    if (!PyErr_ExceptionMatches(PyExc_OverflowError)) throw nb::python_error();
    // An int too large for a float: out of range, as +inf is.
    PyErr_Clear();
    seconds = std::numeric_limits<double>::infinity();
  }
  if (!(seconds >= 0) || seconds > 1e12) {
    const std::string message =
        "visibility_timeout must be between 0 and 1e12 seconds, got " + std::to_string(seconds);
    throw nb::value_error(message.c_str());
  }
  const auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::duration<double>(seconds));
  // A positive timeout shorter than a millisecond still expires.
  return seconds > 0 && timeout.count() == 0 ? std::chrono::milliseconds(1) : timeout;
}

// A failed item's id: an int, or a tuple whose first field is the id (an
// entry of failed(), or the Delivery the item was failed from).
uint64_t ToId(nb::handle item) {
  if (PyTuple_Check(item.ptr()) && PyTuple_GET_SIZE(item.ptr()) > 0) {
    return ToCount(PyTuple_GET_ITEM(item.ptr(), 0));
  }
  return ToCount(item);
}

// An iterable of failed items' ids (see ToId).
std::vector<uint64_t> ToIds(nb::handle ids) {
  std::vector<uint64_t> result;
  nb::object iterator = nb::steal(PyObject_GetIter(ids.ptr()));
  if (!iterator.is_valid()) throw nb::python_error();
  while (PyObject* item = PyIter_Next(iterator.ptr())) {
    nb::object owned = nb::steal(item);
    result.push_back(ToId(owned));
  }
  if (PyErr_Occurred()) throw nb::python_error();
  return result;
}

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

// An iterable of deliveries (see ToDelivery).
std::vector<rocksq::Delivery> ToDeliveries(nb::handle items, const char* function) {
  std::vector<rocksq::Delivery> result;
  nb::object iterator = nb::steal(PyObject_GetIter(items.ptr()));
  if (!iterator.is_valid()) throw nb::python_error();
  while (PyObject* item = PyIter_Next(iterator.ptr())) {
    nb::object owned = nb::steal(item);
    result.push_back(ToDelivery(owned, function));
  }
  if (PyErr_Occurred()) throw nb::python_error();
  return result;
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

nb::list AckGet(const PyAckQueue& queue, nb::handle max_items) {
  const size_t count = ToItemCount(max_items);
  return ToDeliveryTuples(Run(true, [&] { return queue->Get(count); }));
}

nb::list AckGetWait(const PyAckQueue& queue, nb::handle max_items,
                    std::optional<double> timeout) {
  const size_t count = ToItemCount(max_items);
  rocksq::Deliveries deliveries;
  WaitInSlices(timeout, [&](std::chrono::nanoseconds slice) {
    deliveries = queue->GetWait(count, slice);
    return !deliveries.empty() || count == 0;
  });
  return ToDeliveryTuples(deliveries);
}

// Pushes, waiting for room; the last slice's kQueueFull is the timeout's.
void AckPushWait(const PyAckQueue& queue, const PinnedItems& pinned,
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
  if (!done) queue->PushBatchWait(pinned.views(), std::chrono::nanoseconds::zero());
}

nb::list AckFailedItems(const PyAckQueue& queue, nb::handle max_items) {
  const size_t count = max_items.is_none() ? std::numeric_limits<size_t>::max()
                                           : ToItemCount(max_items);
  std::vector<rocksq::FailedItem> items = Run(true, [&] { return queue->Failed(count); });
  nb::list result;
  for (const rocksq::FailedItem& item : items) {
    result.append(nb::make_tuple(item.id, nb::bytes(item.payload.data(), item.payload.size())));
  }
  return result;
}

uint64_t AckRequeueFailed(const PyAckQueue& queue, nb::handle ids) {
  if (ids.is_none()) return Run(true, [&] { return queue->RequeueAllFailed(); });
  const std::vector<uint64_t> id_list = ToIds(ids);
  return Run(true, [&] { return queue->RequeueFailed(id_list); });
}

void DefAckQueue(nb::module_& m) {
  nb::class_<PyAckQueue>(
      m, "AckQueue",
      "A persistent at-least-once queue of byte strings in the directory `path`.\n\n"
      "get() hands items out as (id, bytes, attempt, receipt) without removing\n"
      "them; ack() removes, nack() returns, ack_failed() sets aside the item of\n"
      "such a delivery. Calls that touch the disk release the GIL. Errors raise\n"
      "the exceptions of rocksq._errors.")
      .def(
          "__init__",
          [](PyAckQueue* self, nb::handle path, nb::handle max_elements, nb::handle sync,
             nb::handle visibility_timeout) {
            rocksq::AckOptions options;
            options.max_elements = ToCount(max_elements, "max_elements");
            options.sync = ToFlag(sync, "sync");
            options.visibility_timeout = ToVisibilityTimeout(visibility_timeout);
            const std::string path_string = ToPath(path);
            new (self) PyAckQueue(
                Run(true, [&] { return rocksq::AckQueue::Open(path_string, options); }));
          },
          nb::arg("path").none(), nb::arg("max_elements").none() = 1'000'000'000,
          nb::arg("sync").none() = false, nb::arg("visibility_timeout").none() = 30.0,
          nb::sig("def __init__(self, path: str | os.PathLike[str], max_elements: int = 1000000000, "
                  "sync: bool = False, visibility_timeout: float = 30.0) -> None"),
          "Opens (creating if needed) the ack queue stored in `path`.")
      .def(
          "push",
          [](const PyAckQueue& queue, nb::handle item) {
            PinnedItems pinned(1);
            pinned.Pin(item.ptr(), "put", -1);
            Run(true, [&] { queue->Push(pinned.views().front()); });
          },
          nb::arg("item").none(),
          nb::sig("def push(self, item: typing_extensions.Buffer) -> None"),
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
          "push_wait",
          [](const PyAckQueue& queue, nb::handle item, std::optional<double> timeout) {
            PinnedItems pinned(1);
            pinned.Pin(item.ptr(), "put", -1);
            AckPushWait(queue, pinned, timeout);
          },
          nb::arg("item").none(), nb::arg("timeout").none() = nb::none(),
          nb::sig("def push_wait(self, item: typing_extensions.Buffer, "
                  "timeout: float | None = None) -> None"),
          "Like push(), but waits up to `timeout` seconds (None: no limit) for room.")
      .def(
          "push_many_wait",
          [](const PyAckQueue& queue, nb::handle items, std::optional<double> timeout) {
            AckPushWait(queue, PinItems(items, "put_many"), timeout);
          },
          nb::arg("items").none(), nb::arg("timeout").none() = nb::none(),
          nb::sig("def push_many_wait(self, items: list[typing_extensions.Buffer] | "
                  "tuple[typing_extensions.Buffer, ...], timeout: float | None = None) -> None"),
          "Like push_many(), but waits up to `timeout` seconds for room for all.")
      .def("get", &AckGet, nb::arg("max_items").none() = 1,
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
      .def("get_wait", &AckGetWait, nb::arg("max_items").none() = 1,
           nb::arg("timeout").none() = nb::none(),
           nb::sig("def get_wait(self, max_items: int = 1, timeout: float | None = None) "
                   "-> list[tuple[int, bytes, int, int]]"),
           "Like get(), but waits up to `timeout` seconds (None: no limit) for an item;\n"
           "Ctrl-C interrupts it within 100 ms.")
      .def(
          "ack",
          [](const PyAckQueue& queue, nb::handle item) {
            const rocksq::Delivery delivery = ToDelivery(item, "ack");
            Run(true, [&] { queue->Ack(delivery); });
          },
          nb::arg("delivery"), "Removes the item handed out by `delivery` for good.")
      .def(
          "ack_many",
          [](const PyAckQueue& queue, nb::handle deliveries) {
            const std::vector<rocksq::Delivery> settled = ToDeliveries(deliveries, "ack_many");
            Run(true, [&] { queue->AckBatch(settled); });
          },
          nb::arg("deliveries"), "Acks every delivery or none, in one record of the ack log.")
      .def(
          "nack",
          [](const PyAckQueue& queue, nb::handle item) {
            const rocksq::Delivery delivery = ToDelivery(item, "nack");
            Run(true, [&] { queue->Nack(delivery); });
          },
          nb::arg("delivery"), "Returns the item handed out by `delivery` to the head.")
      .def(
          "nack_many",
          [](const PyAckQueue& queue, nb::handle deliveries) {
            const std::vector<rocksq::Delivery> settled = ToDeliveries(deliveries, "nack_many");
            Run(true, [&] { queue->NackBatch(settled); });
          },
          nb::arg("deliveries"), "Nacks every delivery or none.")
      .def(
          "ack_failed",
          [](const PyAckQueue& queue, nb::handle item) {
            const rocksq::Delivery delivery = ToDelivery(item, "ack_failed");
            Run(true, [&] { queue->AckFailed(delivery); });
          },
          nb::arg("delivery"), "Moves the item handed out by `delivery` among the failed ones.")
      .def(
          "ack_failed_many",
          [](const PyAckQueue& queue, nb::handle deliveries) {
            const std::vector<rocksq::Delivery> settled =
                ToDeliveries(deliveries, "ack_failed_many");
            Run(true, [&] { queue->AckFailedBatch(settled); });
          },
          nb::arg("deliveries"), "Fails every delivery or none, in one write.")
      .def("failed", &AckFailedItems, nb::arg("max_items").none() = nb::none(),
           nb::sig("def failed(self, max_items: int | None = None) -> list[tuple[int, bytes]]"),
           "Up to `max_items` (None: all) failed items as (id, bytes), smallest id first.")
      .def("requeue_failed", &AckRequeueFailed, nb::arg("ids").none() = nb::none(),
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
          "len", [](const PyAckQueue& queue) { return queue->Len(); },
          "Every item stored: ready + unacked + failed_count.")
      .def_prop_ro(
          "payload_size", [](const PyAckQueue& queue) { return queue->PayloadBytes(); },
          "The sum of the stored items' sizes, in bytes.")
      .def_prop_ro(
          "disk_size", [](const PyAckQueue& queue) { return queue->DiskBytes(); },
          nb::call_guard<GilRelease>(), "The size of the queue's files, in bytes.")
      .def_prop_ro(
          "is_empty", [](const PyAckQueue& queue) { return queue->IsEmpty(); },
          "True if no item is stored.")
      .def_prop_ro(
          "max_elements", [](const PyAckQueue& queue) { return queue->MaxElements(); },
          "The most items the queue holds at once.")
      .def_prop_ro(
          "visibility_timeout",
          [](const PyAckQueue& queue) {
            return std::chrono::duration<double>(queue->VisibilityTimeout()).count();
          },
          "Seconds a handed-out item stays handed out; 0 for ever.")
      .def_prop_ro(
          "time_to_next_expiry",
          [](const PyAckQueue& queue) -> std::optional<double> {
            const std::chrono::nanoseconds next = queue->TimeToNextExpiry();
            if (next == std::chrono::nanoseconds::max()) return std::nullopt;
            return std::chrono::duration<double>(next).count();
          },
          "Seconds until the next handed-out item expires; None if none will.")
      .def_prop_ro(
          "path", [](const PyAckQueue& queue) { return FromPathBytes(queue->Path()); },
          "The queue's directory, as given when it was opened.")
      .def_prop_ro(
          "recovery_warning",
          [](const PyAckQueue& queue) { return FromPathBytes(queue->RecoveryWarning()); },
          nb::sig("def recovery_warning(self) -> str"),
          "Empty, or says that opening dropped records of a damaged write-ahead log.")
      .def("set_change_fd", &ChangeNotifier::Attach<PyAckQueue>, nb::arg("fd").none(),
           "After each arm_change_fd(), the next push, ack, nack, fail or requeue\n"
           "writes one byte to `fd`; None stops that.")
      .def(
          "arm_change_fd",
          [](PyAckQueue& queue) {
            if (queue.notifier) queue.notifier->Arm();
          },
          "Asks for one byte on the change fd after the next change.")
      .def(
          "close", [](PyAckQueue& queue) { queue.Close(); }, nb::call_guard<GilRelease>(),
          "Closes the queue; unsettled items are ready at the next open.")
      .def_static(
          "destroy",
          [](nb::handle path) {
            const std::string path_string = ToPath(path);
            Run(true, [&] { rocksq::AckQueue::Destroy(path_string); });
          },
          nb::arg("path").none(), nb::sig("def destroy(path: str | os.PathLike[str]) -> None"),
          "Deletes the ack queue stored in `path`; does nothing if it does not exist.");
}

// --- End of the ack queue ---------------------------------------------------------

// --- Inspection (rocksq.inspection, the `rocksq` command) ----------------------------
// Reads a queue's directory without opening the queue (rocksq/inspect.h).
// The core call runs with the GIL released; the Python objects are built
// after it.

nb::dict InspectQueue(nb::handle path) {
  const std::string path_string = ToPath(path);
  const rocksq::QueueSnapshot snapshot =
      Run(true, [&] { return rocksq::InspectQueue(path_string); });
  nb::list labels;
  for (const rocksq::LabelPosition& label : snapshot.labels) {
    nb::dict entry;
    entry["label"] = ToLabelStr(label.label);
    entry["position"] = label.position;
    entry["unread"] = label.unread;
    labels.append(entry);
  }
  nb::dict result;
  result["path"] = FromPathBytes(snapshot.path);
  result["kind"] = snapshot.kind;
  result["len"] = snapshot.length;
  result["payload_size"] = snapshot.payload_bytes;
  result["disk_size"] = snapshot.disk_bytes;
  result["first_position"] = snapshot.first_position;
  result["end_position"] = snapshot.end_position;
  result["oldest_added_micros"] = snapshot.oldest_added_micros;
  result["newest_added_micros"] = snapshot.newest_added_micros;
  result["labels"] = labels;
  result["failed_len"] = snapshot.failed_length;
  result["failed_payload_size"] = snapshot.failed_payload_bytes;
  nb::list dropped;
  for (const std::string& line : snapshot.dropped_records) dropped.append(FromPathBytes(line));
  result["dropped_records"] = dropped;
  return result;
}

nb::dict CheckQueue(nb::handle path) {
  const std::string path_string = ToPath(path);
  const rocksq::QueueCheck check = Run(true, [&] { return rocksq::CheckQueue(path_string); });
  nb::list damage;
  for (const std::string& line : check.damage) damage.append(FromPathBytes(line));
  nb::list dropped;
  for (const std::string& line : check.dropped_records) dropped.append(FromPathBytes(line));
  nb::dict result;
  result["path"] = FromPathBytes(check.path);
  result["kind"] = check.kind;
  result["damage"] = damage;
  result["dropped_records"] = dropped;
  result["records_checked"] = check.records_checked;
  return result;
}

nb::list PeekItems(nb::handle path, nb::handle max_items, nb::handle label_text) {
  const std::string path_string = ToPath(path);
  const std::string label = ToLabel(label_text, "peek_items");
  const size_t count = ToItemCount(max_items);
  const std::vector<rocksq::StoredItem> items =
      Run(true, [&] { return rocksq::PeekItems(path_string, count, label); });
  nb::list result;
  for (const rocksq::StoredItem& item : items) {
    result.append(nb::make_tuple(item.position,
                                 nb::bytes(item.data.data(), item.data.size()),
                                 item.added_micros));
  }
  return result;
}

void DefInspection(nb::module_& m) {
  m.def("inspect_queue", &InspectQueue, nb::arg("path"),
        nb::sig("def inspect_queue(path: str | os.PathLike[str]) -> dict[str, typing.Any]"),
        "The kind, sizes, positions and labels of the queue in `path`, read\n"
        "without opening it (it may be open elsewhere); see rocksq.inspection.");
  m.def("check_queue", &CheckQueue, nb::arg("path"),
        nb::sig("def check_queue(path: str | os.PathLike[str]) -> dict[str, typing.Any]"),
        "Checks every file and record of the queue in `path`; see rocksq.inspection.");
  m.def("peek_items", &PeekItems, nb::arg("path"), nb::arg("max_items").none() = 10,
        nb::arg("label") = "",
        nb::sig("def peek_items(path: str | os.PathLike[str], max_items: int = 10, "
                "label: str = '') -> list[tuple[int, bytes, int]]"),
        "Up to `max_items` stored items as (position, data, added_micros),\n"
        "oldest first (from `label`'s position if given), without consuming them.");
}
// --- End of inspection ----------------------------------------------------------------

}  // namespace

NB_MODULE(_core, m) {
  m.doc() = "The C++ core of RocksQ. Use the rocksq package, not this module.";

#ifdef NDEBUG
  // A daemon thread may still be using a queue when the interpreter exits;
  // nanobind would report that queue as a leak, alarming users for nothing.
  nb::set_leak_warnings(false);
#endif

  nb::module_ errors = nb::module_::import_("rocksq._errors");
  auto class_named = [&](const char* name) {
    return nb::object(errors.attr(name)).release().ptr();
  };
  static const ErrorClasses error_classes{
      class_named("RocksQError"),     class_named("QueueFull"),
      class_named("StorageError"),    class_named("CorruptionError"),
      class_named("QueueAlreadyOpen"), class_named("NotAQueueError"),
      class_named("QueueClosed"),     class_named("NotOutstanding"),
      class_named("ForkedProcessError"),
      class_named("ShutDown"),
  };
  nb::register_exception_translator(
      TranslateError, const_cast<ErrorClasses*>(&error_classes));

  // The largest max_elements a queue accepts ("unbounded" for rocksq.Queue).
  m.attr("MAX_ELEMENTS_LIMIT") = rocksq::kMaxElementsLimit;

#ifdef ROCKSQ_VERSION
  m.attr("__version__") = ROCKSQ_VERSION;
#endif

  nb::class_<PendingOperation>(
      m, "PendingOperation",
      "The future result of an operation submitted to a queue's worker.")
      .def_prop_ro("is_ready", &PendingOperation::ready, "True once the operation finished.")
      .def("take", &PendingOperation::Take, nb::arg("wait"),
           nb::sig("def take(self, wait: bool) -> tuple[bool, typing.Any]"),
           "(True, result) once finished (waiting for it if `wait`), else\n"
           "(False, None); raises the operation's error. Only once.");

  // len, payload_size and is_empty read atomics: cheaper than a GIL
  // hand-off, so they keep the GIL; disk_size walks the directory.
  auto fifo_class = nb::class_<PyFifoQueue>(
      m, "FifoQueue",
      "A persistent FIFO queue of byte strings in the directory `path`.\n\n"
      "Every method that reads or writes the queue releases the GIL while the\n"
      "core works, unless its `no_gil` argument is False. Errors raise the\n"
      "exceptions of rocksq._errors; a bad argument raises ValueError.")
      .def(
          "__init__",
          [](PyFifoQueue* self, nb::handle path, nb::handle max_elements, nb::handle sync) {
            rocksq::FifoOptions options;
            options.max_elements = ToCount(max_elements, "max_elements");
            options.sync = ToFlag(sync, "sync");
            const std::string path_string = ToPath(path);
            new (self) PyFifoQueue(Run(
                true, [&] { return rocksq::FifoQueue::Open(path_string, options); }));
          },
          nb::arg("path").none(), nb::arg("max_elements").none() = 1'000'000'000,
          nb::arg("sync").none() = false,
          nb::sig("def __init__(self, path: str | os.PathLike[str], "
                  "max_elements: int = 1000000000, sync: bool = False) -> None"),
          "Opens (creating if needed) the queue stored in `path`.")
      .def("push", &Push, nb::arg("item").none(), nb::arg("no_gil") = true,
           nb::sig("def push(self, item: typing_extensions.Buffer, "
                   "no_gil: bool = True) -> None"),
           "Appends one bytes-like item; raises QueueFull if the queue is full.")
      .def("push_many", &PushMany, nb::arg("items").none(), nb::arg("no_gil") = true,
           nb::sig("def push_many(self, items: list[typing_extensions.Buffer] | "
                   "tuple[typing_extensions.Buffer, ...], no_gil: bool = True) "
                   "-> None"),
           "Appends the items in order, all or nothing.")
      .def("pop", &Pop, nb::arg("max_items").none() = 1, nb::arg("no_gil") = true,
           nb::sig("def pop(self, max_items: int = 1, no_gil: bool = True) "
                   "-> list[bytes]"),
           "Removes and returns up to `max_items` items, oldest first; [] if "
           "the queue is empty.")
      .def("pop_one", &PopOne, nb::arg("no_gil") = true,
           nb::sig("def pop_one(self, no_gil: bool = True) -> bytes | None"),
           "Removes and returns the oldest item, or None if the queue is empty.")
      .def("pop_wait", &PopWait, nb::arg("max_items").none() = 1,
           nb::arg("timeout").none() = nb::none(),
           nb::sig("def pop_wait(self, max_items: int = 1, timeout: float | None = None) "
                   "-> list[bytes]"),
           "Like pop(), but waits up to `timeout` seconds (None: no limit) for an\n"
           "item; [] if none came. Releases the GIL while waiting; Ctrl-C\n"
           "interrupts it within 100 ms.")
      .def("push_wait", &PushWait, nb::arg("item").none(), nb::arg("timeout").none() = nb::none(),
           nb::sig("def push_wait(self, item: typing_extensions.Buffer, "
                   "timeout: float | None = None) -> None"),
           "Like push(), but waits up to `timeout` seconds (None: no limit) for\n"
           "room; then raises QueueFull.")
      .def("push_many_wait", &PushManyWait, nb::arg("items").none(),
           nb::arg("timeout").none() = nb::none(),
           nb::sig("def push_many_wait(self, items: list[typing_extensions.Buffer] | "
                   "tuple[typing_extensions.Buffer, ...], timeout: float | None = None) "
                   "-> None"),
           "Like push_many(), but waits up to `timeout` seconds for room for all.")
      .def("submit_push_many",
           [](PyFifoQueue& queue, nb::handle items) {
             return Submit(queue, PinItems(items, "push"),
                           [](rocksq::FifoQueue& core, Outcome& outcome) {
                             core.PushBatch(outcome.inputs->views());
                           });
           },
           nb::arg("items").none())
      .def("submit_pop",
           [](PyFifoQueue& queue, nb::handle max_items) {
             const size_t count = ToItemCount(max_items);
             return Submit(queue, std::nullopt,
                           [count](rocksq::FifoQueue& core, Outcome& outcome) {
                             outcome.result = core.Pop(count);
                           });
           },
           nb::arg("max_items").none())
      .def_prop_ro(
          "len", [](const PyFifoQueue& queue) { return queue->Len(); },
          "The number of items stored.")
      .def_prop_ro(
          "payload_size",
          [](const PyFifoQueue& queue) { return queue->PayloadBytes(); },
          "The sum of the stored items' sizes, in bytes.")
      .def_prop_ro(
          "disk_size", [](const PyFifoQueue& queue) { return queue->DiskBytes(); },
          nb::call_guard<GilRelease>(),
          "The size of the queue's files, in bytes; lags behind pops.")
      .def_prop_ro(
          "is_empty", [](const PyFifoQueue& queue) { return queue->IsEmpty(); },
          "True if no item is stored.")
      .def_prop_rw(
          "max_elements",
          [](const PyFifoQueue& queue) { return queue->MaxElements(); },
          [](PyFifoQueue& queue, nb::handle max_elements) {
            queue->SetMaxElements(ToCount(max_elements, "max_elements"));
          },
          "The most items the queue holds at once; setting it wakes waiting pushes.")
      .def(
          "shutdown", [](PyFifoQueue& queue, bool immediate) { queue->Shutdown(immediate); },
          nb::arg("immediate") = false,
          "Later pushes raise ShutDown; pops raise it once the queue is empty, "
          "or at once if `immediate` (the items stay stored).")
      .def_prop_ro(
          "path", [](const PyFifoQueue& queue) { return FromPathBytes(queue->Path()); },
          "The queue's directory, as given when it was opened.")
      .def_prop_ro(
          "recovery_warning",
          [](const PyFifoQueue& queue) { return FromPathBytes(queue->RecoveryWarning()); },
          nb::sig("def recovery_warning(self) -> str"),
          "Empty, or says that opening dropped records of a damaged write-ahead log.")
      .def(
          "close", [](PyFifoQueue& queue) { queue.Close(); },
          nb::call_guard<GilRelease>(),
          "Flushes and closes the queue; later calls raise QueueClosed.")
      .def_static(
          "destroy",
          [](nb::handle path) {
            const std::string path_string = ToPath(path);
            Run(true, [&] { rocksq::FifoQueue::Destroy(path_string); });
          },
          nb::arg("path").none(),
          nb::sig("def destroy(path: str | os.PathLike[str]) -> None"),
          "Deletes the queue stored in `path`; does nothing if it does not "
          "exist. Raises QueueAlreadyOpen if it is open.");
  DefChangeFdAndWorker(
      fifo_class,
      "After each arm_change_fd(), the next push or pop writes one byte to\n"
      "the file descriptor `fd` (a non-blocking pipe's write end); None\n"
      "stops that, after which the old fd may be closed.");

  // --- MPMC queue ---------------------------------------------------------------
  // len, payload_size, is_empty and labels read memory under a short lock:
  // they keep the GIL; disk_size walks the directory.
  auto mpmc_class = nb::class_<PyMpmcQueue>(
      m, "MpmcQueue",
      "A persistent log of byte strings in the directory `path`, read by\n"
      "labelled consumers, whose elements expire `ttl` seconds after they\n"
      "were added.\n\n"
      "Every method that reads or writes the queue releases the GIL while the\n"
      "core works, unless its `no_gil` argument is False. Errors raise the\n"
      "exceptions of rocksq._errors; a bad argument raises TypeError or\n"
      "ValueError naming it.")
      .def(
          "__init__",
          [](PyMpmcQueue* self, nb::handle path, nb::handle ttl, nb::handle sync) {
            rocksq::MpmcOptions options;
            options.ttl = ToTtl(ttl);
            options.sync = ToFlag(sync, "sync");
            const std::string path_string = ToPath(path);
            new (self) PyMpmcQueue(Run(
                true, [&] { return rocksq::MpmcQueue::Open(path_string, options); }));
          },
          nb::arg("path").none(), nb::arg("ttl").none(), nb::arg("sync").none() = false,
          nb::sig("def __init__(self, path: str | os.PathLike[str], ttl: int, "
                  "sync: bool = False) -> None"),
          "Opens (creating if needed) the MPMC queue stored in `path`.")
      .def("add", &MpmcAdd, nb::arg("items").none(), nb::arg("no_gil") = true,
           nb::sig("def add(self, items: list[typing_extensions.Buffer] | "
                   "tuple[typing_extensions.Buffer, ...], no_gil: bool = True) "
                   "-> None"),
           "Appends the items in order, all or nothing.")
      .def("next", &MpmcNext, nb::arg("label").none(), nb::arg("start_position"),
           nb::arg("max_elements").none() = 1, nb::arg("no_gil") = true,
           nb::sig("def next(self, label: str, start_position: int, "
                   "max_elements: int = 1, no_gil: bool = True) "
                   "-> tuple[list[bytes], bool]"),
           "Returns up to `max_elements` elements `label` has not read, and\n"
           "whether unread elements expired before it got to them.\n"
           "`start_position` (0 oldest, 1 newest) places a new label.")
      .def("remove_label", &MpmcRemoveLabel, nb::arg("label").none(),
           nb::arg("no_gil") = true,
           nb::sig("def remove_label(self, label: str, no_gil: bool = True) -> bool"),
           "Deletes the label; False if there was none.")
      .def_prop_ro("labels", &MpmcLabels,
                   nb::for_getter(nb::sig("def labels(self) -> list[str]")),
                   "The labels, sorted.")
      .def_prop_ro(
          "len", [](const PyMpmcQueue& queue) { return queue->Len(); },
          "The number of elements alive.")
      .def_prop_ro(
          "payload_size",
          [](const PyMpmcQueue& queue) { return queue->PayloadBytes(); },
          "The sum of the alive elements' sizes, in bytes.")
      .def_prop_ro(
          "disk_size", [](const PyMpmcQueue& queue) { return queue->DiskBytes(); },
          nb::call_guard<GilRelease>(), "The size of the queue's files, in bytes.")
      .def_prop_ro(
          "is_empty", [](const PyMpmcQueue& queue) { return queue->IsEmpty(); },
          "True if no element is alive.")
      .def_prop_ro(
          "ttl",
          [](const PyMpmcQueue& queue) {
            return std::chrono::duration_cast<std::chrono::seconds>(queue->Ttl()).count();
          },
          "Seconds an element lives after it was added.")
      .def_prop_ro(
          "path", [](const PyMpmcQueue& queue) { return FromPathBytes(queue->Path()); },
          "The queue's directory, as given when it was opened.")
      .def_prop_ro(
          "recovery_warning",
          [](const PyMpmcQueue& queue) { return FromPathBytes(queue->RecoveryWarning()); },
          nb::sig("def recovery_warning(self) -> str"),
          "Empty, or says that opening dropped records of a damaged write-ahead log.")
      .def(
          "close", [](PyMpmcQueue& queue) { queue.Close(); },
          nb::call_guard<GilRelease>(),
          "Stops expiry, flushes and closes the queue; later calls raise "
          "QueueClosed.")
      .def_static(
          "destroy",
          [](nb::handle path) {
            const std::string path_string = ToPath(path);
            Run(true, [&] { rocksq::MpmcQueue::Destroy(path_string); });
          },
          nb::arg("path").none(),
          nb::sig("def destroy(path: str | os.PathLike[str]) -> None"),
          "Deletes the MPMC queue stored in `path`; does nothing if it does not "
          "exist. Raises QueueAlreadyOpen if it is open.");
  DefChangeFdAndWorker(
      mpmc_class,
      "After each arm_change_fd(), the next add, or remove_label() that\n"
      "removed a label, writes one byte to the file descriptor `fd` (a\n"
      "non-blocking pipe's write end); None stops that, after which the old\n"
      "fd may be closed.");
  // The worker's operations: arguments are checked here, results and the
  // core's errors are taken from the PendingOperation.
  mpmc_class
      .def("submit_add",
           [](PyMpmcQueue& queue, nb::handle items) {
             return Submit(queue, PinItems(items, "add"),
                           [](rocksq::MpmcQueue& core, Outcome& outcome) {
                             core.AddBatch(outcome.inputs->views());
                           });
           },
           nb::arg("items").none())
      .def("submit_next",
           [](PyMpmcQueue& queue, nb::handle label, int start, nb::handle max_items) {
             std::string name = ToLabel(label, "next");
             const rocksq::StartPosition position = ToStartPosition(start);
             const size_t count = ToItemCount(max_items);
             return Submit(queue, std::nullopt,
                           [name = std::move(name), position, count](rocksq::MpmcQueue& core,
                                                                     Outcome& outcome) {
                             outcome.result = core.Next(name, position, count);
                           });
           },
           nb::arg("label").none(), nb::arg("start_position"), nb::arg("max_items").none())
      .def("submit_remove_label",
           [](PyMpmcQueue& queue, nb::handle label) {
             std::string name = ToLabel(label, "remove_label");
             return Submit(queue, std::nullopt,
                           [name = std::move(name)](rocksq::MpmcQueue& core, Outcome& outcome) {
                             outcome.result = core.RemoveLabel(name);
                           });
           },
           nb::arg("label").none())
      .def("submit_labels",
           [](PyMpmcQueue& queue) {
             return Submit(queue, std::nullopt, [](rocksq::MpmcQueue& core, Outcome& outcome) {
               outcome.result = core.Labels();
             });
           });
  // --- End of the MPMC queue ------------------------------------------------------

  DefAckQueue(m);  // rocksq.AckQueue
  DefInspection(m);  // rocksq.inspection
}
