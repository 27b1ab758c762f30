// The attach server with a handler whose merge groups run on workers
// (AttachHandler::GroupsRunOnWorkers), as a synced FIFO queue's do: groups
// of different kinds run at the same time, the server's thread answers
// other calls while a group runs, calls that arrive meanwhile wait to run
// together as the kind's next group, a group's reply never reaches a later
// connection that got the same descriptor, and an inspector is refused
// whatever it asks, and a parked pop is retried in its kind's next group;
// parked calls keep their arrival order even when the groups that park
// them come back in another.
// Through a connection's shared-memory lane: a request is answered in the
// lane (a reply too large, on the socket), each side rings the other only
// when it sleeps, and busy lanes do not hold up new connections.
//
// Raw clients speak the wire format here, so that the test knows when its
// requests are in the server's socket buffers: while a first request holds
// the server's thread, the next ones queue up, and arrive together.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "attach_client.h"
#include "attach_server.h"
#include "test_util.h"

namespace rocksq {
namespace {

using AttachServerTest = testing::TempDirTest;

constexpr auto kPatience = std::chrono::seconds(10);

// Pushes (group 1, kPushBatch and kPushBatchWait) and pops (group 2, kPop
// and kPopWait) merge. kLen holds the server's thread while the test holds
// the gate; so does a push group while pushes are held. Each group's run
// notes whether the other group's started while it ran. A kPopWait takes
// one of items_, or waits for one (for 10 s); a pop group decides before
// it is held (hold_pops_). A kPushBatchWait takes one of room_, or waits
// for it; a group of them that does not fit fails whole, as a FIFO
// queue's merged push does, and then each runs alone.
class RecordingHandler final : public AttachHandler {
 public:
  RecordingHandler(std::string path, bool on_workers, bool gathers_pushes)
      : path_(std::move(path)), on_workers_(on_workers), gathers_pushes_(gathers_pushes) {}

  const std::string& Path() const override { return path_; }
  AttachKind Kind() const override { return AttachKind::kFifo; }
  void DescribeQueue(Welcome*) const override {}
  void DescribeBacklog(QueueOwner*) const override {}
  std::chrono::nanoseconds WaitTimeout(AttachOp op, std::string_view) const override {
    return op == AttachOp::kPopWait || op == AttachOp::kPushBatchWait
               ? std::chrono::milliseconds(wait_timeout_ms_.load())
               : std::chrono::nanoseconds(0);
  }
  int BlockedClass(AttachOp op) const override { return op == AttachOp::kPushBatchWait ? 1 : 0; }
  int MergeGroup(AttachOp op) const override {
    if (op == AttachOp::kPushBatch || op == AttachOp::kPushBatchWait) return 1;
    if (op == AttachOp::kPop || op == AttachOp::kPopWait) return 2;
    return 0;
  }
  bool GroupsRunOnWorkers() const override { return on_workers_; }
  bool GathersGroups(int group) const override { return group != 1 || gathers_pushes_; }

  Outcome Run(AttachOp op, std::string_view, BodyWriter* reply, bool final,
              const Caller&) override {
    std::unique_lock<std::mutex> lock(mutex_);
    if (op == AttachOp::kLastBackgroundError) {  // A reply too large for a lane.
      reply->Bytes(std::string(SharedLane::kFrameCapacity, 'e'));
      return Outcome::kDone;
    }
    if (op == AttachOp::kLen) {
      ++lens_;
      len_thread_ = std::this_thread::get_id();  // The server's: kLen runs on it.
      changed_.notify_all();
      if (hold_len_) changed_.wait_for(lock, kPatience, [this] { return !hold_len_; });
    } else {
      ran_alone_[MergeGroup(op)] = true;
      ++alone_runs_[MergeGroup(op)];
      alone_threads_[MergeGroup(op)].push_back(std::this_thread::get_id());
      changed_.notify_all();
      if (op == AttachOp::kPushBatchWait && hold_next_alone_push_) {
        hold_next_alone_push_ = false;
        alone_push_held_ = true;
        changed_.notify_all();
        changed_.wait_for(lock, kPatience, [this] { return release_alone_push_; });
      }
      if (op == AttachOp::kPopWait && !TakeItem() && !final) return Outcome::kMustWait;
      if (op == AttachOp::kPushBatchWait && !TakeRoom() && !final) return Outcome::kMustWait;
    }
    reply->U64(7);
    return Outcome::kDone;
  }

  void RunMerged(std::vector<MergedCall>* calls) override {
    const int group = MergeGroup(calls->front().op);
    std::unique_lock<std::mutex> lock(mutex_);
    started_[group] = true;
    ++groups_started_[group];
    changed_.notify_all();
    if (group == 1) {
      int needed = 0;
      for (const MergedCall& call : *calls) needed += call.op == AttachOp::kPushBatchWait ? 1 : 0;
      if (needed > room_) throw Error(ErrorKind::kQueueFull, path_, "no room");
      room_ -= needed;
    }
    if (group == 1 && hold_pushes_) {
      pushes_held_ = true;
      changed_.notify_all();
      changed_.wait_for(lock, kPatience, [this] { return !hold_pushes_; });
      pushes_released_ = true;
    }
    if (group == 1 && push_run_ > std::chrono::milliseconds(0)) {
      lock.unlock();
      std::this_thread::sleep_for(push_run_);
      lock.lock();
    }
    if (wait_for_other_) {
      met_[group] = changed_.wait_for(lock, kPatience, [&] { return started_[3 - group]; });
    }
    for (MergedCall& call : *calls) {
      if (call.op == AttachOp::kPopWait && !TakeItem()) call.outcome = Outcome::kMustWait;
      call.reply.U64(calls->size());
    }
    if (group == 2 && hold_pops_) {
      pops_held_ = true;
      changed_.notify_all();
      changed_.wait_for(lock, kPatience, [this] { return !hold_pops_; });
    }
  }

  void LaneGone(uint64_t, uint32_t) override {
    std::lock_guard<std::mutex> lock(mutex_);
    ++lanes_gone_;
    changed_.notify_all();
  }

  // Waits until `done()` holds, under the handler's lock.
  template <typename Done>
  void WaitUntil(Done done) {
    std::unique_lock<std::mutex> lock(mutex_);
    ASSERT_TRUE(changed_.wait_for(lock, kPatience, done));
  }
  void WaitForLens(int count) {
    WaitUntil([&] { return lens_ >= count; });
  }
  int Lens() {
    std::lock_guard<std::mutex> lock(mutex_);
    return lens_;
  }
  void WaitForGroupsStarted(int group, int count) {
    WaitUntil([&] { return groups_started_[group] >= count; });
  }
  void WaitUntilPushesHeld() {
    WaitUntil([&] { return pushes_held_; });
  }
  void WaitUntilPopsHeld() {
    WaitUntil([&] { return pops_held_; });
  }
  void SetWaitTimeout(std::chrono::milliseconds timeout) { wait_timeout_ms_ = timeout.count(); }
  void AddItem() {
    std::lock_guard<std::mutex> lock(mutex_);
    ++items_;
  }
  void AddRoom() {
    std::lock_guard<std::mutex> lock(mutex_);
    ++room_;
  }
  int AloneRuns(int group) {
    std::lock_guard<std::mutex> lock(mutex_);
    return alone_runs_[group];
  }
  // For WaitUntil's predicates, which hold the lock.
  int AloneRunsLocked(int group) { return alone_runs_[group]; }
  // Of them, those on the thread that ran the last kLen: the server's.
  int AloneRunsOnServerThread(int group) {
    std::lock_guard<std::mutex> lock(mutex_);
    const std::vector<std::thread::id>& threads = alone_threads_[group];
    return static_cast<int>(std::count(threads.begin(), threads.end(), len_thread_));
  }
  void WaitUntilAlonePushHeld() {
    WaitUntil([&] { return alone_push_held_; });
  }
  int GroupsStarted(int group) {
    std::lock_guard<std::mutex> lock(mutex_);
    return groups_started_[group];
  }
  void WaitForLanesGone(int count) {
    WaitUntil([&] { return lanes_gone_ >= count; });
  }
  void Set(bool RecordingHandler::*flag, bool value) {
    std::lock_guard<std::mutex> lock(mutex_);
    this->*flag = value;
    changed_.notify_all();
  }
  bool Met(int group) {
    std::lock_guard<std::mutex> lock(mutex_);
    return met_[group];
  }
  bool RanAlone(int group) {
    std::lock_guard<std::mutex> lock(mutex_);
    return ran_alone_[group];
  }
  bool PushesReleased() {
    std::lock_guard<std::mutex> lock(mutex_);
    return pushes_released_;
  }
  bool Started(int group) {
    std::lock_guard<std::mutex> lock(mutex_);
    return started_[group];
  }

  static constexpr std::chrono::seconds kPopWaitTimeout{10};
  // How long a kPopWait or a kPushBatchWait may wait (read by the server's thread).
  std::atomic<int64_t> wait_timeout_ms_{std::chrono::milliseconds(kPopWaitTimeout).count()};

  bool hold_len_ = false;
  bool hold_pushes_ = false;
  bool hold_pops_ = false;
  // The next kPushBatchWait run alone waits, once it counts as run, until
  // release_alone_push_.
  bool hold_next_alone_push_ = false;
  bool release_alone_push_ = false;
  std::chrono::milliseconds push_run_{0};  // How long a push group runs.
  bool wait_for_other_ = false;

 private:
  // Under mutex_.
  bool TakeItem() {
    if (items_ == 0) return false;
    --items_;
    return true;
  }
  bool TakeRoom() {
    if (room_ == 0) return false;
    --room_;
    return true;
  }

  const std::string path_;
  const bool on_workers_;
  const bool gathers_pushes_;
  std::mutex mutex_;
  std::condition_variable changed_;
  int lens_ = 0;
  int lanes_gone_ = 0;
  bool pushes_held_ = false;
  bool pushes_released_ = false;
  bool pops_held_ = false;
  bool alone_push_held_ = false;
  std::thread::id len_thread_;
  std::map<int, std::vector<std::thread::id>> alone_threads_;
  int items_ = 0;
  int room_ = 0;
  std::map<int, bool> started_, met_, ran_alone_;
  std::map<int, int> groups_started_, alone_runs_;
};

// A connection that said Hello and was welcomed.
class RawClient {
 public:
  RawClient(const std::string& path, uint32_t lane,
            uint32_t kind = static_cast<uint32_t>(AttachKind::kFifo))
      : path_(path) {
    const int directory_fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    EXPECT_GE(directory_fd, 0);
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const sockaddr_un address = SocketAddress(directory_fd, path);
    EXPECT_EQ(::connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof(address)), 0);
    ::close(directory_fd);
    Hello hello;
    hello.version = "test";
    hello.kind = kind;
    hello.pid = static_cast<uint32_t>(::getpid());
    hello.client_id = 0x51de;
    hello.lane = lane;
    Send(AttachOp::kHello, EncodeHello(hello));
    FrameHeader header;
    std::string body;
    EXPECT_TRUE(ReceiveFrame(fd_, &header, &body, path_));
    EXPECT_EQ(header.status, 0u) << body;
    seq_ = 0;
  }
  ~RawClient() { Close(); }

  void Send(AttachOp op, const std::string& body = {}) {
    FrameHeader header;
    header.op = op;
    header.seq = ++seq_;
    header.body_bytes = body.size();
    ASSERT_TRUE(SendFrame(fd_, header, body, path_));
  }
  // The next reply's header.
  FrameHeader Receive() {
    FrameHeader header;
    std::string body;
    EXPECT_TRUE(ReceiveFrame(fd_, &header, &body, path_));
    return header;
  }
  // The next reply's u64 (RecordingHandler's: the size of the call's group).
  uint64_t ReceiveCount() {
    FrameHeader header;
    std::string body;
    EXPECT_TRUE(ReceiveFrame(fd_, &header, &body, path_));
    EXPECT_EQ(header.status, 0u) << body;
    return BodyReader(body, path_).U64();
  }
  // Whether a reply comes within `span`.
  bool ReplyWithin(std::chrono::milliseconds span) {
    pollfd readable{fd_, POLLIN, 0};
    return ::poll(&readable, 1, static_cast<int>(span.count())) == 1;
  }
  // Whether bytes are waiting to be read.
  bool HasUnread() {
    char byte;
    return ::recv(fd_, &byte, 1, MSG_DONTWAIT | MSG_PEEK) > 0;
  }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  std::string path_;
  int fd_ = -1;
  uint64_t seq_ = 0;
};

// A connection that asked for a shared-memory lane, and got one.
class LaneClient {
 public:
  LaneClient(const std::string& path, uint32_t lane) : path_(path) {
    fd_ = ConnectToOwner(path);
    EXPECT_GE(fd_, 0);
    std::string welcome;
    EXPECT_TRUE(Handshake(fd_, path, static_cast<uint32_t>(AttachKind::kFifo), 0x1a9e, lane,
                          &welcome, &lane_));
    EXPECT_NE(lane_, nullptr);
  }
  ~LaneClient() { ::close(fd_); }

  // Posts a request; returns whether the owner slept (and must be rung).
  bool Post(AttachOp op) {
    FrameHeader header;
    header.op = op;
    header.seq = ++seq_;
    return lane_->PostRequest(header, {});
  }
  void Ring() { EXPECT_TRUE(SharedLane::Ring(fd_, path_)); }
  // Whether the reply is posted within `span`.
  bool ReplyWithin(std::chrono::milliseconds span) {
    const auto until = std::chrono::steady_clock::now() + span;
    while (!lane_->ReplyPosted()) {
      if (std::chrono::steady_clock::now() >= until) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
  }
  // The reply in the lane's u64 (RecordingHandler's).
  uint64_t ReplyCount() {
    EXPECT_FALSE(lane_->ReplyOnSocket());
    FrameHeader header;
    std::string body;
    EXPECT_TRUE(lane_->ReadReply(&header, &body));
    EXPECT_EQ(header.seq, seq_);
    EXPECT_EQ(header.status, 0u) << body;
    return BodyReader(body, path_).U64();
  }
  // The next frame on the socket.
  FrameHeader ReceiveOnSocket(std::string* body) {
    FrameHeader header;
    EXPECT_TRUE(ReceiveFrame(fd_, &header, body, path_));
    return header;
  }
  bool HasUnread() {
    char byte;
    return ::recv(fd_, &byte, 1, MSG_DONTWAIT | MSG_PEEK) > 0;
  }
  SharedLane& lane() { return *lane_; }

 private:
  std::string path_;
  int fd_ = -1;
  std::unique_ptr<SharedLane> lane_;
  uint64_t seq_ = 0;
};

class ServerWithHandler {
 public:
  ServerWithHandler(const std::string& path, bool on_workers, bool gathers_pushes = true) {
    std::filesystem::create_directories(path);
    auto owned = std::make_unique<RecordingHandler>(path, on_workers, gathers_pushes);
    handler = owned.get();
    server_ = AttachServer::Start(std::move(owned), std::nullopt);
  }
  ~ServerWithHandler() { server_->Stop(); }

  // What the queue's change listener does after a change.
  void NoteChange() { server_->NoteChange(); }

  RecordingHandler* handler;

 private:
  std::unique_ptr<AttachServer> server_;
};

// Holds the server with a kLen, queues a push and a pop behind it, releases
// it: the push and the pop arrive in one wake-up.
void PushAndPopArriveTogether(const std::string& path, RecordingHandler* handler) {
  RawClient holder(path, 0), pusher(path, 1), popper(path, 2);
  handler->Set(&RecordingHandler::hold_len_, true);
  holder.Send(AttachOp::kLen);
  handler->WaitForLens(1);
  // A Unix stream socket's send puts the bytes in the server's receive
  // buffer: both are there when the server next looks.
  pusher.Send(AttachOp::kPushBatch);
  popper.Send(AttachOp::kPop);
  handler->Set(&RecordingHandler::hold_len_, false);
  EXPECT_EQ(holder.Receive().status, 0u);
  EXPECT_EQ(pusher.Receive().status, 0u);
  EXPECT_EQ(popper.Receive().status, 0u);
}

TEST_F(AttachServerTest, GroupsOnWorkersRunAtTheSameTimeEvenAlone) {
  ServerWithHandler served(QueuePath(), /*on_workers=*/true);
  served.handler->Set(&RecordingHandler::wait_for_other_, true);
  PushAndPopArriveTogether(QueuePath(), served.handler);
  EXPECT_TRUE(served.handler->Met(1));
  EXPECT_TRUE(served.handler->Met(2));
  EXPECT_FALSE(served.handler->RanAlone(1));
  EXPECT_FALSE(served.handler->RanAlone(2));
}

TEST_F(AttachServerTest, OtherwiseAGroupOfOneRunsAloneOnTheServersThread) {
  ServerWithHandler served(QueuePath(), /*on_workers=*/false);
  PushAndPopArriveTogether(QueuePath(), served.handler);
  EXPECT_TRUE(served.handler->RanAlone(1));
  EXPECT_TRUE(served.handler->RanAlone(2));
  EXPECT_FALSE(served.handler->Started(1));
}

TEST_F(AttachServerTest, TheServerAnswersOtherCallsWhileAGroupRunsOnAWorker) {
  ServerWithHandler served(QueuePath(), /*on_workers=*/true);
  RecordingHandler* handler = served.handler;
  RawClient pusher(QueuePath(), 1), other(QueuePath(), 2);
  handler->Set(&RecordingHandler::hold_pushes_, true);
  pusher.Send(AttachOp::kPushBatch);
  handler->WaitUntilPushesHeld();
  other.Send(AttachOp::kLen);
  const FrameHeader len = other.Receive();  // While the push group is held.
  EXPECT_EQ(len.op, AttachOp::kLen);
  EXPECT_EQ(len.status, 0u);
  EXPECT_FALSE(handler->PushesReleased());
  handler->Set(&RecordingHandler::hold_pushes_, false);
  EXPECT_EQ(pusher.Receive().op, AttachOp::kPushBatch);
}

TEST_F(AttachServerTest, CallsThatArriveWhileTheirKindsGroupRunsFormTheNextGroupTogether) {
  ServerWithHandler served(QueuePath(), /*on_workers=*/true);
  RecordingHandler* handler = served.handler;
  RawClient first(QueuePath(), 1), marker(QueuePath(), 5);
  std::vector<std::unique_ptr<RawClient>> later;
  for (uint32_t lane = 2; lane <= 4; ++lane) {
    later.push_back(std::make_unique<RawClient>(QueuePath(), lane));
  }
  handler->Set(&RecordingHandler::hold_pushes_, true);
  first.Send(AttachOp::kPushBatch);
  handler->WaitUntilPushesHeld();
  // Each in a wake-up of its own: the len sent after a push is answered
  // once the server's thread has read the push.
  for (const auto& client : later) {
    client->Send(AttachOp::kPushBatch);
    marker.Send(AttachOp::kLen);
    EXPECT_EQ(marker.Receive().status, 0u);
  }
  handler->Set(&RecordingHandler::hold_pushes_, false);
  EXPECT_EQ(first.ReceiveCount(), 1u);
  for (const auto& client : later) EXPECT_EQ(client->ReceiveCount(), 3u);
}

// Up to two groups of a kind the server does not gather run at once (one
// syncing, the next queued in its group commit); a third waits, so that
// the other kind's group finds a worker.
TEST_F(AttachServerTest, CallsOfAKindThatDoesNotGatherGoToAWorkerAtOnceUpToTwoGroups) {
  ServerWithHandler served(QueuePath(), /*on_workers=*/true, /*gathers_pushes=*/false);
  RecordingHandler* handler = served.handler;
  RawClient first(QueuePath(), 1), second(QueuePath(), 2), third(QueuePath(), 3),
      popper(QueuePath(), 4), marker(QueuePath(), 5);
  handler->Set(&RecordingHandler::hold_pushes_, true);
  first.Send(AttachOp::kPushBatch);
  handler->WaitUntilPushesHeld();
  second.Send(AttachOp::kPushBatch);
  handler->WaitForGroupsStarted(1, 2);  // While the first is held.
  third.Send(AttachOp::kPushBatch);
  marker.Send(AttachOp::kLen);  // Answered once the server read the third.
  EXPECT_EQ(marker.Receive().status, 0u);
  popper.Send(AttachOp::kPop);
  EXPECT_EQ(popper.ReceiveCount(), 1u);  // While both push groups are held.
  EXPECT_FALSE(handler->PushesReleased());
  EXPECT_FALSE(third.HasUnread());
  handler->Set(&RecordingHandler::hold_pushes_, false);
  EXPECT_EQ(first.ReceiveCount(), 1u);
  EXPECT_EQ(second.ReceiveCount(), 1u);
  EXPECT_EQ(third.ReceiveCount(), 1u);
}

// After a group of two is answered, the next waits a while for two calls:
// its callers come back one after the other, and sync together.
TEST_F(AttachServerTest, TheNextGroupWaitsBrieflyForAsManyCallsAsTheLastHad) {
  ServerWithHandler served(QueuePath(), /*on_workers=*/true);
  RecordingHandler* handler = served.handler;
  RawClient first(QueuePath(), 1), second(QueuePath(), 2), marker(QueuePath(), 3);
  // A group's run bounds the wait: half of it, and at most kMaxGatherWait.
  handler->push_run_ = std::chrono::milliseconds(5);
  first.Send(AttachOp::kPushBatch);
  second.Send(AttachOp::kPushBatch);
  first.ReceiveCount();  // Alone or together: groups of one or two.
  second.ReceiveCount();
  // Each try: both together (a group of two), then one after the other,
  // the server having read the first before the second is sent. On a
  // slow machine the second may come after the wait: one try is enough.
  bool gathered = false;
  for (int attempt = 0; attempt < 5 && !gathered; ++attempt) {
    first.Send(AttachOp::kPushBatch);
    second.Send(AttachOp::kPushBatch);
    const uint64_t first_group = first.ReceiveCount();
    if (second.ReceiveCount() != 2 || first_group != 2) continue;
    first.Send(AttachOp::kPushBatch);
    marker.Send(AttachOp::kLen);
    EXPECT_EQ(marker.Receive().status, 0u);
    second.Send(AttachOp::kPushBatch);
    gathered = first.ReceiveCount() == 2;
    EXPECT_EQ(second.ReceiveCount(), gathered ? 2u : 1u);
  }
  EXPECT_TRUE(gathered);
  // A call whose group waits for others that never come is answered.
  first.Send(AttachOp::kPushBatch);
  EXPECT_EQ(first.ReceiveCount(), 1u);
}

// Well before a parked call would be retried anyway: at its deadline
// (RecordingHandler::kPopWaitTimeout), or when the timer goes off for the
// Hello deadline of the connections (kGreetingTimeout after they connect),
// after which the server looks for changes made without a call.
constexpr auto kPromptly = std::chrono::milliseconds(2000);

// A synced pop stores the read cursor with an fsync: retried after a change,
// it joins its kind's next group on a worker, as a pop that just arrived
// does, rather than sync on the server's thread.
TEST_F(AttachServerTest, AParkedPopIsRetriedOnAWorkerInItsKindsNextGroup) {
  ServerWithHandler served(QueuePath(), /*on_workers=*/true);
  RecordingHandler* handler = served.handler;
  RawClient popper(QueuePath(), 1);
  popper.Send(AttachOp::kPopWait);
  handler->WaitForGroupsStarted(2, 1);
  // Once the group is answered the pop is parked: a change reaches it
  // whether it comes before or after that.
  handler->AddItem();
  served.NoteChange();
  ASSERT_TRUE(popper.ReplyWithin(kPromptly));
  EXPECT_EQ(popper.Receive().status, 0u);
  EXPECT_EQ(handler->GroupsStarted(2), 2);
  EXPECT_FALSE(handler->RanAlone(2));
}

// A retried call that must wait again keeps its deadline: the timer, which
// leaves out the calls on workers while they run, is set for it again.
TEST_F(AttachServerTest, APopParkedAgainAfterItsRetryIsAnsweredAtItsDeadline) {
  ServerWithHandler served(QueuePath(), /*on_workers=*/true);
  RecordingHandler* handler = served.handler;
  handler->SetWaitTimeout(std::chrono::milliseconds(300));
  RawClient first(QueuePath(), 1), second(QueuePath(), 2);
  first.Send(AttachOp::kPopWait);
  handler->WaitForGroupsStarted(2, 1);
  second.Send(AttachOp::kPopWait);
  handler->WaitForGroupsStarted(2, 2);
  // Both are parked, or about to be (a change reaches them either way):
  // the next pop group retries both, and one item is there for the first.
  handler->AddItem();
  served.NoteChange();
  ASSERT_TRUE(first.ReplyWithin(kPromptly));
  EXPECT_EQ(first.Receive().status, 0u);
  ASSERT_TRUE(second.ReplyWithin(kPromptly));  // Parked again, then at its deadline.
  EXPECT_EQ(second.Receive().status, 0u);
}

// So is a synced push waiting for room, which a pop makes: one at a time,
// in arrival order, as the first must go before the others of its class
// may try.
TEST_F(AttachServerTest, ParkedPushesAreRetriedOnAWorkerOneAtATimeInArrivalOrder) {
  ServerWithHandler served(QueuePath(), /*on_workers=*/true, /*gathers_pushes=*/false);
  RecordingHandler* handler = served.handler;
  RawClient first(QueuePath(), 1), second(QueuePath(), 2), marker(QueuePath(), 3);
  // Each finds no room, alone, and is parked.
  for (RawClient* pusher : {&first, &second}) {
    const int runs = handler->AloneRuns(1);
    pusher->Send(AttachOp::kPushBatchWait);
    handler->WaitUntil([&] { return handler->AloneRunsLocked(1) > runs; });
  }
  marker.Send(AttachOp::kLen);
  EXPECT_EQ(marker.Receive().status, 0u);
  const int groups = handler->GroupsStarted(1);
  handler->AddRoom();
  served.NoteChange();
  ASSERT_TRUE(first.ReplyWithin(kPromptly));
  EXPECT_EQ(first.Receive().status, 0u);
  EXPECT_GT(handler->GroupsStarted(1), groups);  // The first, on a worker.
  EXPECT_FALSE(second.ReplyWithin(std::chrono::milliseconds(50)));
  handler->AddRoom();
  served.NoteChange();
  ASSERT_TRUE(second.ReplyWithin(kPromptly));
  EXPECT_EQ(second.Receive().status, 0u);
  // Whatever order the parking groups came back in (a second may be
  // retried once more, on a worker, for a change its first run missed).
  EXPECT_EQ(handler->AloneRunsOnServerThread(1), 0);
}

// Two groups of an ungathered kind run side by side: the later call's may
// come back first, and be parked while the earlier call still runs. A
// change then must not hand the room to the later call: it waits for the
// earlier one's answer, as threads queued on a mutex would.
TEST_F(AttachServerTest, ACallParkedWhileAnEarlierOneStillRunsIsNotRetriedAheadOfIt) {
  ServerWithHandler served(QueuePath(), /*on_workers=*/true, /*gathers_pushes=*/false);
  RecordingHandler* handler = served.handler;
  RawClient first(QueuePath(), 1), second(QueuePath(), 2);
  handler->Set(&RecordingHandler::hold_next_alone_push_, true);
  first.Send(AttachOp::kPushBatchWait);
  handler->WaitUntilAlonePushHeld();  // Found no room, not answered yet.
  second.Send(AttachOp::kPushBatchWait);
  handler->WaitUntil([&] { return handler->AloneRunsLocked(1) == 2; });  // Must wait.
  handler->AddRoom();
  handler->AddRoom();
  served.NoteChange();
  EXPECT_FALSE(second.ReplyWithin(std::chrono::milliseconds(200)));
  handler->Set(&RecordingHandler::release_alone_push_, true);
  ASSERT_TRUE(first.ReplyWithin(kPromptly));  // It finds room on release,
  EXPECT_EQ(first.Receive().status, 0u);
  // and its answer has the call left behind it retried: no later change
  // is needed for the room still there.
  ASSERT_TRUE(second.ReplyWithin(kPromptly));
  EXPECT_EQ(second.Receive().status, 0u);
}

// The same, with no room on release: the earlier call is parked too, ahead
// of the later one, and the next change's room is its.
TEST_F(AttachServerTest, ACallParkedAfterALaterOneTakesItsPlaceAheadOfIt) {
  ServerWithHandler served(QueuePath(), /*on_workers=*/true, /*gathers_pushes=*/false);
  RecordingHandler* handler = served.handler;
  RawClient first(QueuePath(), 1), second(QueuePath(), 2), marker(QueuePath(), 3);
  handler->Set(&RecordingHandler::hold_next_alone_push_, true);
  first.Send(AttachOp::kPushBatchWait);
  handler->WaitUntilAlonePushHeld();
  second.Send(AttachOp::kPushBatchWait);
  handler->WaitUntil([&] { return handler->AloneRunsLocked(1) == 2; });
  marker.Send(AttachOp::kLen);  // The second is parked by now,
  EXPECT_EQ(marker.Receive().status, 0u);
  handler->Set(&RecordingHandler::release_alone_push_, true);
  // and the first, on release: no other way to tell it than time.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  handler->AddRoom();
  served.NoteChange();
  ASSERT_TRUE(first.ReplyWithin(kPromptly));
  EXPECT_EQ(first.Receive().status, 0u);
  EXPECT_FALSE(second.ReplyWithin(std::chrono::milliseconds(50)));
}

// The server's thread may take a change while the group that will park a
// call still runs, with nothing parked to retry: the group's answer then
// retries what it parks.
TEST_F(AttachServerTest, AChangeWhileAPopGroupRunsReachesTheCallsTheGroupParks) {
  ServerWithHandler served(QueuePath(), /*on_workers=*/true);
  RecordingHandler* handler = served.handler;
  RawClient popper(QueuePath(), 1), marker(QueuePath(), 2);
  handler->Set(&RecordingHandler::hold_pops_, true);
  popper.Send(AttachOp::kPopWait);
  handler->WaitUntilPopsHeld();  // It found nothing, and must wait.
  handler->AddItem();
  served.NoteChange();
  // Two round trips: the server's thread went on past the change.
  for (int trip = 0; trip < 2; ++trip) {
    marker.Send(AttachOp::kLen);
    EXPECT_EQ(marker.Receive().status, 0u);
  }
  handler->Set(&RecordingHandler::hold_pops_, false);
  ASSERT_TRUE(popper.ReplyWithin(kPromptly));
  EXPECT_EQ(popper.Receive().status, 0u);
}

TEST_F(AttachServerTest, AGroupsReplyNeverReachesALaterConnectionOnTheSameDescriptor) {
  ServerWithHandler served(QueuePath(), /*on_workers=*/true);
  RecordingHandler* handler = served.handler;
  RawClient gone(QueuePath(), 1);
  handler->Set(&RecordingHandler::hold_pushes_, true);
  gone.Send(AttachOp::kPushBatch);
  handler->WaitUntilPushesHeld();
  gone.Close();
  handler->WaitForLanesGone(1);
  // The server's lowest free descriptor is the one the closed connection had.
  RawClient later(QueuePath(), 2);
  handler->Set(&RecordingHandler::hold_pushes_, false);
  later.Send(AttachOp::kLen);
  const FrameHeader reply = later.Receive();
  EXPECT_EQ(reply.op, AttachOp::kLen);
  EXPECT_EQ(reply.seq, 1u);
  // The push's reply, answered after the len's, did not come either.
  later.Send(AttachOp::kLen);
  EXPECT_EQ(later.Receive().seq, 2u);
  EXPECT_FALSE(later.HasUnread());
}

TEST_F(AttachServerTest, AnInspectorIsRefusedWhateverItAsks) {
  ServerWithHandler served(QueuePath(), /*on_workers=*/true);
  RawClient inspector(QueuePath(), 0, kInspectorHelloKind);
  inspector.Send(AttachOp::kPushBatch);
  EXPECT_NE(inspector.Receive().status, 0u);
  EXPECT_FALSE(served.handler->Started(1));
  EXPECT_FALSE(served.handler->RanAlone(1));
}

// Long enough for the server's loop to stop polling and sleep.
constexpr auto kServerAsleep = std::chrono::milliseconds(50);

TEST_F(AttachServerTest, ARequestInALaneIsAnsweredInTheLaneBesideSocketClients) {
  ServerWithHandler served(QueuePath(), /*on_workers=*/false);
  LaneClient in_lane(QueuePath(), 1);
  RawClient on_socket(QueuePath(), 2);
  for (int call = 0; call < 100; ++call) {
    if (in_lane.Post(AttachOp::kLen)) in_lane.Ring();
    ASSERT_TRUE(in_lane.ReplyWithin(kPatience));
    EXPECT_EQ(in_lane.ReplyCount(), 7u);
    on_socket.Send(AttachOp::kLen);
    EXPECT_EQ(on_socket.ReceiveCount(), 7u);
  }
  EXPECT_EQ(served.handler->Lens(), 200);
  // Nobody slept waiting for a reply: nothing came on the lane's socket.
  EXPECT_FALSE(in_lane.HasUnread());
}

TEST_F(AttachServerTest, ASleepingServerSeesALanesRequestWhenItsClientRings) {
  ServerWithHandler served(QueuePath(), /*on_workers=*/false);
  LaneClient client(QueuePath(), 1);
  std::this_thread::sleep_for(kServerAsleep);
  // The server said it sleeps: the client must ring, and until it does
  // the request waits (the server does not poll for ever).
  ASSERT_TRUE(client.Post(AttachOp::kLen));
  EXPECT_FALSE(client.ReplyWithin(std::chrono::milliseconds(200)));
  client.Ring();
  ASSERT_TRUE(client.ReplyWithin(kPatience));
  EXPECT_EQ(client.ReplyCount(), 7u);
}

TEST_F(AttachServerTest, TheServerRingsALaneClientThatSleepsOnItsSocketOnce) {
  ServerWithHandler served(QueuePath(), /*on_workers=*/false);
  LaneClient client(QueuePath(), 1);
  served.handler->Set(&RecordingHandler::hold_len_, true);
  if (client.Post(AttachOp::kLen)) client.Ring();
  served.handler->WaitForLens(1);
  ASSERT_FALSE(client.lane().ClientSleeps());
  served.handler->Set(&RecordingHandler::hold_len_, false);
  std::string body;
  EXPECT_EQ(client.ReceiveOnSocket(&body).op, AttachOp::kLaneDoorbell);
  ASSERT_TRUE(client.lane().ReplyPosted());
  EXPECT_TRUE(client.lane().ClientWakes());  // The server took the flag down: it rang.
  EXPECT_EQ(client.ReplyCount(), 7u);
  EXPECT_FALSE(client.HasUnread());
}

TEST_F(AttachServerTest, AReplyTooLargeForTheLaneComesOnTheSocket) {
  ServerWithHandler served(QueuePath(), /*on_workers=*/false);
  LaneClient client(QueuePath(), 1);
  if (client.Post(AttachOp::kLastBackgroundError)) client.Ring();
  ASSERT_TRUE(client.ReplyWithin(kPatience));
  EXPECT_TRUE(client.lane().ReplyOnSocket());
  std::string body;
  const FrameHeader reply = client.ReceiveOnSocket(&body);
  EXPECT_EQ(reply.op, AttachOp::kLastBackgroundError);
  EXPECT_EQ(reply.seq, 1u);
  EXPECT_EQ(body, std::string(SharedLane::kFrameCapacity, 'e'));
  // The next reply that fits comes in the lane again.
  if (client.Post(AttachOp::kLen)) client.Ring();
  ASSERT_TRUE(client.ReplyWithin(kPatience));
  EXPECT_EQ(client.ReplyCount(), 7u);
}

TEST_F(AttachServerTest, LanesKeepingTheServerBusyDoNotStopItAcceptingAndGreeting) {
  ServerWithHandler served(QueuePath(), /*on_workers=*/false);
  std::atomic<bool> stop{false};
  std::atomic<int> callers{0}, failed{0};
  std::vector<std::thread> busy;
  // Each posts its next call as soon as it has the last one's reply, so
  // that the server finds a lane posted nearly every time it looks.
  for (uint32_t lane = 1; lane <= 4; ++lane) {
    busy.emplace_back([&, lane] {
      try {
        LaneClient client(QueuePath(), lane);
        ++callers;
        while (!stop.load()) {
          if (client.Post(AttachOp::kLen)) client.Ring();
          while (!client.lane().ReplyPosted() && !stop.load()) std::this_thread::yield();
        }
      } catch (const Error&) {
        ++failed;
      }
    });
  }
  while (callers.load() + failed.load() < 4) std::this_thread::yield();
  // Each is welcomed while they call: a Hello not answered within
  // kGreetingTimeout throws.
  for (uint32_t lane = 10; lane < 20; ++lane) {
    const int fd = ConnectToOwner(QueuePath());
    ASSERT_GE(fd, 0);
    std::string welcome;
    EXPECT_NO_THROW(EXPECT_TRUE(Handshake(fd, QueuePath(),
                                          static_cast<uint32_t>(AttachKind::kFifo), 0x2b, lane,
                                          &welcome)));
    ::close(fd);
  }
  stop.store(true);
  for (std::thread& thread : busy) thread.join();
  EXPECT_EQ(failed.load(), 0);
}

}  // namespace
}  // namespace rocksq
