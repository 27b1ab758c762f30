#include "attach_lane.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

namespace rocksq {

// The first page of a lane: each side's words on cache lines of their own,
// so that polling one side's word does not pull the line the other writes.
// Then the request frame, then the reply frame, kFrameCapacity each.
struct SharedLane::Control {
  alignas(64) std::atomic<uint64_t> request_posted;  // The client's last request's number.
  alignas(64) std::atomic<uint32_t> owner_sleeps;
  alignas(64) std::atomic<uint64_t> reply_posted;  // The number of the request answered,
  std::atomic<uint32_t> reply_on_socket;           // and whether on the socket.
  alignas(64) std::atomic<uint32_t> client_sleeps;
};

namespace {

// Shared between processes, an atomic must be one the hardware does
// without a lock.
static_assert(std::atomic<uint64_t>::is_always_lock_free);
static_assert(std::atomic<uint32_t>::is_always_lock_free);

constexpr size_t kControlBytes = 4096;
constexpr size_t kLaneBytes = kControlBytes + 2 * SharedLane::kFrameCapacity;

void* MapShared(int fd) {
  void* memory = ::mmap(nullptr, kLaneBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (memory == MAP_FAILED) return nullptr;
  // A fork() child never uses its parent's connections (process_owned.h):
  // it does not get their lanes either, so no mistake can write in one.
  ::madvise(memory, kLaneBytes, MADV_DONTFORK);
  return memory;
}

}  // namespace

std::unique_ptr<SharedLane> SharedLane::Create(int* fd) {
  *fd = ::memfd_create("rocksq-lane", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (*fd < 0) return nullptr;
  void* memory = nullptr;
  // Sealed at its size: a client that could shrink it would make the
  // owner's next read of it fault (SIGBUS).
  if (::ftruncate(*fd, kLaneBytes) != 0 ||
      ::fcntl(*fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0 ||
      (memory = MapShared(*fd)) == nullptr) {
    ::close(*fd);
    *fd = -1;
    return nullptr;
  }
  return std::unique_ptr<SharedLane>(new SharedLane(memory));
}

std::unique_ptr<SharedLane> SharedLane::Map(int fd) {
  struct stat info {};
  const int seals = ::fcntl(fd, F_GET_SEALS);
  void* memory = nullptr;
  if (::fstat(fd, &info) == 0 && static_cast<size_t>(info.st_size) >= kLaneBytes && seals >= 0 &&
      (seals & F_SEAL_SHRINK) != 0) {
    memory = MapShared(fd);
  }
  ::close(fd);
  if (memory == nullptr) return nullptr;
  return std::unique_ptr<SharedLane>(new SharedLane(memory));
}

SharedLane::SharedLane(void* memory) : memory_(memory) {}

SharedLane::~SharedLane() { ::munmap(memory_, kLaneBytes); }

bool SharedLane::Ring(int fd, const std::string& path) {
  FrameHeader doorbell;
  doorbell.op = AttachOp::kLaneDoorbell;
  return SendFrame(fd, doorbell, std::string_view(), path);
}

SharedLane::Control* SharedLane::control() const { return static_cast<Control*>(memory_); }
char* SharedLane::request_frame() const { return static_cast<char*>(memory_) + kControlBytes; }
char* SharedLane::reply_frame() const { return request_frame() + kFrameCapacity; }

namespace {

// Writes `header` (with the body's size) and `body` at `out`.
void WriteFrame(const FrameHeader& header, const std::vector<std::string_view>& body, char* out) {
  FrameHeader written = header;
  written.body_bytes = 0;
  for (std::string_view part : body) written.body_bytes += part.size();
  EncodeHeader(written, out);
  out += kFrameHeaderBytes;
  for (std::string_view part : body) {
    if (part.empty()) continue;
    std::memcpy(out, part.data(), part.size());
    out += part.size();
  }
}

}  // namespace

bool SharedLane::PostRequest(const FrameHeader& header, const std::vector<std::string_view>& body) {
  WriteFrame(header, body, request_frame());
  control()->request_posted.store(next_request_++, std::memory_order_seq_cst);
  return control()->owner_sleeps.exchange(0, std::memory_order_seq_cst) != 0;
}

bool SharedLane::ReplyPosted() const {
  return control()->reply_posted.load(std::memory_order_acquire) == next_request_ - 1;
}

bool SharedLane::ReplyOnSocket() const {
  return control()->reply_on_socket.load(std::memory_order_relaxed) != 0;
}

bool SharedLane::ReadReply(FrameHeader* header, std::string* body) const {
  *header = DecodeHeader(reply_frame());
  if (!Fits(header->body_bytes)) return false;
  body->assign(reply_frame() + kFrameHeaderBytes, static_cast<size_t>(header->body_bytes));
  return true;
}

bool SharedLane::ClientSleeps() {
  control()->client_sleeps.store(1, std::memory_order_seq_cst);
  return control()->reply_posted.load(std::memory_order_seq_cst) == next_request_ - 1;
}

bool SharedLane::ClientWakes() {
  return control()->client_sleeps.exchange(0, std::memory_order_seq_cst) == 0;
}

bool SharedLane::RequestPosted() const {
  return control()->request_posted.load(std::memory_order_acquire) != taken_;
}

bool SharedLane::TakeRequest(std::string* frame) {
  taken_ = control()->request_posted.load(std::memory_order_acquire);
  // The client may write while this reads: the header is read from a
  // copy, once, and the body's size bounded by the lane.
  char header_bytes[kFrameHeaderBytes];
  std::memcpy(header_bytes, request_frame(), kFrameHeaderBytes);
  const FrameHeader header = DecodeHeader(header_bytes);
  if (!Fits(header.body_bytes)) return false;
  const size_t body_bytes = static_cast<size_t>(header.body_bytes);
  frame->resize(kFrameHeaderBytes + body_bytes);
  std::memcpy(frame->data(), header_bytes, kFrameHeaderBytes);
  std::memcpy(frame->data() + kFrameHeaderBytes, request_frame() + kFrameHeaderBytes, body_bytes);
  return true;
}

bool SharedLane::PostReply(const FrameHeader& header, const std::vector<std::string_view>& body) {
  WriteFrame(header, body, reply_frame());
  control()->reply_on_socket.store(0, std::memory_order_relaxed);
  control()->reply_posted.store(taken_, std::memory_order_seq_cst);
  // Taken down by whoever rings, so that a client that found its reply
  // just after it said it sleeps knows whether a doorbell follows.
  return control()->client_sleeps.exchange(0, std::memory_order_seq_cst) != 0;
}

void SharedLane::PostReplyOnSocket() {
  control()->reply_on_socket.store(1, std::memory_order_relaxed);
  control()->reply_posted.store(taken_, std::memory_order_seq_cst);
}

bool SharedLane::OwnerSleeps(bool sleeps) {
  control()->owner_sleeps.store(sleeps ? 1 : 0, std::memory_order_seq_cst);
  return sleeps && RequestPosted();
}

}  // namespace rocksq
