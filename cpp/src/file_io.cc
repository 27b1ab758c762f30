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

void SyncDirectory(const std::string& directory) {
  const int dir = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  const bool synced = dir >= 0 && ::fsync(dir) == 0;
  const int saved = errno;
  if (dir >= 0) ::close(dir);
  errno = saved;
  if (!synced) ThrowErrno(directory, "syncing the queue directory");
}

}  // namespace rocksq
