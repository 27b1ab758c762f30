// What the queue's own small files beside RocksDB's (cursor_file.h,
// ack_log.h) share: errors that name the file and the cause, and making a
// new file's name durable.

#ifndef ROCKSQ_SRC_FILE_IO_H_
#define ROCKSQ_SRC_FILE_IO_H_

#include <string>

namespace rocksq {

// Throws kStorage "PATH: ACTION: strerror(errno)".
[[noreturn]] void ThrowErrno(const std::string& path, const std::string& action);

// fsyncs `directory`, so that a file just created in it survives a power
// loss; throws kStorage if it cannot. errno is kept for the caller.
void SyncDirectory(const std::string& directory);

}  // namespace rocksq

#endif  // ROCKSQ_SRC_FILE_IO_H_
