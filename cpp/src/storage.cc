#include "storage.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <random>
#include <filesystem>
#include <mutex>
#include <optional>
#include <set>
#include <system_error>

#include "rocksdb/cache.h"
#include "rocksdb/env.h"
#include "rocksdb/table.h"

namespace rocksq {
namespace fs = std::filesystem;

namespace {

// Written once into the default column family when a queue is created, so a
// future on-disk format can tell the queues it must convert.
constexpr char kFormatKey[] = "rocksq.format";
constexpr char kFormatVersion[] = "1";

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

std::mutex& ClaimsMutex() {
  static std::mutex mutex;
  return mutex;
}

std::set<std::string>& Claims() {
  static std::set<std::string> claims;
  return claims;
}

// RocksDB's diagnostic log, the LOG file in the queue's directory. RocksDB's
// own LOG writer aborts the process when a line is logged after a write to
// LOG failed (an assertion that Debian's librocksdb keeps), and a full disk
// makes that write fail: a queue left on a full filesystem died within
// seconds, when RocksDB's free-space poll logged its next line
// (tests/test_write_failures.py). This log writes each line with one
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
  rocksdb::BlockBasedTableOptions table;
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

bool IsQueueDirectory(const fs::path& directory) {
  std::error_code ignored;
  return fs::exists(directory / "CURRENT", ignored);
}

bool IsEmptyDirectory(const fs::path& directory) {
  std::error_code ignored;
  return fs::is_empty(directory, ignored);
}

// Returns the non-default column families of the database at `path`, or
// nothing if `path` does not exist or is an empty directory. Throws
// kNotAQueue if `path` is a file, a directory holding other things, or a
// database whose column families are not all of `kind`.
std::optional<std::vector<std::string>> InspectDirectory(const std::string& path,
                                                         QueueKind kind) {
  std::error_code error;
  fs::file_status status = fs::status(path, error);
  if (error && error != std::errc::no_such_file_or_directory) {
    throw Error(ErrorKind::kStorage, path, "cannot inspect: " + error.message());
  }
  if (!fs::exists(status)) return std::nullopt;
  if (!fs::is_directory(status)) {
    throw Error(ErrorKind::kNotAQueue, path, "is a file, not a queue directory");
  }
  if (!IsQueueDirectory(path)) {
    if (IsEmptyDirectory(path)) return std::nullopt;
    throw Error(ErrorKind::kNotAQueue, path,
                "the directory is not empty and holds no RocksQ queue; refusing to touch it");
  }
  std::vector<std::string> names;
  rocksdb::Status listed = rocksdb::DB::ListColumnFamilies(QueueDbOptions(), path, &names);
  if (!listed.ok()) ThrowStatus(path, "reading the database's column families", listed);
  names.erase(std::remove(names.begin(), names.end(), rocksdb::kDefaultColumnFamilyName),
              names.end());
  const std::optional<QueueKind> held = KindOfFamilies(names);
  if (held && *held != kind) {
    throw Error(ErrorKind::kNotAQueue, path,
                std::string("holds a RocksQ ") + QueueKindName(*held) + ", not " +
                    (kind == QueueKind::kFifo ? "a " : "an ") + QueueKindName(kind));
  }
  if (!held) {
    throw Error(ErrorKind::kNotAQueue, path,
                std::string("holds a RocksDB database that is not a RocksQ ") +
                    QueueKindName(kind) + " (column families: " +
                    (names.empty() ? std::string("default only") : ListFamilies(names)) + ")" +
                    // A MANIFEST cut short reads as a database of the default family alone.
                    (names.empty() ? "; if it was a queue, its MANIFEST file is damaged" : ""));
  }
  return names;
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

void CheckFormat(rocksdb::DB* db, const std::string& path) {
  std::string version;
  rocksdb::Status found = db->Get(rocksdb::ReadOptions(), kFormatKey, &version);
  if (found.IsNotFound()) {
    // A new queue, or one whose creation stopped before this key was written.
    rocksdb::WriteOptions durable;
    durable.sync = true;
    rocksdb::Status written = db->Put(durable, kFormatKey, kFormatVersion);
    if (!written.ok()) ThrowStatus(path, "writing the format marker", written);
    // Flush so that this lone entry does not pin the write-ahead log.
    rocksdb::Status flushed = db->Flush(rocksdb::FlushOptions(), db->DefaultColumnFamily());
    if (!flushed.ok()) ThrowStatus(path, "flushing the format marker", flushed);
    return;
  }
  if (!found.ok()) ThrowStatus(path, "reading the format marker", found);
  if (version != kFormatVersion) {
    throw Error(ErrorKind::kNotAQueue, path,
                "on-disk format version " + version + " is not supported (this build reads " +
                    kFormatVersion + ")");
  }
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

OpenPathClaim::OpenPathClaim(std::string canonical_path)
    : canonical_path_(std::move(canonical_path)) {
  std::lock_guard<std::mutex> lock(ClaimsMutex());
  if (!Claims().insert(canonical_path_).second) {
    throw Error(ErrorKind::kAlreadyOpen, canonical_path_,
                "already opened by this process; share the open queue object between threads");
  }
}

OpenPathClaim::~OpenPathClaim() {
  std::lock_guard<std::mutex> lock(ClaimsMutex());
  Claims().erase(canonical_path_);
}

bool OpenPathClaim::IsClaimed(const std::string& canonical_path) {
  std::lock_guard<std::mutex> lock(ClaimsMutex());
  return Claims().count(canonical_path) != 0;
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
  descriptors.emplace_back(rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions());
  for (const std::string& name : item_families) {
    descriptors.emplace_back(name, ItemFamilyOptions(block_cache));
  }
  rocksdb::DBOptions options = QueueDbOptions();
  if (create) {
    std::error_code ignored;  // If this fails, DB::Open reports why.
    fs::create_directories(directory, ignored);
  }
  options.info_log = std::make_shared<DiagnosticLog>(directory);
  options.create_if_missing = create;
  options.create_missing_column_families = create;
  options.wal_recovery_mode = recovery;
  rocksdb::DB* db = nullptr;
  rocksdb::Status opened = rocksdb::DB::Open(options, directory, descriptors, handles, &db);
  if (!opened.ok()) {
    if (IsLockError(opened)) {
      throw Error(ErrorKind::kAlreadyOpen, path,
                  "locked by another process (" + opened.ToString() + ")");
    }
    ThrowStatus(path, create ? "creating" : "opening", opened);
  }
  return db;
}

constexpr char kStagingMarker[] = ".creating-";

// Removes the staging directories of creations of `name` in `parent` whose
// process is gone (killed while creating); a live creator's is left alone.
void RemoveAbandonedStaging(const fs::path& parent, const std::string& name) {
  const std::string prefix = "." + name + kStagingMarker;
  std::error_code error;
  for (fs::directory_iterator it(parent, error), end; !error && it != end; it.increment(error)) {
    const std::string entry = it->path().filename().string();
    if (entry.rfind(prefix, 0) != 0) continue;
    const long pid = std::strtol(entry.c_str() + prefix.size(), nullptr, 10);
    if (pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) {
      std::error_code ignored;
      fs::remove_all(it->path(), ignored);
    }
  }
}

// A new queue is built whole in a staging directory beside `path`, then
// renamed onto it (rename(2) is atomic, and replaces an empty directory),
// so `path` only ever holds a complete queue: RocksDB creates a database
// and its column families in several steps, and a process killed between
// them would otherwise leave a directory no later open accepts.
void CreateQueueDatabase(const std::string& path, const std::vector<std::string>& item_families) {
  fs::path target = fs::path(path).lexically_normal();
  if (!target.has_filename()) target = target.parent_path();
  const fs::path parent = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::error_code error;
  fs::create_directories(parent, error);
  if (error) {
    throw Error(ErrorKind::kStorage, path, "cannot create the parent directory: " + error.message());
  }
  const std::string name = target.filename().string();
  RemoveAbandonedStaging(parent, name);
  std::random_device random;
  const fs::path staging = parent / ("." + name + kStagingMarker + std::to_string(::getpid()) +
                                     "-" + std::to_string(random()));
  try {
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    std::unique_ptr<rocksdb::DB> db(OpenDatabase(path, staging.string(), item_families,
                                                 rocksdb::NewLRUCache(kBlockCacheBytes),
                                                 /*create=*/true, &handles));
    CheckFormat(db.get(), path);
    for (rocksdb::ColumnFamilyHandle* handle : handles) db->DestroyColumnFamilyHandle(handle);
    rocksdb::Status closed = db->Close();
    if (!closed.ok()) ThrowStatus(path, "closing the new queue", closed);
  } catch (...) {
    fs::remove_all(staging, error);
    throw;
  }
  fs::rename(staging, target, error);
  if (error) {
    std::error_code ignored;
    fs::remove_all(staging, ignored);
    // Another process moved its new queue into place first: open that one.
    if (error == std::errc::directory_not_empty || error == std::errc::file_exists) return;
    throw Error(ErrorKind::kStorage, path, "cannot move the new queue into place: " + error.message());
  }
  // Make the rename itself durable.
  const int parent_fd = ::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (parent_fd >= 0) {
    ::fsync(parent_fd);
    ::close(parent_fd);
  }
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
    return OpenDatabase(path, path, item_families, block_cache, /*create=*/false, handles,
                        rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords);
  } catch (const Error& strict) {
    if (strict.kind() != ErrorKind::kCorruption) throw;
    const std::optional<uint64_t> kept = RecoveredSequence(
        path, item_families, rocksdb::WALRecoveryMode::kPointInTimeRecovery);
    const std::optional<uint64_t> intact = RecoveredSequence(
        path, item_families, rocksdb::WALRecoveryMode::kSkipAnyCorruptedRecords);
    handles->clear();
    rocksdb::DB* db = OpenDatabase(path, path, item_families, block_cache, /*create=*/false,
                                   handles, rocksdb::WALRecoveryMode::kPointInTimeRecovery);
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
  result.claim = std::make_unique<OpenPathClaim>(CanonicalPath(path));
  if (!InspectDirectory(path, kind)) CreateQueueDatabase(path, item_families);
  InspectDirectory(path, kind);  // What a concurrent creator made must be this kind too.

  result.block_cache = rocksdb::NewLRUCache(kBlockCacheBytes);
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  result.db.reset(OpenRecoveringWriteAheadLog(path, item_families, result.block_cache, &handles,
                                              &result.recovery_warning));
  // handles[0] is the default family, which DB owns and closes itself.
  rocksdb::DB* db = result.db.get();
  db->DestroyColumnFamilyHandle(handles[0]);
  result.families.assign(handles.begin() + 1, handles.end());
  CheckFormat(db, path);
  if (!result.recovery_warning.empty()) NoteDroppedRecords(db, path, result.recovery_warning);
  return result;
}

void DestroyQueueDatabase(const std::string& path, QueueKind kind) {
  std::error_code error;
  if (!fs::exists(path, error)) return;
  if (OpenPathClaim::IsClaimed(CanonicalPath(path))) {
    throw Error(ErrorKind::kAlreadyOpen, path, "cannot remove a queue this process has open");
  }
  std::optional<std::vector<std::string>> names = InspectDirectory(path, kind);
  if (names) {
    rocksdb::Options options(QueueDbOptions(), rocksdb::ColumnFamilyOptions());
    std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
    descriptors.emplace_back(rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions());
    for (const std::string& name : *names) {
      descriptors.emplace_back(name, rocksdb::ColumnFamilyOptions());
    }
    // DestroyDB takes the database's lock first, so it fails if another
    // process has the queue open.
    rocksdb::Status destroyed = rocksdb::DestroyDB(path, options, descriptors);
    if (!destroyed.ok()) {
      if (IsLockError(destroyed)) {
        throw Error(ErrorKind::kAlreadyOpen, path,
                    "cannot remove: locked by another process (" + destroyed.ToString() + ")");
      }
      ThrowStatus(path, "removing", destroyed);
    }
  }
  fs::remove_all(path, error);
  if (error) throw Error(ErrorKind::kStorage, path, "removing the directory: " + error.message());
}

// --- Reading a queue that may be open elsewhere -------------------------------

std::optional<uint64_t> RecoveredSequence(const std::string& path,
                                          const std::vector<std::string>& families,
                                          rocksdb::WALRecoveryMode recovery) {
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  descriptors.emplace_back(rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions());
  for (const std::string& name : families) {
    descriptors.emplace_back(name, rocksdb::ColumnFamilyOptions());
  }
  rocksdb::DBOptions options = QueueDbOptions();
  options.create_if_missing = false;
  options.create_missing_column_families = false;
  options.info_log = std::make_shared<SilentLog>();
  options.wal_recovery_mode = recovery;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
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
  std::error_code error;
  const fs::file_status status = fs::status(path, error);
  if (error && error != std::errc::no_such_file_or_directory) {
    throw Error(ErrorKind::kStorage, path, "cannot inspect: " + error.message());
  }
  if (!fs::exists(status)) throw Error(ErrorKind::kNotAQueue, path, "does not exist");
  if (!fs::is_directory(status)) {
    throw Error(ErrorKind::kNotAQueue, path, "is a file, not a queue directory");
  }
  if (!IsQueueDirectory(path)) {
    throw Error(ErrorKind::kNotAQueue, path,
                IsEmptyDirectory(path) ? "is an empty directory, not a queue"
                                       : "the directory holds no RocksQ queue");
  }
  std::vector<std::string> names;
  rocksdb::Status listed = rocksdb::DB::ListColumnFamilies(QueueDbOptions(), path, &names);
  if (!listed.ok()) ThrowStatus(path, "reading the database's column families", listed);
  names.erase(std::remove(names.begin(), names.end(), rocksdb::kDefaultColumnFamilyName),
              names.end());
  const std::optional<QueueKind> kind = KindOfFamilies(names);
  if (!kind) {
    throw Error(ErrorKind::kNotAQueue, path,
                "holds a RocksDB database that is not a queue of a kind this build knows "
                "(column families: " +
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
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  descriptors.emplace_back(rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions());
  for (const std::string& name : families) {
    descriptors.emplace_back(name, rocksdb::ColumnFamilyOptions());
  }
  rocksdb::DBOptions options = QueueDbOptions();
  options.create_if_missing = false;
  options.create_missing_column_families = false;
  // A secondary keeps every table file open from the start, so a file the
  // primary's compaction deletes meanwhile stays readable.
  options.max_open_files = -1;
  rocksdb::DB* db = nullptr;
  rocksdb::Status opened;
  // A live primary deletes a write-ahead log once its memtable is flushed,
  // and replaces the MANIFEST now and then: a file listed a moment ago can
  // be gone when the secondary reads it. A second try sees the new set.
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
    std::string version;
    rocksdb::Status found = db->Get(rocksdb::ReadOptions(), kFormatKey, &version);
    if (found.ok() && version != kFormatVersion) {
      throw Error(ErrorKind::kNotAQueue, path,
                  "on-disk format version " + version + " is not supported (this build reads " +
                      kFormatVersion + ")");
    }
    if (!found.ok() && !found.IsNotFound()) ThrowStatus(path, "reading the format marker", found);
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
