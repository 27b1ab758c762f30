// The attach protocol's frames (attach_wire.h): what another release reads
// must not move, so the codes and layouts are pinned here.

#include "attach_wire.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

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

}  // namespace
}  // namespace rocksq
