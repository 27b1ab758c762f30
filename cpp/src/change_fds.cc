#include "change_fds.h"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <string>
#include <utility>

#include "attach_client.h"
#include "attach_wire.h"
#include "process_owned.h"
#include "rocksq/ack_queue.h"
#include "rocksq/fifo_queue.h"
#include "rocksq/mpmc_queue.h"

namespace rocksq {
namespace {

[[noreturn]] void ThrowSystem(const std::string& action) {
  throw Error(ErrorKind::kStorage, "", action + ": " + std::strerror(errno));
}

// Reads a non-blocking descriptor until it is empty.
void Drain(int fd) {
  char bytes[256];
  while (::read(fd, bytes, sizeof(bytes)) > 0) {
  }
}

class PipeChangeFd final : public ChangeFd {
 public:
  explicit PipeChangeFd(SetListener set_listener) : set_listener_(std::move(set_listener)) {
    int ends[2];
    if (::pipe2(ends, O_NONBLOCK | O_CLOEXEC) != 0) ThrowSystem("making the change pipe");
    read_fd_ = ends[0];
    writer_ = std::make_shared<Writer>(ends[1]);
    try {
      set_listener_([writer = writer_] { writer->OnChange(); });
    } catch (...) {
      ::close(read_fd_);
      writer_->Close();
      throw;
    }
  }
  ~PipeChangeFd() override {
    writer_->Close();  // A listener call under way writes nothing from here on.
    try {
      set_listener_(nullptr);
    } catch (const Error&) {
      // The queue was closed: it calls no listener any more.
    }
    ::close(read_fd_);
  }

  int Fd() const override { return read_fd_; }
  void Arm() override { writer_->armed.store(true, std::memory_order_seq_cst); }
  void Consume() override { Drain(read_fd_); }

 private:
  // What the listener holds, and may outlive this object.
  struct Writer {
    explicit Writer(int fd) : fd(fd) {}
    void OnChange() {
      if (!armed.exchange(false, std::memory_order_seq_cst)) return;  // Disarmed: one load.
      std::lock_guard<std::mutex> lock(mutex);
      if (fd < 0) return;
      const char byte = 1;
      // A full pipe already holds a wake-up; nothing is lost by dropping this.
      [[maybe_unused]] ssize_t written = ::write(fd, &byte, 1);
    }
    void Close() {
      std::lock_guard<std::mutex> lock(mutex);
      if (fd >= 0) ::close(fd);
      fd = -1;
    }
    std::atomic<bool> armed{false};
    std::mutex mutex;
    int fd;  // Guarded by mutex.
  };

  const SetListener set_listener_;
  int read_fd_ = -1;
  std::shared_ptr<Writer> writer_;
};

// A connection to the owner that carries only Watch requests (u64: the
// last change count the owner reported) and their replies (u64: its count
// now), which the owner sends once its count differs from the request's.
class EventLane {
 public:
  EventLane(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~EventLane() { CloseTrackedDescriptor(fd_); }

  int fd() const { return fd_; }
  bool ended() const { return ended_; }

  void Arm() {
    if (armed_ || ended_) return;
    armed_ = true;
    FrameHeader header;
    header.op = AttachOp::kWatch;
    BodyWriter body;
    body.U64(seen_);
    try {
      // The socket then reads as ended too, which wakes the waiters.
      if (!SendFrame(fd_, header, body.bytes(), path_)) ended_ = true;
    } catch (const Error&) {
      ended_ = true;
    }
  }

  void Consume() {
    char bytes[512];
    for (;;) {
      const ssize_t received = ::recv(fd_, bytes, sizeof(bytes), MSG_DONTWAIT);
      if (received > 0) {
        inbox_.append(bytes, static_cast<size_t>(received));
        continue;
      }
      if (received < 0 && errno == EINTR) continue;
      if (received < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      ended_ = true;  // EOF or a reset: the owner closed or died.
      break;
    }
    while (inbox_.size() >= kFrameHeaderBytes) {
      const FrameHeader header = DecodeHeader(inbox_.data());
      const size_t frame_bytes = kFrameHeaderBytes + header.body_bytes;
      if (inbox_.size() < frame_bytes) break;
      if (header.status == 0 && header.body_bytes >= 8) {
        seen_ = BodyReader(std::string_view(inbox_).substr(kFrameHeaderBytes, 8), path_).U64();
      }
      armed_ = false;
      inbox_.erase(0, frame_bytes);
    }
  }

 private:
  const int fd_;
  const std::string path_;
  uint64_t seen_ = 0;  // 0 before the first report: the owner answers at once if it changed at all.
  bool armed_ = false;
  bool ended_ = false;
  std::string inbox_;
};

class OwnerChangeFd final : public ChangeFd {
 public:
  explicit OwnerChangeFd(std::function<WatchedOwner()> current_owner)
      : current_owner_(std::move(current_owner)) {
    epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
    retry_now_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (epoll_fd_ < 0 || retry_now_fd_ < 0) {
      const int error = errno;
      if (epoll_fd_ >= 0) ::close(epoll_fd_);
      if (retry_now_fd_ >= 0) ::close(retry_now_fd_);
      errno = error;
      ThrowSystem("making an attached queue's change fd");
    }
    Watch(retry_now_fd_);
  }
  ~OwnerChangeFd() override {
    lane_.reset();
    owned_.reset();
    ::close(retry_now_fd_);
    ::close(epoll_fd_);
  }

  int Fd() const override { return epoll_fd_; }

  void Arm() override {
    const WatchedOwner owner = current_owner_();
    if (owner.identity != identity_) Follow(owner);
    if (lane_) lane_->Arm();
    if (owned_) owned_->Arm();
  }

  void Consume() override {
    Drain(retry_now_fd_);
    if (owned_) owned_->Consume();
    if (!lane_) return;
    lane_->Consume();
    if (lane_->ended()) {  // At EOF it would stay readable: the next Arm() connects again.
      Unwatch(lane_->fd());
      lane_.reset();
      identity_ = nullptr;
    }
  }

 private:
  void Follow(const WatchedOwner& owner) {
    if (lane_) Unwatch(lane_->fd());
    if (owned_) Unwatch(owned_->Fd());
    lane_.reset();
    owned_.reset();
    identity_ = nullptr;
    if (owner.watch_owned) {
      owned_ = owner.watch_owned();
      Watch(owned_->Fd());
    } else {
      try {
        lane_ = std::make_unique<EventLane>(owner.client->ConnectEventLane(), owner.client->path());
      } catch (const OwnerGone&) {
        // The owner went away after the waiter's last try: its next try
        // finds out (and hands over), so it must not wait.
        const uint64_t one = 1;
        (void)!::write(retry_now_fd_, &one, sizeof(one));
        return;
      }
      Watch(lane_->fd());
    }
    identity_ = owner.identity;
  }
  void Watch(int fd) {
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.fd = fd;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event);
  }
  void Unwatch(int fd) { ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr); }

  const std::function<WatchedOwner()> current_owner_;
  int epoll_fd_ = -1;
  int retry_now_fd_ = -1;  // An eventfd: readable to make the waiters retry.
  const void* identity_ = nullptr;  // Of the owner watched; null if none.
  std::unique_ptr<EventLane> lane_;
  std::unique_ptr<ChangeFd> owned_;
};

}  // namespace

std::unique_ptr<ChangeFd> WatchThroughListener(SetListener set_listener) {
  return std::make_unique<PipeChangeFd>(std::move(set_listener));
}

std::unique_ptr<ChangeFd> WatchOwner(std::function<WatchedOwner()> current_owner) {
  return std::make_unique<OwnerChangeFd>(std::move(current_owner));
}

std::unique_ptr<ChangeFd> WatchOwnerOf(const AttachClient& client) {
  return WatchOwner([&client] {
    WatchedOwner owner;
    owner.client = &client;
    owner.identity = &client;
    return owner;
  });
}

// The queues that own their database (and the attached queues, until they
// override it) watch through their change listener.
std::unique_ptr<ChangeFd> FifoQueue::WatchChanges() {
  return WatchThroughListener([this](std::function<void()> listener) {
    SetChangeListener(std::move(listener));
  });
}
std::unique_ptr<ChangeFd> MpmcQueue::WatchChanges() {
  return WatchThroughListener([this](std::function<void()> listener) {
    SetChangeListener(std::move(listener));
  });
}
std::unique_ptr<ChangeFd> AckQueue::WatchChanges() {
  return WatchThroughListener([this](std::function<void()> listener) {
    SetChangeListener(std::move(listener));
  });
}

}  // namespace rocksq
