// The attach protocol (docs/format.rst, "Attach protocol"): the frames an
// attached process and the owner of a queue exchange over the queue's Unix
// socket. This header is the one home of the format, shared by the owner's
// AttachServer and the attached queues, as format.h is for the files.
//
// Every frame is a 24-byte little-endian header, then `body_bytes` of body.
// A connection starts with a Hello, answered by a Welcome (or a refusal:
// a reply whose status is not 0). Then the client sends one request at a
// time and reads its reply before the next: a reply follows the owner's
// write, so nothing is acknowledged before it is stored.

#ifndef ROCKSQ_SRC_ATTACH_WIRE_H_
#define ROCKSQ_SRC_ATTACH_WIRE_H_

#include <sys/types.h>
#include <sys/un.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "rocksq/error.h"
#include "waiting.h"

namespace rocksq {

// The socket an owner listens on, in the queue's directory.
inline constexpr char kAttachSocketName[] = "rocksq.sock";

// Bumped by any change to a frame's layout or a new operation; both sides
// must run the same one. 2: the Hello names the client and lane, and
// requests may be retries (kRetryFlag). 3: kWatch. 4: the FIFO task counts
// (kTaskDone, kUnfinishedTasks, kJoinWait). 5: kIsShutDown. 6: shared-memory
// lanes (attach_lane.h): the Hello asks for one, the Welcome passes it, and
// kLaneDoorbell.
inline constexpr uint32_t kAttachProtocol = 6;
inline constexpr char kAttachMagic[8] = {'R', 'Q', 'A', 'T', 'T', 'A', 'C', 'H'};
inline constexpr size_t kFrameHeaderBytes = 24;
// A body larger than this is refused: it guards the owner's memory against
// a garbled length. Batches are one frame, so this bounds a batch's bytes.
inline constexpr uint64_t kMaxFrameBodyBytes = uint64_t{1} << 32;
// The most a Hello or a Welcome may declare: their fixed parts and a
// version string take tens of bytes, and later releases only append. A
// peer that declares more is not a RocksQ process: it is refused before
// its body is buffered.
inline constexpr uint64_t kMaxGreetingBodyBytes = 64 * 1024;
// How long each side waits for the other's greeting (the Hello after
// accepting, the Welcome after sending the Hello): a peer that stays
// silent is not a RocksQ process, or is stuck, and must not hold up an
// owner's descriptor or an attaching open for ever.
inline constexpr std::chrono::seconds kGreetingTimeout{5};

enum class AttachOp : uint16_t {
  kHello = 1,      // First frame of a connection (layout frozen: EncodeHello).
  kPushBatch = 2,  // items; a single push is a batch of one.
  kPushBatchWait = 3,  // i64 timeout ns, items.
  kPop = 4,        // u64 max items; replies items.
  kPopWait = 5,    // u64 max items, i64 timeout ns; replies items.
  kLen = 6,        // replies u64 (as the next three).
  kPayloadBytes = 7,
  kDiskBytes = 8,
  kMaxElements = 9,
  kSetMaxElements = 10,  // u64.
  kShutdown = 11,        // u8 immediate.
  kLastBackgroundError = 12,  // replies the text.
  // Any kind; the only operation of an inspector connection (Hello kind 0):
  // replies the owner's view (attach_stats.h, EncodeOwnerStats).
  kStats = 13,
  // Any kind; the operation of an event lane (ChangeFd): u64 the change
  // count of the owner's last reply on this connection (0 before one). The
  // owner replies u64 its change count (the changes of its queue since it
  // started serving it) once that differs, at once if it already does.
  kWatch = 14,
  // FIFO queues' task counts (FifoQueue::TaskDone), kept by the owner. A
  // retried kTaskDone counts nothing: the owner that took over counts only
  // the items stored, and the task it marks is an item popped before.
  kTaskDone = 15,         // replies u64 the unfinished tasks left.
  kUnfinishedTasks = 16,  // replies u64.
  kJoinWait = 17,         // i64 timeout ns; replies u8 1 if no task is unfinished.
  // FifoQueue::IsShutDown: the owner's one shutdown state.
  kIsShutDown = 18,  // replies u8 1 if shut down.
  // Any kind, either way, header only, never answered: a frame was posted
  // in the connection's lane (attach_lane.h) while its reader slept.
  kLaneDoorbell = 19,

  // Ack queues (AttachKind::kAck). Deliveries are u32 count, then each
  // one's u64 id, u32 attempt, u64 receipt and u32-length-prefixed payload;
  // settled deliveries are u32 count, then each one's u64 id and u64
  // receipt (all that settling reads); keyed items are u32 count, then each
  // one's key and item, u32-length-prefixed.
  kAckPushBatch = 32,         // items.
  kAckPushBatchWait = 33,     // i64 timeout ns, items.
  kAckPushBatchUnique = 34,   // keyed items; replies u32 count, count x u8 stored.
  kAckPushBatchUniqueWait = 35,  // i64 timeout ns, keyed items; replies as 34.
  kAckGet = 36,               // u64 max items; replies deliveries.
  kAckGetWait = 37,           // u64 max items, i64 timeout ns; replies deliveries.
  kAckAckBatch = 38,          // settled deliveries.
  kAckNackBatch = 39,         // settled deliveries.
  kAckExtendBatch = 40,       // i64 visibility timeout ms, settled deliveries.
  kAckFailBatch = 41,         // settled deliveries.
  kAckFailed = 42,            // u64 max items; replies u32 count, count x (u64 id, payload).
  kAckRequeueFailed = 43,     // u32 count, count x u64 id; replies u64.
  kAckRequeueAllFailed = 44,  // replies u64.
  kAckTimeToNextExpiry = 45,  // replies i64 ns.
  kAckReadyLen = 46,          // replies u64 (as the next five).
  kAckUnackedLen = 47,
  kAckFailedLen = 48,
  kAckLen = 49,
  kAckPayloadBytes = 50,
  kAckDiskBytes = 51,
  kAckMaxElements = 52,
  kAckLastBackgroundError = 53,  // replies the text.

  // MPMC queues (AttachKind::kMpmc). None waits: MpmcQueue has no waiting
  // call.
  kMpmcAddBatch = 64,     // items.
  kMpmcNext = 65,         // label, u8 start (0: oldest, 1: newest), u64 max items;
                          // replies u8 expired, items.
  kMpmcRemoveLabel = 66,  // label; replies u8 removed.
  kMpmcLabels = 67,       // replies u32 count, count x label.
  kMpmcLen = 68,          // replies u64 (as the next two).
  kMpmcPayloadBytes = 69,
  kMpmcDiskBytes = 70,
  kMpmcLastBackgroundError = 71,  // replies the text.
};

// The kinds of queue a Hello names (0 is reserved for an inspector).
enum class AttachKind : uint32_t {
  kFifo = 1,
  kMpmc = 2,
  kAck = 3,
};
// "a FIFO queue", "an MPMC queue", "an ack queue": for messages.
std::string AttachKindName(uint32_t kind);
// A request whose operation the served kind does not have.
[[noreturn]] void ThrowUnknownOperation(const std::string& path, AttachOp op);

// A request's flag: it went to an owner that is gone, and is sent again,
// with its seq, to the owner that took over; the owner answers it from the
// record its first run left, if there is one (CallId).
inline constexpr uint16_t kRetryFlag = 1;

struct FrameHeader {
  uint64_t body_bytes = 0;
  AttachOp op = AttachOp::kHello;
  uint16_t flags = 0;   // In requests: kRetryFlag or 0.
  uint32_t status = 0;  // In replies: 0, or WireCode(kind) with the detail as body.
  uint64_t seq = 0;     // The connection's request number, echoed by the reply.
};

void EncodeHeader(const FrameHeader& header, char* out);
FrameHeader DecodeHeader(const char* in);

// The explicit code of each ErrorKind on the wire (never its ordinal), and
// back; an unknown code reads as kStorage.
uint32_t WireCode(ErrorKind kind);
ErrorKind KindOfWireCode(uint32_t code);

// Appends little-endian integers and length-prefixed strings to a body, and
// reads them back; a Reader throws kStorage ("malformed frame") past the end.
class BodyWriter {
 public:
  void U8(uint8_t value) { bytes_.push_back(static_cast<char>(value)); }
  void U32(uint32_t value);
  void U64(uint64_t value);
  void I64(int64_t value) { U64(static_cast<uint64_t>(value)); }
  void Bytes(std::string_view bytes) { bytes_.append(bytes.data(), bytes.size()); }
  void String(std::string_view text) {  // u32 length, then the bytes.
    U32(static_cast<uint32_t>(text.size()));
    Bytes(text);
  }
  // u32 count, count x u32 lengths, then the payloads.
  void Items(const std::string_view* items, size_t count);
  // As Items, but payloads of kInPlaceMinBytes or more are not copied: the
  // frame is sent from where they are (Parts), so they must stay there
  // until it is sent, as a caller's items do during its call. `keep` is
  // held by the writer, for payloads whose owner it must keep alive (a
  // reply's popped items).
  void ItemsInPlace(const std::string_view* items, size_t count,
                    std::shared_ptr<const void> keep = nullptr);
  // Below this a payload is copied: describing it to the kernel as a piece
  // of its own costs more than copying it (100 pops of 100 B each took 60 us
  // in one reply sent in pieces, 40 us copied).
  static constexpr size_t kInPlaceMinBytes = 4096;
  // The body in one string (payloads written in place are copied into it).
  std::string& bytes();
  // The body as the pieces to send one after another: no copy.
  std::vector<std::string_view> Parts() const;
  // The body's size, in-place payloads included.
  uint64_t Size() const;

 private:
  std::string bytes_;
  // Payloads written in place, each to be sent after bytes_'s first
  // `offset` bytes (and after the in-place payloads before it).
  struct InPlace {
    size_t offset;
    std::string_view payload;
  };
  std::vector<InPlace> in_place_;
  std::vector<std::shared_ptr<const void>> kept_;
};

class BodyReader {
 public:
  BodyReader(std::string_view body, const std::string& path) : rest_(body), path_(path) {}
  uint8_t U8();
  uint32_t U32();
  uint64_t U64();
  int64_t I64() { return static_cast<int64_t>(U64()); }
  std::string_view Bytes(size_t count);
  std::string_view String() { return Bytes(U32()); }
  // Views into the body (see BodyWriter::Items).
  std::vector<std::string_view> Items();

 private:
  std::string_view rest_;
  const std::string& path_;
};

// A Hello's `kind` for an inspector (`rocksq stats`: kStats only, not
// counted as an attached process) rather than a queue (AttachKind).
inline constexpr uint32_t kInspectorHelloKind = 0;

// The Hello: the magic, the protocol, the RocksQ version (so that either
// side can name both versions in a refusal), the queue kind (AttachKind) and
// the client's pid. That layout never changes, so that any release can read
// and refuse another's. Protocol 2 appends the client's id and the
// connection's lane (CallId); protocol 6, whether the connection asks for a
// shared-memory lane (attach_lane.h), which the Welcome then passes.
struct Hello {
  uint32_t protocol = kAttachProtocol;
  std::string version;
  uint32_t kind = static_cast<uint32_t>(AttachKind::kFifo);
  uint32_t pid = 0;
  uint64_t client_id = 0;
  uint32_t lane = 0;
  bool shared_lane = false;
};
std::string EncodeHello(const Hello& hello);
// Throws kUnsupportedFormat if `body` is not a Hello of this protocol.
Hello DecodeHello(std::string_view body, const std::string& path);

// Which call a request is, across owners: the attached queue's id (random,
// kept for the handle's life, whatever the owner), the lane (one per
// connection the handle makes, never reused by it; a lane has one call under
// way at a time) and the request's number on it. A hand-over's retry keeps
// all three, so that the owner that took over can tell from the records
// the call left (the call ledger, docs/format.rst) whether it ran.
struct CallId {
  uint64_t client_id = 0;
  uint32_t lane = 0;
  uint64_t seq = 0;
  bool operator==(const CallId& other) const {
    return client_id == other.client_id && lane == other.lane && seq == other.seq;
  }
};

// The Welcome: what the attached queue answers locally, and the options it
// must agree with.
struct Welcome {
  uint32_t protocol = kAttachProtocol;
  uint32_t owner_pid = 0;
  std::string version;
  std::string queue_id;
  std::string recovery_warning;
  uint64_t max_elements = 0;  // The owner's current limit.
  bool sync = false;
  // Ack queues only (0 for the others).
  int64_t visibility_timeout_ms = 0;
  uint64_t dedup_window = 0;
  // MPMC queues only (0 for the others).
  int64_t ttl_ms = 0;
};
std::string EncodeWelcome(const Welcome& welcome);
Welcome DecodeWelcome(std::string_view body, const std::string& path);

// A connected stream socket's frame I/O, blocking. SendFrame sends header
// and body in one sendmsg (MSG_NOSIGNAL), looping on short writes. Both
// return false when the peer closed the connection (or reset it); other
// failures throw kStorage naming `path`. ReceiveFrame reads the header and
// the start of the body in one call, so it may read past the frame: it is
// for replies, after which the owner sends nothing until the next request.
// It polls for the reply with `poll` (if given) before it sleeps. A body
// declared over `max_body_bytes` throws kStorage before it is read, and the
// body's memory grows as its bytes arrive, not as declared.
bool SendFrame(int fd, const FrameHeader& header, std::string_view body,
               const std::string& path);
// The same, the body given as pieces to send one after another (a
// BodyWriter's Parts): one sendmsg for up to IOV_MAX pieces.
// With `passed_fd` (not -1), the descriptor goes with the frame's first
// byte (SCM_RIGHTS).
bool SendFrame(int fd, const FrameHeader& header, const std::vector<std::string_view>& body,
               const std::string& path, int passed_fd = -1);
bool ReceiveFrame(int fd, FrameHeader* header, std::string* body, const std::string& path,
                  uint64_t max_body_bytes = kMaxFrameBodyBytes, AdaptivePoll* poll = nullptr);
// What ReceiveFrame throws: kStorage naming `path`, for a failed socket call
// (errno's text after `action`, "reading from" or "writing to"), and for a
// reply whose header declares a body over `max_body_bytes`.
[[noreturn]] void ThrowSocketError(const std::string& path, const char* action);
void CheckDeclaredBody(const FrameHeader& header, uint64_t max_body_bytes,
                       const std::string& path);

// A user and a group as the refusals of both sides name them: "root (0)",
// or the number alone if the system does not know it.
std::string UserName(uid_t uid);
std::string GroupName(gid_t gid);

// The address of the socket in the directory open as `directory_fd`:
// `/proc/self/fd/N/rocksq.sock`, so that a queue path of any length has an
// address that fits a sockaddr_un (108 bytes).
sockaddr_un SocketAddress(int directory_fd, const std::string& path);

}  // namespace rocksq

#endif  // ROCKSQ_SRC_ATTACH_WIRE_H_
