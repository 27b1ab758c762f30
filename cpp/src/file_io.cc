#include "file_io.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "rocksq/error.h"

namespace rocksq {

void ThrowErrno(const std::string& path, const std::string& action) {
  throw Error(ErrorKind::kStorage, path, action + ": " + std::strerror(errno));
}

int OpenOrCreate(const std::string& directory, const std::string& name, int flags, bool sync,
                 const std::string& what) {
  const std::string path = directory + "/" + name;
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC | flags);
  if (fd >= 0) return fd;
  if (errno != ENOENT) ThrowErrno(path, "opening " + what);
  fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | flags, 0644);
  if (fd < 0) ThrowErrno(path, "creating " + what);
  if (!sync) return fd;
  try {
    SyncDirectory(directory);
  } catch (...) {
    ::close(fd);
    throw;
  }
  return fd;
}

void SyncDirectory(const std::string& directory) {
  const int dir = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  const bool synced = dir >= 0 && ::fsync(dir) == 0;
  const int saved = errno;
  if (dir >= 0) ::close(dir);
  errno = saved;
  if (!synced) ThrowErrno(directory, "syncing the queue directory");
}

}  // namespace rocksq
