// The change notifier behind rocksq.aio, for every queue kind: an event
// loop waits for a file descriptor, not a condition variable, so once
// armed, the next change of the queue (a call of the core's change
// listener) writes one byte to `fd` (the write end of a non-blocking pipe
// the loop reads). Disarmed, a change costs one load.

#ifndef ROCKSQ_PYTHON_NOTIFIER_H_
#define ROCKSQ_PYTHON_NOTIFIER_H_

#include <nanobind/nanobind.h>
#include <nanobind/stl/optional.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

#include "queue_holder.h"

namespace rocksq_python {

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

  // The core's change listener.
  void OnChange();

 private:
  // The owner may close the fd once this returns: a listener call already
  // under way (the core may have loaded it before the detach) writes nothing.
  void Detach();

  std::mutex mutex_;
  int fd_;  // Guarded by mutex_.
  std::atomic<bool> armed_{false};
};

// set_change_fd and arm_change_fd; `changes` names the calls that write to
// the fd for this kind of queue.
template <typename Holder>
void BindChangeNotifier(nb::class_<Holder>& queue_class, const char* changes) {
  const std::string set_doc = std::string("After each arm_change_fd(), the next ") + changes +
                              "\nwrites one byte to the file descriptor `fd` (a non-blocking "
                              "pipe's write\nend); None stops that, after which the old fd "
                              "may be closed.";
  queue_class
      .def("set_change_fd", &ChangeNotifier::Attach<Holder>, nb::arg("fd").none(),
           set_doc.c_str())
      .def(
          "arm_change_fd",
          [](Holder& queue) {
            if (queue.notifier) queue.notifier->Arm();
          },
          "Asks for one byte on the change fd after the next change.");
}

}  // namespace rocksq_python

#endif  // ROCKSQ_PYTHON_NOTIFIER_H_
