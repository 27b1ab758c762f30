// The attach protocol's frames (attach_wire.h): what another release reads
// must not move, so the codes and layouts are pinned here.

#include "attach_wire.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "attach_client.h"

namespace rocksq {
namespace {

TEST(AttachWireTest, EachErrorKindHasTheCodeTheFormatGuideLists) {
  EXPECT_EQ(WireCode(ErrorKind::kQueueFull), 1u);
  EXPECT_EQ(WireCode(ErrorKind::kStorage), 2u);
  EXPECT_EQ(WireCode(ErrorKind::kCorruption), 3u);
  EXPECT_EQ(WireCode(ErrorKind::kAlreadyOpen), 4u);
  EXPECT_EQ(WireCode(ErrorKind::kNotAQueue), 5u);
  EXPECT_EQ(WireCode(ErrorKind::kInvalidArgument), 6u);
  EXPECT_EQ(WireCode(ErrorKind::kClosed), 7u);
  EXPECT_EQ(WireCode(ErrorKind::kNotOutstanding), 8u);
  EXPECT_EQ(WireCode(ErrorKind::kForkedProcess), 9u);
  EXPECT_EQ(WireCode(ErrorKind::kShutDown), 10u);
  EXPECT_EQ(WireCode(ErrorKind::kUnsupportedFormat), 11u);
  for (uint32_t code = 1; code <= 11; ++code) EXPECT_EQ(WireCode(KindOfWireCode(code)), code);
}

TEST(AttachWireTest, AnUnknownCodeReadsAsAStorageError) {
  EXPECT_EQ(KindOfWireCode(12), ErrorKind::kStorage);
  EXPECT_EQ(KindOfWireCode(0xffffffff), ErrorKind::kStorage);
}

TEST(AttachWireTest, AHeaderIs24LittleEndianBytes) {
  FrameHeader header;
  header.body_bytes = 0x0102030405060708;
  header.op = AttachOp::kPopWait;
  header.status = 7;
  header.seq = 9;
  char bytes[kFrameHeaderBytes];
  EncodeHeader(header, bytes);
  EXPECT_EQ(bytes[0], 0x08);
  EXPECT_EQ(bytes[7], 0x01);
  EXPECT_EQ(bytes[8], 5);  // kPopWait
  EXPECT_EQ(bytes[12], 7);
  EXPECT_EQ(bytes[16], 9);
  const FrameHeader decoded = DecodeHeader(bytes);
  EXPECT_EQ(decoded.body_bytes, header.body_bytes);
  EXPECT_EQ(decoded.op, AttachOp::kPopWait);
  EXPECT_EQ(decoded.status, 7u);
  EXPECT_EQ(decoded.seq, 9u);
}

TEST(AttachWireTest, ItemsRoundTripInOrder) {
  const std::vector<std::string_view> items = {"a", "", std::string_view("b\0c", 3)};
  BodyWriter writer;
  writer.Items(items.data(), items.size());
  const std::string path = "/q";
  BodyReader reader(writer.bytes(), path);
  EXPECT_EQ(reader.Items(), items);
}

TEST(AttachWireTest, ABodyCutShortIsRefusedAsMalformed) {
  const std::vector<std::string_view> items = {"abc"};
  BodyWriter writer;
  writer.Items(items.data(), items.size());
  const std::string path = "/q";
  const std::string cut = writer.bytes().substr(0, writer.bytes().size() - 1);
  BodyReader reader(cut, path);
  EXPECT_THROW(reader.Items(), Error);
}

TEST(AttachWireTest, AHelloStartsWithTheMagicAndRoundTrips) {
  Hello hello;
  hello.version = "0.4.0";
  hello.pid = 42;
  hello.client_id = 0x0123456789abcdefull;
  hello.lane = 7;
  const std::string body = EncodeHello(hello);
  EXPECT_EQ(body.substr(0, 8), "RQATTACH");
  const Hello decoded = DecodeHello(body, "/q");
  EXPECT_EQ(decoded.protocol, kAttachProtocol);
  EXPECT_EQ(decoded.version, "0.4.0");
  EXPECT_EQ(decoded.pid, 42u);
  EXPECT_EQ(decoded.client_id, 0x0123456789abcdefull);
  EXPECT_EQ(decoded.lane, 7u);
  // A Hello of protocol 1 ends at the version: still read, to be refused
  // by its protocol's number.
  Hello old = hello;
  old.protocol = 1;
  std::string old_body = EncodeHello(old);
  old_body.resize(old_body.size() - 12);
  EXPECT_EQ(DecodeHello(old_body, "/q").protocol, 1u);
  try {
    DecodeHello("GET / HTTP/1.1\r\n", "/q");
    FAIL() << "a body without the magic was read as a Hello";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kUnsupportedFormat);
  }
}

TEST(AttachWireTest, AWelcomeRoundTrips) {
  Welcome welcome;
  welcome.owner_pid = 7;
  welcome.version = "0.4.0";
  welcome.queue_id = std::string(32, 'a');
  welcome.max_elements = 10;
  welcome.sync = true;
  welcome.visibility_timeout_ms = 1500;
  welcome.dedup_window = 9;
  welcome.ttl_ms = 60'000;
  const Welcome decoded = DecodeWelcome(EncodeWelcome(welcome), "/q");
  EXPECT_EQ(decoded.owner_pid, 7u);
  EXPECT_EQ(decoded.queue_id, welcome.queue_id);
  EXPECT_EQ(decoded.max_elements, 10u);
  EXPECT_TRUE(decoded.sync);
  EXPECT_EQ(decoded.visibility_timeout_ms, 1500);
  EXPECT_EQ(decoded.dedup_window, 9u);
  EXPECT_EQ(decoded.ttl_ms, 60'000);
}

// What a BodyWriter sends, as one string.
std::string Joined(const std::vector<std::string_view>& parts) {
  std::string joined;
  for (std::string_view part : parts) joined.append(part.data(), part.size());
  return joined;
}

TEST(AttachWireTest, ItemsInPlaceSendWhatItemsWouldFromTheItemsOwnBytes) {
  const std::string big(5000, 'x');
  const std::vector<std::string_view> items = {"a", "", big};
  BodyWriter copied;
  copied.U64(9);
  copied.Items(items.data(), items.size());
  copied.U8(1);
  BodyWriter in_place;
  in_place.U64(9);
  in_place.ItemsInPlace(items.data(), items.size());
  in_place.U8(1);
  const std::vector<std::string_view> parts = in_place.Parts();
  EXPECT_EQ(Joined(parts), copied.bytes());
  bool sends_from_the_big_item = false;
  bool sends_from_the_small_item = false;
  for (std::string_view part : parts) {
    sends_from_the_big_item |= part.data() == big.data();
    sends_from_the_small_item |= part.data() == items[0].data();
  }
  EXPECT_TRUE(sends_from_the_big_item);
  EXPECT_FALSE(sends_from_the_small_item);  // Copied: cheaper than a piece of its own.
  EXPECT_EQ(in_place.bytes(), copied.bytes());  // Flattened on request.
}

TEST(AttachWireTest, AFrameOfMorePiecesThanOneSendmsgTakesArrivesWhole) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  std::vector<std::string> stored;  // Sent in place, each a piece: past IOV_MAX (1024).
  for (int i = 0; i < 1100; ++i) {
    stored.push_back(std::string(BodyWriter::kInPlaceMinBytes, static_cast<char>(i)));
  }
  const std::vector<std::string_view> items(stored.begin(), stored.end());
  BodyWriter writer;
  writer.ItemsInPlace(items.data(), items.size());
  FrameHeader header;
  header.op = AttachOp::kPushBatch;
  header.seq = 3;
  const std::string path = "/q";
  std::thread sender([&] { EXPECT_TRUE(SendFrame(fds[0], header, writer.Parts(), path)); });
  FrameHeader received;
  std::string body;
  ASSERT_TRUE(ReceiveFrame(fds[1], &received, &body, path));
  sender.join();
  EXPECT_EQ(received.seq, 3u);
  BodyReader reader(body, path);
  EXPECT_EQ(reader.Items(), items);
  ::close(fds[0]);
  ::close(fds[1]);
}

TEST(AttachWireTest, AReplyThatComesAfterThePollingIsStillReadAndAHangUpEndsIt) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  const std::string path = "/q";
  FrameHeader header;
  header.seq = 5;
  // The reply is sent only once the reader has given up polling and sleeps.
  std::thread late([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_TRUE(SendFrame(fds[0], header, std::string_view("late"), path));
    ::shutdown(fds[0], SHUT_WR);
  });
  FrameHeader received;
  std::string body;
  AdaptivePoll poll(std::chrono::microseconds(100));
  ASSERT_TRUE(ReceiveFrame(fds[1], &received, &body, path, kMaxFrameBodyBytes, &poll));
  EXPECT_EQ(received.seq, 5u);
  EXPECT_EQ(body, "late");
  late.join();
  AdaptivePoll next_poll(std::chrono::microseconds(100));
  EXPECT_FALSE(ReceiveFrame(fds[1], &received, &body, path, kMaxFrameBodyBytes, &next_poll));
  ::close(fds[0]);
  ::close(fds[1]);
}

TEST(AttachWireTest, PoppedItemsOfAReplyKeepTheReplyRatherThanACopy) {
  const std::string big(4000, 'y');
  const std::vector<std::string_view> items = {"first", big, ""};
  BodyWriter writer;
  writer.U8(1);
  writer.Items(items.data(), items.size());
  std::string reply = writer.bytes();
  const char* const reply_bytes = reply.data();
  const std::string path = "/q";
  BodyReader reader(reply, path);
  reader.U8();
  const PoppedItems popped = ReadPoppedItems(&reply, &reader);
  ASSERT_EQ(popped.size(), 3u);
  EXPECT_EQ(popped[0], "first");
  EXPECT_EQ(popped[1], big);
  EXPECT_EQ(popped[2], "");
  EXPECT_EQ(popped[1].data(), reply_bytes + 1 + 4 + 3 * 4 + 5);  // Where it arrived.
  // A reply short enough to live inside its string object moves by copy.
  std::string short_reply;
  {
    const std::vector<std::string_view> one = {"ab"};
    BodyWriter short_writer;
    short_writer.Items(one.data(), one.size());
    short_reply = short_writer.bytes();
  }
  BodyReader short_reader(short_reply, path);
  const PoppedItems short_popped = ReadPoppedItems(&short_reply, &short_reader);
  ASSERT_EQ(short_popped.size(), 1u);
  EXPECT_EQ(short_popped[0], "ab");
}

}  // namespace
}  // namespace rocksq
