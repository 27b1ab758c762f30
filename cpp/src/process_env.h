// The rocksdb::Env every database RocksQ opens runs its background work on.
//
// RocksDB runs flushes and compactions on the thread pools of the Env its
// options name, Env::Default() unless told otherwise, one set per process
// made once. A child created by fork() gets a copy of those pools that
// believes it still has the parent's threads, which fork() did not copy:
// work scheduled there never runs, and anything in the child that waits
// for a flush or a compaction (creating a queue, a full memtable, a
// reclaim, a close) waits for ever. So RocksQ gives its databases an Env
// whose background threads belong to the calling process: file and clock
// operations are Env::Default()'s (but for write-ahead logs, which grow
// into zeros laid down ahead of them: wal_file_system.h), and the pools are
// its own, made again in a child the first time it needs them.

#ifndef ROCKSQ_SRC_PROCESS_ENV_H_
#define ROCKSQ_SRC_PROCESS_ENV_H_

#include "rocksdb/env.h"

namespace rocksq {

// This process's Env for RocksDB: Env::Default()'s files (write-ahead logs
// as wal_file_system.h says) and clock, with
// background threads started in this process as work arrives. Made on the
// first call in each process; in a fork() child the parent's is left alone
// (its locks and threads may be in any state there) and a new one is made.
// Never destroyed; at exit, jobs under way finish and no other starts.
// Thread-safe.
rocksdb::Env* ThisProcessEnv();

}  // namespace rocksq

#endif  // ROCKSQ_SRC_PROCESS_ENV_H_
