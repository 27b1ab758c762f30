#include "attach_client.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

#include "popped_items_rep.h"
#include "process_owned.h"
#include "rocksq/build_info.h"

namespace rocksq {
int ConnectToOwner(const std::string& path) {
  const int directory_fd = ::open(path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (directory_fd < 0) {
    throw Error(ErrorKind::kStorage, path,
                std::string("opening the queue's directory: ") + std::strerror(errno));
  }
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un address{};
  try {
    address = SocketAddress(directory_fd, path);
  } catch (const Error&) {
    ::close(directory_fd);
    ::close(fd);
    throw;
  }
  int connected;
  do {
    connected = ::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address));
  } while (connected != 0 && errno == EINTR);
  const int connect_error = errno;
  ::close(directory_fd);
  if (connected == 0) return fd;
  ::close(fd);
  if (connect_error == ENOENT || connect_error == ECONNREFUSED) return -1;
  if (connect_error == EACCES) {
    throw Error(ErrorKind::kAlreadyOpen, path,
                std::string("locked by another process, whose attach socket ") +
                    kAttachSocketName + " this user may not use (same user only)");
  }
  throw Error(ErrorKind::kStorage, path,
              std::string("connecting to the attach socket: ") + std::strerror(connect_error));
}

bool Handshake(int fd, const std::string& path, uint32_t kind, uint64_t client_id, uint32_t lane,
               std::string* welcome_body) {
  FrameHeader hello;
  hello.op = AttachOp::kHello;
  Hello mine;
  mine.version = ROCKSQ_VERSION;
  mine.kind = kind;
  mine.pid = static_cast<uint32_t>(::getpid());
  mine.client_id = client_id;
  mine.lane = lane;
  FrameHeader reply;
  if (!SendFrame(fd, hello, EncodeHello(mine), path) ||
      !ReceiveFrame(fd, &reply, welcome_body, path)) {
    return false;
  }
  if (reply.status != 0) throw Error(KindOfWireCode(reply.status), path, *welcome_body);
  return true;
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
  bool answered = false;
  try {
    answered = Handshake(fd, path, static_cast<uint32_t>(kind), identity->client_id, lane,
                         &reply_body);
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
    return std::make_unique<AttachClient>(path, kind, fd, lane, welcome, std::move(identity),
                                          claim);
  } catch (...) {
    ::close(fd);
    throw;
  }
}

AttachClient::AttachClient(const std::string& path, AttachKind kind, int first_fd,
                           uint32_t first_lane, const Welcome& welcome,
                           std::shared_ptr<AttachIdentity> identity, bool claim)
    : path_(path), kind_(kind), welcome_(welcome), identity_(std::move(identity)) {
  if (claim) {
    claim_ = std::make_unique<OpenPathClaim>(path);
    claim_->ClaimDirectory();  // A second open in this process stays refused.
  }
  idle_.push_back({first_fd, first_lane});
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

int AttachClient::ConnectEventLane() const { return Connect(0).fd; }

AttachClient::Connection AttachClient::Connect(uint32_t lane) const {
  const CallId none{identity_->client_id, lane, 0};
  const int fd = ConnectToOwner(path_);
  if (fd < 0) ThrowOwnerGone(none);
  if (lane == 0) lane = identity_->next_lane.fetch_add(1);
  // Every connection starts with the handshake; the options were agreed on
  // by the first.
  std::string welcome;
  bool welcomed = false;
  try {
    welcomed = Handshake(fd, path_, static_cast<uint32_t>(kind_), identity_->client_id, lane,
                         &welcome);
  } catch (const Error&) {
    ::close(fd);
    throw;
  }
  if (!welcomed) {
    ::close(fd);
    ThrowOwnerGone(none);
  }
  CloseInForkChild(fd);
  return {fd, lane};
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
    answered = SendFrame(connection.fd, request, body.Parts(), path_) &&
               ReceiveFrame(connection.fd, &reply, &reply_body, path_, &reply_poll_);
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
