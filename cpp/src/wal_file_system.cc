#include "wal_file_system.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <utility>
#include <vector>

namespace rocksq {
namespace {

// RocksDB names its write-ahead logs NUMBER.log (file/filename.cc); its
// diagnostic LOG files have no such suffix.
bool IsWalFile(const std::string& name) {
  static const std::string kSuffix = ".log";
  return name.size() > kSuffix.size() &&
         name.compare(name.size() - kSuffix.size(), kSuffix.size(), kSuffix) == 0;
}

// A log being written: once it has been synced, zeros go down ahead of
// its records through a descriptor of its own (RocksDB's appends go on at
// their own offset), and the close trims them off.
class ExtendedWalFile final : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  ExtendedWalFile(std::unique_ptr<rocksdb::FSWritableFile> file, int fd)
      : FSWritableFileOwnerWrapper(std::move(file)), fd_(fd) {}
  ~ExtendedWalFile() override { CloseOwnDescriptor(); }

  // RocksDB calls this before each append (`offset`: the log's size with
  // what it holds unwritten): in place of its own reservation (fallocate,
  // which a write must still convert).
  void PrepareWrite(size_t offset, size_t length, const rocksdb::IOOptions& /*options*/,
                    rocksdb::IODebugContext* /*debug*/) override {
    if (!synced_.load(std::memory_order_relaxed)) return;
    extended_to_ = std::max<uint64_t>(extended_to_, offset);  // Never over records.
    while (fd_ >= 0 && offset + length > extended_to_) {
      static const std::vector<char> zeros(kWalExtensionBytes, 0);
      const ssize_t written = ::pwrite(fd_, zeros.data(), zeros.size(), extended_to_);
      if (written != static_cast<ssize_t>(zeros.size())) {
        // A full disk: take back what went down and grow by appends from
        // here on, as without the extension.
        (void)!::ftruncate(fd_, static_cast<off_t>(extended_to_));
        CloseOwnDescriptor();
        return;
      }
      extended_to_ += kWalExtensionBytes;
    }
  }

  rocksdb::IOStatus Sync(const rocksdb::IOOptions& options,
                         rocksdb::IODebugContext* debug) override {
    synced_.store(true, std::memory_order_relaxed);
    return FSWritableFileOwnerWrapper::Sync(options, debug);
  }
  rocksdb::IOStatus Fsync(const rocksdb::IOOptions& options,
                          rocksdb::IODebugContext* debug) override {
    synced_.store(true, std::memory_order_relaxed);
    return FSWritableFileOwnerWrapper::Fsync(options, debug);
  }

  rocksdb::IOStatus Close(const rocksdb::IOOptions& options,
                          rocksdb::IODebugContext* debug) override {
    const uint64_t records = GetFileSize(options, debug);
    rocksdb::IOStatus closed = FSWritableFileOwnerWrapper::Close(options, debug);
    if (fd_ >= 0 && extended_to_ > records && ::ftruncate(fd_, static_cast<off_t>(records)) != 0 &&
        closed.ok()) {
      closed = rocksdb::IOStatus::IOError("trimming the write-ahead log's zeros");
    }
    CloseOwnDescriptor();
    return closed;
  }

 private:
  void CloseOwnDescriptor() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  int fd_;                    // -1 once closed, or once extending failed.
  // Whether the log was synced: only then is it extended. An unsynced
  // small write costs ext4 more inside a file's size than past its end
  // (300 k against 500 k unsynced 100 B pushes/s), and gains nothing there.
  std::atomic<bool> synced_{false};
  uint64_t extended_to_ = 0;  // The file's size as the zeros made it.
};

// A log read up to `readable` bytes (WalReadableBytes): past them, end of file.
class BoundedWalFile final : public rocksdb::FSSequentialFileOwnerWrapper {
 public:
  BoundedWalFile(std::unique_ptr<rocksdb::FSSequentialFile> file, uint64_t readable)
      : FSSequentialFileOwnerWrapper(std::move(file)), readable_(readable) {}

  rocksdb::IOStatus Read(size_t n, const rocksdb::IOOptions& options, rocksdb::Slice* result,
                         char* scratch, rocksdb::IODebugContext* debug) override {
    const size_t allowed = static_cast<size_t>(std::min<uint64_t>(n, Left()));
    rocksdb::IOStatus read =
        FSSequentialFileOwnerWrapper::Read(allowed, options, result, scratch, debug);
    if (read.ok()) position_ += result->size();
    return read;
  }

  rocksdb::IOStatus Skip(uint64_t n) override {
    const uint64_t skipped = std::min(n, Left());
    rocksdb::IOStatus done = FSSequentialFileOwnerWrapper::Skip(skipped);
    if (done.ok()) position_ += skipped;
    return done;
  }

  rocksdb::IOStatus PositionedRead(uint64_t offset, size_t n, const rocksdb::IOOptions& options,
                                   rocksdb::Slice* result, char* scratch,
                                   rocksdb::IODebugContext* debug) override {
    const uint64_t allowed = offset >= readable_ ? 0 : std::min<uint64_t>(n, readable_ - offset);
    return FSSequentialFileOwnerWrapper::PositionedRead(offset, static_cast<size_t>(allowed),
                                                        options, result, scratch, debug);
  }

 private:
  uint64_t Left() const { return readable_ > position_ ? readable_ - position_ : 0; }

  const uint64_t readable_;
  uint64_t position_ = 0;
};

class WalFileSystem final : public rocksdb::FileSystemWrapper {
 public:
  WalFileSystem() : FileSystemWrapper(rocksdb::FileSystem::Default()) {}

  const char* Name() const override { return "RocksQWalFileSystem"; }

  rocksdb::IOStatus NewWritableFile(const std::string& name,
                                    const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSWritableFile>* file,
                                    rocksdb::IODebugContext* debug) override {
    rocksdb::IOStatus opened = target()->NewWritableFile(name, options, file, debug);
    if (!opened.ok() || !IsWalFile(name) || options.use_direct_writes) return opened;
    const int fd = ::open(name.c_str(), O_WRONLY | O_CLOEXEC);
    // Without a descriptor of its own, the log grows by appends.
    if (fd >= 0) *file = std::make_unique<ExtendedWalFile>(std::move(*file), fd);
    return opened;
  }

  rocksdb::IOStatus NewSequentialFile(const std::string& name,
                                      const rocksdb::FileOptions& options,
                                      std::unique_ptr<rocksdb::FSSequentialFile>* file,
                                      rocksdb::IODebugContext* debug) override {
    rocksdb::IOStatus opened = target()->NewSequentialFile(name, options, file, debug);
    if (!opened.ok() || !IsWalFile(name)) return opened;
    uint64_t size = 0;
    if (!target()->GetFileSize(name, rocksdb::IOOptions(), &size, debug).ok()) return opened;
    *file = std::make_unique<BoundedWalFile>(std::move(*file), WalReadableBytes(name, size));
    return opened;
  }
};

}  // namespace

uint64_t WalReadableBytes(const std::string& path, uint64_t size) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return size;
  std::vector<char> chunk(64 * 1024);
  uint64_t end = size;
  uint64_t readable = 0;
  while (end > 0) {
    const uint64_t start = end > chunk.size() ? end - chunk.size() : 0;
    const ssize_t got = ::pread(fd, chunk.data(), end - start, static_cast<off_t>(start));
    if (got != static_cast<ssize_t>(end - start)) {
      readable = size;
      break;
    }
    const auto last = std::find_if(chunk.rbegin() + static_cast<ptrdiff_t>(chunk.size() - got),
                                   chunk.rend(), [](char byte) { return byte != 0; });
    if (last != chunk.rend()) {
      const uint64_t last_nonzero = start + static_cast<uint64_t>(chunk.rend() - last) - 1;
      readable = std::min(size, (last_nonzero / kWalBlockBytes + 1) * kWalBlockBytes);
      break;
    }
    end = start;
  }
  ::close(fd);
  return readable;
}

std::shared_ptr<rocksdb::FileSystem> NewWalFileSystem() {
  return std::make_shared<WalFileSystem>();
}

}  // namespace rocksq
