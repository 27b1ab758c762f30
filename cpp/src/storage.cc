#include "storage.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <sys/file.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <tuple>
#include <utility>
#include <system_error>

#include "rocksdb/cache.h"
#include "rocksdb/env.h"
#include "rocksdb/table.h"
#include "rocksdb/write_batch.h"
#include "attach_wire.h"
#include "file_io.h"
#include "format.h"
#include "process_env.h"
#include "process_owned.h"
#include "rocksq/process.h"

namespace rocksq {
namespace fs = std::filesystem;

namespace {

// Popped items are read once, so the cache only needs to hold the blocks of
// the pops under way.
constexpr size_t kBlockCacheBytes = 8 << 20;

const char* FamilyPrefix(QueueKind kind) {
  switch (kind) {
    case QueueKind::kFifo:
      return "fifo_";
    case QueueKind::kMpmc:
      return "mpmc_";
    case QueueKind::kAck:
      return "ack_";
  }
  return "";
}

// The kind whose prefix every one of `names` starts with, if there is one.
std::optional<QueueKind> KindOfFamilies(const std::vector<std::string>& names) {
  for (QueueKind kind : {QueueKind::kFifo, QueueKind::kMpmc, QueueKind::kAck}) {
    const bool all_of_kind =
        !names.empty() && std::all_of(names.begin(), names.end(), [&](const std::string& name) {
          return name.rfind(FamilyPrefix(kind), 0) == 0;
        });
    if (all_of_kind) return kind;
  }
  return std::nullopt;
}

// The queues open in this process (see OpenPathClaim), each with the
// process that opened it: in a fork() child, the parent.
struct ClaimTable {
  std::mutex mutex;
  std::map<std::string, OpeningProcess> paths;
  std::map<std::pair<uint64_t, uint64_t>, OpeningProcess> directories;  // (device, inode)
};

ClaimTable& Claims() {
  static ClaimTable table;
  // Held across fork(), so that a child never inherits it locked by a
  // thread that does not exist there (its opens would wait for ever).
  static const bool guarded_across_fork = ::pthread_atfork(
      [] { table.mutex.lock(); }, [] { table.mutex.unlock(); }, [] { table.mutex.unlock(); }) == 0;
  (void)guarded_across_fork;
  return table;
}

// Why a queue this process has open cannot be opened (or `action`ed) again.
std::string ClaimedDetail(const std::string& action) {
  return action.empty()
             ? "already opened by this process; share the open queue object between threads"
             : "cannot " + action + " a queue this process has open";
}

// Takes the claim `key` in `claims` for this process; throws kAlreadyOpen
// if this process holds it. A claim a fork() child inherited is an
// ancestor's: this process has no such queue open, so it takes the claim
// over, keeping the ancestor's in `*displaced` (to put back when it is
// released: the queue may still be open there), and leaves it to the
// operating system's lock, which a child does not inherit, to refuse the
// queue while the ancestor holds it.
template <typename Key>
void TakeClaim(std::map<Key, OpeningProcess>& claims, const Key& key, const std::string& path,
               std::optional<OpeningProcess>* displaced) {
  const auto [held, claimed] = claims.emplace(key, OpeningProcess());
  if (claimed) return;
  if (held->second.IsCurrent()) throw Error(ErrorKind::kAlreadyOpen, path, ClaimedDetail(""));
  *displaced = held->second;
  held->second = OpeningProcess();
}

// Releases the claim `key`, putting back the ancestor's it displaced.
template <typename Key>
void ReleaseClaim(std::map<Key, OpeningProcess>& claims, const Key& key,
                  const std::optional<OpeningProcess>& displaced) {
  if (displaced) {
    claims.insert_or_assign(key, *displaced);
  } else {
    claims.erase(key);
  }
}

// The name under which RocksDB is given the directory `path`. RocksDB
// remembers the LOCK files a process holds by name, in a process-wide set
// that a fork() child copies and nothing ever empties of the parent's
// entries: the child's own open of a queue its parent had open at the fork
// would fail for ever, even after the parent closed it. So a process
// created by fork() names the directory with one "/." per fork since the
// first process that used RocksQ: the same directory, under a name no
// ancestor used. The operating system's lock, which a child does not
// inherit, still refuses the queue while another process holds it.
std::string RocksDbDirectory(const std::string& path) {
  std::string spelled = path;
  for (uint64_t forks = ForkGeneration(); forks > 0; --forks) spelled += "/.";
  return spelled;
}

// The error for a queue RocksDB found locked by another process after this
// one took over a claim inherited from process `ancestor`: a fork() child
// asked to attach (FifoOptions::attach) attaches to that process.
LockedByAnotherProcess LockedByAncestor(const std::string& path, int ancestor,
                                        const std::string& action) {
  return LockedByAnotherProcess(
      path, "cannot " + action + ": locked by another process; process " +
                std::to_string(ancestor) +
                ", which this process was created from by fork(), had it open at the fork: " +
                action + " it after that process closes it, or in a process started with "
                "multiprocessing's 'spawn' or 'forkserver' method");
}

// The (device, inode) of the directory `path` names, following symlinks;
// nothing if it does not exist.
std::optional<std::pair<uint64_t, uint64_t>> DirectoryIdentity(const std::string& path) {
  struct stat info;
  if (::stat(path.c_str(), &info) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return std::nullopt;
    throw Error(ErrorKind::kStorage, path,
                std::string("cannot inspect: ") + std::strerror(errno));
  }
  return std::make_pair(static_cast<uint64_t>(info.st_dev), static_cast<uint64_t>(info.st_ino));
}

// RocksDB's diagnostic log, the LOG file in the queue's directory. RocksDB's
// own LOG writer aborts the process when a line is logged after a write to
// LOG failed (an assertion that Debian's librocksdb keeps), and a full disk
// makes that write fail: a queue left on a full filesystem died within
// seconds, when RocksDB's free-space poll logged its next line
// (tests/reliability/test_write_failures.py). This log writes each line with one
// write(2) and ignores failures, since a line lost to a full disk costs
// nothing. It starts the file over past kMaxBytes.
class DiagnosticLog final : public rocksdb::Logger {
 public:
  explicit DiagnosticLog(const std::string& directory)
      : fd_(::open((directory + "/LOG").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
                   0644)) {
    struct stat info;
    if (fd_ >= 0 && ::fstat(fd_, &info) == 0) written_ = static_cast<uint64_t>(info.st_size);
  }
  ~DiagnosticLog() override {
    if (fd_ >= 0) ::close(fd_);
  }

  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override {
    if (fd_ < 0) return;
    char line[1024];
    const std::time_t now = std::time(nullptr);
    std::tm utc;
    gmtime_r(&now, &utc);
    size_t length = std::strftime(line, sizeof(line), "%Y/%m/%d-%H:%M:%S ", &utc);
    const int body = std::vsnprintf(line + length, sizeof(line) - length, format, ap);
    if (body < 0) return;
    length = std::min(length + static_cast<size_t>(body), sizeof(line) - 1);
    line[length++] = '\n';
    std::lock_guard<std::mutex> lock(mutex_);
    if (written_ + length > kMaxBytes && ::ftruncate(fd_, 0) == 0) written_ = 0;
    if (::write(fd_, line, length) > 0) written_ += length;
  }

 private:
  static constexpr uint64_t kMaxBytes = 1 << 20;
  const int fd_;
  std::mutex mutex_;
  uint64_t written_ = 0;  // The file's size, as far as this log knows.
};

rocksdb::DBOptions QueueDbOptions() {
  rocksdb::DBOptions options;
  // Background threads of this process's own, which a fork() child does
  // not inherit half-made (process_env.h).
  options.env = ThisProcessEnv();
  options.create_if_missing = true;
  options.create_missing_column_families = true;
  // Two cores are common where queues run; flushes and compactions share them.
  options.max_background_jobs = 2;
  // RocksDB's LOG is for diagnosis; keep it from growing without bound.
  options.keep_log_file_num = 2;
  options.max_log_file_size = 1 << 20;
  // The default family is written once; without a cap its unflushed entry
  // would keep every write-ahead log file alive.
  options.max_total_wal_size = 256ull << 20;
  return options;
}

// Tables that every RocksDB this project builds against reads: the release
// build's 9.10 writes format_version 6 by default, which RocksDB before 8.6
// (Debian 12's 7.8.3, the development build) refuses to open, and a queue
// written by either build must open with the other. Version 6 only adds a
// checksum of each table's footer.
rocksdb::BlockBasedTableOptions QueueTableOptions() {
  rocksdb::BlockBasedTableOptions table;
  table.format_version = 5;
  return table;
}

// Column family options for the default family, which holds the queue's
// records of its own (format.h).
rocksdb::ColumnFamilyOptions DefaultFamilyOptions() {
  rocksdb::ColumnFamilyOptions options;
  // Not RocksDB's default (Snappy, where the library has it): a build
  // without Snappy (the release wheels) could not read the tables.
  options.compression = rocksdb::kNoCompression;
  options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(QueueTableOptions()));
  return options;
}

// Column family options for queue items: uncompressed (payloads are
// usually compressed already: images, video, protobufs), large write buffers
// for streaming writes.
rocksdb::ColumnFamilyOptions ItemFamilyOptions(std::shared_ptr<rocksdb::Cache> block_cache) {
  rocksdb::ColumnFamilyOptions options;
  options.compression = rocksdb::kNoCompression;
  options.bottommost_compression = rocksdb::kNoCompression;
  options.write_buffer_size = 64ull << 20;
  options.max_write_buffer_number = 3;
  options.level_compaction_dynamic_level_bytes = true;
  rocksdb::BlockBasedTableOptions table = QueueTableOptions();
  table.block_cache = std::move(block_cache);
  options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  return options;
}

std::string ListFamilies(const std::vector<std::string>& names) {
  std::string text;
  for (const std::string& name : names) {
    if (!text.empty()) text += ", ";
    text += name;
  }
  return text;
}

// --- Recognising a queue's directory -------------------------------------------
//
// A queue is recognised by a file of RocksQ's own, not by RocksDB's files:
// another program's RocksDB can have a column family named like a queue's,
// and opening a RocksDB read-write writes into it, so what a directory holds
// is decided from its names alone, before anything opens it.
//
// The queue's directory is used in place: created if missing, or taken as
// it is when it exists and is empty, so its owner, group, mode, setgid bit,
// ACLs and inode stay the user's, and a mount point or a symbolic link to a
// directory works. Creation happens inside it, in three steps:
//
//   1. `rocksq.creating` is written and its name fsynced: from here on
//      everything in the directory is an unfinished queue's.
//   2. RocksDB creates the database, its column families and the format key
//      (synced, and flushed so that it lives in a table).
//   3. `rocksq.creating` is renamed to `rocksq.queue` and the directory
//      fsynced: the queue is complete.
//
// rename(2) is atomic, so after step 1 the directory holds exactly one of
// the two markers. A crash before step 1 leaves an empty directory; a crash
// after it leaves `rocksq.creating`, and the next open deletes the queue's
// own files and starts over: an unfinished queue never held an item. Removal
// runs the same steps backwards (DestroyQueueDatabase), so an interrupted
// removal also leaves `rocksq.creating`, which the next open or removal
// finishes.
//
// Whoever creates, upgrades or removes holds an exclusive flock(2) on the
// directory; an open holds a shared one from recognising the directory
// until RocksDB holds its own lock, so it never opens a queue halfway
// through being created or removed. Without the lock, only whether the
// directory exists is looked at (see Classify).
//
// Queues written before the marker existed hold a RocksDB database with the
// format key and no marker: such a database is read (as a secondary, which
// writes nothing in the directory) and, if it has the key, marked.

enum class DirectoryState {
  kMissing,
  kEmpty,
  kUnfinished,        // `rocksq.creating`: a creation or removal was interrupted.
  kQueue,             // `rocksq.queue`: a complete queue.
  kUnmarkedDatabase,  // A RocksDB database without a marker: an older queue, or not one.
};

bool HasEntry(const std::string& directory, const char* name) {
  struct stat info;
  return ::lstat((directory + "/" + name).c_str(), &info) == 0;
}

bool IsEmptyDirectory(const std::string& directory) {
  std::error_code error;
  const bool empty = fs::is_empty(directory, error);
  if (error) throw Error(ErrorKind::kStorage, directory, "cannot list: " + error.message());
  return empty;
}

// Whether `path` is a directory; false if nothing is there. Throws
// kNotAQueue for a file or a dangling symbolic link, kStorage if it cannot
// be inspected.
bool DirectoryExists(const std::string& path) {
  struct stat info;
  if (::stat(path.c_str(), &info) != 0) {
    if (errno != ENOENT) ThrowErrno(path, "cannot inspect");
    struct stat link;
    if (::lstat(path.c_str(), &link) == 0 && S_ISLNK(link.st_mode)) {
      std::error_code ignored;
      throw Error(ErrorKind::kNotAQueue, path,
                  "is a symbolic link to " + fs::read_symlink(path, ignored).string() +
                      ", which does not exist; create that directory or open the target");
    }
    return false;
  }
  if (!S_ISDIR(info.st_mode)) {
    throw Error(ErrorKind::kNotAQueue, path, "is a file, not a queue directory");
  }
  return true;
}

// What `path` holds. Throws kNotAQueue for a file, a dangling symbolic link
// or a directory of other things, kStorage if it cannot be inspected.
//
// Call it holding the directory's lock (DirectoryLock): it looks at one
// name after another, and a creation that writes `rocksq.creating` between
// the look for the markers and the look for emptiness would read as a
// directory of other things.
DirectoryState Classify(const std::string& path) {
  if (!DirectoryExists(path)) return DirectoryState::kMissing;
  if (HasEntry(path, kQueueMarkerFile)) return DirectoryState::kQueue;
  if (HasEntry(path, kCreatingMarkerFile)) return DirectoryState::kUnfinished;
  if (HasEntry(path, "CURRENT")) return DirectoryState::kUnmarkedDatabase;
  if (IsEmptyDirectory(path)) return DirectoryState::kEmpty;
  throw Error(ErrorKind::kNotAQueue, path,
              "the directory is not empty and holds no RocksQ queue; refusing to touch it");
}

// The non-default column families of the database at `path`, read from its
// MANIFEST without opening the database. A process that has the database
// open replaces its MANIFEST now and then: a file named a moment ago can be
// gone when it is read, and a second try reads the new one.
std::vector<std::string> ListItemFamilies(const std::string& path) {
  std::vector<std::string> names;
  rocksdb::Status listed;
  for (int attempt = 0; attempt < 3; ++attempt) {
    names.clear();
    listed = rocksdb::DB::ListColumnFamilies(QueueDbOptions(), path, &names);
    if (listed.ok() || !(listed.IsIOError() || listed.IsPathNotFound())) break;
  }
  if (!listed.ok()) ThrowStatus(path, "reading the database's column families", listed);
  names.erase(std::remove(names.begin(), names.end(), rocksdb::kDefaultColumnFamilyName),
              names.end());
  return names;
}

// Returns the non-default column families of the database at `path`.
// Throws kNotAQueue if they are another kind's; if they are no kind's,
// kCorruption for a marked queue (its MANIFEST is damaged) and kNotAQueue
// for an unmarked database.
std::vector<std::string> CheckFamiliesKind(const std::string& path, QueueKind kind,
                                           bool marked) {
  if (marked && !HasEntry(path, "CURRENT")) {
    throw Error(ErrorKind::kCorruption, path,
                "the queue's CURRENT file is missing; the queue cannot be read");
  }
  const std::vector<std::string> names = ListItemFamilies(path);
  const std::optional<QueueKind> held = KindOfFamilies(names);
  if (held && *held != kind) {
    throw Error(ErrorKind::kNotAQueue, path,
                std::string("holds a RocksQ ") + QueueKindName(*held) + ", not " +
                    (kind == QueueKind::kFifo ? "a " : "an ") + QueueKindName(kind));
  }
  if (!held && marked) {
    // A MANIFEST cut short reads as a database of the default family alone.
    throw Error(ErrorKind::kCorruption, path,
                std::string("the queue's column families are missing (") +
                    (names.empty() ? std::string("default only") : ListFamilies(names)) +
                    "); its MANIFEST file is damaged");
  }
  if (!held) {
    throw Error(ErrorKind::kNotAQueue, path,
                std::string("holds a RocksDB database that is not a RocksQ ") +
                    QueueKindName(kind) + " (column families: " +
                    (names.empty() ? std::string("default only") : ListFamilies(names)) +
                    "); refusing to touch it");
  }
  return names;
}

// An unmarked database whose families are a queue's is a queue written
// before the marker existed if it holds the format key; reading it as a
// secondary writes nothing in its directory. Returns its format version;
// throws kNotAQueue if it is no queue, kUnsupportedFormat if it is newer.
uint64_t CheckUnmarkedQueue(const std::string& path, const std::vector<std::string>& families);

// An flock(2) on a queue's directory (see above). Where the filesystem has
// no flock (some network filesystems), it locks nothing and says valid.
class DirectoryLock {
 public:
  DirectoryLock(const std::string& path, bool exclusive) : exclusive_(exclusive) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd_ < 0) {
      if (errno == ENOENT) return;  // Removed meanwhile: not valid, look again.
      ThrowErrno(path, "cannot open the queue directory");
    }
    int locked;
    do {
      locked = ::flock(fd_, exclusive ? LOCK_EX : LOCK_SH);
    } while (locked != 0 && errno == EINTR);
    if (locked != 0 && errno != ENOLCK && errno != EOPNOTSUPP && errno != EBADF) {
      ThrowErrno(path, "cannot lock the queue directory");
    }
    // The name may have been removed or replaced while this waited.
    struct stat named;
    struct stat held;
    valid_ = ::stat(path.c_str(), &named) == 0 && ::fstat(fd_, &held) == 0 &&
             named.st_dev == held.st_dev && named.st_ino == held.st_ino;
  }
  ~DirectoryLock() {
    if (fd_ >= 0) ::close(fd_);  // Releases the lock.
  }
  DirectoryLock(const DirectoryLock&) = delete;
  DirectoryLock& operator=(const DirectoryLock&) = delete;

  // Whether the path names the directory locked.
  bool valid() const { return valid_; }
  bool exclusive() const { return exclusive_; }

 private:
  int fd_ = -1;
  bool exclusive_;
  bool valid_ = false;
};

// How many times an open or removal looks again when the directory changed
// under it (another process created or removed it meanwhile).
constexpr int kMaxDirectoryAttempts = 100;

[[noreturn]] void ThrowKeptChanging(const std::string& path) {
  throw Error(ErrorKind::kStorage, path,
              "the directory kept being created and removed by other processes");
}

// RocksDB reports a LOCK file another process holds as "While lock file:
// ...: Resource temporarily unavailable". A LOCK it cannot open at all
// ("while open a file for lock: ...: Read-only file system") is a storage
// error: nobody holds the queue.
bool IsLockError(const rocksdb::Status& status) {
  return status.IsIOError() && status.ToString().find("While lock file") != std::string::npos;
}

std::string CanonicalPath(const std::string& path) {
  std::error_code error;
  fs::path canonical = fs::weakly_canonical(path, error);
  return error ? fs::absolute(path).lexically_normal().string() : canonical.string();
}

// A new queue identity: 128 bits from the operating system's random source,
// as kQueueIdChars lowercase hex digits.
std::string NewQueueId() {
  std::random_device random;
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string id;
  id.reserve(kQueueIdChars);
  while (id.size() < kQueueIdChars) {
    uint32_t bits = random();
    for (int nibble = 0; nibble < 8; ++nibble, bits >>= 4) id.push_back(kDigits[bits & 0xf]);
  }
  return id;
}

// Writes `batch` to the default family, synced, and flushes it so that its
// lone entries do not pin the write-ahead log; `what` names them in errors.
void WriteDurably(rocksdb::DB* db, const std::string& path, rocksdb::WriteBatch* batch,
                  const std::string& what) {
  rocksdb::WriteOptions durable;
  durable.sync = true;
  rocksdb::Status written = db->Write(durable, batch);
  if (!written.ok()) ThrowStatus(path, "writing " + what, written);
  rocksdb::Status flushed = db->Flush(rocksdb::FlushOptions(), db->DefaultColumnFamily());
  if (!flushed.ok()) ThrowStatus(path, "flushing " + what, flushed);
}

// Writes the format version and a new queue identity into a new queue's
// default family, in one write.
void WriteFormat(rocksdb::DB* db, const std::string& path) {
  rocksdb::WriteBatch batch;
  batch.Put(kFormatKey, std::to_string(kFormatVersion));
  batch.Put(kQueueIdKey, NewQueueId());
  WriteDurably(db, path, &batch, "the format version");
}

// The queue's identity; a queue an earlier release created gets one now,
// written durably before any caller can see it (format.h, kQueueIdKey).
std::string EnsureQueueId(rocksdb::DB* db, const std::string& path) {
  std::string id = ReadQueueId(db, path);
  if (!id.empty()) return id;
  id = NewQueueId();
  rocksdb::WriteBatch batch;
  batch.Put(kQueueIdKey, id);
  WriteDurably(db, path, &batch, "the queue id");
  return id;
}

// A format version as stored: decimal digits, at least 1; nothing if not.
std::optional<uint64_t> ParseFormatVersion(const std::string& text) {
  const bool digits = text.find_first_not_of("0123456789") == std::string::npos;
  if (text.empty() || text.size() > 19 || !digits) return std::nullopt;  // 19 digits fit.
  const uint64_t version = std::stoull(text);
  if (version == 0) return std::nullopt;
  return version;
}

}  // namespace

const char* QueueKindName(QueueKind kind) {
  switch (kind) {
    case QueueKind::kFifo:
      return "FIFO queue";
    case QueueKind::kMpmc:
      return "MPMC queue";
    case QueueKind::kAck:
      return "ack queue";
  }
  return "queue";
}

void ThrowStatus(const std::string& path, const std::string& action,
                 const rocksdb::Status& status) {
  ErrorKind kind = ErrorKind::kStorage;
  if (status.IsCorruption()) {
    kind = ErrorKind::kCorruption;
  } else if (status.IsInvalidArgument() || status.IsNotSupported()) {
    kind = ErrorKind::kInvalidArgument;
  }
  throw Error(kind, path, action + ": " + status.ToString());
}

void ThrowIfNewerFormat(uint64_t version, const std::string& path) {
  if (version <= kFormatVersion) return;
  throw Error(ErrorKind::kUnsupportedFormat, path,
              "written in on-disk format version " + std::to_string(version) +
                  " by a newer RocksQ; this build reads versions up to " +
                  std::to_string(kFormatVersion) + ": open it with a newer RocksQ");
}

std::string ReadQueueId(rocksdb::DB* db, const std::string& path) {
  std::string id;
  rocksdb::Status found = db->Get(rocksdb::ReadOptions(), kQueueIdKey, &id);
  if (found.IsNotFound()) return "";
  if (!found.ok()) ThrowStatus(path, "reading the queue id", found);
  if (id.size() != kQueueIdChars || id.find_first_not_of("0123456789abcdef") != std::string::npos) {
    throw Error(ErrorKind::kCorruption, path,
                std::string("the queue id (key ") + kQueueIdKey + ") is malformed");
  }
  return id;
}

uint64_t ReadFormatVersion(rocksdb::DB* db, const std::string& path) {
  std::string text;
  rocksdb::Status found = db->Get(rocksdb::ReadOptions(), kFormatKey, &text);
  if (found.IsNotFound()) {
    // Creation writes it before it marks the queue complete; an unmarked
    // database without it is someone else's.
    if (HasEntry(path, kQueueMarkerFile)) {
      throw Error(ErrorKind::kCorruption, path,
                  std::string("the format version (key ") + kFormatKey + ") is missing");
    }
    throw Error(ErrorKind::kNotAQueue, path,
                "holds a RocksDB database without RocksQ's format version, not a queue; "
                "refusing to touch it");
  }
  if (!found.ok()) ThrowStatus(path, "reading the format version", found);
  const std::optional<uint64_t> version = ParseFormatVersion(text);
  if (!version) {
    throw Error(ErrorKind::kCorruption, path,
                std::string("the format version (key ") + kFormatKey + ") is malformed: \"" +
                    text.substr(0, 32) + "\"");
  }
  ThrowIfNewerFormat(*version, path);
  return *version;
}

OpenPathClaim::OpenPathClaim(const std::string& path)
    : path_(path), canonical_path_(CanonicalPath(path)) {
  ClaimTable& claims = Claims();
  std::lock_guard<std::mutex> lock(claims.mutex);
  TakeClaim(claims.paths, canonical_path_, path_, &displaced_path_claim_);
}

int OpenPathClaim::inherited_from() const {
  if (displaced_directory_claim_) return displaced_directory_claim_->pid();
  return displaced_path_claim_ ? displaced_path_claim_->pid() : 0;
}

void OpenPathClaim::ClaimDirectory() {
  const std::optional<std::pair<uint64_t, uint64_t>> identity = DirectoryIdentity(path_);
  if (!identity) throw Error(ErrorKind::kStorage, path_, "the queue's directory is gone");
  ClaimTable& claims = Claims();
  std::lock_guard<std::mutex> lock(claims.mutex);
  TakeClaim(claims.directories, *identity, path_, &displaced_directory_claim_);
  holds_directory_ = true;
  std::tie(device_, inode_) = *identity;
}

OpenPathClaim::~OpenPathClaim() {
  ClaimTable& claims = Claims();
  std::lock_guard<std::mutex> lock(claims.mutex);
  ReleaseClaim(claims.paths, canonical_path_, displaced_path_claim_);
  if (holds_directory_) {
    ReleaseClaim(claims.directories, {device_, inode_}, displaced_directory_claim_);
  }
}

int OpenPathClaim::ThrowIfClaimed(const std::string& path, const std::string& action) {
  const std::optional<std::pair<uint64_t, uint64_t>> identity = DirectoryIdentity(path);
  ClaimTable& claims = Claims();
  std::lock_guard<std::mutex> lock(claims.mutex);
  int inherited_from = 0;
  auto check = [&](const OpeningProcess& holder) {
    if (holder.IsCurrent()) throw Error(ErrorKind::kAlreadyOpen, path, ClaimedDetail(action));
    inherited_from = holder.pid();
  };
  auto by_path = claims.paths.find(CanonicalPath(path));
  if (by_path != claims.paths.end()) check(by_path->second);
  if (identity) {
    auto by_directory = claims.directories.find(*identity);
    if (by_directory != claims.directories.end()) check(by_directory->second);
  }
  return inherited_from;
}

void QueueDatabase::Close() {
  if (!db) return;
  for (rocksdb::ColumnFamilyHandle* family : families) db->DestroyColumnFamilyHandle(family);
  families.clear();
  rocksdb::Status closed = db->Close();
  db.reset();
  claim.reset();
  if (!closed.ok()) ThrowStatus(path, "closing", closed);
}

QueueDatabase::~QueueDatabase() {
  try {
    Close();
  } catch (const Error&) {
    // A destructor cannot report; Close() is there for callers who care.
  }
}

namespace {

// Opens the database at `directory` with the default family and
// `item_families`; `create` also creates it. Fills `handles` (the default
// family's first).
rocksdb::DB* OpenDatabase(const std::string& path, const std::string& directory,
                          const std::vector<std::string>& item_families,
                          const std::shared_ptr<rocksdb::Cache>& block_cache, bool create,
                          std::vector<rocksdb::ColumnFamilyHandle*>* handles,
                          rocksdb::WALRecoveryMode recovery =
                              rocksdb::WALRecoveryMode::kPointInTimeRecovery) {
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  descriptors.emplace_back(rocksdb::kDefaultColumnFamilyName, DefaultFamilyOptions());
  for (const std::string& name : item_families) {
    descriptors.emplace_back(name, ItemFamilyOptions(block_cache));
  }
  rocksdb::DBOptions options = QueueDbOptions();
  options.info_log = std::make_shared<DiagnosticLog>(directory);
  options.create_if_missing = create;
  options.create_missing_column_families = create;
  options.wal_recovery_mode = recovery;
  rocksdb::DB* db = nullptr;
  NoteDatabaseOpened();
  rocksdb::Status opened = rocksdb::DB::Open(options, directory, descriptors, handles, &db);
  if (!opened.ok()) {
    if (IsLockError(opened)) {
      throw LockedByAnotherProcess(path, "locked by another process (" + opened.ToString() + ")");
    }
    ThrowStatus(path, create ? "creating" : "opening", opened);
  }
  return db;
}

// "fifo", "mpmc", "ack": the kind as the marker names it.
std::string KindWord(QueueKind kind) {
  std::string prefix = FamilyPrefix(kind);
  prefix.pop_back();  // The trailing '_'.
  return prefix;
}

// What a marker says (format.h): the kind, if it names one this build
// knows, and the format version, if it has a readable one.
struct Marker {
  std::optional<QueueKind> kind;
  std::optional<uint64_t> format_version;
};

Marker ReadMarker(const std::string& path, const char* name) {
  Marker marker;
  std::ifstream file(path + "/" + name);
  std::string line;
  const std::string format_prefix = "format: ";
  while (std::getline(file, line)) {
    for (QueueKind kind : {QueueKind::kFifo, QueueKind::kMpmc, QueueKind::kAck}) {
      if (line == "kind: " + KindWord(kind)) marker.kind = kind;
    }
    if (line.rfind(format_prefix, 0) == 0) {
      marker.format_version = ParseFormatVersion(line.substr(format_prefix.size()));
    }
  }
  return marker;
}

// Writes `file` holding the marker text of a queue of `kind` and format
// `version`, and fsyncs it.
void WriteMarkerFile(const std::string& file, QueueKind kind, uint64_t version) {
  const std::string text = "RocksQ queue\nkind: " + KindWord(kind) +
                           "\nformat: " + std::to_string(version) + "\n";
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) ThrowErrno(file, "creating the queue's marker");
  const ssize_t count = ::write(fd, text.data(), text.size());
  const bool written = count == static_cast<ssize_t>(text.size());
  if (count >= 0 && !written) errno = ENOSPC;  // A short write: the disk filled.
  const bool synced = written && ::fsync(fd) == 0;
  const int saved = errno;
  ::close(fd);
  errno = saved;
  if (!synced) ThrowErrno(file, "writing the queue's marker");
}

// Writes `rocksq.creating` for a queue of `kind` being created or removed,
// and fsyncs it and its name. Written in place: a crash that leaves it
// partial still leaves the name, which is all that it has to say.
void WriteCreatingMarker(const std::string& path, QueueKind kind) {
  WriteMarkerFile(path + "/" + kCreatingMarkerFile, kind, kFormatVersion);
  SyncDirectory(path);
}

// Marks the database in `path` a complete queue of `kind` in format
// `version` (a queue from before the marker existed, or one whose marker
// is out of date), crash-safely: the text goes to kQueueMarkerTempFile,
// which is renamed over `rocksq.queue`, so a crash leaves the old marker
// (or none: the database is then marked at the next open) or the new one,
// never a partial one.
void StampQueueMarker(const std::string& path, QueueKind kind, uint64_t version) {
  const std::string temporary = path + "/" + kQueueMarkerTempFile;
  WriteMarkerFile(temporary, kind, version);
  if (::rename(temporary.c_str(), (path + "/" + kQueueMarkerFile).c_str()) != 0) {
    ThrowErrno(temporary, "marking the queue");
  }
  SyncDirectory(path);
}

// Deletes the queue's own files in `path`: RocksDB's (DestroyDB deletes only
// the names RocksDB gives its files), the cursor file, the ack log and the
// markers, `rocksq.creating` last so that an interruption leaves it.
// Anything else in the directory stays.
void RemoveQueueFiles(const std::string& path) {
  rocksdb::Options options(QueueDbOptions(), rocksdb::ColumnFamilyOptions());
  options.info_log = std::make_shared<SilentLog>();
  // DestroyDB takes the database's lock first, so it fails if another
  // process has the queue open.
  rocksdb::Status destroyed = rocksdb::DestroyDB(RocksDbDirectory(path), options);
  if (!destroyed.ok()) {
    if (IsLockError(destroyed)) {
      throw Error(ErrorKind::kAlreadyOpen, path,
                  "cannot remove: locked by another process (" + destroyed.ToString() + ")");
    }
    ThrowStatus(path, "removing the queue's files", destroyed);
  }
  // A killed owner's attach socket may be left; DestroyDB holds the lock now.
  for (const char* name : {kCursorFileName, kAckLogFileName, kAttachSocketName,
                           kQueueMarkerTempFile, kQueueMarkerFile, kCreatingMarkerFile}) {
    const std::string file = path + "/" + name;
    if (::unlink(file.c_str()) != 0 && errno != ENOENT) ThrowErrno(file, "removing");
  }
}

// Creates the queue in the empty directory `path` (steps 1-3 above). If it
// fails, what it wrote is removed again, as far as it can be.
void CreateQueueInPlace(const std::string& path, QueueKind kind,
                        const std::vector<std::string>& item_families) {
  WriteCreatingMarker(path, kind);
  try {
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    std::unique_ptr<rocksdb::DB> db(OpenDatabase(path, RocksDbDirectory(path), item_families,
                                                 rocksdb::NewLRUCache(kBlockCacheBytes),
                                                 /*create=*/true, &handles));
    // RocksDB asserts (and Debian's build aborts) if a handle outlives its
    // database, as it would when the format key cannot be written.
    const auto release_handles = [&] {
      for (rocksdb::ColumnFamilyHandle* handle : handles) db->DestroyColumnFamilyHandle(handle);
      handles.clear();
    };
    try {
      WriteFormat(db.get(), path);
    } catch (...) {
      release_handles();
      throw;
    }
    release_handles();
    rocksdb::Status closed = db->Close();
    if (!closed.ok()) ThrowStatus(path, "closing the new queue", closed);
    const std::string creating = path + "/" + kCreatingMarkerFile;
    if (::rename(creating.c_str(), (path + "/" + kQueueMarkerFile).c_str()) != 0) {
      ThrowErrno(creating, "marking the new queue complete");
    }
    SyncDirectory(path);
  } catch (...) {
    try {
      RemoveQueueFiles(path);
    } catch (const Error&) {
      // `rocksq.creating` stays: the next open starts over.
    }
    throw;
  }
}

// Throws kUnsupportedFormat if the complete queue at `path` is in a newer
// format, as its marker says (so nothing of it is written), kNotAQueue if it
// is of another kind, and kCorruption if its CURRENT file is gone. The
// column families are read only if the marker names no kind: reading them
// races with a process that has the queue open (see ListItemFamilies), and
// RocksDB's open checks them anyway (OpenQueueDatabase).
void CheckMarkedKind(const std::string& path, QueueKind kind) {
  const Marker marker = ReadMarker(path, kQueueMarkerFile);
  if (marker.format_version) ThrowIfNewerFormat(*marker.format_version, path);
  const std::optional<QueueKind> held = marker.kind;
  if (!held) {
    CheckFamiliesKind(path, kind, /*marked=*/true);
    return;
  }
  if (*held != kind) {
    throw Error(ErrorKind::kNotAQueue, path,
                std::string("holds a RocksQ ") + QueueKindName(*held) + ", not " +
                    (kind == QueueKind::kFifo ? "a " : "an ") + QueueKindName(kind));
  }
  if (!HasEntry(path, "CURRENT")) {
    throw Error(ErrorKind::kCorruption, path,
                "the queue's CURRENT file is missing; the queue cannot be read");
  }
}

// Leaves `path` a directory holding a complete queue of `kind` and returns
// the lock that keeps it so until RocksDB has opened it (see above).
std::unique_ptr<DirectoryLock> PrepareQueueDirectory(const std::string& path, QueueKind kind,
                                                     const std::vector<std::string>& item_families) {
  bool exclusive = false;
  for (int attempt = 0; attempt < kMaxDirectoryAttempts; ++attempt) {
    if (!DirectoryExists(path)) {
      std::error_code error;
      fs::create_directories(path, error);
      if (error) {
        throw Error(ErrorKind::kStorage, path, "cannot create the directory: " + error.message());
      }
    }
    auto lock = std::make_unique<DirectoryLock>(path, exclusive);
    if (!lock->valid()) continue;
    const DirectoryState state = Classify(path);
    if (state == DirectoryState::kQueue) {
      CheckMarkedKind(path, kind);
      return lock;
    }
    if (state == DirectoryState::kMissing) continue;
    if (!lock->exclusive()) {  // Creating or marking needs the directory to itself.
      exclusive = true;
      continue;
    }
    switch (state) {
      case DirectoryState::kUnmarkedDatabase:
        StampQueueMarker(
            path, kind, CheckUnmarkedQueue(path, CheckFamiliesKind(path, kind, /*marked=*/false)));
        return lock;
      case DirectoryState::kUnfinished:
        RemoveQueueFiles(path);
        if (!IsEmptyDirectory(path)) {
          throw Error(ErrorKind::kNotAQueue, path,
                      "holds an unfinished queue and other files; remove the other files to "
                      "create the queue");
        }
        CreateQueueInPlace(path, kind, item_families);
        return lock;
      default:  // kEmpty
        CreateQueueInPlace(path, kind, item_families);
        return lock;
    }
  }
  ThrowKeptChanging(path);
}

// Throws kAlreadyOpen if a process holds the database's lock; `ancestor` is
// the process this one inherited a claim of the queue from, if any.
void CheckNotOpenElsewhere(const std::string& path, int ancestor) {
  rocksdb::Env* env = rocksdb::Env::Default();
  rocksdb::FileLock* lock = nullptr;
  rocksdb::Status locked = env->LockFile(RocksDbDirectory(path) + "/LOCK", &lock);
  if (!locked.ok()) {
    if (IsLockError(locked) && ancestor != 0) throw LockedByAncestor(path, ancestor, "remove");
    if (IsLockError(locked)) {
      throw Error(ErrorKind::kAlreadyOpen, path,
                  "cannot remove: locked by another process (" + locked.ToString() + ")");
    }
    ThrowStatus(path, "locking the queue to remove it", locked);
  }
  env->UnlockFile(lock).PermitUncheckedError();
}

// RocksDB's default recovery (kPointInTimeRecovery) stops at the first
// damaged write-ahead log record and silently drops every record after it.
// A crash only ever cuts a log's tail short, which kTolerateCorruptedTailRecords
// accepts, refusing damage before the end. So the open tries that mode
// first (the refused attempt stops while replaying the log, before RocksDB
// writes anything but LOG); if it refuses the log, RecoveredSequence tells
// whether intact records follow the damage, and the open goes on the
// default way, which keeps what can be kept, and says what it dropped in
// `warning`.
rocksdb::DB* OpenRecoveringWriteAheadLog(const std::string& path,
                                         const std::vector<std::string>& item_families,
                                         const std::shared_ptr<rocksdb::Cache>& block_cache,
                                         std::vector<rocksdb::ColumnFamilyHandle*>* handles,
                                         std::string* warning) {
  try {
    return OpenDatabase(path, RocksDbDirectory(path), item_families, block_cache,
                        /*create=*/false, handles,
                        rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords);
  } catch (const Error& strict) {
    if (strict.kind() != ErrorKind::kCorruption) throw;
    const std::optional<uint64_t> kept = RecoveredSequence(
        path, item_families, rocksdb::WALRecoveryMode::kPointInTimeRecovery);
    const std::optional<uint64_t> intact = RecoveredSequence(
        path, item_families, rocksdb::WALRecoveryMode::kSkipAnyCorruptedRecords);
    handles->clear();
    rocksdb::DB* db = OpenDatabase(path, RocksDbDirectory(path), item_families, block_cache,
                                   /*create=*/false, handles,
                                   rocksdb::WALRecoveryMode::kPointInTimeRecovery);
    if (kept && intact && *intact <= *kept) return db;  // Only the tail was damaged.
    std::string found = strict.what();
    const std::string prefix = "Corruption: " + path + ": opening: ";
    if (found.rfind(prefix, 0) == 0) found.erase(0, prefix.size());
    // Records carry the sequence numbers they were written with, so the
    // difference counts every record from the damage on, intact or not.
    const std::string dropped =
        kept && intact ? "the " + std::to_string(*intact - *kept) + " records from the damage on"
                       : "the damaged one and those after it";
    *warning = "recovery dropped write-ahead log records: the log is damaged before its end (" +
               found + "); the records before the damage were kept, " + dropped + " are lost";
    return db;
  }
}

// Appends a line to the recovery notes (kRecoveryNotesKey), synced and
// flushed before the queue is used: the damaged log is gone once RocksDB
// flushes what it recovered.
void NoteDroppedRecords(rocksdb::DB* db, const std::string& path, const std::string& warning) {
  std::string notes;
  rocksdb::Status found = db->Get(rocksdb::ReadOptions(), kRecoveryNotesKey, &notes);
  if (!found.ok() && !found.IsNotFound()) ThrowStatus(path, "reading the recovery notes", found);
  char when[32];
  const std::time_t now = std::time(nullptr);
  std::tm utc;
  gmtime_r(&now, &utc);
  std::strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &utc);
  if (!notes.empty()) notes += '\n';
  notes += std::string(when) + ": " + warning;
  rocksdb::WriteOptions durable;
  durable.sync = true;
  rocksdb::Status written = db->Put(durable, kRecoveryNotesKey, notes);
  if (!written.ok()) ThrowStatus(path, "writing the recovery notes", written);
  rocksdb::Status flushed = db->Flush(rocksdb::FlushOptions(), db->DefaultColumnFamily());
  if (!flushed.ok()) ThrowStatus(path, "flushing the recovery notes", flushed);
}

}  // namespace

QueueDatabase OpenQueueDatabase(const std::string& path, QueueKind kind,
                                const std::vector<std::string>& item_families) {
  QueueDatabase result;
  result.path = path;
  // Claimed first, so two opens in this process cannot both create it.
  result.claim = std::make_unique<OpenPathClaim>(path);
  const std::unique_ptr<DirectoryLock> lock = PrepareQueueDirectory(path, kind, item_families);
  result.claim->ClaimDirectory();  // Another path to it may be open.

  result.block_cache = rocksdb::NewLRUCache(kBlockCacheBytes);
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  const int ancestor = result.claim->inherited_from();
  try {
    result.db.reset(OpenRecoveringWriteAheadLog(path, item_families, result.block_cache,
                                                &handles, &result.recovery_warning));
  } catch (const Error& error) {
    if (error.kind() == ErrorKind::kAlreadyOpen && ancestor != 0) {
      throw LockedByAncestor(path, ancestor, "open");
    }
    // Nobody holds the database now: its column families can be read
    // safely, and say better what is wrong if they are not the queue's.
    if (error.kind() != ErrorKind::kAlreadyOpen) CheckFamiliesKind(path, kind, /*marked=*/true);
    throw;
  }
  // handles[0] is the default family, which DB owns and closes itself.
  rocksdb::DB* db = result.db.get();
  db->DestroyColumnFamilyHandle(handles[0]);
  result.families.assign(handles.begin() + 1, handles.end());
  const uint64_t version = ReadFormatVersion(db, path);
  // An older version would be migrated here, before the marker says the
  // current one (format.h); version 1 is the first. A marker cut short by a
  // crash (or written before it named the format) is made whole. Holding
  // RocksDB's lock, this open is the only one that can.
  const Marker marker = ReadMarker(path, kQueueMarkerFile);
  if (marker.kind != kind || marker.format_version != version) {
    StampQueueMarker(path, kind, version);
  }
  if (!result.recovery_warning.empty()) NoteDroppedRecords(db, path, result.recovery_warning);
  result.queue_id = EnsureQueueId(db, path);
  return result;
}

// Removal is creation backwards (see "Recognising a queue's directory"):
// with the directory locked and nobody holding the database, `rocksq.queue`
// becomes `rocksq.creating`, then the queue's files go, the marker last.
void DestroyQueueDatabase(const std::string& path, QueueKind kind) {
  const int ancestor = OpenPathClaim::ThrowIfClaimed(path, "remove");
  for (int attempt = 0; attempt < kMaxDirectoryAttempts; ++attempt) {
    if (!DirectoryExists(path)) return;
    DirectoryLock lock(path, /*exclusive=*/true);
    if (!lock.valid()) continue;
    const DirectoryState state = Classify(path);
    if (state == DirectoryState::kQueue || state == DirectoryState::kUnmarkedDatabase) {
      const bool marked = state == DirectoryState::kQueue;
      // A marked queue's kind is in its marker, so a damaged one can go too.
      const std::optional<QueueKind> held =
          marked ? ReadMarker(path, kQueueMarkerFile).kind : std::nullopt;
      if (held && *held != kind) {
        throw Error(ErrorKind::kNotAQueue, path,
                    std::string("holds a RocksQ ") + QueueKindName(*held) + ", not " +
                        (kind == QueueKind::kFifo ? "a " : "an ") + QueueKindName(kind));
      }
      if (!held) {
        const std::vector<std::string> families = CheckFamiliesKind(path, kind, marked);
        if (!marked) CheckUnmarkedQueue(path, families);
      }
      CheckNotOpenElsewhere(path, ancestor);
      if (marked) {
        const std::string queue_marker = path + "/" + kQueueMarkerFile;
        if (::rename(queue_marker.c_str(), (path + "/" + kCreatingMarkerFile).c_str()) != 0) {
          ThrowErrno(queue_marker, "marking the queue for removal");
        }
        SyncDirectory(path);
      } else {
        WriteCreatingMarker(path, kind);
      }
    }
    if (state == DirectoryState::kMissing) continue;
    if (state != DirectoryState::kEmpty) RemoveQueueFiles(path);
    // The directory goes only if nothing else is in it; a mount point or
    // the target of a symbolic link stays.
    struct stat link;
    const bool is_link = ::lstat(path.c_str(), &link) == 0 && S_ISLNK(link.st_mode);
    if (!is_link && ::rmdir(path.c_str()) != 0 && errno != ENOTEMPTY && errno != EEXIST &&
        errno != EBUSY) {
      ThrowErrno(path, "removing the directory");
    }
    return;
  }
  ThrowKeptChanging(path);
}


// --- Reading a queue that may be open elsewhere -------------------------------

rocksdb::DBOptions ReadingOptions() {
  rocksdb::DBOptions options = QueueDbOptions();
  options.create_if_missing = false;
  options.create_missing_column_families = false;
  options.info_log = std::make_shared<SilentLog>();
  return options;
}

std::vector<rocksdb::ColumnFamilyDescriptor> ReadingDescriptors(
    const std::vector<std::string>& families) {
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  descriptors.emplace_back(rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions());
  for (const std::string& name : families) {
    descriptors.emplace_back(name, rocksdb::ColumnFamilyOptions());
  }
  return descriptors;
}

std::optional<uint64_t> RecoveredSequence(const std::string& path,
                                          const std::vector<std::string>& families,
                                          rocksdb::WALRecoveryMode recovery) {
  const std::vector<rocksdb::ColumnFamilyDescriptor> descriptors = ReadingDescriptors(families);
  rocksdb::DBOptions options = ReadingOptions();
  options.wal_recovery_mode = recovery;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  NoteDatabaseOpened();
  if (!rocksdb::DB::OpenForReadOnly(options, path, descriptors, &handles, &db).ok()) {
    return std::nullopt;
  }
  const uint64_t sequence = db->GetLatestSequenceNumber();
  for (rocksdb::ColumnFamilyHandle* handle : handles) db->DestroyColumnFamilyHandle(handle);
  db->Close();
  delete db;
  return sequence;
}

StoredQueue ReadStoredQueue(const std::string& path) {
  // Shared, as an open's: a creation or removal going on is waited for, not
  // read halfway (see Classify).
  std::optional<DirectoryLock> lock;
  if (DirectoryExists(path)) lock.emplace(path, /*exclusive=*/false);
  const DirectoryState state = Classify(path);
  switch (state) {
    case DirectoryState::kMissing:
      throw Error(ErrorKind::kNotAQueue, path, "does not exist");
    case DirectoryState::kEmpty:
      throw Error(ErrorKind::kNotAQueue, path, "is an empty directory, not a queue");
    case DirectoryState::kUnfinished:
      throw Error(ErrorKind::kNotAQueue, path,
                  "holds a queue whose creation or removal did not finish; opening it "
                  "creates it anew, empty");
    default:
      break;
  }
  const bool marked = state == DirectoryState::kQueue;
  if (marked) {
    const std::optional<uint64_t> version = ReadMarker(path, kQueueMarkerFile).format_version;
    if (version) ThrowIfNewerFormat(*version, path);
  }
  if (marked && !HasEntry(path, "CURRENT")) {
    throw Error(ErrorKind::kCorruption, path,
                "the queue's CURRENT file is missing; the queue cannot be read");
  }
  std::vector<std::string> names = ListItemFamilies(path);
  const std::optional<QueueKind> kind = KindOfFamilies(names);
  if (!kind) {
    throw Error(marked ? ErrorKind::kCorruption : ErrorKind::kNotAQueue, path,
                std::string(marked ? "the queue's column families are missing or unknown"
                                   : "holds a RocksDB database that is not a queue of a kind "
                                     "this build knows") +
                    " (column families: " +
                    (names.empty() ? std::string("default only") : ListFamilies(names)) + ")");
  }
  return {*kind, std::move(names)};
}

SecondaryQueueDatabase::SecondaryQueueDatabase(const std::string& path,
                                               const std::vector<std::string>& families)
    : path_(path) {
  std::error_code error;
  std::string pattern = (fs::temp_directory_path(error) / "rocksq-inspect-XXXXXX").string();
  if (error || ::mkdtemp(pattern.data()) == nullptr) {
    throw Error(ErrorKind::kStorage, path,
                "cannot create a temporary directory for reading the queue");
  }
  secondary_directory_ = pattern;
  const std::vector<rocksdb::ColumnFamilyDescriptor> descriptors = ReadingDescriptors(families);
  rocksdb::DBOptions options = ReadingOptions();
  // A secondary keeps every table file open from the start, so a file the
  // primary's compaction deletes meanwhile stays readable.
  options.max_open_files = -1;
  rocksdb::DB* db = nullptr;
  rocksdb::Status opened;
  // A live primary deletes a write-ahead log once its memtable is flushed,
  // and replaces the MANIFEST now and then: a file listed a moment ago can
  // be gone when the secondary reads it. A second try sees the new set.
  NoteDatabaseOpened();
  for (int attempt = 0; attempt < 3; ++attempt) {
    families_.clear();
    opened = rocksdb::DB::OpenAsSecondary(options, path, secondary_directory_, descriptors,
                                          &families_, &db);
    if (opened.ok() || !(opened.IsIOError() || opened.IsPathNotFound())) break;
  }
  if (!opened.ok()) {
    fs::remove_all(secondary_directory_, error);
    ThrowStatus(path, "opening for reading", opened);
  }
  db_.reset(db);
  try {
    format_version_ = ReadFormatVersion(db, path);
  } catch (...) {
    Release();
    throw;
  }
}

SecondaryQueueDatabase::~SecondaryQueueDatabase() { Release(); }

void SecondaryQueueDatabase::Release() noexcept {
  if (db_) {
    for (rocksdb::ColumnFamilyHandle* family : families_) db_->DestroyColumnFamilyHandle(family);
    families_.clear();
    db_->Close();  // Nothing was written: there is nothing to lose.
    db_.reset();
  }
  std::error_code ignored;
  fs::remove_all(secondary_directory_, ignored);
}

namespace {

uint64_t CheckUnmarkedQueue(const std::string& path, const std::vector<std::string>& families) {
  SecondaryQueueDatabase database(path, families);  // Throws unless it holds the format key.
  return database.format_version();
}

}  // namespace

uint64_t DirectoryBytes(const std::string& path) {
  uint64_t total = 0;
  std::error_code error;
  // Files come and go while RocksDB flushes and compacts: skip the vanished.
  for (fs::recursive_directory_iterator it(path, error), end; !error && it != end;
       it.increment(error)) {
    std::error_code size_error;
    if (it->is_regular_file(size_error)) {
      uint64_t size = it->file_size(size_error);
      if (!size_error) total += size;
    }
  }
  return total;
}

}  // namespace rocksq
