#include "cursor_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "file_io.h"
#include "format.h"
#include "rocksq/error.h"

namespace rocksq {
namespace {


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

uint64_t CursorFile::Load() const { return Decode(fd_, path_); }

void CursorFile::Store(uint64_t position) {
  char bytes[kCursorFileBytes];
  EncodeBigEndian64(position, bytes);
  EncodeBigEndian64(~position, bytes + 8);
  ssize_t written;
  do {
    written = ::pwrite(fd_, bytes, kCursorFileBytes, 0);
  } while (written < 0 && errno == EINTR);
  if (written != static_cast<ssize_t>(kCursorFileBytes)) {
    if (written >= 0) errno = EIO;  // A short write of 16 bytes: treat as failed.
    ThrowErrno(path_, "storing the read cursor");
  }
  if (sync_ && ::fdatasync(fd_) != 0) ThrowErrno(path_, "syncing the read cursor");
}

uint64_t CursorFile::Peek(const std::string& directory) {
  const std::string path = directory + "/" + kCursorFileName;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return 0;
    ThrowErrno(path, "opening the read cursor file");
  }
  try {
    const uint64_t cursor = Decode(fd, path);
    ::close(fd);
    return cursor;
  } catch (...) {
    ::close(fd);
    throw;
  }
}

}  // namespace rocksq
