#include "attach_server.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <list>
#include <map>
#include <thread>
#include <vector>

#include "process_owned.h"
#include "waiting.h"

namespace rocksq {
namespace {

// A reply the owner cannot hand over within this long goes to a client that
// stopped reading; it is dropped rather than stall every other client.
constexpr int kSendTimeoutSeconds = 5;

std::string UserName(uid_t uid) {
  const passwd* entry = ::getpwuid(uid);
  const std::string number = std::to_string(uid);
  return entry != nullptr ? std::string(entry->pw_name) + " (" + number + ")" : number;
}

// A fork() child closes the server's descriptors: a child holding the
// owner's listener or connections would keep attached processes waiting on
// a dead owner instead of seeing the connection end.
void Track(int fd) { CloseInForkChild(fd); }
void CloseTracked(int fd) { CloseTrackedDescriptor(fd); }

int64_t NanosecondsSinceEpoch(Clock::time_point when) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(when.time_since_epoch()).count();
}

class SocketServer final : public AttachServer {
 public:
  SocketServer(FifoQueue* queue, const Welcome& welcome) : queue_(queue), welcome_(welcome) {}
  ~SocketServer() override {
    Stop();
    if (!started_) {  // Bind() failed: Shutdown() never ran.
      for (int fd : {listen_fd_, epoll_fd_, wake_fd_, timer_fd_, directory_fd_}) {
        if (fd >= 0) CloseTracked(fd);
      }
    }
  }

  void Bind();

  void NoteChange() override {
    if (changed_.exchange(true, std::memory_order_acq_rel)) return;
    Wake();
  }

  void Stop() override {
    if (!thread_.joinable()) return;
    stopping_.store(true, std::memory_order_release);
    Wake();
    thread_.join();
  }

 private:
  struct Connection {
    int fd = -1;
    uid_t uid = 0;
    bool welcomed = false;
    std::string inbox;  // Bytes received and not yet served.
  };

  // A waiting call that could not go on yet: its request, kept whole.
  struct ParkedCall {
    int fd;
    FrameHeader header;
    std::string body;
    Clock::time_point deadline;
  };

  enum class Outcome { kDone, kMustWait };

  void Wake() {
    const uint64_t one = 1;
    (void)!::write(wake_fd_, &one, sizeof(one));
  }
  void Loop();
  void Accept();
  void Receive(Connection* connection);
  void Serve(Connection* connection, const FrameHeader& header, std::string_view body);
  // Runs a request once without waiting: kMustWait if it is a waiting call
  // that found no item or no room and may still wait; `final` (at the
  // deadline) answers instead.
  Outcome Run(int fd, const FrameHeader& header, std::string_view body, bool final);
  void RetryParked();
  // Runs a parked call taken out of parked_, unless its client hung up.
  Outcome RunParked(const ParkedCall& call, bool final);
  void AnswerExpired();
  void ArmTimer();
  void Reply(int fd, const FrameHeader& request, std::string_view body, uint32_t status = 0);
  void ReplyError(int fd, const FrameHeader& request, const Error& error) {
    Reply(fd, request, error.detail(), WireCode(error.kind()));
  }
  void Drop(int fd);
  void Shutdown();

  FifoQueue* const queue_;
  const Welcome welcome_;
  int directory_fd_ = -1;
  int listen_fd_ = -1;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  int timer_fd_ = -1;
  std::atomic<bool> changed_{false};
  std::atomic<bool> stopping_{false};
  std::map<int, Connection> connections_;
  std::list<ParkedCall> parked_;  // In arrival order.
  bool started_ = false;
  std::thread thread_;
};

[[noreturn]] void ThrowSystem(const std::string& path, const std::string& action) {
  throw Error(ErrorKind::kStorage, path, action + ": " + std::strerror(errno));
}

void SocketServer::Bind() {
  const std::string& path = queue_->Path();
  directory_fd_ = ::open(path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (directory_fd_ < 0) ThrowSystem(path, "opening the queue's directory");
  // Only the LOCK holder gets here: a socket left by a killed owner is
  // stale, and nobody else may bind one meanwhile.
  if (::unlinkat(directory_fd_, kAttachSocketName, 0) != 0 && errno != ENOENT) {
    ThrowSystem(path, std::string("removing a stale ") + kAttachSocketName);
  }
  listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) ThrowSystem(path, "making the attach socket");
  const sockaddr_un address = SocketAddress(directory_fd_, path);
  if (::bind(listen_fd_, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
    ThrowSystem(path, "binding the attach socket " + std::string(kAttachSocketName));
  }
  // Peers are also checked by user at each connection (SO_PEERCRED), so
  // the moment before this chmod admits nobody else.
  if (::fchmodat(directory_fd_, kAttachSocketName, 0600, 0) != 0) {
    ThrowSystem(path, "setting the attach socket's mode");
  }
  if (::listen(listen_fd_, SOMAXCONN) != 0) ThrowSystem(path, "listening on the attach socket");
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  timer_fd_ = ::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
  if (epoll_fd_ < 0 || wake_fd_ < 0 || timer_fd_ < 0) ThrowSystem(path, "starting the attach server");
  for (int fd : {directory_fd_, listen_fd_, epoll_fd_, wake_fd_, timer_fd_}) Track(fd);
  for (int fd : {listen_fd_, wake_fd_, timer_fd_}) {
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.fd = fd;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event);
  }
  thread_ = std::thread([this] { Loop(); });
  started_ = true;
}

void SocketServer::Loop() {
  epoll_event events[32];
  while (!stopping_.load(std::memory_order_acquire)) {
    const int ready = ::epoll_wait(epoll_fd_, events, 32, -1);
    if (ready < 0) continue;  // EINTR.
    for (int i = 0; i < ready && !stopping_.load(std::memory_order_acquire); ++i) {
      const int fd = events[i].data.fd;
      if (fd == listen_fd_) {
        Accept();
      } else if (fd == wake_fd_) {
        uint64_t count;
        (void)!::read(wake_fd_, &count, sizeof(count));
      } else if (fd == timer_fd_) {
        uint64_t expirations;
        (void)!::read(timer_fd_, &expirations, sizeof(expirations));
        AnswerExpired();
      } else {
        auto found = connections_.find(fd);
        if (found != connections_.end()) Receive(&found->second);
      }
    }
    if (changed_.exchange(false, std::memory_order_acq_rel)) RetryParked();
  }
  Shutdown();
}

void SocketServer::Accept() {
  const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
  if (fd < 0) return;
  ucred peer{};
  socklen_t peer_size = sizeof(peer);
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &peer_size) != 0) {
    ::close(fd);
    return;
  }
  const timeval send_timeout{kSendTimeoutSeconds, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof(send_timeout));
  Track(fd);
  Connection& connection = connections_[fd];
  connection.fd = fd;
  connection.uid = peer.uid;
  epoll_event event{};
  event.events = EPOLLIN | EPOLLRDHUP;
  event.data.fd = fd;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event);
}

void SocketServer::Receive(Connection* connection) {
  const int fd = connection->fd;
  char buffer[64 * 1024];
  for (;;) {
    const ssize_t received = ::recv(fd, buffer, sizeof(buffer), MSG_DONTWAIT);
    if (received > 0) {
      connection->inbox.append(buffer, static_cast<size_t>(received));
      continue;
    }
    if (received < 0 && errno == EINTR) continue;
    if (received < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    Drop(fd);  // The client closed (or died): its parked call goes too.
    return;
  }
  // A client sends its next request only after the reply to the last one,
  // so the inbox holds at most one whole frame.
  while (connection->inbox.size() >= kFrameHeaderBytes) {
    const FrameHeader header = DecodeHeader(connection->inbox.data());
    if (header.body_bytes > kMaxFrameBodyBytes) {
      Drop(fd);
      return;
    }
    const size_t frame_bytes = kFrameHeaderBytes + header.body_bytes;
    if (connection->inbox.size() < frame_bytes) return;
    const std::string frame = connection->inbox.substr(0, frame_bytes);
    connection->inbox.erase(0, frame_bytes);
    Serve(connection, header, std::string_view(frame).substr(kFrameHeaderBytes));
    if (connections_.find(fd) == connections_.end()) return;  // Dropped.
  }
}

void SocketServer::Serve(Connection* connection, const FrameHeader& header,
                         std::string_view body) {
  const int fd = connection->fd;
  const std::string& path = queue_->Path();
  if (!connection->welcomed) {
    try {
      const Hello hello = DecodeHello(body, path);
      const std::string owner = "owned by process " + std::to_string(welcome_.owner_pid);
      if (connection->uid != ::geteuid()) {
        throw Error(ErrorKind::kAlreadyOpen, path,
                    owner + " of user " + UserName(::geteuid()) + "; user " +
                        UserName(connection->uid) + " may not attach (same user only)");
      }
      if (hello.protocol != kAttachProtocol || hello.kind != 1) {
        throw Error(ErrorKind::kUnsupportedFormat, path,
                    owner + ", which runs RocksQ " + welcome_.version + " (attach protocol " +
                        std::to_string(kAttachProtocol) + ", FIFO queue); process " +
                        std::to_string(hello.pid) + " runs RocksQ " + hello.version +
                        " (attach protocol " + std::to_string(hello.protocol) +
                        "): use one RocksQ version per queue");
      }
      Welcome welcome = welcome_;
      welcome.max_elements = queue_->MaxElements();
      Reply(fd, header, EncodeWelcome(welcome));
      connection->welcomed = true;
    } catch (const Error& refused) {
      ReplyError(fd, header, refused);
      Drop(fd);
    }
    return;
  }
  if (Run(fd, header, body, /*final=*/false) == Outcome::kMustWait) {
    BodyReader reader(body, path);
    if (header.op == AttachOp::kPopWait) reader.U64();
    const std::chrono::nanoseconds timeout(reader.I64());
    parked_.push_back({fd, header, std::string(body), DeadlineAfter(timeout)});
    ArmTimer();
  }
}

SocketServer::Outcome SocketServer::Run(int fd, const FrameHeader& header,
                                        std::string_view body, bool final) {
  BodyReader reader(body, queue_->Path());
  BodyWriter reply;
  try {
    switch (header.op) {
      case AttachOp::kPushBatch:
        queue_->PushBatch(reader.Items());
        break;
      case AttachOp::kPushBatchWait: {
        const int64_t timeout = reader.I64();
        const std::vector<std::string_view> items = reader.Items();
        try {
          queue_->PushBatchWait(items, std::chrono::nanoseconds::zero());
        } catch (const Error& full) {
          // Items that could never fit are refused at once, as in-process.
          if (full.kind() != ErrorKind::kQueueFull || final || timeout <= 0 ||
              items.size() > queue_->MaxElements()) {
            throw;
          }
          return Outcome::kMustWait;
        }
        break;
      }
      case AttachOp::kPop:
      case AttachOp::kPopWait: {
        const uint64_t max_items = reader.U64();
        const int64_t timeout = header.op == AttachOp::kPopWait ? reader.I64() : 0;
        PoppedItems items = queue_->Pop(static_cast<size_t>(max_items));
        if (items.empty() && max_items != 0 && timeout > 0 && !final) return Outcome::kMustWait;
        std::vector<std::string_view> views;
        views.reserve(items.size());
        for (size_t i = 0; i < items.size(); ++i) views.push_back(items[i]);
        reply.Items(views.data(), views.size());
        break;
      }
      case AttachOp::kLen:
        reply.U64(queue_->Len());
        break;
      case AttachOp::kPayloadBytes:
        reply.U64(queue_->PayloadBytes());
        break;
      case AttachOp::kDiskBytes:
        reply.U64(queue_->DiskBytes());
        break;
      case AttachOp::kMaxElements:
        reply.U64(queue_->MaxElements());
        break;
      case AttachOp::kSetMaxElements:
        queue_->SetMaxElements(reader.U64());
        break;
      case AttachOp::kShutdown:
        queue_->Shutdown(reader.U8() != 0);
        break;
      case AttachOp::kLastBackgroundError:
        reply.Bytes(queue_->LastBackgroundError());
        break;
      default:
        throw Error(ErrorKind::kUnsupportedFormat, queue_->Path(),
                    "unknown attach operation " +
                        std::to_string(static_cast<unsigned>(header.op)));
    }
  } catch (const Error& error) {
    ReplyError(fd, header, error);
    return Outcome::kDone;
  }
  Reply(fd, header, reply.bytes());
  return Outcome::kDone;
}

void SocketServer::RetryParked() {
  // In arrival order, as threads queue on a mutex; once a pop finds nothing
  // (or a push no room), the later ones of its sort would too.
  bool pops_blocked = false;
  bool pushes_blocked = false;
  for (auto call = parked_.begin(); call != parked_.end();) {
    bool& blocked = call->header.op == AttachOp::kPopWait ? pops_blocked : pushes_blocked;
    if (blocked) {
      ++call;
      continue;
    }
    // Out of the list while it runs: a reply that fails drops the
    // connection, and with it whatever of it is parked.
    ParkedCall taken = std::move(*call);
    call = parked_.erase(call);
    if (RunParked(taken, /*final=*/false) == Outcome::kMustWait) {
      parked_.insert(call, std::move(taken));
      blocked = true;
    }
  }
  ArmTimer();
}

void SocketServer::AnswerExpired() {
  const Clock::time_point now = Clock::now();
  for (auto call = parked_.begin(); call != parked_.end();) {
    if (call->deadline <= now) {
      ParkedCall taken = std::move(*call);  // Out of the list first, as in RetryParked.
      call = parked_.erase(call);
      RunParked(taken, /*final=*/true);
    } else {
      ++call;
    }
  }
  ArmTimer();
}

SocketServer::Outcome SocketServer::RunParked(const ParkedCall& call, bool final) {
  // A client that died while its call waited must not have items popped
  // for it: they would go down a closed socket. Its hang-up may still be
  // queued behind this event, so the socket is asked directly.
  pollfd state{call.fd, POLLRDHUP, 0};
  if (::poll(&state, 1, 0) < 0 || (state.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0) {
    Drop(call.fd);
    return Outcome::kDone;
  }
  return Run(call.fd, call.header, call.body, final);
}

void SocketServer::ArmTimer() {
  itimerspec when{};  // All zeros disarms.
  if (!parked_.empty()) {
    Clock::time_point earliest = Clock::time_point::max();
    for (const ParkedCall& call : parked_) earliest = std::min(earliest, call.deadline);
    if (earliest != Clock::time_point::max()) {
      // steady_clock is CLOCK_MONOTONIC on Linux, the timer's clock.
      const int64_t nanoseconds = std::max<int64_t>(NanosecondsSinceEpoch(earliest), 1);
      when.it_value.tv_sec = nanoseconds / 1'000'000'000;
      when.it_value.tv_nsec = nanoseconds % 1'000'000'000;
    }
  }
  ::timerfd_settime(timer_fd_, TFD_TIMER_ABSTIME, &when, nullptr);
}

void SocketServer::Reply(int fd, const FrameHeader& request, std::string_view body,
                         uint32_t status) {
  FrameHeader header = request;
  header.status = status;
  bool sent = false;
  try {
    sent = SendFrame(fd, header, body, queue_->Path());
  } catch (const Error&) {
    // A client that stopped reading (the send timed out): dropped below.
  }
  if (!sent) Drop(fd);
}

void SocketServer::Drop(int fd) {
  if (connections_.erase(fd) == 0) return;
  parked_.remove_if([fd](const ParkedCall& call) { return call.fd == fd; });
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
  // Ends the connection itself, not just this descriptor: the client sees
  // it end even if a descriptor of it outlived the tracking.
  ::shutdown(fd, SHUT_RDWR);
  CloseTracked(fd);
}

void SocketServer::Shutdown() {
  const Error closing(ErrorKind::kClosed, queue_->Path(),
                      "the owning process " + std::to_string(welcome_.owner_pid) +
                          " closed the queue");
  std::list<ParkedCall> parked;
  parked.swap(parked_);
  for (const ParkedCall& call : parked) ReplyError(call.fd, call.header, closing);
  while (!connections_.empty()) Drop(connections_.begin()->first);
  ::unlinkat(directory_fd_, kAttachSocketName, 0);
  for (int fd : {listen_fd_, epoll_fd_, wake_fd_, timer_fd_, directory_fd_}) CloseTracked(fd);
}

}  // namespace

std::unique_ptr<AttachServer> AttachServer::Start(FifoQueue* queue, const Welcome& welcome) {
  auto server = std::make_unique<SocketServer>(queue, welcome);
  server->Bind();
  return server;
}

}  // namespace rocksq
