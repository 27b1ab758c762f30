// Which process an open queue belongs to.
//
// A queue's RocksDB handle belongs to the process that opened it. A child
// created by fork() gets a copy of the queue object but none of the threads
// behind it, and a RocksDB database written by two processes at once is
// damaged for good. So a child never uses, closes or destroys what it
// inherited: destroying such a queue in the child leaks it instead of
// closing the parent's database (see OpeningProcess). A FIFO queue opened
// with attach (FifoOptions::attach) serves the child anyway: at the child's
// first call it opens the queue again for the child, which attaches to the
// owner (the parent, or whichever process owns the queue then) or, if no
// process has it open, owns it. On any other queue every call in the child
// throws kForkedProcess and touches nothing.

#ifndef ROCKSQ_PROCESS_H_
#define ROCKSQ_PROCESS_H_

#include <cstdint>
#include <string>

namespace rocksq {

// Stamps the process that made it, so that an object a fork() child
// inherited can tell it is in the child. Copyable; cheap to check.
class OpeningProcess {
 public:
  OpeningProcess() noexcept;  // The calling process.

  // False in a child created by fork() (or its descendants) after this was
  // made. One atomic load: no system call.
  bool IsCurrent() const noexcept;

  // Throws kForkedProcess, naming `path`, the opening process and this
  // one, unless IsCurrent(); the message says that opening the queue with
  // attach=True lets a child use it.
  void Check(const std::string& path) const;

  int pid() const noexcept { return pid_; }

 private:
  uint64_t generation_;
  int pid_;
};

}  // namespace rocksq

#endif  // ROCKSQ_PROCESS_H_
