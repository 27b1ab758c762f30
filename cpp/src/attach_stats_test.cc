// The Stats operation's reply (attach_stats.h): the layout docs/format.rst
// gives, pinned byte for byte, and refused when cut short.

#include "attach_stats.h"

#include <gtest/gtest.h>

#include <string>

#include "attach_wire.h"

namespace rocksq {
namespace {

QueueOwner TwoAttachedProcesses() {
  QueueOwner stats;
  stats.pid = 7;
  stats.version = "0.4.0";
  stats.kind = "fifo";
  stats.queue_id = std::string(32, 'a');
  stats.length = 3;
  stats.payload_bytes = 6;
  stats.disk_bytes = 4096;
  stats.attached = {{11, 1000, 1}, {12, 1000, 2}};
  stats.oldest_age_micros = 2'000'000;
  stats.oldest_age_is_lower_bound = true;
  return stats;
}

TEST(AttachStatsTest, TheReplyHasTheLayoutOfTheFormatGuide) {
  const std::string body = EncodeOwnerStats(TwoAttachedProcesses());
  const std::string path = "/q";  // The reader keeps a reference to it.
  BodyReader reader(body, path);
  EXPECT_EQ(reader.U32(), 7u);
  EXPECT_EQ(reader.String(), "0.4.0");
  EXPECT_EQ(reader.U32(), static_cast<uint32_t>(AttachKind::kFifo));
  EXPECT_EQ(reader.String(), std::string(32, 'a'));
  EXPECT_EQ(reader.U64(), 3u);
  EXPECT_EQ(reader.U64(), 6u);
  EXPECT_EQ(reader.U64(), 4096u);
  EXPECT_EQ(reader.I64(), 2'000'000);  // The oldest item's age...
  EXPECT_EQ(reader.U8(), 1u);          // ...a lower bound.
  EXPECT_EQ(reader.U32(), 2u);
  for (uint32_t expected : {11u, 1000u, 1u, 12u, 1000u, 2u}) EXPECT_EQ(reader.U32(), expected);
  EXPECT_THROW(reader.U8(), Error);  // Nothing after the last process.
}

TEST(AttachStatsTest, TheReplyRoundTripsAndIsMarkedAnswered) {
  QueueOwner sent = TwoAttachedProcesses();
  sent.kind = "mpmc";
  sent.oldest_age_micros = 1'500'000;
  const QueueOwner read = DecodeOwnerStats(EncodeOwnerStats(sent), "/q");
  EXPECT_TRUE(read.answered);
  EXPECT_EQ(read.pid, 7u);
  EXPECT_EQ(read.kind, "mpmc");
  EXPECT_EQ(read.oldest_age_micros, 1'500'000);
  EXPECT_TRUE(read.oldest_age_is_lower_bound);
  ASSERT_EQ(read.attached.size(), 2u);
  EXPECT_EQ(read.attached[1].pid, 12u);
  EXPECT_EQ(read.attached[1].connections, 2u);
}

TEST(AttachStatsTest, AReplyCutShortIsRefusedAsMalformed) {
  const std::string body = EncodeOwnerStats(TwoAttachedProcesses());
  try {
    DecodeOwnerStats(body.substr(0, body.size() - 1), "/q");
    FAIL() << "a reply missing its last byte was read";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kStorage);
  }
}

}  // namespace
}  // namespace rocksq
