#include "rocksq/error.h"

namespace rocksq {

const char* ErrorKindName(ErrorKind kind) noexcept {
  switch (kind) {
    case ErrorKind::kQueueFull:
      return "Queue is full";
    case ErrorKind::kStorage:
      return "Storage error";
    case ErrorKind::kCorruption:
      return "Corruption";
    case ErrorKind::kAlreadyOpen:
      return "Queue already open";
    case ErrorKind::kNotAQueue:
      return "Not a queue";
    case ErrorKind::kInvalidArgument:
      return "Invalid argument";
    case ErrorKind::kClosed:
      return "Queue closed";
    case ErrorKind::kNotOutstanding:
      return "Not outstanding";
    case ErrorKind::kForkedProcess:
      return "Used in a forked process";
    case ErrorKind::kShutDown:
      return "Queue shut down";
    case ErrorKind::kUnsupportedFormat:
      return "Unsupported format";
  }
  return "Error";
}

Error::Error(ErrorKind kind, const std::string& path, const std::string& detail)
    : std::runtime_error(std::string(ErrorKindName(kind)) + ": " + path + ": " + detail),
      kind_(kind),
      path_(path),
      detail_(detail) {}

}  // namespace rocksq
