#include "cursor_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "file_io.h"
#include "format.h"
#include "rocksq/error.h"

namespace rocksq {
namespace {

constexpr size_t kRecordsBytes = kPopRecordSlots * kPopRecordBytes;

// Writes all of `bytes` at `offset`, or throws kStorage naming `action`.
void WriteAt(int fd, const char* bytes, size_t size, uint64_t offset, const std::string& path,
             const char* action) {
  ssize_t written;
  do {
    written = ::pwrite(fd, bytes, size, static_cast<off_t>(offset));
  } while (written < 0 && errno == EINTR);
  if (written != static_cast<ssize_t>(size)) {
    if (written >= 0) errno = EIO;  // A short write: treat as failed.
    ThrowErrno(path, action);
  }
}

// The pop records in the file open as `fd` whose slots check out.
std::vector<std::pair<size_t, PopRecord>> DecodeRecords(int fd, const std::string& path) {
  std::vector<std::pair<size_t, PopRecord>> records;
  std::string slots(kRecordsBytes, '\0');
  ssize_t got;
  do {
    got = ::pread(fd, slots.data(), kRecordsBytes, kPopRecordsOffset);
  } while (got < 0 && errno == EINTR);
  if (got < 0) ThrowErrno(path, "reading the pop records");
  for (size_t slot = 0; (slot + 1) * kPopRecordBytes <= static_cast<size_t>(got); ++slot) {
    const char* words = slots.data() + slot * kPopRecordBytes;
    const size_t checked = kPopRecordWords - 1;
    if (WordsChecksum(words, checked) != DecodeBigEndian64(words + checked * 8)) continue;
    PopRecord record;
    record.client_id = DecodeBigEndian64(words);
    record.lane = static_cast<uint32_t>(DecodeBigEndian64(words + 8));
    record.seq = DecodeBigEndian64(words + 16);
    record.first = DecodeBigEndian64(words + 24);
    record.count = DecodeBigEndian64(words + 32);
    record.cursor_after = DecodeBigEndian64(words + 40);
    records.emplace_back(slot, record);
  }
  return records;
}


// Reads the file open as `fd` (at `path`, for messages).
uint64_t Decode(int fd, const std::string& path) {
  char bytes[kCursorFileBytes];
  ssize_t got;
  do {
    got = ::pread(fd, bytes, kCursorFileBytes, 0);
  } while (got < 0 && errno == EINTR);
  if (got < 0) ThrowErrno(path, "reading the read cursor");
  if (got == 0) return 0;  // Never stored, or lost with an unsynced write.
  char zeros[kCursorFileBytes] = {};
  if (got == static_cast<ssize_t>(kCursorFileBytes) &&
      std::memcmp(bytes, zeros, kCursorFileBytes) == 0) {
    return 0;  // Allocated but never written back before a machine crash.
  }
  const uint64_t cursor = DecodeBigEndian64(bytes);
  if (got != static_cast<ssize_t>(kCursorFileBytes) || DecodeBigEndian64(bytes + 8) != ~cursor) {
    throw Error(ErrorKind::kCorruption, path,
                "the read cursor file is damaged (" + std::to_string(got) + " bytes)");
  }
  return cursor;
}

// What Load() returns, for the file open as `fd`.
uint64_t LoadCursor(int fd, const std::string& path) {
  uint64_t cursor = Decode(fd, path);
  for (const auto& [slot, record] : DecodeRecords(fd, path)) {
    cursor = std::max(cursor, record.cursor_after);
  }
  return cursor;
}

}  // namespace

CursorFile::CursorFile(const std::string& directory, bool sync)
    : path_(directory + "/" + kCursorFileName),
      fd_(OpenOrCreate(directory, kCursorFileName, 0, sync, "the read cursor file")),
      sync_(sync) {
  // A pop rewrites the 16 bytes in place, which needs no new disk space
  // once they exist: write them now, so that draining a queue works on a
  // full disk even if it was never popped before.
  struct stat info;
  if (::fstat(fd_, &info) != 0) {
    const int saved = errno;
    ::close(fd_);
    errno = saved;
    ThrowErrno(path_, "inspecting the read cursor file");
  }
  if (info.st_size != 0) return;
  try {
    Store(0);  // Reads as "no cursor", as the empty file did.
  } catch (...) {
    ::close(fd_);
    throw;
  }
}

CursorFile::~CursorFile() {
  if (fd_ >= 0) ::close(fd_);
}

uint64_t CursorFile::Load() {
  const uint64_t cursor = LoadCursor(fd_, path_);
  std::lock_guard<std::mutex> lock(mutex_);
  durable_position_ = written_position_ = cursor;
  return cursor;
}

void CursorFile::WriteCursor(uint64_t position) {
  char bytes[kCursorFileBytes];
  EncodeBigEndian64(position, bytes);
  EncodeBigEndian64(~position, bytes + 8);
  WriteAt(fd_, bytes, kCursorFileBytes, 0, path_, "storing the read cursor");
}

uint64_t CursorFile::Write(uint64_t position) {
  std::lock_guard<std::mutex> lock(mutex_);
  return WriteLocked(position);
}

uint64_t CursorFile::WriteLocked(uint64_t position) {
  ThrowIfSyncFailed();
  WriteCursor(position);
  written_position_ = position;
  if (!sync_) {
    durable_writes_ = writes_ + 1;
    durable_position_ = position;
  }
  return ++writes_;
}

void CursorFile::WaitDurable(uint64_t ticket) {
  std::unique_lock<std::mutex> lock(mutex_);
  while (durable_writes_ < ticket) {
    ThrowIfSyncFailed();
    if (syncing_) {
      sync_done_.wait(lock);
      continue;
    }
    // This caller syncs, for every write so far; writes go on meanwhile.
    syncing_ = true;
    const uint64_t covered = writes_;
    const uint64_t position = written_position_;
    lock.unlock();
    const bool synced = ::fdatasync(fd_) == 0;
    const int sync_errno = errno;
    lock.lock();
    syncing_ = false;
    if (synced) {
      durable_writes_ = covered;
      durable_position_ = position;
      for (auto record = undurable_records_.begin(); record != undurable_records_.end();) {
        record = record->second <= position ? undurable_records_.erase(record) : std::next(record);
      }
    } else {
      sync_failed_ = Error(ErrorKind::kStorage, path_,
                           std::string("syncing the read cursor: ") + std::strerror(sync_errno) +
                               "; the pops not synced fail, and so does every later pop: "
                               "reopen the queue to get their items back");
    }
    sync_done_.notify_all();
  }
}

void CursorFile::ThrowIfSyncFailed() {
  if (!sync_failed_) return;
  // Every refusal writes the durable cursor again, for the next open, and
  // clears the records that would take the next open past it (Load): one
  // write that fails as the sync did is retried by the next refusal.
  try {
    for (const auto& [slot, cursor_after] : undurable_records_) WriteRecord(slot, nullptr);
    WriteCursor(durable_position_);
  } catch (const Error&) {
    // Then the next open may read a cursor past items no call returned,
    // as after a machine crash that kept an unsynced write.
  }
  throw *sync_failed_;
}

uint64_t CursorFile::DurablePosition() {
  std::lock_guard<std::mutex> lock(mutex_);
  return durable_position_;
}

void CursorFile::ReserveRecords() {
  struct stat info;
  if (::fstat(fd_, &info) != 0) ThrowErrno(path_, "inspecting the read cursor file");
  if (static_cast<uint64_t>(info.st_size) >= kPopRecordsOffset + kRecordsBytes) return;
  // Zeros never check out: every slot reads as empty.
  const std::string zeros(kRecordsBytes, '\0');
  WriteAt(fd_, zeros.data(), zeros.size(), kPopRecordsOffset, path_,
          "making room for the pop records");
  if (::fdatasync(fd_) != 0) ThrowErrno(path_, "syncing the read cursor file");
}

std::vector<std::pair<size_t, PopRecord>> CursorFile::LoadRecords() const {
  return DecodeRecords(fd_, path_);
}

void CursorFile::WriteRecord(size_t slot, const PopRecord* record) {
  char words[kPopRecordBytes] = {};  // Zeros never check out.
  if (record != nullptr) {
    EncodeBigEndian64(record->client_id, words);
    EncodeBigEndian64(record->lane, words + 8);
    EncodeBigEndian64(record->seq, words + 16);
    EncodeBigEndian64(record->first, words + 24);
    EncodeBigEndian64(record->count, words + 32);
    EncodeBigEndian64(record->cursor_after, words + 40);
    EncodeBigEndian64(0, words + 48);
    EncodeBigEndian64(WordsChecksum(words, kPopRecordWords - 1), words + 56);
  }
  WriteAt(fd_, words, kPopRecordBytes, kPopRecordsOffset + slot * kPopRecordBytes, path_,
          "storing a pop record");
}

uint64_t CursorFile::WriteWithRecords(const std::vector<std::pair<size_t, PopRecord>>& records) {
  if (records.empty()) return 0;
  std::lock_guard<std::mutex> lock(mutex_);
  ThrowIfSyncFailed();
  // The records first: a cursor stored without its record would lose the
  // items if the reply never left. A slot lies within one page, so a
  // process crash cannot tear it.
  for (const auto& [slot, record] : records) {
    WriteRecord(slot, &record);
    if (sync_) undurable_records_[slot] = record.cursor_after;
  }
  return WriteLocked(records.back().second.cursor_after);
}

uint64_t CursorFile::Peek(const std::string& directory) {
  const std::string path = directory + "/" + kCursorFileName;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return 0;
    ThrowErrno(path, "opening the read cursor file");
  }
  try {
    const uint64_t cursor = LoadCursor(fd, path);
    ::close(fd);
    return cursor;
  } catch (...) {
    ::close(fd);
    throw;
  }
}

}  // namespace rocksq
