// A shared-memory lane's two sides, in one process: a lane the owner made
// and the client's mapping of its memfd are one memory, the posts and the
// "sleeping" flags tell each side exactly when to ring, the owner never
// trusts what a client wrote, a client maps only a sealed lane, and a fork()
// child inherits no lane.

#include "attach_lane.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>

namespace rocksq {
namespace {

struct LanePair {
  LanePair() {
    int fd = -1;
    owner = SharedLane::Create(&fd);
    EXPECT_NE(owner, nullptr);
    memfd = fd;
    client = SharedLane::Map(::dup(fd));
    EXPECT_NE(client, nullptr);
  }
  ~LanePair() { ::close(memfd); }
  std::unique_ptr<SharedLane> owner;
  std::unique_ptr<SharedLane> client;
  int memfd = -1;
};

FrameHeader Request(AttachOp op, uint64_t seq) {
  FrameHeader header;
  header.op = op;
  header.seq = seq;
  return header;
}

TEST(SharedLaneTest, ARequestIsTakenOnceAndItsReplyReadBack) {
  LanePair lane;
  EXPECT_FALSE(lane.owner->RequestPosted());
  EXPECT_FALSE(lane.client->PostRequest(Request(AttachOp::kPop, 41), {"ab", "", "cde"}));
  ASSERT_TRUE(lane.owner->RequestPosted());
  std::string frame;
  ASSERT_TRUE(lane.owner->TakeRequest(&frame));
  EXPECT_FALSE(lane.owner->RequestPosted());
  const FrameHeader taken = DecodeHeader(frame.data());
  EXPECT_EQ(taken.op, AttachOp::kPop);
  EXPECT_EQ(taken.seq, 41u);
  EXPECT_EQ(taken.body_bytes, 5u);
  EXPECT_EQ(frame.substr(kFrameHeaderBytes), "abcde");

  EXPECT_FALSE(lane.client->ReplyPosted());
  FrameHeader reply = taken;
  reply.status = 3;
  EXPECT_FALSE(lane.owner->PostReply(reply, {"items"}));
  ASSERT_TRUE(lane.client->ReplyPosted());
  EXPECT_FALSE(lane.client->ReplyOnSocket());
  FrameHeader read;
  std::string body;
  ASSERT_TRUE(lane.client->ReadReply(&read, &body));
  EXPECT_EQ(read.seq, 41u);
  EXPECT_EQ(read.status, 3u);
  EXPECT_EQ(body, "items");

  // The next request is a new one; its reply is not the last one's.
  lane.client->PostRequest(Request(AttachOp::kLen, 42), {});
  EXPECT_FALSE(lane.client->ReplyPosted());
  ASSERT_TRUE(lane.owner->TakeRequest(&frame));
  lane.owner->PostReplyOnSocket();
  ASSERT_TRUE(lane.client->ReplyPosted());
  EXPECT_TRUE(lane.client->ReplyOnSocket());
}

TEST(SharedLaneTest, AClientRingsOnlyAnOwnerThatSaidItSleepsAndOnlyOnce) {
  LanePair lane;
  EXPECT_FALSE(lane.owner->OwnerSleeps(true));  // Nothing posted: it may sleep.
  EXPECT_TRUE(lane.client->PostRequest(Request(AttachOp::kLen, 1), {}));
  lane.owner->OwnerSleeps(false);
  std::string frame;
  ASSERT_TRUE(lane.owner->TakeRequest(&frame));
  lane.owner->PostReply(Request(AttachOp::kLen, 1), {});
  EXPECT_FALSE(lane.client->PostRequest(Request(AttachOp::kLen, 2), {}));  // Awake.
  // Posted before the owner said it sleeps: it must not sleep.
  EXPECT_TRUE(lane.owner->OwnerSleeps(true));
}

TEST(SharedLaneTest, AnOwnerRingsOnlyAClientThatSaidItSleepsAndTheClientKnowsWhether) {
  LanePair lane;
  std::string frame;
  // Awake: no doorbell.
  lane.client->PostRequest(Request(AttachOp::kLen, 1), {});
  lane.owner->TakeRequest(&frame);
  EXPECT_FALSE(lane.owner->PostReply(Request(AttachOp::kLen, 1), {}));
  EXPECT_FALSE(lane.client->ClientSleeps() && lane.client->ClientWakes());
  lane.client->ClientWakes();

  // Asleep before the reply: the owner rings, and took the flag down.
  lane.client->PostRequest(Request(AttachOp::kLen, 2), {});
  EXPECT_FALSE(lane.client->ClientSleeps());
  lane.owner->TakeRequest(&frame);
  EXPECT_TRUE(lane.owner->PostReply(Request(AttachOp::kLen, 2), {}));
  EXPECT_TRUE(lane.client->ReplyPosted());
  EXPECT_TRUE(lane.client->ClientWakes());  // A doorbell is on its way.

  // The reply posted before the client said it sleeps: it need not sleep,
  // and no doorbell comes.
  lane.client->PostRequest(Request(AttachOp::kLen, 3), {});
  lane.owner->TakeRequest(&frame);
  EXPECT_FALSE(lane.owner->PostReply(Request(AttachOp::kLen, 3), {}));
  EXPECT_TRUE(lane.client->ClientSleeps());
  EXPECT_FALSE(lane.client->ClientWakes());

  // A reply on the socket wakes a sleeping client by itself: no doorbell.
  lane.client->PostRequest(Request(AttachOp::kLen, 4), {});
  EXPECT_FALSE(lane.client->ClientSleeps());
  lane.owner->TakeRequest(&frame);
  lane.owner->PostReplyOnSocket();
  EXPECT_FALSE(lane.client->ClientWakes());
}

TEST(SharedLaneTest, TheOwnerRefusesARequestDeclaringMoreThanTheLaneHolds) {
  LanePair lane;
  lane.client->PostRequest(Request(AttachOp::kPushBatch, 1), {"x"});
  // A client writes what it likes in its lane: here, a larger body size
  // over the header it posted.
  char* memory = static_cast<char*>(
      ::mmap(nullptr, 4096 + kFrameHeaderBytes, PROT_READ | PROT_WRITE, MAP_SHARED, lane.memfd, 0));
  ASSERT_NE(memory, MAP_FAILED);
  FrameHeader lying = Request(AttachOp::kPushBatch, 1);
  lying.body_bytes = SharedLane::kFrameCapacity;
  EncodeHeader(lying, memory + 4096);
  std::string frame;
  EXPECT_FALSE(lane.owner->TakeRequest(&frame));
  EXPECT_TRUE(frame.empty());
  lying.body_bytes = SharedLane::kFrameCapacity - kFrameHeaderBytes;
  EncodeHeader(lying, memory + 4096);
  lane.client->PostRequest(lying, {std::string(SharedLane::kFrameCapacity - kFrameHeaderBytes, 'y')});
  EXPECT_TRUE(lane.owner->TakeRequest(&frame));  // The largest that fits.
  EXPECT_EQ(frame.size(), SharedLane::kFrameCapacity);
  ::munmap(memory, 4096 + kFrameHeaderBytes);
}

TEST(SharedLaneTest, AClientMapsOnlyASealedLaneOfTheLanesSize) {
  const int unsealed = ::memfd_create("not-a-lane", MFD_CLOEXEC);
  ASSERT_GE(unsealed, 0);
  ASSERT_EQ(::ftruncate(unsealed, 1 << 20), 0);
  EXPECT_EQ(SharedLane::Map(unsealed), nullptr);  // It could shrink under the client.
  const int small = ::memfd_create("small", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  ASSERT_GE(small, 0);
  ASSERT_EQ(::ftruncate(small, 4096), 0);
  ASSERT_EQ(::fcntl(small, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW), 0);
  EXPECT_EQ(SharedLane::Map(small), nullptr);
  // Map took both descriptors: they are closed.
  EXPECT_EQ(::fcntl(unsealed, F_GETFD), -1);
  EXPECT_EQ(::fcntl(small, F_GETFD), -1);
}

// How many mappings of a lane's memfd this process has.
int LaneMappings() {
  std::ifstream maps("/proc/self/maps");
  int found = 0;
  for (std::string line; std::getline(maps, line);) {
    if (line.find("memfd:rocksq-lane") != std::string::npos) ++found;
  }
  return found;
}

TEST(SharedLaneTest, AForkChildInheritsNoLane) {
  LanePair lane;
  ASSERT_EQ(LaneMappings(), 2);  // The owner's and the client's.
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) ::_exit(LaneMappings());
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(LaneMappings(), 2);
}

}  // namespace
}  // namespace rocksq
