#include "attach_client.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <random>
#include <sstream>

#include "popped_items_rep.h"
#include "process_owned.h"
#include "rocksq/build_info.h"

namespace rocksq {
namespace {

// The pids that hold a POSIX lock on the queue's LOCK file, as /proc/locks
// lists them (RocksDB locks it with fcntl(F_SETLK): PosixEnv::LockFile);
// nullopt if it cannot tell, as when none is listed: some sandboxes list
// no locks, and this is asked once an open found LOCK held (a holder that
// exited since took its listener with it). Not F_GETLK, which needs the
// file open: closing any descriptor of it drops every fcntl lock the
// closing process holds, which would end this process's ownership if it
// is the owner.
// Locks are matched by inode alone, as some filesystems (btrfs) give stat()
// another device number than /proc/locks shows.
std::optional<std::vector<uint32_t>> LockHolders(const std::string& path) {
  struct stat lock_file {};
  if (::stat((path + "/LOCK").c_str(), &lock_file) != 0) return std::nullopt;
  std::ifstream locks("/proc/locks");
  if (!locks) return std::nullopt;
  std::vector<uint32_t> holders;
  std::string line;
  while (std::getline(locks, line)) {
    // "1: POSIX  ADVISORY  WRITE 1234 08:01:5678 0 EOF"; a waiter's has
    // "->" after the number.
    std::istringstream fields(line);
    std::string number, type, mode, access, pid, file;
    fields >> number >> type >> mode >> access >> pid >> file;
    if (type != "POSIX") continue;
    const size_t inode_at = file.rfind(':');
    if (inode_at == std::string::npos ||
        file.substr(inode_at + 1) != std::to_string(lock_file.st_ino)) {
      continue;
    }
    const long holder = std::strtol(pid.c_str(), nullptr, 10);
    if (holder <= 0) return std::nullopt;  // Not visible from this pid namespace.
    holders.push_back(static_cast<uint32_t>(holder));
  }
  if (holders.empty()) return std::nullopt;
  return holders;
}

// The pid of the process listening at the other end of `fd`, 0 if unknown.
uint32_t PeerPid(int fd) {
  ucred peer{};
  socklen_t peer_size = sizeof(peer);
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &peer_size) != 0) return 0;
  return static_cast<uint32_t>(peer.pid);
}

// Whether the process listening on `fd` holds the queue's LOCK, so owns the
// queue: a socket at the name that another program bound, or a symlink to
// another queue's, must not take this process's calls. True if it cannot
// tell (another pid namespace, no /proc/locks): the owner rebinds its name
// when it changes (attach_server.cc), which covers most of the rest.
bool ListenerOwnsQueue(int fd, const std::string& path, uint32_t* listener, uint32_t* holder) {
  *listener = PeerPid(fd);
  *holder = 0;
  if (*listener == 0 || *listener == static_cast<uint32_t>(::getpid())) return true;
  const std::optional<std::vector<uint32_t>> holders = LockHolders(path);
  if (!holders) return true;
  *holder = holders->front();
  return std::find(holders->begin(), holders->end(), *listener) != holders->end();
}

// Connects `fd` to the socket in the queue's directory, open as
// `directory_fd`; 0, or connect's errno. A listener that does not accept
// (its backlog full) makes a connect wait: the wait is bounded as a
// greeting is, and then fails with EAGAIN.
int ConnectInDirectory(int fd, int directory_fd, const std::string& path) {
  const sockaddr_un address = SocketAddress(directory_fd, path);
  const timeval bound{static_cast<time_t>(kGreetingTimeout.count()), 0};
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &bound, sizeof(bound));
  int connected;
  do {
    connected = ::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address));
  } while (connected != 0 && errno == EINTR);
  return connected == 0 ? 0 : errno;
}

// Reads the reply to this process's Hello (a Welcome or a refusal), all of
// it within kGreetingTimeout of `sent`: a bound per recv would not bound
// their sum, and a listener that trickles its answer a byte at a time is
// stuck or no RocksQ owner, and must not hold up an open for ever. False if
// the listener hung up. A body declared over kMaxGreetingBodyBytes is
// refused once its header arrives, before the body. A descriptor passed
// with it (SCM_RIGHTS: the lane) goes to `*passed_fd`; -1 if none.
bool ReceiveGreeting(int fd, Clock::time_point sent, FrameHeader* header, std::string* body,
                     const std::string& path, int* passed_fd) {
  const Clock::time_point deadline = sent + kGreetingTimeout;
  std::string frame(kFrameHeaderBytes, '\0');
  size_t received = 0;
  bool header_read = false;
  while (received < frame.size()) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    pollfd readable{fd, POLLIN, 0};
    const int ready =
        left.count() > 0 ? ::poll(&readable, 1, static_cast<int>(left.count())) : 0;
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) {
      const std::string listener =
          "the process " + std::to_string(PeerPid(fd)) + " listening on " + kAttachSocketName;
      throw Error(ErrorKind::kStorage, path,
                  listener +
                      (received == 0 ? std::string(" did not answer this process's Hello")
                                     : " sent only " + std::to_string(received) +
                                           " bytes of its answer to this process's Hello") +
                      " within " + std::to_string(kGreetingTimeout.count()) +
                      " s: it is stuck, or not a RocksQ owner");
    }
    iovec into{frame.data() + received, frame.size() - received};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
    msghdr message{};
    message.msg_iov = &into;
    message.msg_iovlen = 1;
    message.msg_control = control;
    message.msg_controllen = sizeof(control);
    const ssize_t got = ::recvmsg(fd, &message, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    for (cmsghdr* part = got > 0 ? CMSG_FIRSTHDR(&message) : nullptr; part != nullptr;
         part = CMSG_NXTHDR(&message, part)) {
      if (part->cmsg_level != SOL_SOCKET || part->cmsg_type != SCM_RIGHTS) continue;
      int passed;
      std::memcpy(&passed, CMSG_DATA(part), sizeof(int));
      if (*passed_fd < 0) {
        *passed_fd = passed;
      } else {
        ::close(passed);
      }
    }
    if (got == 0) return false;
    if (got < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
      if (errno == ECONNRESET) return false;
      ThrowSocketError(path, "reading from");
    }
    received += static_cast<size_t>(got);
    if (!header_read && received == kFrameHeaderBytes) {
      *header = DecodeHeader(frame.data());
      CheckDeclaredBody(*header, kMaxGreetingBodyBytes, path);
      frame.resize(kFrameHeaderBytes + static_cast<size_t>(header->body_bytes));
      header_read = true;
    }
  }
  body->assign(frame, kFrameHeaderBytes);
  return true;
}

}  // namespace

int ConnectToOwner(const std::string& path) {
  const int directory_fd = ::open(path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (directory_fd < 0) {
    throw Error(ErrorKind::kStorage, path,
                std::string("opening the queue's directory: ") + std::strerror(errno));
  }
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int connect_error;
  try {
    connect_error = ConnectInDirectory(fd, directory_fd, path);
  } catch (const Error&) {
    ::close(directory_fd);
    ::close(fd);
    throw;
  }
  ::close(directory_fd);
  if (connect_error == 0) {
    uint32_t listener, holder;
    if (ListenerOwnsQueue(fd, path, &listener, &holder)) return fd;
    ::close(fd);  // Tried again until the owner binds its name back, or it
    return -1;    // gives up (WhyNoOwnerAnswers says which process it was).
  }
  ::close(fd);
  if (connect_error == ENOENT || connect_error == ECONNREFUSED || connect_error == EAGAIN) {
    return -1;
  }
  if (connect_error == EACCES) {
    // The socket's owner and group are the owner's user and attach_group.
    struct stat socket_file {};
    const bool known = ::stat((path + "/" + kAttachSocketName).c_str(), &socket_file) == 0;
    const std::string whose =
        !known ? std::string()
        : (socket_file.st_mode & S_IRWXG) != 0
            ? " (user " + UserName(socket_file.st_uid) + " and group " +
                  GroupName(socket_file.st_gid) + " only)"
            : " (user " + UserName(socket_file.st_uid) +
                  " only, unless the owner sets attach_group)";
    throw Error(ErrorKind::kAlreadyOpen, path,
                std::string("locked by another process, whose attach socket ") +
                    kAttachSocketName + " user " + UserName(::geteuid()) + " may not use" +
                    whose);
  }
  throw Error(ErrorKind::kStorage, path,
              std::string("connecting to the attach socket: ") + std::strerror(connect_error));
}

bool Handshake(int fd, const std::string& path, uint32_t kind, uint64_t client_id, uint32_t lane,
               std::string* welcome_body, std::unique_ptr<SharedLane>* shared_lane) {
  FrameHeader hello;
  hello.op = AttachOp::kHello;
  Hello mine;
  mine.version = ROCKSQ_VERSION;
  mine.kind = kind;
  mine.pid = static_cast<uint32_t>(::getpid());
  mine.client_id = client_id;
  mine.lane = lane;
  mine.shared_lane = shared_lane != nullptr;
  FrameHeader reply;
  // The greeting is bounded (a process that accepts and never answers is
  // not an owner); the calls after it may wait as long as they ask, so the
  // send bound goes again.
  const timeval bound{static_cast<time_t>(kGreetingTimeout.count()), 0};
  const timeval unbounded{0, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &bound, sizeof(bound));
  const Clock::time_point sent = Clock::now();
  if (!SendFrame(fd, hello, EncodeHello(mine), path)) return false;
  int lane_fd = -1;
  bool welcomed = false;
  try {
    welcomed = ReceiveGreeting(fd, sent, &reply, welcome_body, path, &lane_fd);
  } catch (const Error&) {
    if (lane_fd >= 0) ::close(lane_fd);
    throw;
  }
  if (welcomed && reply.status == 0 && shared_lane != nullptr && lane_fd >= 0) {
    // Null if it is no lane: the socket then carries every frame, as it
    // does when the owner's system gave none.
    *shared_lane = SharedLane::Map(lane_fd);
  } else if (lane_fd >= 0) {
    ::close(lane_fd);
  }
  if (!welcomed) return false;
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &unbounded, sizeof(unbounded));
  if (reply.status != 0) throw Error(KindOfWireCode(reply.status), path, *welcome_body);
  return true;
}

bool HeldByAnotherProcessAndUnwritable(const std::string& path) {
  if (::faccessat(AT_FDCWD, (path + "/LOCK").c_str(), W_OK, AT_EACCESS) == 0 || errno != EACCES) {
    return false;
  }
  return LockHolders(path).has_value();
}

std::string WhyNoOwnerAnswers(const std::string& path) {
  const std::string socket_path = path + "/" + kAttachSocketName;
  struct stat found {};
  if (::lstat(socket_path.c_str(), &found) != 0) {
    return std::string("no ") + kAttachSocketName +
           " is in the queue's directory (it opened the queue without attach)";
  }
  if (S_ISDIR(found.st_mode)) {
    return std::string("a directory has the name of its socket ") + kAttachSocketName;
  }
  if (!S_ISSOCK(found.st_mode)) {
    return std::string(kAttachSocketName) + " is not a socket (" +
           (S_ISLNK(found.st_mode) ? "a symbolic link" : "another kind of file") + ")";
  }
  const int directory_fd = ::open(path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  std::string why = std::string("nobody listens on ") + kAttachSocketName +
                    " (it opened the queue without attach, or is still binding it)";
  if (directory_fd >= 0 && fd >= 0) {
    try {
      const int connect_error = ConnectInDirectory(fd, directory_fd, path);
      uint32_t listener, holder;
      if (connect_error == EAGAIN) {
        why = std::string("the process listening on ") + kAttachSocketName +
              " accepts no connection";
      } else if (connect_error == 0 && !ListenerOwnsQueue(fd, path, &listener, &holder)) {
        why = std::string("the process ") + std::to_string(listener) + " listening on " +
              kAttachSocketName + " does not hold the queue's LOCK" +
              (holder != 0 ? " (process " + std::to_string(holder) + " does)" : "");
      }
    } catch (const Error&) {
      // The address is too long without /proc: the default reason stands.
    }
  }
  if (fd >= 0) ::close(fd);
  if (directory_fd >= 0) ::close(directory_fd);
  return why;
}

PoppedItems ReadPoppedItems(std::string* reply, BodyReader* body) {
  const std::vector<std::string_view> items = body->Items();
  if (items.empty()) return PoppedItems();
  // The payloads lie back to back in the reply (BodyWriter::Items): the
  // items keep the reply, and where each ends in it, rather than a copy.
  auto rep = std::make_unique<PoppedItems::Rep>();
  rep->copied_begin = static_cast<size_t>(items.front().data() - reply->data());
  rep->copied_ends.reserve(items.size());
  for (std::string_view item : items) {
    rep->copied_ends.push_back(static_cast<size_t>(item.data() + item.size() - reply->data()));
  }
  rep->payload_bytes = rep->copied_ends.back() - rep->copied_begin;
  rep->copied = std::move(*reply);  // After the offsets: a short string's bytes move.
  return PoppedItems(std::move(rep));
}

std::string SecondsText(int64_t milliseconds) {
  std::string text = std::to_string(milliseconds / 1000);
  const int64_t fraction = milliseconds % 1000;
  if (fraction != 0) {
    std::string digits = std::to_string(1000 + fraction).substr(1);
    while (digits.back() == '0') digits.pop_back();
    text += "." + digits;
  }
  return text;
}

AttachIdentity::AttachIdentity()
    : client_id([] {
        std::random_device random;
        uint64_t id = 0;
        while (id == 0) id = (uint64_t{random()} << 32) | random();
        return id;
      }()) {}

std::unique_ptr<AttachClient> AttachClient::Connect(const std::string& path, AttachKind kind,
                                                    std::shared_ptr<AttachIdentity> identity,
                                                    bool claim) {
  const int fd = ConnectToOwner(path);
  if (fd < 0) return nullptr;
  if (!identity) identity = std::make_shared<AttachIdentity>();
  const uint32_t lane = identity->next_lane.fetch_add(1);
  std::string reply_body;
  std::unique_ptr<SharedLane> shared_lane;
  bool answered = false;
  try {
    answered = Handshake(fd, path, static_cast<uint32_t>(kind), identity->client_id, lane,
                         &reply_body, &shared_lane);
  } catch (const Error&) {
    ::close(fd);
    throw;
  }
  if (!answered) {  // The owner was closing: try again.
    ::close(fd);
    return nullptr;
  }
  try {
    const Welcome welcome = DecodeWelcome(reply_body, path);
    if (welcome.protocol != kAttachProtocol) {
      throw Error(ErrorKind::kUnsupportedFormat, path,
                  "owner process " + std::to_string(welcome.owner_pid) + " runs RocksQ " +
                      welcome.version + " (attach protocol " + std::to_string(welcome.protocol) +
                      "); this process runs " + ROCKSQ_VERSION + " (protocol " +
                      std::to_string(kAttachProtocol) + "): use one RocksQ version per queue");
    }
    return std::make_unique<AttachClient>(path, kind, fd, lane, std::move(shared_lane), welcome,
                                          std::move(identity), claim);
  } catch (...) {
    ::close(fd);
    throw;
  }
}

AttachClient::AttachClient(const std::string& path, AttachKind kind, int first_fd,
                           uint32_t first_lane, std::unique_ptr<SharedLane> first_shared_lane,
                           const Welcome& welcome, std::shared_ptr<AttachIdentity> identity,
                           bool claim)
    : path_(path), kind_(kind), welcome_(welcome), identity_(std::move(identity)) {
  if (claim) {
    claim_ = std::make_unique<OpenPathClaim>(path);
    claim_->ClaimDirectory();  // A second open in this process stays refused.
  }
  idle_.push_back({first_fd, first_lane, std::move(first_shared_lane)});
  all_.insert(first_fd);
  CloseInForkChild(first_fd);  // A child makes its own connections.
}

void AttachClient::CheckOptionAgrees(const char* name, const std::string& mine,
                                     const std::string& owners) const {
  if (mine == owners) return;
  throw Error(ErrorKind::kInvalidArgument, path_,
              std::string(name) + " " + mine + " differs from the owning process " +
                  std::to_string(welcome_.owner_pid) + "'s " + owners +
                  ": an attached process opens with the owner's options");
}

void AttachClient::RefuseChangeListener() const {
  throw Error(ErrorKind::kInvalidArgument, path_,
              "an attached queue takes no change listener (the owning process " +
                  std::to_string(welcome_.owner_pid) +
                  " calls its own): watch it through WatchChanges()");
}

void AttachClient::Close() {
  if (closed_.exchange(true)) return;
  {
    std::lock_guard<std::mutex> lock(connections_mutex_);
    for (int fd : all_) ::shutdown(fd, SHUT_RDWR);
  }
  std::unique_lock<std::shared_mutex> lifetime(lifetime_mutex_);
  std::lock_guard<std::mutex> lock(connections_mutex_);
  for (int fd : all_) CloseTrackedDescriptor(fd);
  all_.clear();
  idle_.clear();
  claim_.reset();
}

uint64_t AttachClient::CallForCount(AttachOp op) const {
  const std::string reply = Call(op, BodyWriter());
  return BodyReader(reply, path_).U64();
}

void AttachClient::ReleaseClaim() {
  std::lock_guard<std::mutex> lock(connections_mutex_);
  claim_.reset();
}

void AttachClient::ThrowOwnerGone(const CallId& call) const {
  if (closed_.load()) throw Error(ErrorKind::kClosed, path_, "the queue was closed");
  throw OwnerGone(path_,
                  "the owning process " + std::to_string(welcome_.owner_pid) +
                      " closed the queue or exited",
                  call);
}

void AttachClient::ForgetConnection(int fd) const {
  std::lock_guard<std::mutex> lock(connections_mutex_);
  all_.erase(fd);
  CloseTrackedDescriptor(fd);
}

AttachClient::Connection AttachClient::TakeConnection(uint32_t lane) const {
  if (lane == 0) {
    std::lock_guard<std::mutex> lock(connections_mutex_);
    if (!idle_.empty()) {
      const Connection connection = idle_.back();
      idle_.pop_back();
      return connection;
    }
  }
  const Connection connection = Connect(lane);
  std::lock_guard<std::mutex> lock(connections_mutex_);
  all_.insert(connection.fd);
  return connection;
}

// Its one request, kWatch, waits for a change: the socket carries it.
int AttachClient::ConnectEventLane() const { return Connect(0, /*shared_lane=*/false).fd; }

AttachClient::Connection AttachClient::Connect(uint32_t lane, bool shared_lane) const {
  const CallId none{identity_->client_id, lane, 0};
  const int fd = ConnectToOwner(path_);
  if (fd < 0) ThrowOwnerGone(none);
  if (lane == 0) lane = identity_->next_lane.fetch_add(1);
  // Every connection starts with the handshake; the options were agreed on
  // by the first.
  std::string welcome;
  std::unique_ptr<SharedLane> mapped;
  bool welcomed = false;
  try {
    welcomed = Handshake(fd, path_, static_cast<uint32_t>(kind_), identity_->client_id, lane,
                         &welcome, shared_lane ? &mapped : nullptr);
  } catch (const Error&) {
    ::close(fd);
    throw;
  }
  // Another owner than the first connection's took the queue over (and may
  // run another protocol): the caller hands over to it as to any new owner.
  std::optional<Welcome> decoded;
  if (welcomed) {
    try {
      decoded = DecodeWelcome(welcome, path_);
    } catch (const Error&) {
      ::close(fd);
      throw;
    }
  }
  if (!decoded || decoded->protocol != kAttachProtocol ||
      decoded->owner_pid != welcome_.owner_pid) {
    ::close(fd);
    ThrowOwnerGone(none);
  }
  CloseInForkChild(fd);
  return {fd, lane, std::move(mapped)};
}

std::string AttachClient::Call(AttachOp op, const BodyWriter& body) const {
  std::shared_lock<std::shared_mutex> lifetime(lifetime_mutex_);
  if (closed_.load()) throw Error(ErrorKind::kClosed, path_, "the queue was closed");
  const Connection connection = TakeConnection();
  return Send(connection, op, body, identity_->next_seq.fetch_add(1), 0);
}

std::string AttachClient::CallAgain(AttachOp op, const BodyWriter& body,
                                    const CallId& call) const {
  std::shared_lock<std::shared_mutex> lifetime(lifetime_mutex_);
  if (closed_.load()) throw Error(ErrorKind::kClosed, path_, "the queue was closed");
  const Connection connection = TakeConnection(call.lane);
  return Send(connection, op, body, call.seq, kRetryFlag);
}

bool AttachClient::CallThroughLane(const Connection& connection, const FrameHeader& request,
                                   const BodyWriter& body, FrameHeader* reply,
                                   std::string* reply_body) const {
  SharedLane& lane = *connection.shared_lane;
  if (lane.PostRequest(request, body.Parts()) && !SharedLane::Ring(connection.fd, path_)) {
    return false;
  }
  if (!reply_poll_([&] { return lane.ReplyPosted(); })) {
    for (;;) {
      if (lane.ClientSleeps()) {
        // The reply came as this said it sleeps: the owner may have seen
        // that, and rings; its doorbell is read now, so that none is left
        // to be taken for the next call's.
        if (lane.ClientWakes() && !ReceiveFrame(connection.fd, reply, reply_body, path_)) {
          return false;
        }
        break;
      }
      if (!ReceiveFrame(connection.fd, reply, reply_body, path_)) return false;
      if (reply->op != AttachOp::kLaneDoorbell) {
        lane.ClientWakes();  // A reply too large for the lane: no doorbell with it.
        return true;
      }
      if (lane.ReplyPosted()) break;
    }
  }
  if (lane.ReplyOnSocket()) return ReceiveFrame(connection.fd, reply, reply_body, path_);
  return lane.ReadReply(reply, reply_body);
}

std::string AttachClient::Send(Connection connection, AttachOp op, const BodyWriter& body,
                               uint64_t seq, uint16_t flags) const {
  const CallId call{identity_->client_id, connection.lane, seq};
  FrameHeader request;
  request.op = op;
  request.seq = seq;
  request.flags = flags;
  FrameHeader reply;
  std::string reply_body;
  bool answered = false;
  try {
    if (connection.shared_lane && SharedLane::Fits(body.Size())) {
      answered = CallThroughLane(connection, request, body, &reply, &reply_body);
    } else {
      answered = SendFrame(connection.fd, request, body.Parts(), path_) &&
                 ReceiveFrame(connection.fd, &reply, &reply_body, path_, kMaxFrameBodyBytes,
                              &reply_poll_);
    }
  } catch (const Error&) {
    ForgetConnection(connection.fd);
    if (closed_.load()) ThrowOwnerGone(call);
    throw;
  }
  if (!answered || reply.seq != request.seq) {
    ForgetConnection(connection.fd);
    ThrowOwnerGone(call);
  }
  {
    std::lock_guard<std::mutex> lock(connections_mutex_);
    idle_.push_back(connection);
  }
  if (reply.status != 0) throw Error(KindOfWireCode(reply.status), path_, reply_body);
  return reply_body;
}

}  // namespace rocksq
