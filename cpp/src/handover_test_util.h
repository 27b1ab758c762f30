// Helpers of the hand-over tests.
//
// CallOfLane and RunCall give a handler calls as an attached queue sends
// them, first runs and retries (the *_attach_handler_test.cc files).
//
// The dying owner (fifo_handover_test.cc, kinds_handover_test.cc): a fork()
// child owns the queue and dies at a chosen moment of this process's
// attached call, before the call's write or between its write and its
// reply. This process then takes the queue over and sends the call again;
// each test checks that it completed exactly once.

#ifndef ROCKSQ_SRC_HANDOVER_TEST_UTIL_H_
#define ROCKSQ_SRC_HANDOVER_TEST_UTIL_H_

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "age_marks.h"
#include "attach_server.h"
#include "test_util.h"

namespace rocksq {
namespace testing {

// A call of lane `lane` of one attached queue: its first run, or its retry
// after a hand-over.
inline AttachHandler::Caller CallOfLane(uint32_t lane, uint64_t seq, bool retry) {
  AttachHandler::Caller caller;
  caller.pid = 4242;
  caller.call.client_id = 0x5eed;
  caller.call.lane = lane;
  caller.call.seq = seq;
  caller.retry = retry;
  return caller;
}

// Runs a call that must not wait; returns its reply.
inline std::string RunCall(AttachHandler* handler, AttachOp op, const std::string& body,
                           const AttachHandler::Caller& caller) {
  BodyWriter reply;
  EXPECT_EQ(handler->Run(op, body, &reply, /*final=*/false, caller),
            AttachHandler::Outcome::kDone);
  return reply.bytes();
}

// A queue kind's options with attach set, as every process of these tests
// opens the queue.
template <typename Options>
Options Attaching() {
  Options options;
  options.attach = true;
  return options;
}

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

// The handlers' Stats age, which these tests do not ask for.
inline ItemAge NoAge() { return ItemAge(); }

class DyingOwnerTest : public TempDirTest {
 protected:
  // A queue opened to be served, and its handler.
  struct Served {
    std::shared_ptr<void> queue;
    std::unique_ptr<AttachHandler> handler;
  };

  // Forks the owner: `serve` opens the queue (and fills it), and the owner
  // serves it until it dies at `op`.
  void StartDyingOwner(AttachOp op, Death death, const std::function<Served()>& serve) {
    int ready[2];
    ASSERT_EQ(::pipe(ready), 0);
    owner_ = ::fork();
    ASSERT_GE(owner_, 0);
    if (owner_ == 0) {
      try {
        Served served = serve();
        std::unique_ptr<AttachServer> server = AttachServer::Start(
            std::make_unique<DyingHandler>(std::move(served.handler), op, death), std::nullopt);
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

  pid_t owner_ = -1;
};

}  // namespace testing
}  // namespace rocksq

#endif  // ROCKSQ_SRC_HANDOVER_TEST_UTIL_H_
