// What every queue kind shares about its RocksDB database: where it lives,
// how it is opened and tuned, how its errors read, and who holds it open.

#ifndef ROCKSQ_SRC_STORAGE_H_
#define ROCKSQ_SRC_STORAGE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "rocksdb/db.h"
#include "rocksdb/options.h"
#include "rocksdb/status.h"
#include "rocksq/error.h"

namespace rocksq {

// The kinds of queue RocksQ stores. Each keeps its data in column families
// whose names start with its own prefix, so a directory's column families
// tell which kind it holds before it is opened.
enum class QueueKind { kFifo, kMpmc };

const char* QueueKindName(QueueKind kind);  // "FIFO queue", "MPMC queue"

// Throws the Error that `status` (not ok) stands for, prefixed by `action`:
// "Storage error: /q: writing items: IO error: No space left on device".
[[noreturn]] void ThrowStatus(const std::string& path, const std::string& action,
                              const rocksdb::Status& status);

// Marks a canonical path as open in this process for as long as it lives, so
// that a second Open in the same process fails with a clear kAlreadyOpen
// instead of RocksDB's lock error.
class OpenPathClaim {
 public:
  // Throws kAlreadyOpen if the path is claimed.
  explicit OpenPathClaim(std::string canonical_path);
  ~OpenPathClaim();
  OpenPathClaim(const OpenPathClaim&) = delete;
  OpenPathClaim& operator=(const OpenPathClaim&) = delete;

  static bool IsClaimed(const std::string& canonical_path);

 private:
  std::string canonical_path_;
};

// An open database and its column families, in the order they were asked for.
struct QueueDatabase {
  QueueDatabase() = default;
  QueueDatabase(QueueDatabase&&) = default;
  QueueDatabase& operator=(QueueDatabase&&) = delete;

  std::string path;  // As the user gave it, for messages.
  // The item families' block cache, shared with every PoppedItems that pins
  // a block of it, so those stay valid after the database closes.
  std::shared_ptr<rocksdb::Cache> block_cache;
  std::unique_ptr<OpenPathClaim> claim;
  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> families;

  // Destroys the handles, then closes the database; throws kStorage if
  // RocksDB reports an error while closing.
  void Close();
  ~QueueDatabase();
};

// Opens (or creates, with its parent directories) the queue of `kind` at
// `path` whose items are in the column families `item_families` (the
// "default" family holds only the format marker). Refuses a path that holds
// anything but such a queue (kNotAQueue), or one that is open (kAlreadyOpen).
QueueDatabase OpenQueueDatabase(const std::string& path, QueueKind kind,
                                const std::vector<std::string>& item_families);

// Deletes the queue of `kind` at `path` and the directory; nothing if the
// path does not exist.
void DestroyQueueDatabase(const std::string& path, QueueKind kind);


// Total size of the regular files below `path`, in bytes.
uint64_t DirectoryBytes(const std::string& path);

}  // namespace rocksq

#endif  // ROCKSQ_SRC_STORAGE_H_
