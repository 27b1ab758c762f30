// Feasibility spike for issue 17 (an attached process reaches the owner of a
// queue through a Unix domain socket): what one request/reply round trip
// costs, against calling the same work in-process under a mutex.
//
// The "queue" is a stand-in, not RocksQ: a mutex-guarded ring of bytes that
// a push copies into and a pop copies out of, so the figures are the cost of
// the transport alone. The real cost of an attached call is roughly the
// in-process call's plus the transport's extra (see docs/design/many-processes.md).
//
// Transports, each to a server in another process (fork()), one connection:
//   stream      SOCK_STREAM, the server blocks in recv() on its connection
//   stream+epoll SOCK_STREAM, the server waits in epoll_wait() before each
//               recv(), as a server of many connections must
//   seqpacket   SOCK_SEQPACKET, one message per frame, blocking recv
//   stream+hop  SOCK_STREAM, the server's I/O thread hands each request to a
//               worker thread and waits for it (what the design must avoid)
//   stream+spin SOCK_STREAM, both sides poll with MSG_DONTWAIT for up to
//               kSpinMicros before blocking in recv (trades CPU for the
//               wake-up; only worth it where cores are idle)
//   shm+futex   no socket: request and reply in a shared mapping, each side
//               sleeping on a futex; what is left is the wake-ups alone
// Operations: push of one 100-byte item, pop of one, push of a batch of 100,
// pop of a batch of 100. Each request and reply is one frame: a 16-byte
// header (body length, operation, status, request id), then for items a
// count, the lengths, and the payloads, sent with one writev/sendmsg from
// where the bytes already are and received with one recv into a buffer the
// receiver owns.
//
// The socket is bound and connected through /proc/self/fd/N/NAME, N an
// O_PATH descriptor of its directory, whose path here is made longer than
// sockaddr_un's 108 bytes on purpose: that check is part of the spike. The
// server checks the peer's credentials (SO_PEERCRED) once per connection.
//
//   cmake target rocksq_attach_spike (-DROCKSQ_BUILD_BENCHMARKS=ON), or by hand:
//   g++ -std=c++17 -O2 -pthread bench/cpp/attach_spike.cc -o attach_spike
//   ./attach_spike [RUNS] [SECONDS_PER_MEASUREMENT]     # defaults: 5, 0.3
//
// Prints, per transport and operation, the median over RUNS of round trips
// per second, items per second, the CPU time per call of the calling thread
// and of the server process (which other work on the machine disturbs far
// less than the clock; their sum bounds how many calls a machine whose
// cores are all busy can serve), and the ratio to the in-process call.
// Runs are interleaved (every transport and operation once, RUNS times), so
// that a change in the machine's load falls on all of them alike.

#include <fcntl.h>
#include <linux/futex.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kItemBytes = 100;
constexpr uint32_t kBatchItems = 100;
constexpr size_t kMaxFrameBytes = 1 << 20;
constexpr int64_t kSpinMicros = 50;

[[noreturn]] void Die(const char* what) {
  std::fprintf(stderr, "attach_spike: %s: %s\n", what, std::strerror(errno));
  std::exit(2);
}

// --- The stand-in queue -------------------------------------------------------

// A ring of bytes: a push copies an item in, a pop copies the next item's
// worth out. Never empty, never full: only the copying and the lock count.
class StandInQueue {
 public:
  void Push(const char* const* items, const uint32_t* lengths, uint32_t count) {
    std::lock_guard<std::mutex> lock(mutex_);
    for (uint32_t i = 0; i < count; ++i) {
      std::memcpy(ring_.data() + Advance(lengths[i]), items[i], lengths[i]);
    }
  }
  // Gives the positions of `count` items of kItemBytes to read from ring(),
  // as a pop would pin them in place.
  void Pop(uint32_t count, std::vector<const char*>* items) {
    std::lock_guard<std::mutex> lock(mutex_);
    items->clear();
    for (uint32_t i = 0; i < count; ++i) items->push_back(ring_.data() + Advance(kItemBytes));
  }

 private:
  size_t Advance(size_t bytes) {
    if (next_ + bytes > ring_.size()) next_ = 0;
    const size_t at = next_;
    next_ += bytes;
    return at;
  }
  std::mutex mutex_;
  std::vector<char> ring_ = std::vector<char>(4 << 20, 'r');
  size_t next_ = 0;
};

// --- Frames -----------------------------------------------------------------------

// kCpu asks the server for the CPU time its process has used (8 bytes,
// microseconds), read before and after each measurement.
enum Operation : uint16_t { kPush = 1, kPop = 2, kCpu = 3 };

struct FrameHeader {
  uint32_t body_bytes;
  uint16_t operation;
  uint16_t status;  // 0: ok; otherwise an error kind (unused by the spike).
  uint64_t request_id;
};
static_assert(sizeof(FrameHeader) == 16, "the header is 16 bytes on the wire");

// A body of items: uint32 count, count uint32 lengths, then the payloads.
// A pop request's body is the count alone.

// Sends all of `iov` (one sendmsg, looping only if the kernel took part).
void SendAll(int fd, struct iovec* iov, int iov_count) {
  while (iov_count > 0) {
    struct msghdr message {};
    message.msg_iov = iov;
    message.msg_iovlen = static_cast<size_t>(iov_count);
    ssize_t sent = ::sendmsg(fd, &message, MSG_NOSIGNAL);
    if (sent < 0) {
      if (errno == EINTR) continue;
      Die("sendmsg");
    }
    while (iov_count > 0 && static_cast<size_t>(sent) >= iov->iov_len) {
      sent -= static_cast<ssize_t>(iov->iov_len);
      ++iov;
      --iov_count;
    }
    if (iov_count > 0) {
      iov->iov_base = static_cast<char*>(iov->iov_base) + sent;
      iov->iov_len -= static_cast<size_t>(sent);
    }
  }
}

// Receives one frame into `buffer` (header then body). On a stream, one
// recv usually brings the whole frame; `pending` keeps bytes of the next.
// On a seqpacket socket, one recv is one frame. Returns false at EOF.
class FrameReader {
 public:
  FrameReader(int fd, bool seqpacket, bool spin)
      : fd_(fd), seqpacket_(seqpacket), spin_(spin), buffer_(kMaxFrameBytes) {}

  bool Next(FrameHeader* header, const char** body) {
    if (seqpacket_) {
      const ssize_t got = Recv(buffer_.data(), buffer_.size());
      if (got == 0) return false;
      if (static_cast<size_t>(got) < sizeof(FrameHeader)) Die("short seqpacket frame");
      std::memcpy(header, buffer_.data(), sizeof(FrameHeader));
      *body = buffer_.data() + sizeof(FrameHeader);
      return true;
    }
    // Drop the frame handed out last time.
    if (consumed_ > 0) {
      std::memmove(buffer_.data(), buffer_.data() + consumed_, filled_ - consumed_);
      filled_ -= consumed_;
      consumed_ = 0;
    }
    while (filled_ < sizeof(FrameHeader) ||
           filled_ < sizeof(FrameHeader) + BodyBytes()) {
      const ssize_t got = Recv(buffer_.data() + filled_, buffer_.size() - filled_);
      if (got == 0) return false;
      filled_ += static_cast<size_t>(got);
    }
    std::memcpy(header, buffer_.data(), sizeof(FrameHeader));
    *body = buffer_.data() + sizeof(FrameHeader);
    consumed_ = sizeof(FrameHeader) + header->body_bytes;
    return true;
  }

 private:
  uint32_t BodyBytes() const {
    uint32_t body;
    std::memcpy(&body, buffer_.data(), sizeof(body));
    return body;
  }
  ssize_t Recv(char* into, size_t capacity) {
    if (spin_) {
      const auto give_up = Clock::now() + std::chrono::microseconds(kSpinMicros);
      do {
        const ssize_t got = ::recv(fd_, into, capacity, MSG_DONTWAIT);
        if (got >= 0) return got;
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) Die("recv");
      } while (Clock::now() < give_up);
    }
    for (;;) {
      const ssize_t got = ::recv(fd_, into, capacity, 0);
      if (got >= 0) return got;
      if (errno != EINTR) Die("recv");
    }
  }
  int fd_;
  bool seqpacket_;
  bool spin_;
  std::vector<char> buffer_;
  size_t filled_ = 0;
  size_t consumed_ = 0;
};

// Sends a frame whose body is items (count, lengths, payloads), or for a
// pop request the count alone (items == nullptr).
void SendItems(int fd, uint16_t operation, uint64_t request_id, uint32_t count,
               const char* const* items, const uint32_t* lengths) {
  std::vector<struct iovec> iov;
  iov.reserve(3 + count);
  FrameHeader header{};
  header.operation = operation;
  header.request_id = request_id;
  header.body_bytes = sizeof(count);
  iov.push_back({&header, sizeof(header)});
  iov.push_back({&count, sizeof(count)});
  if (items != nullptr) {
    header.body_bytes += count * sizeof(uint32_t);
    iov.push_back({const_cast<uint32_t*>(lengths), count * sizeof(uint32_t)});
    for (uint32_t i = 0; i < count; ++i) {
      iov.push_back({const_cast<char*>(items[i]), lengths[i]});
      header.body_bytes += lengths[i];
    }
  }
  SendAll(fd, iov.data(), static_cast<int>(iov.size()));
}

// Splits an items body into views; returns the count.
uint32_t ParseItems(const char* body, std::vector<const char*>* items,
                    std::vector<uint32_t>* lengths) {
  uint32_t count;
  std::memcpy(&count, body, sizeof(count));
  lengths->resize(count);
  std::memcpy(lengths->data(), body + sizeof(count), count * sizeof(uint32_t));
  items->clear();
  const char* next = body + sizeof(count) + count * sizeof(uint32_t);
  for (uint32_t i = 0; i < count; ++i) {
    items->push_back(next);
    next += (*lengths)[i];
  }
  return count;
}

// --- The server -------------------------------------------------------------------

enum class Transport { kStream, kStreamEpoll, kSeqpacket, kStreamHop, kStreamSpin };
const char* TransportName(Transport transport) {
  switch (transport) {
    case Transport::kStream: return "stream";
    case Transport::kStreamEpoll: return "stream+epoll";
    case Transport::kSeqpacket: return "seqpacket";
    case Transport::kStreamHop: return "stream+hop";
    case Transport::kStreamSpin: return "stream+spin";
  }
  return "?";
}

// CPU time (user + system) that `who` (RUSAGE_SELF, RUSAGE_THREAD) used, in
// microseconds.
uint64_t CpuMicros(int who) {
  struct rusage usage {};
  ::getrusage(who, &usage);
  return static_cast<uint64_t>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1000000 +
         static_cast<uint64_t>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
}

// Serves one request: runs it on `queue` and sends the reply.
void Serve(int fd, StandInQueue& queue, const FrameHeader& request, const char* body,
           std::vector<const char*>& items, std::vector<uint32_t>& lengths) {
  if (request.operation == kCpu) {
    uint64_t micros = CpuMicros(RUSAGE_SELF);  // Every thread of the server.
    FrameHeader reply{sizeof(micros), kCpu, 0, request.request_id};
    struct iovec iov[2] = {{&reply, sizeof(reply)}, {&micros, sizeof(micros)}};
    SendAll(fd, iov, 2);
  } else if (request.operation == kPush) {
    const uint32_t count = ParseItems(body, &items, &lengths);
    queue.Push(items.data(), lengths.data(), count);
    FrameHeader reply{0, kPush, 0, request.request_id};
    struct iovec iov = {&reply, sizeof(reply)};
    SendAll(fd, &iov, 1);
  } else {
    uint32_t count;
    std::memcpy(&count, body, sizeof(count));
    queue.Pop(count, &items);
    lengths.assign(count, kItemBytes);
    SendItems(fd, kPop, request.request_id, count, items.data(), lengths.data());
  }
}

// Runs requests handed over by the I/O thread on a thread of its own, as a
// server with a worker pool would: two thread wake-ups per request.
class HopWorker {
 public:
  HopWorker() : thread_([this] { Run(); }) {}
  ~HopWorker() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    changed_.notify_all();
    thread_.join();
  }
  void RunAndWait(std::function<void()> task) {
    std::unique_lock<std::mutex> lock(mutex_);
    task_ = std::move(task);
    done_ = false;
    changed_.notify_all();
    changed_.wait(lock, [this] { return done_; });
  }

 private:
  void Run() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      changed_.wait(lock, [this] { return stopping_ || task_; });
      if (stopping_) return;
      std::function<void()> task = std::move(task_);
      task_ = nullptr;
      lock.unlock();
      task();
      lock.lock();
      done_ = true;
      changed_.notify_all();
    }
  }
  std::mutex mutex_;
  std::condition_variable changed_;
  std::function<void()> task_;
  bool done_ = false;
  bool stopping_ = false;
  std::thread thread_;
};

void ServeConnection(int fd, Transport transport) {
  // Same user only, as the design's default: the check costs one syscall
  // per connection, none per request.
  struct ucred peer {};
  socklen_t peer_bytes = sizeof(peer);
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &peer_bytes) != 0) Die("SO_PEERCRED");
  if (peer.uid != ::getuid()) {
    std::fprintf(stderr, "attach_spike: refusing uid %u\n", peer.uid);
    std::exit(3);
  }
  StandInQueue queue;
  FrameReader reader(fd, transport == Transport::kSeqpacket, transport == Transport::kStreamSpin);
  std::vector<const char*> items;
  std::vector<uint32_t> lengths;
  int epoll_fd = -1;
  if (transport == Transport::kStreamEpoll) {
    epoll_fd = ::epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event event {};
    event.events = EPOLLIN;
    event.data.fd = fd;
    if (::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &event) != 0) Die("epoll_ctl");
  }
  std::unique_ptr<HopWorker> hop;
  if (transport == Transport::kStreamHop) hop = std::make_unique<HopWorker>();
  for (;;) {
    if (epoll_fd >= 0) {
      struct epoll_event ready;
      if (::epoll_wait(epoll_fd, &ready, 1, -1) < 0 && errno != EINTR) Die("epoll_wait");
    }
    FrameHeader request;
    const char* body;
    if (!reader.Next(&request, &body)) break;
    if (hop) {
      hop->RunAndWait([&] { Serve(fd, queue, request, body, items, lengths); });
    } else {
      Serve(fd, queue, request, body, items, lengths);
    }
  }
}

// --- Addressing the socket through its directory's descriptor ---------------

// "/proc/self/fd/N/NAME": a path that fits sockaddr_un whatever the length of
// the directory's own path, and names that directory even if it was renamed.
struct sockaddr_un AddressIn(int directory_fd, const char* name) {
  struct sockaddr_un address {};
  address.sun_family = AF_UNIX;
  const int written = std::snprintf(address.sun_path, sizeof(address.sun_path),
                                    "/proc/self/fd/%d/%s", directory_fd, name);
  if (written < 0 || static_cast<size_t>(written) >= sizeof(address.sun_path)) Die("address");
  return address;
}

int SocketType(Transport transport) {
  return transport == Transport::kSeqpacket ? SOCK_SEQPACKET : SOCK_STREAM;
}

// A socket of `transport`'s type in `directory`, named `name`, reached
// through the directory's descriptor: bound (after removing a socket an
// earlier server left) if `listening`, else connected.
int SocketIn(const std::string& directory, const char* name, Transport transport,
             bool listening) {
  const int directory_fd = ::open(directory.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (directory_fd < 0) Die("open O_PATH");
  const int fd = ::socket(AF_UNIX, SocketType(transport) | SOCK_CLOEXEC, 0);
  if (fd < 0) Die("socket");
  const struct sockaddr_un address = AddressIn(directory_fd, name);
  const auto* named = reinterpret_cast<const struct sockaddr*>(&address);
  if (listening) {
    ::unlinkat(directory_fd, name, 0);
    if (::bind(fd, named, sizeof(address)) != 0) Die("bind through /proc/self/fd");
    if (::listen(fd, 16) != 0) Die("listen");
  } else if (::connect(fd, named, sizeof(address)) != 0) {
    Die("connect through /proc/self/fd");
  }
  ::close(directory_fd);
  return fd;
}

// Starts a server process listening in `directory`; returns its pid once the
// socket accepts connections.
pid_t StartServer(const std::string& directory, const char* name, Transport transport) {
  const int listener = SocketIn(directory, name, transport, /*listening=*/true);
  const pid_t pid = ::fork();
  if (pid < 0) Die("fork");
  if (pid == 0) {
    const int connection = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (connection < 0) Die("accept");
    ServeConnection(connection, transport);
    ::_exit(0);
  }
  ::close(listener);
  return pid;
}

int Connect(const std::string& directory, const char* name, Transport transport) {
  return SocketIn(directory, name, transport, /*listening=*/false);
}

// --- Shared memory and futexes ------------------------------------------------

// One request or reply at a time in a mapping both processes share; `turn`
// says whose it is, and each side sleeps on it with a futex (not a private
// one: the two sides are processes).
struct SharedChannel {
  enum Turn : uint32_t { kClient, kServer, kStop };
  std::atomic<uint32_t> turn{kClient};
  uint16_t operation = 0;
  uint32_t count = 0;
  uint64_t server_cpu_micros = 0;
  char payload[kBatchItems * kItemBytes];
};
static_assert(std::atomic<uint32_t>::is_always_lock_free, "a futex word");

void FutexWait(std::atomic<uint32_t>* word, uint32_t while_value) {
  ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT, while_value, nullptr,
            nullptr, 0);
}
void FutexWake(std::atomic<uint32_t>* word) {
  ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE, 1, nullptr, nullptr, 0);
}

// Hands the channel to the server and sleeps until it hands it back.
void PassToServerAndWait(SharedChannel* channel) {
  channel->turn.store(SharedChannel::kServer, std::memory_order_release);
  FutexWake(&channel->turn);
  while (channel->turn.load(std::memory_order_acquire) == SharedChannel::kServer) {
    FutexWait(&channel->turn, SharedChannel::kServer);
  }
}

SharedChannel* MapSharedChannel() {
  void* mapped = ::mmap(nullptr, sizeof(SharedChannel), PROT_READ | PROT_WRITE,
                        MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mapped == MAP_FAILED) Die("mmap");
  return new (mapped) SharedChannel();
}

pid_t StartSharedServer(SharedChannel* channel) {
  const pid_t pid = ::fork();
  if (pid < 0) Die("fork");
  if (pid != 0) return pid;
  StandInQueue queue;
  std::vector<const char*> items;
  std::vector<uint32_t> lengths(kBatchItems, kItemBytes);
  for (;;) {
    uint32_t now = channel->turn.load(std::memory_order_acquire);
    while (now == SharedChannel::kClient) {
      FutexWait(&channel->turn, SharedChannel::kClient);
      now = channel->turn.load(std::memory_order_acquire);
    }
    if (now == SharedChannel::kStop) ::_exit(0);
    if (channel->operation == kPush) {
      items.clear();
      for (uint32_t i = 0; i < channel->count; ++i) {
        items.push_back(channel->payload + i * kItemBytes);
      }
      queue.Push(items.data(), lengths.data(), channel->count);
    } else if (channel->operation == kPop) {
      queue.Pop(channel->count, &items);
      for (uint32_t i = 0; i < channel->count; ++i) {
        std::memcpy(channel->payload + i * kItemBytes, items[i], kItemBytes);
      }
    } else {
      channel->server_cpu_micros = CpuMicros(RUSAGE_SELF);
    }
    channel->turn.store(SharedChannel::kClient, std::memory_order_release);
    FutexWake(&channel->turn);
  }
}

// One call over the channel: the request's items copied in (as a socket
// copies them into the kernel), a pop's copied out (as into bytes).
void SharedCall(SharedChannel* channel, uint16_t operation, uint32_t count,
                const char* const* items, std::vector<char>* popped) {
  channel->operation = operation;
  channel->count = count;
  if (operation == kPush) {
    for (uint32_t i = 0; i < count; ++i) {
      std::memcpy(channel->payload + i * kItemBytes, items[i], kItemBytes);
    }
  }
  PassToServerAndWait(channel);
  if (operation == kPop) {
    popped->resize(kBatchItems * kItemBytes);
    std::memcpy(popped->data(), channel->payload, count * kItemBytes);
  }
}

uint64_t SharedServerCpu(SharedChannel* channel) {
  SharedCall(channel, kCpu, 0, nullptr, nullptr);
  return channel->server_cpu_micros;
}

// --- The client's operations, and their in-process counterparts ---------------

struct Client {
  int fd;
  FrameReader reader;
  uint64_t next_request = 1;
  std::vector<const char*> items;
  std::vector<uint32_t> lengths;
  std::vector<char> popped;  // Where a pop's payloads are copied to.

  Client(int socket_fd, bool seqpacket, bool spin)
      : fd(socket_fd), reader(socket_fd, seqpacket, spin) {}

  void Push(const char* const* push_items, const uint32_t* push_lengths, uint32_t count) {
    SendItems(fd, kPush, next_request++, count, push_items, push_lengths);
    FrameHeader reply;
    const char* body;
    if (!reader.Next(&reply, &body) || reply.status != 0) Die("push reply");
  }
  void Pop(uint32_t count) {
    FrameHeader request{sizeof(count), kPop, 0, next_request++};
    struct iovec iov[2] = {{&request, sizeof(request)}, {&count, sizeof(count)}};
    SendAll(fd, iov, 2);
    FrameHeader reply;
    const char* body;
    if (!reader.Next(&reply, &body)) Die("pop reply");
    const uint32_t got = ParseItems(body, &items, &lengths);
    // The copy a Python bytes object (or the caller's buffer) would take.
    popped.resize(kBatchItems * kItemBytes);
    size_t at = 0;
    for (uint32_t i = 0; i < got; ++i) {
      std::memcpy(popped.data() + at, items[i], lengths[i]);
      at += lengths[i];
    }
  }
  uint64_t ServerCpuMicros() {
    FrameHeader request{0, kCpu, 0, next_request++};
    struct iovec iov = {&request, sizeof(request)};
    SendAll(fd, &iov, 1);
    FrameHeader reply;
    const char* body;
    if (!reader.Next(&reply, &body) || reply.body_bytes != sizeof(uint64_t)) Die("cpu reply");
    uint64_t micros;
    std::memcpy(&micros, body, sizeof(micros));
    return micros;
  }
};

struct Rate {
  double calls_per_second;
  double client_cpu_micros_per_call;  // The calling thread's CPU.
  double server_cpu_micros_per_call;  // The serving process's; 0 in-process.
};

// Calls `call` for about `seconds`; `server_cpu` (may be empty) reads the
// server's CPU time.
Rate Measure(double seconds, const std::function<void()>& call,
             const std::function<uint64_t()>& server_cpu = {}) {
  // Warm up caches and the scheduler's view of both processes.
  for (int i = 0; i < 200; ++i) call();
  const uint64_t server_start = server_cpu ? server_cpu() : 0;
  const uint64_t cpu_start = CpuMicros(RUSAGE_THREAD);
  const auto start = Clock::now();
  const auto stop = start + std::chrono::duration_cast<Clock::duration>(
                                std::chrono::duration<double>(seconds));
  uint64_t calls = 0;
  auto now = start;
  while (now < stop) {
    for (int i = 0; i < 64; ++i) call();
    calls += 64;
    now = Clock::now();
  }
  const uint64_t cpu_end = CpuMicros(RUSAGE_THREAD);
  const uint64_t server_end = server_cpu ? server_cpu() : 0;
  return Rate{static_cast<double>(calls) / std::chrono::duration<double>(now - start).count(),
              static_cast<double>(cpu_end - cpu_start) / static_cast<double>(calls),
              static_cast<double>(server_end - server_start) / static_cast<double>(calls)};
}

struct Case {
  const char* name;
  uint16_t operation;
  uint32_t items;
};
const Case kCases[] = {
    {"push 1 x 100 B", kPush, 1},
    {"pop 1 x 100 B", kPop, 1},
    {"push batch 100 x 100 B", kPush, kBatchItems},
    {"pop batch 100 x 100 B", kPop, kBatchItems},
};
constexpr size_t kCaseCount = sizeof(kCases) / sizeof(kCases[0]);
const Transport kTransports[] = {Transport::kStream, Transport::kStreamEpoll,
                                 Transport::kSeqpacket, Transport::kStreamHop,
                                 Transport::kStreamSpin};
constexpr size_t kTransportCount = sizeof(kTransports) / sizeof(kTransports[0]);

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t middle = values.size() / 2;
  return values.size() % 2 == 1 ? values[middle] : (values[middle - 1] + values[middle]) / 2;
}

}  // namespace

int main(int argc, char** argv) {
  const int runs = argc > 1 ? std::atoi(argv[1]) : 5;
  const double seconds = argc > 2 ? std::atof(argv[2]) : 0.3;
  if (runs < 1 || seconds <= 0) {
    std::fprintf(stderr, "usage: attach_spike [RUNS] [SECONDS_PER_MEASUREMENT]\n");
    return 2;
  }

  // A directory whose path is longer than sockaddr_un allows, so that only
  // the /proc/self/fd route can reach a socket in it.
  std::string base = (std::filesystem::temp_directory_path() / "attach-spike-XXXXXX").string();
  if (::mkdtemp(base.data()) == nullptr) Die("mkdtemp");
  std::string directory = base;
  while (directory.size() <= sizeof(sockaddr_un::sun_path) + 20) {
    directory += "/a-rather-long-directory-name";
    if (::mkdir(directory.c_str(), 0700) != 0) Die("mkdir");
  }
  std::printf("socket directory: %zu bytes long (sun_path holds %zu)\n", directory.size(),
              sizeof(sockaddr_un::sun_path));

  std::vector<char> payload_bytes(kBatchItems * kItemBytes, 'p');
  std::vector<const char*> payloads;
  std::vector<uint32_t> payload_lengths(kBatchItems, kItemBytes);
  for (uint32_t i = 0; i < kBatchItems; ++i) payloads.push_back(&payload_bytes[i * kItemBytes]);

  // results[row][case][run]: row 0 is in-process, rows 1..kTransportCount
  // the sockets, the last shared memory.
  const size_t shared_row = kTransportCount + 1;
  std::vector<std::vector<std::vector<double>>> results(
      kTransportCount + 2, std::vector<std::vector<double>>(kCaseCount));
  std::vector<std::vector<std::vector<double>>> client_cpu = results;
  std::vector<std::vector<std::vector<double>>> server_cpu = results;
  auto record = [&](size_t row, size_t c, const Rate& rate) {
    results[row][c].push_back(rate.calls_per_second);
    client_cpu[row][c].push_back(rate.client_cpu_micros_per_call);
    server_cpu[row][c].push_back(rate.server_cpu_micros_per_call);
  };

  StandInQueue local_queue;
  std::vector<const char*> local_items;
  std::vector<char> local_popped(kBatchItems * kItemBytes);
  for (int run = 0; run < runs; ++run) {
    for (size_t c = 0; c < kCaseCount; ++c) {
      const Case& what = kCases[c];
      record(0, c, Measure(seconds, [&] {
        if (what.operation == kPush) {
          local_queue.Push(payloads.data(), payload_lengths.data(), what.items);
        } else {
          local_queue.Pop(what.items, &local_items);
          for (uint32_t i = 0; i < what.items; ++i) {
            std::memcpy(local_popped.data() + i * kItemBytes, local_items[i], kItemBytes);
          }
        }
      }));
    }
    for (size_t t = 0; t < kTransportCount; ++t) {
      const Transport transport = kTransports[t];
      const pid_t server = StartServer(directory, "rocksq.sock", transport);
      Client client(Connect(directory, "rocksq.sock", transport),
                    transport == Transport::kSeqpacket, transport == Transport::kStreamSpin);
      for (size_t c = 0; c < kCaseCount; ++c) {
        const Case& what = kCases[c];
        record(t + 1, c, Measure(
                             seconds,
                             [&] {
                               if (what.operation == kPush) {
                                 client.Push(payloads.data(), payload_lengths.data(),
                                             what.items);
                               } else {
                                 client.Pop(what.items);
                               }
                             },
                             [&] { return client.ServerCpuMicros(); }));
      }
      ::close(client.fd);
      int status;
      ::waitpid(server, &status, 0);
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        std::fprintf(stderr, "attach_spike: the %s server failed\n", TransportName(transport));
        return 1;
      }
    }
    SharedChannel* channel = MapSharedChannel();
    const pid_t shared_server = StartSharedServer(channel);
    std::vector<char> shared_popped;
    for (size_t c = 0; c < kCaseCount; ++c) {
      const Case& what = kCases[c];
      record(shared_row, c,
             Measure(
                 seconds,
                 [&] {
                   SharedCall(channel, what.operation, what.items, payloads.data(),
                              &shared_popped);
                 },
                 [&] { return SharedServerCpu(channel); }));
    }
    channel->turn.store(SharedChannel::kStop, std::memory_order_release);
    FutexWake(&channel->turn);
    int shared_status;
    ::waitpid(shared_server, &shared_status, 0);
    ::munmap(channel, sizeof(SharedChannel));
    if (!WIFEXITED(shared_status) || WEXITSTATUS(shared_status) != 0) {
      std::fprintf(stderr, "attach_spike: the shared-memory server failed\n");
      return 1;
    }
  }
  ::unlink((directory + "/rocksq.sock").c_str());
  for (std::string gone = directory; gone.size() >= base.size();
       gone.erase(gone.rfind('/'))) {
    ::rmdir(gone.c_str());
  }

  std::printf("median of %d runs, %.2f s each\n", runs, seconds);
  std::printf("%-13s %-24s %11s %11s %8s %11s %11s %12s\n", "transport", "operation",
              "calls/s", "items/s", "us/call", "client cpu", "server cpu", "x in-process");
  for (size_t t = 0; t <= shared_row; ++t) {
    for (size_t c = 0; c < kCaseCount; ++c) {
      const double calls = Median(results[t][c]);
      const double local = Median(results[0][c]);
      std::printf("%-13s %-24s %11.0f %11.0f %8.2f %11.2f %11.2f %12.4f\n",
                  t == 0            ? "in-process"
                  : t == shared_row ? "shm+futex"
                                    : TransportName(kTransports[t - 1]),
                  kCases[c].name,
                  calls, calls * kCases[c].items, 1e6 / calls, Median(client_cpu[t][c]),
                  Median(server_cpu[t][c]), calls / local);
    }
  }
  return 0;
}
