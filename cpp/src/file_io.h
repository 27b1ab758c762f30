// What the queue's own small files beside RocksDB's (cursor_file.h,
// ack_log.h) share: errors that name the file and the cause, and opening
// or creating one, durably named.

#ifndef ROCKSQ_SRC_FILE_IO_H_
#define ROCKSQ_SRC_FILE_IO_H_

#include <string>

namespace rocksq {

// Throws kStorage "PATH: ACTION: strerror(errno)".
[[noreturn]] void ThrowErrno(const std::string& path, const std::string& action);

// fsyncs the directory `directory`, so that names created, renamed or
// removed in it survive a power loss. Throws kStorage.
void SyncDirectory(const std::string& directory);

// Opens the file `name` of the queue in `directory` read-write with
// `flags` (O_CLOEXEC added), creating it if it does not exist; with
// `sync`, a file it creates has its name fsynced into the directory before
// this returns, so a synced write to it can rely on it after a power loss.
// Returns the descriptor; throws kStorage naming `what` ("the ack log").
int OpenOrCreate(const std::string& directory, const std::string& name, int flags, bool sync,
                 const std::string& what);

}  // namespace rocksq

#endif  // ROCKSQ_SRC_FILE_IO_H_
