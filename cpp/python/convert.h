// What every area of rocksq._core shares: arguments converted from Python
// the way rocksq 0.3.0 took them (items as pinned buffers, counts, flags,
// paths, labels, option values), results converted back, and the GIL
// released around the core's calls (Run, WaitInSlices).

#ifndef ROCKSQ_PYTHON_CONVERT_H_
#define ROCKSQ_PYTHON_CONVERT_H_

#include <nanobind/nanobind.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "rocksq/rocksq.h"

namespace rocksq_python {

namespace nb = nanobind;

// --- The GIL ------------------------------------------------------------------

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
    } catch (...) {
      // Only the forced unwind can come here (PyEval_RestoreThread throws
      // nothing else), and it never leaves this block. Not caught by
      // naming it: its exception object is null, and binding the
      // reference is undefined behaviour (UBSan stops the process there).
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

// Waits are cut into slices of at most this long, and the GIL is taken back
// between slices to run Python's signal handlers, so Ctrl-C interrupts a
// blocked call within this time.
inline constexpr auto kSignalCheckInterval = std::chrono::milliseconds(100);

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

// Calls `read(slice)`, which reads up to `count` items waiting at most
// `slice`, as WaitInSlices does, until it returns some (at once if `count`
// is 0) or `timeout_seconds` has passed; returns the last read, empty if
// none came.
template <typename Read>
auto ReadWaiting(std::optional<double> timeout_seconds, size_t count, Read read)
    -> decltype(read(std::chrono::nanoseconds())) {
  decltype(read(std::chrono::nanoseconds())) items;
  WaitInSlices(timeout_seconds, [&](std::chrono::nanoseconds slice) {
    items = read(slice);
    return !items.empty() || count == 0;
  });
  return items;
}

// --- Items in -----------------------------------------------------------------

// Items reach the core as string_views into the callers' own buffers, with no
// copy on the Python side. Each buffer stays exported (pinned: its memory
// cannot move, a bytearray cannot be resized) until this object is
// destroyed, which must happen with the GIL held.
class PinnedItems {
 public:
  explicit PinnedItems(size_t capacity);
  PinnedItems(PinnedItems&&) = default;  // Moved-from views_ is empty.
  PinnedItems(const PinnedItems&) = delete;
  PinnedItems& operator=(const PinnedItems&) = delete;
  ~PinnedItems();

  // Pins `item`'s bytes, or throws TypeError naming its type and, when
  // `index` is not negative, its position in the caller's list.
  void Pin(PyObject* item, const char* function, Py_ssize_t index);

  const std::vector<std::string_view>& views() const { return views_; }

 private:
  // A Py_buffer may point into itself (PyBuffer_FillInfo sets shape to
  // &view->len), so the array never reallocates.
  std::unique_ptr<Py_buffer[]> buffers_;
  std::vector<std::string_view> views_;
};

// The one bytes-like `item` of `function` (for its error message), pinned.
PinnedItems PinItem(nb::handle item, const char* function);

// Pins every item of the list or tuple `items`; TypeError names the first
// that is not bytes-like, and nothing is pinned then.
PinnedItems PinItems(nb::handle items, const char* function);

// --- Numbers, flags, paths, labels ----------------------------------------------

// A count argument (a capacity, a number of items to pop). rocksq 0.3.0
// raised OverflowError "can't convert negative int to unsigned" for a
// negative count, as CPython's own unsigned conversion does, where nanobind's
// integer caster would raise TypeError; so the argument arrives as an object
// and CPython converts it.
uint64_t ToCount(nb::handle value);

// A count option (max_elements, max_inflight_ops): as ToCount, with the
// option's name in front of CPython's message, e.g.
// "max_elements: 'NoneType' object cannot be interpreted as an integer".
uint64_t ToCount(nb::handle value, const char* name);

// A number of items to read: a count, capped at what size_t holds.
size_t ToItemCount(nb::handle max_items);

// A flag option (sync): True or False. nanobind's bool caster would answer
// 1 or "yes" with a dump of every signature; this names the option.
bool ToFlag(nb::handle value, const char* name);

// The attach_group option (FifoOptions::attach_group): a group name, a gid
// (a non-negative int), or None for the owner's user only; TypeError or
// ValueError naming it otherwise. AttachGroupValue is the way back.
std::string ToAttachGroup(nb::handle value);
nb::object AttachGroupValue(const std::string& group);

// Paths are bytes on Linux. A path argument (str, bytes or os.PathLike)
// becomes those bytes as os.fsencode() makes them, so a str that is not
// valid UTF-8 (surrogate escapes) keeps its bytes; a wrong type or an
// embedded NUL raises TypeError or ValueError as open() does.
std::string ToPath(nb::handle path);

// Bytes that hold a path (or a message naming one) back to str as
// os.fsdecode() does: bytes that do not decode become surrogate escapes,
// so the str round-trips through ToPath.
nb::str FromPathBytes(const std::string& bytes);

// A label argument: a str, passed on as its UTF-8 bytes. Surrogate escapes
// (a label read back from bytes that are not UTF-8) become those bytes
// again: the inverse of ToLabelStr.
std::string ToLabel(nb::handle label, const char* function);

// A label's bytes as a str: UTF-8, and any bytes that are not (written by
// C++ code, or a str with surrogate escapes, see ToLabel) as surrogate
// escapes, so that the str names the same label again.
nb::str ToLabelStr(const std::string& name);
nb::list ToStrList(const std::vector<std::string>& names);

// --- Option values (see options.cc) ---------------------------------------------

// The ttl option: an int number of seconds (rocksq 0.3.0), at least 1.
std::chrono::milliseconds ToTtl(nb::handle ttl);
int64_t TtlSeconds(std::chrono::milliseconds ttl);

// The visibility_timeout option: seconds (int or float), 0 for never.
std::chrono::milliseconds ToVisibilityTimeout(nb::handle value);
double Seconds(std::chrono::milliseconds duration);

// A start_position argument: a rocksq.StartPosition member, nothing else
// (rocksq 0.3.0 refused plain ints); TypeError naming `function` otherwise.
rocksq::StartPosition ToStartPosition(nb::handle value, const char* function);

// A default value as a signature shows it: Python's repr of it.
template <typename T>
std::string Repr(const T& value) {
  return nb::repr(nb::cast(value)).c_str();
}

// --- Items out ------------------------------------------------------------------

// Items are copied once, from the core's pinned memory straight into new
// bytes objects, with the GIL held.
nb::list ToList(const rocksq::PoppedItems& items);

}  // namespace rocksq_python

#endif  // ROCKSQ_PYTHON_CONVERT_H_
