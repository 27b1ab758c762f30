#include "attach_stats.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>

#include "attach_wire.h"
#include "attach_client.h"
#include "storage.h"

namespace rocksq {
namespace {

// The kinds' numbers on the wire (the Hello's) and their QueueSnapshot names.
struct WireQueueKind {
  uint32_t number;
  const char* name;
};
constexpr WireQueueKind kWireQueueKinds[] = {
    {static_cast<uint32_t>(AttachKind::kFifo), "fifo"},
    {static_cast<uint32_t>(AttachKind::kMpmc), "mpmc"},
    {static_cast<uint32_t>(AttachKind::kAck), "ack"}};

uint32_t KindNumber(const std::string& name) {
  for (const WireQueueKind& kind : kWireQueueKinds) {
    if (name == kind.name) return kind.number;
  }
  return kInspectorHelloKind;  // Not a queue kind: read back as "kind 0".
}

std::string KindName(uint32_t number) {
  for (const WireQueueKind& kind : kWireQueueKinds) {
    if (number == kind.number) return kind.name;
  }
  return "kind " + std::to_string(number);
}

// A stats call waits this long at most for a busy owner: monitoring that
// polls must not hang on a stuck one.
constexpr int kStatsPatienceSeconds = 5;

// Closes a descriptor when the scope ends.
class ClosingDescriptor {
 public:
  explicit ClosingDescriptor(int fd) : fd_(fd) {}
  ~ClosingDescriptor() { ::close(fd_); }
  ClosingDescriptor(const ClosingDescriptor&) = delete;
  ClosingDescriptor& operator=(const ClosingDescriptor&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// The owner's answer to kStats on an inspector connection; nullopt if no
// owner listens on the queue's socket. A refusal (another release, another
// user, no answer in time) goes to `refusal`, with nullopt.
std::optional<QueueOwner> AskOwner(const std::string& path, std::string* refusal) {
  try {
    const int connected = ConnectToOwner(path);
    if (connected < 0) return std::nullopt;
    const ClosingDescriptor fd(connected);
    const timeval patience{kStatsPatienceSeconds, 0};
    ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &patience, sizeof(patience));
    std::string body;
    if (!Handshake(fd.get(), path, kInspectorHelloKind, 0, 0, &body)) return std::nullopt;
    FrameHeader request;
    request.op = AttachOp::kStats;
    request.seq = 1;
    FrameHeader reply;
    if (!SendFrame(fd.get(), request, std::string_view(), path) ||
        !ReceiveFrame(fd.get(), &reply, &body, path)) {
      return std::nullopt;  // The owner was closing.
    }
    if (reply.status != 0) throw Error(KindOfWireCode(reply.status), path, body);
    return DecodeOwnerStats(body, path);
  } catch (const Error& error) {
    *refusal = error.detail();
    return std::nullopt;
  }
}

// The pid of the process holding the queue's RocksDB LOCK, 0 if none.
// RocksDB locks it with fcntl(F_SETLK) for writing, over the whole file
// (PosixEnv::LockFile, LockOrUnlock in RocksDB's env/io_posix.cc), so
// F_GETLK names the holder. Closing any descriptor of a file drops every
// fcntl lock the closing process holds on it: the file is never opened in
// a process that has the queue open, which may be the holder.
uint32_t LockHolder(const std::string& path) {
  try {
    OpenPathClaim::ThrowIfClaimed(path, "inspect");
  } catch (const Error& error) {
    if (error.kind() != ErrorKind::kAlreadyOpen) throw;
    return static_cast<uint32_t>(::getpid());
  }
  const std::string lock_path = path + "/LOCK";
  const int opened = ::open(lock_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (opened < 0) {
    if (errno == ENOENT) return 0;  // Never opened since it was made.
    throw Error(ErrorKind::kStorage, path,
                std::string("opening LOCK to see who holds it: ") + std::strerror(errno));
  }
  const ClosingDescriptor fd(opened);
  struct flock probe {};
  probe.l_type = F_WRLCK;
  probe.l_whence = SEEK_SET;
  probe.l_start = 0;
  probe.l_len = 0;  // The whole file.
  if (::fcntl(fd.get(), F_GETLK, &probe) != 0) {
    throw Error(ErrorKind::kStorage, path,
                std::string("asking who holds LOCK: ") + std::strerror(errno));
  }
  return probe.l_type == F_UNLCK ? 0 : static_cast<uint32_t>(probe.l_pid);
}

}  // namespace

std::string EncodeOwnerStats(const QueueOwner& stats) {
  BodyWriter body;
  body.U32(stats.pid);
  body.String(stats.version);
  body.U32(KindNumber(stats.kind));
  body.String(stats.queue_id);
  body.U64(stats.length);
  body.U64(stats.payload_bytes);
  body.U64(stats.disk_bytes);
  body.I64(stats.oldest_age_micros);
  body.U8(stats.oldest_age_is_lower_bound ? 1 : 0);
  body.U32(static_cast<uint32_t>(stats.attached.size()));
  for (const AttachedProcess& process : stats.attached) {
    body.U32(process.pid);
    body.U32(process.uid);
    body.U32(process.connections);
  }
  return std::move(body.bytes());
}

QueueOwner DecodeOwnerStats(std::string_view body, const std::string& path) {
  BodyReader reader(body, path);
  QueueOwner stats;
  stats.answered = true;
  stats.pid = reader.U32();
  stats.version = std::string(reader.String());
  stats.kind = KindName(reader.U32());
  stats.queue_id = std::string(reader.String());
  stats.length = reader.U64();
  stats.payload_bytes = reader.U64();
  stats.disk_bytes = reader.U64();
  stats.oldest_age_micros = reader.I64();
  stats.oldest_age_is_lower_bound = reader.U8() != 0;
  const uint32_t count = reader.U32();
  for (uint32_t i = 0; i < count; ++i) {
    AttachedProcess process;
    process.pid = reader.U32();
    process.uid = reader.U32();
    process.connections = reader.U32();
    stats.attached.push_back(process);
  }
  return stats;
}

QueueOwner InspectOwner(const std::string& path) {
  ReadStoredQueue(path);  // Refuses what is not a queue, as InspectQueue does.
  std::string refusal;
  if (std::optional<QueueOwner> answered = AskOwner(path, &refusal)) return *answered;
  QueueOwner owner;
  owner.pid = LockHolder(path);
  owner.refusal = refusal;
  return owner;
}

}  // namespace rocksq
