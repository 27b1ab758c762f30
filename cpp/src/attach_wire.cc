#include "attach_wire.h"

#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

namespace rocksq {
namespace {

void EncodeLittleEndian(uint64_t value, size_t bytes, char* out) {
  for (size_t i = 0; i < bytes; ++i) {
    out[i] = static_cast<char>(value & 0xff);
    value >>= 8;
  }
}

uint64_t DecodeLittleEndian(const char* in, size_t bytes) {
  uint64_t value = 0;
  for (size_t i = bytes; i-- > 0;) value = (value << 8) | static_cast<unsigned char>(in[i]);
  return value;
}

[[noreturn]] void ThrowMalformed(const std::string& path, const char* what) {
  throw Error(ErrorKind::kStorage, path, std::string("malformed attach frame: ") + what);
}

// Hello's fixed layout: magic, protocol, kind, pid, then the version text.
constexpr size_t kHelloFixedBytes = sizeof(kAttachMagic) + 4 + 4 + 4;

}  // namespace

void ThrowSocketError(const std::string& path, const char* action) {
  throw Error(ErrorKind::kStorage, path,
              std::string(action) + " the attach socket: " + std::strerror(errno));
}

void CheckDeclaredBody(const FrameHeader& header, uint64_t max_body_bytes,
                       const std::string& path) {
  if (header.body_bytes <= max_body_bytes) return;
  throw Error(ErrorKind::kStorage, path,
              "malformed attach frame: a reply declares " + std::to_string(header.body_bytes) +
                  " bytes, more than the " + std::to_string(max_body_bytes) +
                  " it may hold (is the process at " + kAttachSocketName + " a RocksQ owner?)");
}

void EncodeHeader(const FrameHeader& header, char* out) {
  EncodeLittleEndian(header.body_bytes, 8, out);
  EncodeLittleEndian(static_cast<uint16_t>(header.op), 2, out + 8);
  EncodeLittleEndian(header.flags, 2, out + 10);
  EncodeLittleEndian(header.status, 4, out + 12);
  EncodeLittleEndian(header.seq, 8, out + 16);
}

FrameHeader DecodeHeader(const char* in) {
  FrameHeader header;
  header.body_bytes = DecodeLittleEndian(in, 8);
  header.op = static_cast<AttachOp>(DecodeLittleEndian(in + 8, 2));
  header.flags = static_cast<uint16_t>(DecodeLittleEndian(in + 10, 2));
  header.status = static_cast<uint32_t>(DecodeLittleEndian(in + 12, 4));
  header.seq = DecodeLittleEndian(in + 16, 8);
  return header;
}

namespace {

// The one table of wire codes; 0 means success.
struct WireKind {
  ErrorKind kind;
  uint32_t code;
};
constexpr WireKind kWireKinds[] = {
    {ErrorKind::kQueueFull, 1},       {ErrorKind::kStorage, 2},
    {ErrorKind::kCorruption, 3},      {ErrorKind::kAlreadyOpen, 4},
    {ErrorKind::kNotAQueue, 5},       {ErrorKind::kInvalidArgument, 6},
    {ErrorKind::kClosed, 7},          {ErrorKind::kNotOutstanding, 8},
    {ErrorKind::kForkedProcess, 9},   {ErrorKind::kShutDown, 10},
    {ErrorKind::kUnsupportedFormat, 11},
};

}  // namespace

uint32_t WireCode(ErrorKind kind) {
  for (const WireKind& entry : kWireKinds) {
    if (entry.kind == kind) return entry.code;
  }
  return WireCode(ErrorKind::kStorage);
}

ErrorKind KindOfWireCode(uint32_t code) {
  for (const WireKind& entry : kWireKinds) {
    if (entry.code == code) return entry.kind;
  }
  return ErrorKind::kStorage;
}

void BodyWriter::U32(uint32_t value) {
  char bytes[4];
  EncodeLittleEndian(value, 4, bytes);
  bytes_.append(bytes, 4);
}

void BodyWriter::U64(uint64_t value) {
  char bytes[8];
  EncodeLittleEndian(value, 8, bytes);
  bytes_.append(bytes, 8);
}

void BodyWriter::Items(const std::string_view* items, size_t count) {
  size_t total = 4 + 4 * count;
  for (size_t i = 0; i < count; ++i) total += items[i].size();
  bytes_.reserve(bytes_.size() + total);
  U32(static_cast<uint32_t>(count));
  for (size_t i = 0; i < count; ++i) U32(static_cast<uint32_t>(items[i].size()));
  for (size_t i = 0; i < count; ++i) Bytes(items[i]);
}

void BodyWriter::ItemsInPlace(const std::string_view* items, size_t count,
                              std::shared_ptr<const void> keep) {
  U32(static_cast<uint32_t>(count));
  for (size_t i = 0; i < count; ++i) U32(static_cast<uint32_t>(items[i].size()));
  for (size_t i = 0; i < count; ++i) {
    if (items[i].size() >= kInPlaceMinBytes) {
      in_place_.push_back({bytes_.size(), items[i]});
    } else {
      Bytes(items[i]);
    }
  }
  if (keep) kept_.push_back(std::move(keep));
}

std::string& BodyWriter::bytes() {
  if (in_place_.empty()) return bytes_;
  std::string flat;
  for (std::string_view part : Parts()) flat.append(part.data(), part.size());
  bytes_ = std::move(flat);
  in_place_.clear();
  kept_.clear();
  return bytes_;
}

std::vector<std::string_view> BodyWriter::Parts() const {
  std::vector<std::string_view> parts;
  parts.reserve(2 * in_place_.size() + 1);
  size_t written = 0;
  for (const InPlace& in_place : in_place_) {
    if (in_place.offset > written) {
      parts.emplace_back(bytes_.data() + written, in_place.offset - written);
      written = in_place.offset;
    }
    parts.push_back(in_place.payload);
  }
  if (bytes_.size() > written) parts.emplace_back(bytes_.data() + written, bytes_.size() - written);
  return parts;
}

uint64_t BodyWriter::Size() const {
  uint64_t size = bytes_.size();
  for (const InPlace& in_place : in_place_) size += in_place.payload.size();
  return size;
}

std::string_view BodyReader::Bytes(size_t count) {
  if (count > rest_.size()) ThrowMalformed(path_, "a field runs past the body's end");
  const std::string_view bytes = rest_.substr(0, count);
  rest_.remove_prefix(count);
  return bytes;
}

uint8_t BodyReader::U8() { return static_cast<uint8_t>(Bytes(1)[0]); }
uint32_t BodyReader::U32() { return static_cast<uint32_t>(DecodeLittleEndian(Bytes(4).data(), 4)); }
uint64_t BodyReader::U64() { return DecodeLittleEndian(Bytes(8).data(), 8); }

std::vector<std::string_view> BodyReader::Items() {
  const uint32_t count = U32();
  if (count > rest_.size() / 4) ThrowMalformed(path_, "more item lengths than bytes");
  std::vector<uint32_t> lengths(count);
  for (uint32_t& length : lengths) length = U32();
  std::vector<std::string_view> items;
  items.reserve(count);
  for (uint32_t length : lengths) items.push_back(Bytes(length));
  return items;
}

std::string AttachKindName(uint32_t kind) {
  switch (static_cast<AttachKind>(kind)) {
    case AttachKind::kFifo:
      return "a FIFO queue";
    case AttachKind::kMpmc:
      return "an MPMC queue";
    case AttachKind::kAck:
      return "an ack queue";
  }
  return "a queue of kind " + std::to_string(kind);
}

void ThrowUnknownOperation(const std::string& path, AttachOp op) {
  throw Error(ErrorKind::kUnsupportedFormat, path,
              "unknown attach operation " + std::to_string(static_cast<unsigned>(op)));
}

std::string EncodeHello(const Hello& hello) {
  BodyWriter body;
  body.Bytes(std::string_view(kAttachMagic, sizeof(kAttachMagic)));
  body.U32(hello.protocol);
  body.U32(hello.kind);
  body.U32(hello.pid);
  body.String(hello.version);
  body.U64(hello.client_id);
  body.U32(hello.lane);
  body.U8(hello.shared_lane ? 1 : 0);
  return std::move(body.bytes());
}

Hello DecodeHello(std::string_view body, const std::string& path) {
  if (body.size() < kHelloFixedBytes ||
      std::memcmp(body.data(), kAttachMagic, sizeof(kAttachMagic)) != 0) {
    throw Error(ErrorKind::kUnsupportedFormat, path,
                "a connection to the attach socket did not start with a RocksQ Hello");
  }
  BodyReader reader(body.substr(sizeof(kAttachMagic)), path);
  Hello hello;
  hello.protocol = reader.U32();
  hello.kind = reader.U32();
  hello.pid = reader.U32();
  hello.version = std::string(reader.String());
  // Only a Hello of this protocol has them; the server refuses another's
  // protocol by name, so it must read that far.
  if (hello.protocol == kAttachProtocol) {
    hello.client_id = reader.U64();
    hello.lane = reader.U32();
    hello.shared_lane = reader.U8() != 0;
  }
  return hello;
}

std::string EncodeWelcome(const Welcome& welcome) {
  BodyWriter body;
  body.U32(welcome.protocol);
  body.U32(welcome.owner_pid);
  body.String(welcome.version);
  body.String(welcome.queue_id);
  body.String(welcome.recovery_warning);
  body.U64(welcome.max_elements);
  body.U8(welcome.sync ? 1 : 0);
  body.I64(welcome.visibility_timeout_ms);
  body.U64(welcome.dedup_window);
  body.I64(welcome.ttl_ms);
  return std::move(body.bytes());
}

Welcome DecodeWelcome(std::string_view body, const std::string& path) {
  BodyReader reader(body, path);
  Welcome welcome;
  welcome.protocol = reader.U32();
  welcome.owner_pid = reader.U32();
  welcome.version = std::string(reader.String());
  welcome.queue_id = std::string(reader.String());
  welcome.recovery_warning = std::string(reader.String());
  welcome.max_elements = reader.U64();
  welcome.sync = reader.U8() != 0;
  welcome.visibility_timeout_ms = reader.I64();
  welcome.dedup_window = reader.U64();
  welcome.ttl_ms = reader.I64();
  return welcome;
}

bool SendFrame(int fd, const FrameHeader& header, std::string_view body,
               const std::string& path) {
  return SendFrame(fd, header, std::vector<std::string_view>{body}, path);
}

bool SendFrame(int fd, const FrameHeader& header, const std::vector<std::string_view>& body,
               const std::string& path, int passed_fd) {
  char header_bytes[kFrameHeaderBytes];
  FrameHeader sent = header;
  sent.body_bytes = 0;
  for (std::string_view part : body) sent.body_bytes += part.size();
  EncodeHeader(sent, header_bytes);
  std::vector<iovec> parts;
  parts.reserve(body.size() + 1);
  parts.push_back({header_bytes, kFrameHeaderBytes});
  for (std::string_view part : body) {
    if (!part.empty()) parts.push_back({const_cast<char*>(part.data()), part.size()});
  }
  iovec* next = parts.data();
  size_t left = parts.size();
  while (left > 0) {
    msghdr message{};
    message.msg_iov = next;
    message.msg_iovlen = std::min<size_t>(left, IOV_MAX);
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
    if (passed_fd >= 0) {
      message.msg_control = control;
      message.msg_controllen = sizeof(control);
      cmsghdr* rights = CMSG_FIRSTHDR(&message);
      rights->cmsg_level = SOL_SOCKET;
      rights->cmsg_type = SCM_RIGHTS;
      rights->cmsg_len = CMSG_LEN(sizeof(int));
      std::memcpy(CMSG_DATA(rights), &passed_fd, sizeof(int));
    }
    const ssize_t sent_bytes = ::sendmsg(fd, &message, MSG_NOSIGNAL);
    if (sent_bytes < 0) {
      if (errno == EINTR) continue;
      if (errno == EPIPE || errno == ECONNRESET) return false;
      ThrowSocketError(path, "writing to");
    }
    passed_fd = -1;  // It went with the first byte sent.
    size_t done = static_cast<size_t>(sent_bytes);
    while (left > 0 && done >= next->iov_len) {
      done -= next->iov_len;
      ++next;
      --left;
    }
    if (left > 0) {
      next->iov_base = static_cast<char*>(next->iov_base) + done;
      next->iov_len -= done;
    }
  }
  return true;
}

namespace {

// Reads exactly `count` bytes; false if the peer closed first.
bool ReceiveExactly(int fd, char* out, size_t count, const std::string& path) {
  while (count > 0) {
    const ssize_t received = ::recv(fd, out, count, 0);
    if (received == 0) return false;
    if (received < 0) {
      if (errno == EINTR) continue;
      if (errno == ECONNRESET) return false;
      ThrowSocketError(path, "reading from");
    }
    out += received;
    count -= static_cast<size_t>(received);
  }
  return true;
}

}  // namespace

bool ReceiveFrame(int fd, FrameHeader* header, std::string* body, const std::string& path,
                  uint64_t max_body_bytes, AdaptivePoll* poll) {
  // One recv takes most replies whole (a call's cost is mostly system
  // calls); a larger body's rest is read into place after.
  constexpr size_t kFirstRead = 16 * 1024;
  char first[kFirstRead];
  size_t have = 0;
  // What the polls read, if they got an answer (data, end or error).
  ssize_t received = -1;
  bool polled = poll != nullptr && (*poll)([&] {
    received = ::recv(fd, first, kFirstRead, MSG_DONTWAIT);
    return received >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
  });
  while (have < kFrameHeaderBytes) {
    if (!polled) received = ::recv(fd, first + have, kFirstRead - have, 0);
    polled = false;
    if (received == 0) return false;
    if (received < 0) {
      if (errno == EINTR) continue;
      if (errno == ECONNRESET) return false;
      ThrowSocketError(path, "reading from");
    }
    have += static_cast<size_t>(received);
  }
  *header = DecodeHeader(first);
  CheckDeclaredBody(*header, max_body_bytes, path);
  const size_t body_bytes = static_cast<size_t>(header->body_bytes);
  size_t received_body = std::min(have - kFrameHeaderBytes, body_bytes);
  body->assign(first + kFrameHeaderBytes, received_body);
  // A length is only a claim until its bytes arrive: past this much, the
  // body doubles as it fills, so a peer that lies costs what it sends.
  constexpr size_t kTrustedBodyBytes = 16 << 20;
  while (received_body < body_bytes) {
    const size_t next = std::min(body_bytes, std::max(kTrustedBodyBytes, 2 * received_body));
    body->resize(next);
    if (!ReceiveExactly(fd, body->data() + received_body, next - received_body, path)) {
      return false;
    }
    received_body = next;
  }
  return true;
}

std::string UserName(uid_t uid) {
  const passwd* entry = ::getpwuid(uid);
  const std::string number = std::to_string(uid);
  return entry != nullptr ? std::string(entry->pw_name) + " (" + number + ")" : number;
}

std::string GroupName(gid_t gid) {
  const group* entry = ::getgrgid(gid);
  const std::string number = std::to_string(gid);
  return entry != nullptr ? std::string(entry->gr_name) + " (" + number + ")" : number;
}

sockaddr_un SocketAddress(int directory_fd, const std::string& path) {
  const std::string address_path =
      "/proc/self/fd/" + std::to_string(directory_fd) + "/" + kAttachSocketName;
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (address_path.size() >= sizeof(address.sun_path)) {
    throw Error(ErrorKind::kInvalidArgument, path, "the attach socket's address is too long");
  }
  std::memcpy(address.sun_path, address_path.c_str(), address_path.size() + 1);
  return address;
}

}  // namespace rocksq
