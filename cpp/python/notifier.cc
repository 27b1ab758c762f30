// The change notifier of notifier.h.

#include "notifier.h"

#include <unistd.h>

#include <atomic>
#include <mutex>

namespace rocksq_python {

void ChangeNotifier::OnChange() {
  if (!armed_.exchange(false, std::memory_order_seq_cst)) return;
  std::lock_guard<std::mutex> lock(mutex_);  // Only when armed: rare.
  if (fd_ < 0) return;
  const char byte = 1;
  // A full pipe already holds a wake-up; nothing is lost by dropping this.
  [[maybe_unused]] ssize_t written = ::write(fd_, &byte, 1);
}

void ChangeNotifier::Detach() {
  std::lock_guard<std::mutex> lock(mutex_);
  fd_ = -1;
}

}  // namespace rocksq_python
