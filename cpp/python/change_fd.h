// The core's ChangeFd (rocksq/change_fd.h) for rocksq.aio, for every queue
// kind: an event loop waits for a file descriptor, not a condition
// variable. The holder keeps one, made at the first change_fd().

#ifndef ROCKSQ_PYTHON_CHANGE_FD_H_
#define ROCKSQ_PYTHON_CHANGE_FD_H_

#include <nanobind/nanobind.h>

#include <string>

#include "convert.h"
#include "queue_holder.h"

namespace rocksq_python {

// The holder's ChangeFd of this process; kClosed once close_change_fd()
// ran here. A fork() child gets its own (QueueHolder::ChangeFdOfThisProcess).
template <typename Holder>
rocksq::ChangeFd& ChangeFdOf(Holder& queue) {
  if (!queue.change_fd && queue.change_fd_process.IsCurrent()) {
    throw rocksq::Error(rocksq::ErrorKind::kClosed, queue->Path(), "the change fd was closed");
  }
  return queue.ChangeFdOfThisProcess();
}

// change_fd, arm_change_fd, consume_change_fd and close_change_fd;
// `changes` names the calls that make the fd readable for this kind.
template <typename Holder>
void BindChangeFd(nb::class_<Holder>& queue_class, const char* changes) {
  const std::string fd_doc =
      std::string("A file descriptor that turns readable after arm_change_fd(), once the\n") +
      "queue changed (a " + changes + "), and when an owning process that\nthis one is "
      "attached to goes away. The same number until close_change_fd().";
  queue_class
      .def(
          "change_fd",
          [](Holder& queue) { return queue.ChangeFdOfThisProcess().Fd(); },
          fd_doc.c_str())
      .def(
          "arm_change_fd", [](Holder& queue) { ChangeFdOf(queue).Arm(); },
          nb::call_guard<GilRelease>(),
          "Makes the change fd readable after the next change (at once if the queue\n"
          "changed since the last consume_change_fd()).")
      .def(
          "consume_change_fd", [](Holder& queue) { ChangeFdOf(queue).Consume(); },
          "Reads what made the change fd readable; never waits.")
      .def(
          "close_change_fd", [](Holder& queue) { queue.CloseChangeFd(); },
          nb::call_guard<GilRelease>(),
          "Closes the change fd (stop watching it first); a second call does nothing.");
}

}  // namespace rocksq_python

#endif  // ROCKSQ_PYTHON_CHANGE_FD_H_
