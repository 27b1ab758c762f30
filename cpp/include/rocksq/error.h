// The one exception type RocksQ throws.

#ifndef ROCKSQ_ERROR_H_
#define ROCKSQ_ERROR_H_

#include <stdexcept>
#include <string>

namespace rocksq {

enum class ErrorKind {
  kQueueFull,        // A push would exceed max_elements; nothing was stored.
  kStorage,          // RocksDB or the filesystem refused a read or a write.
  kCorruption,       // The files on disk are damaged or inconsistent.
  kAlreadyOpen,      // The queue is open in this process (by any path) or locked by another.
  kNotAQueue,        // The path holds something that is not this kind of queue.
  kInvalidArgument,  // An argument or option is out of range.
  kClosed,           // The queue was closed.
  kNotOutstanding,   // An ack queue's id is not handed out (AckQueue::Ack).
  kForkedProcess,    // The queue was opened by the process this one was fork()ed from.
  kShutDown,         // The queue was shut down (FifoQueue::Shutdown).
  kUnsupportedFormat,  // The queue was written in a newer on-disk format than this build reads.
};

// What went wrong, and to which queue. what() reads "KIND: PATH: DETAIL",
// for example "Queue is full: /data/q: 3 of 3 items stored, cannot add 1".
class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& path, const std::string& detail);

  ErrorKind kind() const noexcept { return kind_; }
  const std::string& path() const noexcept { return path_; }
  const std::string& detail() const noexcept { return detail_; }

 private:
  ErrorKind kind_;
  std::string path_;
  std::string detail_;
};

// "Queue is full", "Storage error", ...: the words what() starts with.
const char* ErrorKindName(ErrorKind kind) noexcept;

}  // namespace rocksq

#endif  // ROCKSQ_ERROR_H_
