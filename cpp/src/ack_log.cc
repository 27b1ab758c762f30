#include "ack_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "file_io.h"
#include "format.h"

namespace rocksq {
namespace {

constexpr size_t kHeaderBytes = 2 * kAckLogWordBytes;  // Epoch, count.
// Records of up to this many ids (every single ack) are built on the stack.
constexpr size_t kInlineIds = 8;

std::string ReadAll(int fd, const std::string& path) {
  std::string bytes;
  char buffer[1 << 16];
  for (off_t offset = 0;;) {
    const ssize_t got = ::pread(fd, buffer, sizeof buffer, offset);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) ThrowErrno(path, "reading the ack log");
    if (got == 0) return bytes;
    bytes.append(buffer, static_cast<size_t>(got));
    offset += got;
  }
}

// The whole records of `epoch` or later in `bytes`; `end`, if given, is
// set to where they end.
AckLog::Records Parse(const std::string& bytes, uint64_t epoch, size_t* end = nullptr) {
  AckLog::Records records;
  size_t offset = 0;
  struct SetEnd {
    size_t* end;
    const size_t& offset;
    ~SetEnd() { if (end) *end = offset; }
  } set_end{end, offset};
  while (bytes.size() - offset >= kHeaderBytes + kAckLogWordBytes) {
    const char* record = bytes.data() + offset;
    const uint64_t record_epoch = DecodeBigEndian64(record);
    const uint64_t count = DecodeBigEndian64(record + kAckLogWordBytes);
    const size_t room = (bytes.size() - offset) / kAckLogWordBytes;
    if (count == 0 || count > room || room - count < 3) break;  // Torn, or no record.
    const size_t words = 2 + static_cast<size_t>(count);
    if (WordsChecksum(record, words) != DecodeBigEndian64(record + words * kAckLogWordBytes)) break;
    if (record_epoch >= epoch) {
      for (size_t i = 0; i < count; ++i) {
        records.ids.push_back(DecodeBigEndian64(record + (2 + i) * kAckLogWordBytes));
      }
      if (record_epoch > records.last_epoch) records.last_epoch = record_epoch;
    }
    offset += (words + 1) * kAckLogWordBytes;
  }
  return records;
}

}  // namespace

AckLog::AckLog(const std::string& directory, bool sync)
    : path_(directory + "/" + kAckLogFileName),
      fd_(OpenOrCreate(directory, kAckLogFileName, O_APPEND, sync, "the ack log")),
      sync_(sync) {
  struct stat status;
  if (::fstat(fd_, &status) != 0) {
    const int saved = errno;
    ::close(fd_);
    errno = saved;
    ThrowErrno(path_, "reading the ack log's size");
  }
  size_ = static_cast<uint64_t>(status.st_size);
}

AckLog::~AckLog() {
  if (fd_ >= 0) ::close(fd_);
}

AckLog::Records AckLog::Load(uint64_t epoch) const {
  return Parse(ReadAll(fd_, path_), epoch);
}

std::string AckLog::DescribeDamage(const std::string& directory) {
  const std::string path = directory + "/" + kAckLogFileName;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return "";
    ThrowErrno(path, "opening the ack log");
  }
  std::string bytes;
  try {
    bytes = ReadAll(fd, path);
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
  size_t end = 0;
  const size_t records = Parse(bytes, 0, &end).ids.size();
  const std::string tail = bytes.substr(end);
  if (tail.find_first_not_of('\0') == std::string::npos) return "";
  // A crash cuts one append short: what is left is shorter than the record
  // its header announces.
  // (A header damaged into a huge count reads the same way.)
  if (tail.size() < kHeaderBytes) return "";
  const uint64_t count = DecodeBigEndian64(tail.data() + kAckLogWordBytes);
  const uint64_t room = tail.size() / kAckLogWordBytes;
  if (count != 0 && (count > room || room - count < 3)) return "";
  return "the ack log (" + std::string(kAckLogFileName) + ") is damaged after byte " +
         std::to_string(end) + " (" + std::to_string(records) + " acks before it): the " +
         std::to_string(tail.size()) + " bytes from there do not check out, so the acks they "
         "held are ignored and their items will be delivered again";
}

uint64_t AckLog::Append(uint64_t epoch, const uint64_t* ids, size_t count) {
  if (dirty_) {
    // A failed append's partial record must not stay before this one.
    if (::ftruncate(fd_, static_cast<off_t>(size_)) != 0) {
      ThrowErrno(path_, "cutting a partial record off the ack log");
    }
    dirty_ = false;
  }
  if (count == 0) return appended_total_.load(std::memory_order_relaxed);
  const size_t words = 2 + count;
  const size_t record_bytes = (words + 1) * kAckLogWordBytes;
  char inline_record[(2 + kInlineIds + 1) * kAckLogWordBytes];
  std::vector<char> large_record(count > kInlineIds ? record_bytes : 0);
  char* record = count > kInlineIds ? large_record.data() : inline_record;
  EncodeBigEndian64(epoch, record);
  EncodeBigEndian64(count, record + kAckLogWordBytes);
  for (size_t i = 0; i < count; ++i) EncodeBigEndian64(ids[i], record + (2 + i) * kAckLogWordBytes);
  EncodeBigEndian64(WordsChecksum(record, words), record + words * kAckLogWordBytes);
  size_t done = 0;
  while (done < record_bytes) {
    const ssize_t written = ::write(fd_, record + done, record_bytes - done);
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) {
      if (written == 0) errno = EIO;
      const int saved = errno;
      dirty_ = ::ftruncate(fd_, static_cast<off_t>(size_)) != 0;
      errno = saved;
      ThrowErrno(path_, "appending to the ack log");
    }
    done += static_cast<size_t>(written);
  }
  size_ += record_bytes;
  return appended_total_.fetch_add(record_bytes, std::memory_order_acq_rel) + record_bytes;
}

void AckLog::SyncThrough(uint64_t end) {
  if (synced_total_.load(std::memory_order_acquire) >= end) return;
  std::lock_guard<std::mutex> one_at_a_time(sync_mutex_);
  if (synced_total_.load(std::memory_order_acquire) >= end) return;  // Synced meanwhile.
  // Every record appended before the fsync starts is covered by it.
  const uint64_t covered = appended_total_.load(std::memory_order_acquire);
  if (::fdatasync(fd_) != 0) ThrowErrno(path_, "syncing the ack log");
  uint64_t synced = synced_total_.load(std::memory_order_relaxed);
  while (synced < covered &&
         !synced_total_.compare_exchange_weak(synced, covered, std::memory_order_acq_rel)) {
  }
}

void AckLog::Clear() {
  if (::ftruncate(fd_, 0) != 0) {
    dirty_ = true;
    ThrowErrno(path_, "emptying the ack log");
  }
  size_ = 0;
  dirty_ = false;
  // Applied records are durable in the database; nothing appended is
  // pending a sync of this file any more.
  uint64_t synced = synced_total_.load(std::memory_order_relaxed);
  const uint64_t appended = appended_total_.load(std::memory_order_acquire);
  while (synced < appended &&
         !synced_total_.compare_exchange_weak(synced, appended, std::memory_order_acq_rel)) {
  }
}

AckLog::Records AckLog::Peek(const std::string& directory, uint64_t epoch) {
  const std::string path = directory + "/" + kAckLogFileName;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return {};
    ThrowErrno(path, "opening the ack log");
  }
  try {
    Records records = Parse(ReadAll(fd, path), epoch);
    ::close(fd);
    return records;
  } catch (...) {
    ::close(fd);
    throw;
  }
}

}  // namespace rocksq
