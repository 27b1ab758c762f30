// A FIFO queue's hand-over, end to end in two processes: a fork() child owns
// the queue and dies at a chosen moment of this process's attached call,
// before the call's write or between its write and its reply. This process
// then takes the queue over and sends the call again, and the call completes
// exactly once: a push stored once, a pop's items delivered once.

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "attach_server.h"
#include "fifo_attach_handler.h"
#include "rocksq/fifo_queue.h"
#include "test_util.h"

namespace rocksq {
namespace {

enum class Death { kBeforeTheWrite, kAfterTheWriteBeforeTheReply };

// Serves as `inner` does, but ends the process at `op`: before running it,
// or after running it and before its reply leaves.
class DyingHandler final : public AttachHandler {
 public:
  DyingHandler(std::unique_ptr<AttachHandler> inner, AttachOp op, Death death)
      : inner_(std::move(inner)), op_(op), death_(death) {}

  const std::string& Path() const override { return inner_->Path(); }
  AttachKind Kind() const override { return inner_->Kind(); }
  void DescribeQueue(Welcome* welcome) const override { inner_->DescribeQueue(welcome); }
  void DescribeBacklog(QueueOwner* stats) const override { inner_->DescribeBacklog(stats); }
  Outcome Run(AttachOp op, std::string_view body, BodyWriter* reply, bool final,
              const Caller& caller) override {
    if (op == op_ && death_ == Death::kBeforeTheWrite) ::_exit(0);
    const Outcome outcome = inner_->Run(op, body, reply, final, caller);
    if (op == op_) ::_exit(0);
    return outcome;
  }
  std::chrono::nanoseconds WaitTimeout(AttachOp op, std::string_view body) const override {
    return inner_->WaitTimeout(op, body);
  }
  int BlockedClass(AttachOp op) const override { return inner_->BlockedClass(op); }

 private:
  const std::unique_ptr<AttachHandler> inner_;
  const AttachOp op_;
  const Death death_;
};

ItemAge NoAge() { return ItemAge(); }

class FifoHandoverTest : public testing::TempDirTest {
 protected:
  // Forks the owner: it stores `stored`, serves the queue, and dies at `op`.
  void StartDyingOwner(const std::vector<std::string_view>& stored, AttachOp op, Death death) {
    int ready[2];
    ASSERT_EQ(::pipe(ready), 0);
    owner_ = ::fork();
    ASSERT_GE(owner_, 0);
    if (owner_ == 0) {
      try {
        std::unique_ptr<ServedFifoQueue> served = OpenFifoQueueToServe(QueuePath(), options_);
        served->queue().PushBatch(stored);
        std::unique_ptr<AttachServer> server = AttachServer::Start(std::make_unique<DyingHandler>(
            MakeFifoAttachHandler(served.get(), options_, NoAge), op, death));
        (void)!::write(ready[1], "r", 1);
        for (;;) ::pause();  // Until the handler ends the process.
      } catch (...) {
        ::_exit(3);
      }
    }
    ::close(ready[1]);
    pollfd serving{ready[0], POLLIN, 0};
    char byte;
    ASSERT_EQ(::poll(&serving, 1, 30'000), 1);
    ASSERT_EQ(::read(ready[0], &byte, 1), 1);
    ::close(ready[0]);
  }

  // Reaps the owner, which must have died where it was told to.
  void ExpectOwnerDied() {
    int status = 0;
    ASSERT_EQ(::waitpid(owner_, &status, 0), owner_);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
    owner_ = -1;
  }

  void TearDown() override {
    if (owner_ > 0) {
      ::kill(owner_, SIGKILL);
      ::waitpid(owner_, nullptr, 0);
    }
    TempDirTest::TearDown();
  }

  static std::vector<std::string> Items(const PoppedItems& popped) {
    std::vector<std::string> items;
    for (size_t i = 0; i < popped.size(); ++i) items.emplace_back(popped[i]);
    return items;
  }

  FifoOptions options_ = [] {
    FifoOptions options;
    options.attach = true;
    return options;
  }();
  pid_t owner_ = -1;
};

TEST_F(FifoHandoverTest, APushWhoseOwnerDiedAfterItsWriteIsStoredOnce) {
  StartDyingOwner({"old"}, AttachOp::kPushBatch, Death::kAfterTheWriteBeforeTheReply);
  std::unique_ptr<FifoQueue> queue = FifoQueue::Open(QueuePath(), options_);
  queue->Push("new");  // The owner dies under it; this process takes over.
  ExpectOwnerDied();
  EXPECT_EQ(Items(queue->Pop(10)), (std::vector<std::string>{"old", "new"}));
}

TEST_F(FifoHandoverTest, APushWhoseOwnerDiedBeforeItsWriteIsStoredOnce) {
  StartDyingOwner({"old"}, AttachOp::kPushBatch, Death::kBeforeTheWrite);
  std::unique_ptr<FifoQueue> queue = FifoQueue::Open(QueuePath(), options_);
  queue->Push("new");
  ExpectOwnerDied();
  EXPECT_EQ(Items(queue->Pop(10)), (std::vector<std::string>{"old", "new"}));
}

TEST_F(FifoHandoverTest, APopWhoseOwnerDiedAfterItsWriteGetsItsItemsOnce) {
  StartDyingOwner({"a", "b", "c"}, AttachOp::kPop, Death::kAfterTheWriteBeforeTheReply);
  std::unique_ptr<FifoQueue> queue = FifoQueue::Open(QueuePath(), options_);
  EXPECT_EQ(Items(queue->Pop(2)), (std::vector<std::string>{"a", "b"}));
  ExpectOwnerDied();
  EXPECT_EQ(Items(queue->Pop(10)), (std::vector<std::string>{"c"}));
}

TEST_F(FifoHandoverTest, APopWhoseOwnerDiedBeforeItsWriteGetsItsItemsOnce) {
  StartDyingOwner({"a", "b", "c"}, AttachOp::kPop, Death::kBeforeTheWrite);
  std::unique_ptr<FifoQueue> queue = FifoQueue::Open(QueuePath(), options_);
  EXPECT_EQ(Items(queue->Pop(2)), (std::vector<std::string>{"a", "b"}));
  ExpectOwnerDied();
  EXPECT_EQ(Items(queue->Pop(10)), (std::vector<std::string>{"c"}));
}

TEST_F(FifoHandoverTest, APopWaitWhoseOwnerDiedAfterItsWriteGetsItsItemsOnce) {
  StartDyingOwner({"a", "b"}, AttachOp::kPopWait, Death::kAfterTheWriteBeforeTheReply);
  std::unique_ptr<FifoQueue> queue = FifoQueue::Open(QueuePath(), options_);
  EXPECT_EQ(Items(queue->PopWait(1, std::chrono::seconds(5))), (std::vector<std::string>{"a"}));
  ExpectOwnerDied();
  EXPECT_EQ(Items(queue->Pop(10)), (std::vector<std::string>{"b"}));
}

TEST_F(FifoHandoverTest, ThePushRecordsOfAnUnsyncedOwnerSurviveItsDeath) {
  // Several pushes, each on its own first run; the owner dies after the
  // last one's write. Nothing before it is stored twice either.
  StartDyingOwner({}, AttachOp::kPushBatchWait, Death::kAfterTheWriteBeforeTheReply);
  std::unique_ptr<FifoQueue> queue = FifoQueue::Open(QueuePath(), options_);
  queue->PushBatch({"1", "2"});
  queue->PushBatch({"3"});
  queue->PushBatchWait({"4", "5"}, std::chrono::seconds(5));
  ExpectOwnerDied();
  EXPECT_EQ(Items(queue->Pop(10)), (std::vector<std::string>{"1", "2", "3", "4", "5"}));
}

}  // namespace
}  // namespace rocksq
