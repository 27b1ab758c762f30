#include "attached_queue.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <vector>

#include "attach_wire.h"
#include "popped_items_rep.h"
#include "process_owned.h"
#include "storage.h"

namespace rocksq {
namespace {

// Connects to the owner's socket; -1 if nobody listens there (ENOENT: not
// bound yet or never; ECONNREFUSED: stale). Other failures throw.
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

// Sends this process's Hello on `fd` and reads the answer into
// `welcome_body`. False if the owner closed the connection (it was closing);
// throws its refusal.
bool Handshake(int fd, const std::string& path, std::string* welcome_body) {
  FrameHeader hello;
  hello.op = AttachOp::kHello;
  Hello mine;
  mine.version = ROCKSQ_VERSION;
  mine.pid = static_cast<uint32_t>(::getpid());
  FrameHeader reply;
  if (!SendFrame(fd, hello, EncodeHello(mine), path) ||
      !ReceiveFrame(fd, &reply, welcome_body, path)) {
    return false;
  }
  if (reply.status != 0) throw Error(KindOfWireCode(reply.status), path, *welcome_body);
  return true;
}

class AttachedFifoQueue final : public FifoQueue {
 public:
  AttachedFifoQueue(const std::string& path, int first_fd, const Welcome& welcome)
      : path_(path), welcome_(welcome), claim_(std::make_unique<OpenPathClaim>(path)) {
    claim_->ClaimDirectory();  // A second open in this process stays refused.
    idle_.push_back(first_fd);
    all_.insert(first_fd);
    CloseInForkChild(first_fd);  // A child makes its own connections.
  }
  ~AttachedFifoQueue() override { Close(); }

  void Push(std::string_view item) override { PushBatch({item}); }
  void PushBatch(const std::vector<std::string_view>& items) override {
    BodyWriter body;
    body.Items(items.data(), items.size());
    Call(AttachOp::kPushBatch, body.bytes());
  }
  PoppedItems Pop(size_t max_items) override {
    BodyWriter body;
    body.U64(max_items);
    return ToPoppedItems(Call(AttachOp::kPop, body.bytes()));
  }
  PoppedItems PopWait(size_t max_items, std::chrono::nanoseconds timeout) override {
    BodyWriter body;
    body.U64(max_items);
    body.I64(timeout.count());
    return ToPoppedItems(Call(AttachOp::kPopWait, body.bytes()));
  }
  void PushWait(std::string_view item, std::chrono::nanoseconds timeout) override {
    PushBatchWait({item}, timeout);
  }
  void PushBatchWait(const std::vector<std::string_view>& items,
                     std::chrono::nanoseconds timeout) override {
    BodyWriter body;
    body.I64(timeout.count());
    body.Items(items.data(), items.size());
    Call(AttachOp::kPushBatchWait, body.bytes());
  }
  void SetChangeListener(std::function<void()> listener) override {
    if (!listener) return;
    throw Error(ErrorKind::kInvalidArgument, path_,
                "an attached queue does not report changes yet (the owning process " +
                    std::to_string(welcome_.owner_pid) +
                    " does): asyncio faces cannot attach in this release");
  }

  uint64_t Len() const override { return CallForCount(AttachOp::kLen); }
  uint64_t PayloadBytes() const override { return CallForCount(AttachOp::kPayloadBytes); }
  uint64_t DiskBytes() const override { return CallForCount(AttachOp::kDiskBytes); }
  uint64_t MaxElements() const override { return CallForCount(AttachOp::kMaxElements); }
  const std::string& Path() const override { return path_; }
  const std::string& QueueId() const override { return welcome_.queue_id; }
  const std::string& RecoveryWarning() const override { return welcome_.recovery_warning; }
  std::string LastBackgroundError() const override {
    return Call(AttachOp::kLastBackgroundError, {});
  }
  void SetMaxElements(uint64_t max_elements) override {
    BodyWriter body;
    body.U64(max_elements);
    Call(AttachOp::kSetMaxElements, body.bytes());
  }
  void Shutdown(bool immediate) override {
    BodyWriter body;
    body.U8(immediate ? 1 : 0);
    Call(AttachOp::kShutdown, body.bytes());
  }
  // Wakes the calls under way (they throw kClosed), waits for them, and
  // closes every connection; the owner forgets their parked calls.
  void Close() override {
    if (closed_.exchange(true)) return;
    {
      std::lock_guard<std::mutex> lock(connections_mutex_);
      for (int fd : all_) ::shutdown(fd, SHUT_RDWR);
    }
    std::unique_lock<std::shared_mutex> lifetime(lifetime_mutex_);
    for (int fd : all_) CloseTrackedDescriptor(fd);
    all_.clear();
    idle_.clear();
    claim_.reset();  // This process may open the queue again.
  }

 private:
  uint64_t CallForCount(AttachOp op) const {
    const std::string reply = Call(op, {});
    return BodyReader(reply, path_).U64();
  }

  PoppedItems ToPoppedItems(const std::string& reply) const {
    BodyReader reader(reply, path_);
    const std::vector<std::string_view> items = reader.Items();
    if (items.empty()) return PoppedItems();
    auto rep = std::make_unique<PoppedItems::Rep>();
    rep->copied_ends.reserve(items.size());
    for (std::string_view item : items) {
      rep->copied.append(item.data(), item.size());
      rep->copied_ends.push_back(rep->copied.size());
    }
    rep->payload_bytes = rep->copied.size();
    return PoppedItems(std::move(rep));
  }

  // One request on a connection no other thread uses meanwhile (so that a
  // waiting pop in one thread never holds up a push in another): an idle
  // one, or a new one. Returns the reply's body; rethrows the owner's error.
  std::string Call(AttachOp op, std::string_view body) const;
  [[noreturn]] void ThrowOwnerGone() const {
    if (closed_.load()) throw Error(ErrorKind::kClosed, path_, "the queue was closed");
    throw Error(ErrorKind::kClosed, path_,
                "the owning process " + std::to_string(welcome_.owner_pid) +
                    " closed the queue or exited (another process does not take over yet)");
  }
  int TakeConnection() const;
  void ForgetConnection(int fd) const {
    std::lock_guard<std::mutex> lock(connections_mutex_);
    all_.erase(fd);
    CloseTrackedDescriptor(fd);
  }

  const std::string path_;
  const Welcome welcome_;
  std::unique_ptr<OpenPathClaim> claim_;
  std::atomic<bool> closed_{false};
  // Calls hold it shared; Close() exclusively, before closing the sockets.
  mutable std::shared_mutex lifetime_mutex_;
  mutable std::mutex connections_mutex_;
  mutable std::vector<int> idle_;
  mutable std::set<int> all_;
  mutable std::atomic<uint64_t> next_seq_{1};
};

int AttachedFifoQueue::TakeConnection() const {
  {
    std::lock_guard<std::mutex> lock(connections_mutex_);
    if (!idle_.empty()) {
      const int fd = idle_.back();
      idle_.pop_back();
      return fd;
    }
  }
  const int fd = ConnectToOwner(path_);
  if (fd < 0) ThrowOwnerGone();
  // Every connection starts with the handshake; the options were agreed on
  // by the first.
  std::string welcome;
  bool welcomed = false;
  try {
    welcomed = Handshake(fd, path_, &welcome);
  } catch (const Error&) {
    ::close(fd);
    throw;
  }
  if (!welcomed) {
    ::close(fd);
    ThrowOwnerGone();
  }
  std::lock_guard<std::mutex> lock(connections_mutex_);
  all_.insert(fd);
  CloseInForkChild(fd);
  return fd;
}

std::string AttachedFifoQueue::Call(AttachOp op, std::string_view body) const {
  std::shared_lock<std::shared_mutex> lifetime(lifetime_mutex_);
  if (closed_.load()) throw Error(ErrorKind::kClosed, path_, "the queue was closed");
  const int fd = TakeConnection();
  FrameHeader request;
  request.op = op;
  request.seq = next_seq_.fetch_add(1, std::memory_order_relaxed);
  FrameHeader reply;
  std::string reply_body;
  bool answered = false;
  try {
    answered = SendFrame(fd, request, body, path_) &&
               ReceiveFrame(fd, &reply, &reply_body, path_);
  } catch (const Error&) {
    ForgetConnection(fd);
    if (closed_.load()) ThrowOwnerGone();
    throw;
  }
  if (!answered || reply.seq != request.seq) {
    ForgetConnection(fd);
    ThrowOwnerGone();
  }
  {
    std::lock_guard<std::mutex> lock(connections_mutex_);
    idle_.push_back(fd);
  }
  if (reply.status != 0) throw Error(KindOfWireCode(reply.status), path_, reply_body);
  return reply_body;
}

// The Welcome's options must be this open's: they shape what every process
// of the queue sees.
void CheckOptionsAgree(const std::string& path, const FifoOptions& options,
                       const Welcome& welcome) {
  const std::string owner = "the owning process " + std::to_string(welcome.owner_pid);
  if (options.max_elements != welcome.max_elements) {
    throw Error(ErrorKind::kInvalidArgument, path,
                "max_elements " + std::to_string(options.max_elements) + " differs from " + owner +
                    "'s " + std::to_string(welcome.max_elements) +
                    ": an attached process opens with the owner's options");
  }
  if (options.sync != welcome.sync) {
    throw Error(ErrorKind::kInvalidArgument, path,
                std::string("sync ") + (options.sync ? "True" : "False") + " differs from " +
                    owner + "'s " + (welcome.sync ? "True" : "False") +
                    ": an attached process opens with the owner's options");
  }
}

}  // namespace

std::unique_ptr<FifoQueue> AttachFifoQueue(const std::string& path, const FifoOptions& options) {
  const int fd = ConnectToOwner(path);
  if (fd < 0) return nullptr;
  std::string reply_body;
  bool answered = false;
  try {
    answered = Handshake(fd, path, &reply_body);
  } catch (const Error&) {
    ::close(fd);
    throw;
  }
  if (!answered) {  // The owner was closing: try again.
    ::close(fd);
    return nullptr;
  }
  Welcome welcome;
  try {
    welcome = DecodeWelcome(reply_body, path);
    if (welcome.protocol != kAttachProtocol) {
      throw Error(ErrorKind::kUnsupportedFormat, path,
                  "owner process " + std::to_string(welcome.owner_pid) + " runs RocksQ " +
                      welcome.version + " (attach protocol " + std::to_string(welcome.protocol) +
                      "); this process runs " + ROCKSQ_VERSION + " (protocol " +
                      std::to_string(kAttachProtocol) + "): use one RocksQ version per queue");
    }
    CheckOptionsAgree(path, options, welcome);
    return std::make_unique<AttachedFifoQueue>(path, fd, welcome);
  } catch (...) {
    ::close(fd);
    throw;
  }
}

}  // namespace rocksq
