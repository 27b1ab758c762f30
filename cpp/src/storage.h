// What every queue kind shares about its RocksDB database: where it lives,
// how it is opened and tuned, how its errors read, and who holds it open.

#ifndef ROCKSQ_SRC_STORAGE_H_
#define ROCKSQ_SRC_STORAGE_H_

#include <cstdarg>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "rocksdb/env.h"
#include "rocksdb/db.h"
#include "rocksdb/options.h"
#include "rocksdb/status.h"
#include "rocksq/error.h"
#include "rocksq/process.h"

namespace rocksq {

// The kinds of queue RocksQ stores. Each keeps its data in column families
// whose names start with its own prefix, so a directory's column families
// tell which kind it holds before it is opened.
enum class QueueKind { kFifo, kMpmc, kAck };

// "FIFO queue", "MPMC queue", "ack queue"
const char* QueueKindName(QueueKind kind);

// The engine's one error style (exceptions, converted from rocksdb::Status
// here, at the boundary) is described at the top of item_log.h.
//
// Throws the Error that `status` (not ok) stands for, prefixed by `action`:
// "Storage error: /q: writing items: IO error: No space left on device".
[[noreturn]] void ThrowStatus(const std::string& path, const std::string& action,
                              const rocksdb::Status& status);

// Marks a queue as open in this process for as long as it lives, so that a
// second Open in this process fails with a clear kAlreadyOpen instead of
// RocksDB's lock error, or worse: RocksDB's own lock is per process and
// per path string, so a second path to the same directory (a symlink, a
// bind mount) would open it twice and the two would overwrite each
// other's writes. A claim names the canonical path (which keeps two opens
// of a path that does not exist yet from both creating it) and, once the
// directory exists, the directory's identity (device and inode), which
// every path to it shares. A claim a fork() child inherited from its parent
// is the parent's: the child takes it over while it tries the queue, and
// leaves it to the operating system's lock to refuse the queue while the
// parent holds it (see RocksDbDirectory in storage.cc).
class OpenPathClaim {
 public:
  // Claims the canonical spelling of `path`. Throws kAlreadyOpen (naming
  // `path`) if this process has it claimed.
  explicit OpenPathClaim(const std::string& path);
  ~OpenPathClaim();
  OpenPathClaim(const OpenPathClaim&) = delete;
  OpenPathClaim& operator=(const OpenPathClaim&) = delete;

  // Claims the directory `path` names by its identity; call it once the
  // directory exists. Throws kAlreadyOpen if another claim of this process
  // holds it, or kStorage if it cannot be inspected.
  void ClaimDirectory();

  // The pid of the ancestor process (this one was created from it by
  // fork()) whose claim on the queue this one took over; 0 if none.
  int inherited_from() const;

  // Throws kAlreadyOpen, saying it cannot `action` ("remove") the queue, if
  // this process has `path` or the directory it names claimed. Returns the
  // pid of an ancestor whose claim on it this process inherited, or 0.
  static int ThrowIfClaimed(const std::string& path, const std::string& action);

 private:
  const std::string path_;
  const std::string canonical_path_;
  bool holds_directory_ = false;
  // The claims of an ancestor this one took over, put back on release.
  std::optional<OpeningProcess> displaced_path_claim_;
  std::optional<OpeningProcess> displaced_directory_claim_;
  uint64_t device_ = 0;
  uint64_t inode_ = 0;
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
  // Empty, or says that this open's recovery dropped write-ahead log records
  // (see OpenQueueDatabase).
  std::string recovery_warning;
  // The queue's identity (format.h, kQueueIdKey), read or written by the open.
  std::string queue_id;
  std::vector<rocksdb::ColumnFamilyHandle*> families;

  // Destroys the handles, then closes the database; throws kStorage if
  // RocksDB reports an error while closing.
  void Close();
  ~QueueDatabase();
};

// The kAlreadyOpen an open throws when another process holds the queue's
// database (RocksDB's LOCK), told apart from this process holding it, so
// that an Open asked to attach (FifoOptions::attach) can attach instead.
class LockedByAnotherProcess : public Error {
 public:
  LockedByAnotherProcess(const std::string& path, const std::string& detail)
      : Error(ErrorKind::kAlreadyOpen, path, detail) {}
};

// Opens (or creates, with its parent directories) the queue of `kind` at
// `path` whose items are in the column families `item_families` (the
// "default" family holds the format version, the queue id, the recovery
// notes and an ack queue's unique keys: see format.h). Refuses
// a path that holds anything but such a queue (kNotAQueue), or one that is
// open (kAlreadyOpen). When the write-ahead log is damaged before its end,
// recovery keeps the records before the damage and drops the rest (nothing
// can bring them back): the open then succeeds, fills `recovery_warning` and
// adds a line to the queue's recovery notes (kRecoveryNotesKey).
QueueDatabase OpenQueueDatabase(const std::string& path, QueueKind kind,
                                const std::vector<std::string>& item_families);

// The on-disk format version (format.h) of the queue whose database is `db`.
// Throws kUnsupportedFormat if it is newer than this build's (see
// ThrowIfNewerFormat), kCorruption if a marked queue's is missing or
// malformed, kNotAQueue if an unmarked database has none (not a queue).
uint64_t ReadFormatVersion(rocksdb::DB* db, const std::string& path);

// The queue identity (format.h, kQueueIdKey) stored in `db`; empty if none
// is stored (a queue an earlier release created and this one has not
// opened yet). Throws kCorruption if it is malformed.
std::string ReadQueueId(rocksdb::DB* db, const std::string& path);

// Throws kUnsupportedFormat, saying so, if `version` is newer than the
// format this build reads (kFormatVersion).
void ThrowIfNewerFormat(uint64_t version, const std::string& path);

// Deletes the queue of `kind` at `path` and the directory; nothing if the
// path does not exist.
void DestroyQueueDatabase(const std::string& path, QueueKind kind);


// A RocksDB diagnostic log that logs nothing, for RocksDB calls that must
// not add a LOG: reading a queue, probing its log, removing it.
class SilentLog final : public rocksdb::Logger {
 public:
  using rocksdb::Logger::Logv;
  void Logv(const char* /*format*/, va_list /*ap*/) override {}
};

// What every open that only reads a queue (read-only, secondary) passes
// RocksDB: the queue's own options, creating nothing and logging nothing,
// and the default family followed by `families`, with default options.
rocksdb::DBOptions ReadingOptions();
std::vector<rocksdb::ColumnFamilyDescriptor> ReadingDescriptors(
    const std::vector<std::string>& families);

// The latest sequence number (one per record written) that a read-only open
// of the queue at `path`, with `families`, recovers from its tables and
// write-ahead log replayed with `recovery`; nothing if it cannot open. Takes
// no lock and writes nothing. How a damaged log is told from a torn tail:
// kSkipAnyCorruptedRecords replays the intact records after the damage that
// kPointInTimeRecovery drops, so a larger number means such records exist,
// and the difference counts the records from the damage on.
// Damage only in the last records (what a power loss can leave of unsynced
// writes) drops nothing intact.
std::optional<uint64_t> RecoveredSequence(const std::string& path,
                                          const std::vector<std::string>& families,
                                          rocksdb::WALRecoveryMode recovery);

// --- Reading a queue that may be open elsewhere (see rocksq/inspect.h) -------

// Which kind of queue a directory holds and its non-default column families,
// read from the database's manifest without opening it or taking its lock.
struct StoredQueue {
  QueueKind kind;
  std::vector<std::string> families;
};

// Throws kNotAQueue if `path` does not exist, is a file or an empty
// directory, or holds anything but a RocksQ queue of a kind this build knows.
StoredQueue ReadStoredQueue(const std::string& path);

// A queue's database opened as a RocksDB secondary instance: it reads the
// files as they were when it opened (flushed tables plus the write-ahead
// log replayed in memory), takes no lock and writes nothing in the queue's
// directory, so it works while another process has the queue open. RocksDB
// documents a read-only open beside a writer as undefined behaviour; a
// secondary is made for it. Its own info log lives in a temporary directory,
// removed on close. It never catches up with the primary: every read sees
// the database as it was at open.
class SecondaryQueueDatabase {
 public:
  // Opens the default family and `families` (all must exist). Throws
  // as ReadFormatVersion if the format version is not one it reads, kStorage or
  // kCorruption if RocksDB cannot open the files.
  SecondaryQueueDatabase(const std::string& path, const std::vector<std::string>& families);
  ~SecondaryQueueDatabase();
  SecondaryQueueDatabase(const SecondaryQueueDatabase&) = delete;
  SecondaryQueueDatabase& operator=(const SecondaryQueueDatabase&) = delete;

  rocksdb::DB* db() const { return db_.get(); }
  uint64_t format_version() const { return format_version_; }
  // The handle of families[index], in the order given to the constructor.
  rocksdb::ColumnFamilyHandle* family(size_t index) const { return families_[index + 1]; }
  const std::string& path() const { return path_; }

 private:
  void Release() noexcept;  // Closes the database, removes the temporary directory.

  std::string path_;
  std::string secondary_directory_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> families_;  // Default family first.
  uint64_t format_version_ = 0;
};

// Total size of the regular files below `path`, in bytes.
uint64_t DirectoryBytes(const std::string& path);

}  // namespace rocksq

#endif  // ROCKSQ_SRC_STORAGE_H_
