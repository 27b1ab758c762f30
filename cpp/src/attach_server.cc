#include "attach_server.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <deque>
#include <exception>
#include <functional>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <utility>

#include "attach_lane.h"
#include "attach_stats.h"
#include "process_owned.h"
#include "rocksq/build_info.h"
#include "waiting.h"

namespace rocksq {
namespace {

// The threads that run merge groups when the handler has them run on
// workers: one group syncing, the next queued behind it (in the group
// commit, or for the read cursor), and one of the other kind.
constexpr size_t kMergeWorkers = 3;
// The most groups of a kind the server does not gather
// (AttachHandler::GathersGroups) on the workers at once: the one syncing and
// the next, so that a group of the other kind always finds a worker free.
// More would only queue in the group commit too. A kind the server gathers
// has one there at a time.
constexpr size_t kUngatheredGroupsOnWorkers = kMergeWorkers - 1;

// A reply the owner cannot hand over within this long goes to a client that
// stopped reading; it is dropped rather than stall every other client.
constexpr int kSendTimeoutSeconds = 5;
// When the process runs out of descriptors, accepting pauses this long: the
// listener stays readable, and retrying at once would spin the server's
// thread while the descriptors the queue itself needs are gone.
constexpr auto kAcceptPause = std::chrono::milliseconds(100);

// The peer's supplementary groups (SO_PEERGROUPS), empty if the kernel
// does not say (before Linux 4.13): the peer's primary gid still counts.
std::vector<gid_t> PeerGroups(int fd) {
  std::vector<gid_t> groups(16);
  for (;;) {
    socklen_t bytes = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &bytes) == 0) {
      groups.resize(bytes / sizeof(gid_t));
      return groups;
    }
    // ERANGE: `bytes` now says how many it takes.
    if (errno != ERANGE || bytes <= groups.size() * sizeof(gid_t)) return {};
    groups.resize(bytes / sizeof(gid_t));
  }
}

// A fork() child closes the server's descriptors: a child holding the
// owner's listener or connections would keep attached processes waiting on
// a dead owner instead of seeing the connection end.
void Track(int fd) { CloseInForkChild(fd); }
void CloseTracked(int fd) { CloseTrackedDescriptor(fd); }

int64_t NanosecondsSinceEpoch(Clock::time_point when) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(when.time_since_epoch()).count();
}

class SocketServer;
// The server whose loop runs on this thread, if any.
thread_local const SocketServer* serving_thread = nullptr;

// Threads that run merge groups for the server's loop
// (AttachHandler::GroupsRunOnWorkers), so that the loop goes on receiving
// and answering while a group waits for its sync. The loop makes the pool
// and destroys it, which waits for every task given, so the pool exists only
// while the loop runs, in the process that owns the queue.
class WorkerPool {
 public:
  WorkerPool(const SocketServer* server, size_t threads) {
    for (size_t i = 0; i < threads; ++i) {
      threads_.emplace_back([this, server] {
        serving_thread = server;  // Its changes are the loop's own (NoteChange).
        Work();
      });
    }
  }
  ~WorkerPool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    task_ready_.notify_all();
    for (std::thread& thread : threads_) thread.join();
  }
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  void Run(std::function<void()> task) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      tasks_.push_back(std::move(task));
    }
    task_ready_.notify_one();
  }

 private:
  // Runs tasks until stopped and none is left.
  void Work() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      task_ready_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
      if (tasks_.empty()) return;
      std::function<void()> task = std::move(tasks_.front());
      tasks_.pop_front();
      lock.unlock();
      task();
      lock.lock();
    }
  }

  std::mutex mutex_;
  std::condition_variable task_ready_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

class SocketServer final : public AttachServer {
 public:
  SocketServer(std::unique_ptr<AttachHandler> handler, const std::optional<AttachGroup>& group)
      : handler_(std::move(handler)), group_(group) {
    welcome_.owner_pid = static_cast<uint32_t>(::getpid());
    welcome_.version = ROCKSQ_VERSION;
  }
  ~SocketServer() override {
    Stop();
    if (!started_) {  // Bind() failed: Shutdown() never ran.
      for (int fd : {listen_fd_, epoll_fd_, wake_fd_, timer_fd_, watch_fd_, directory_fd_}) {
        if (fd >= 0) CloseTracked(fd);
      }
    } else {
      CloseTracked(wake_fd_);  // Kept by Shutdown(): see there.
    }
  }

  void Bind();

  void NoteChange() override {
    change_count_.fetch_add(1, std::memory_order_seq_cst);
    // The server's own thread (an attached push or pop) checks for changes
    // before it waits again: no wake-up to send.
    if (serving_thread == this) {
      changed_.store(true, std::memory_order_release);
      return;
    }
    // Only a parked call or a watch needs waking; with none, the owner's
    // own pushes and pops cost no system call. The flag stays set for the
    // loop, which reads it after parking a call or a watch (waiting_ is set
    // first: one of the two sides sees the other's store).
    if (changed_.exchange(true, std::memory_order_seq_cst)) return;
    if (waiting_.load(std::memory_order_seq_cst)) Wake();
  }

  void Stop() override {
    if (!thread_.joinable()) return;
    stopping_.store(true, std::memory_order_release);
    Wake();
    thread_.join();
  }

 private:
  struct Connection {
    int fd = -1;
    uint64_t serial = 0;  // Which connection: descriptor numbers are reused.
    uid_t uid = 0;     // The peer's, from SO_PEERCRED at accept,
    uint32_t pid = 0;  // as its pid.
    bool may_attach = false;  // MayAttach, at accept.
    Clock::time_point hello_deadline;  // Until welcomed (kGreetingTimeout).
    bool welcomed = false;
    bool inspector = false;  // Hello kind 0: `rocksq stats`, not an attached process.
    uint64_t client_id = 0;  // From the Hello: the attached queue and this lane.
    uint32_t lane = 0;
    // A request of it is received, queued or parked, and not yet answered.
    bool awaiting_reply = false;
    std::string inbox;  // Bytes received and not yet served.
    // Its shared-memory lane, if the client asked for one and got it, and
    // whether the request awaiting its reply came through it (the reply
    // goes back the same way).
    std::unique_ptr<SharedLane> shared_lane;
    bool request_in_lane = false;
  };

  // A waiting call that could not go on yet: its request, kept whole.
  struct ParkedCall {
    int fd;
    FrameHeader header;
    std::string body;
    uint64_t arrival;  // ReceivedCall::arrival: parked_'s order.
    Clock::time_point deadline;
    // Retried on workers_ (RetryParked): it keeps its place, and the later
    // calls of its blocked class wait behind it, until its group is
    // answered (Settle); its deadline waits for that answer too.
    bool on_workers = false;
  };

  // A request received and not yet run: each epoll wake-up first reads
  // every ready connection, then runs what arrived (ServeReceived), so
  // that requests of several processes can be merged.
  struct ReceivedCall {
    int fd;
    uint64_t connection;  // Its serial.
    FrameHeader header;
    std::string frame;  // Header and body.
    uint64_t arrival;   // Received after those with smaller numbers.
    // A parked call retried on workers_: its place in parked_, valid while
    // its connection lives (Drop takes it out with the connection).
    std::optional<std::list<ParkedCall>::iterator> parked;
    std::string_view body() const { return std::string_view(frame).substr(kFrameHeaderBytes); }
  };

  // An event lane's Watch (attach_wire.h, kWatch), not answered yet: the
  // change count its client last saw.
  struct Watch {
    FrameHeader header;
    uint64_t seen;
  };

  using Outcome = AttachHandler::Outcome;

  void Wake() {
    const uint64_t one = 1;
    (void)!::write(wake_fd_, &one, sizeof(one));
  }
  void Loop();
  // Accepts one connection from `listener`; false if none was waiting.
  bool Accept(int listener);
  // Unlinks whatever has the socket's name and binds a new listening socket
  // there, mode 0600 (0660 and of group_, if set); returns it, having
  // remembered which file it is.
  int ListenOnSocket();
  // After a change in the directory: binds the socket again if its name no
  // longer leads to it (deleted, renamed, or replaced by another file).
  void KeepSocketName();
  void Receive(Connection* connection);
  // Takes the requests posted in the connections' lanes; returns whether
  // there were any.
  bool ReceiveFromLanes();
  // Whether a connection's lane holds a request not taken yet.
  bool LanesPosted() const;
  // Says in every lane whether the loop sleeps (true: it is about to, in
  // epoll_wait); sleeping returns whether a request came meanwhile.
  bool LanesSleep(bool sleeps);
  // Answers a connection's Hello, or refuses and drops it.
  void Greet(Connection* connection, const FrameHeader& header, std::string_view body);
  // Runs the requests received in this wake-up: each merge group of the
  // handler as one call, then the rest in arrival order.
  void ServeReceived();
  void Serve(const ReceivedCall& call);
  void ServeMerged(const std::vector<ReceivedCall*>& calls);
  // The error each call of a group got, if any.
  using GroupErrors = std::vector<std::optional<Error>>;
  // A merge group run by workers_: its requests, and once run, their
  // outcomes (whose bodies are views of the requests' frames).
  struct WorkedGroup {
    int kind = 0;  // AttachHandler::MergeGroup.
    Clock::time_point sent;  // To the workers.
    std::vector<ReceivedCall> calls;
    std::vector<ReceivedCall*> members;
    std::vector<AttachHandler::MergedCall> merged;
    GroupErrors errors;
    // change_count_ when it was sent: a change since then that a call it
    // parks never saw (the loop may have taken it while nothing was
    // parked) makes the loop retry the parked calls.
    uint64_t changes_before = 0;
  };
  // Has the calls of merge group `kind` that arrived since its last group
  // went to workers_ run by them as one group. If the handler gathers the
  // kind's groups, not while that group is not answered: they wait for it
  // (AnswerWorked), and the calls that arrive meanwhile join them. Once it
  // is answered, the next group also waits for as many calls as it had,
  // for at most half its time on the workers (and kMaxGatherWait): its
  // callers, just answered, come back within microseconds. A synced
  // group's time is mostly its fsync, so each fsync carries every call that
  // came meanwhile, as GroupCommit's gathering does in one process, rather
  // than each wake-up's few calls syncing on their own one after another.
  void ServeOnWorkers(int kind);
  // Runs `calls`, of merge group `kind`, on workers_ as one group.
  void SendToWorkers(int kind, std::vector<ReceivedCall> calls);
  // Runs on workers_ each kind's calls that ServeOnWorkers may send now.
  void ServeWaitingGroups();
  // Answers the groups the workers ran since the last call.
  void AnswerWorked();
  // Whether the connection that sent `call` is still open.
  bool Live(const ReceivedCall& call) const {
    const auto found = connections_.find(call.fd);
    return found != connections_.end() && found->second.serial == call.connection;
  }
  std::vector<AttachHandler::MergedCall> MergedCalls(const std::vector<ReceivedCall*>& calls) const;
  // Runs `merged` as one call or, if it cannot (nothing was done then),
  // each call alone in order, as AttachHandler::Run: on the thread that
  // runs the group, so that a group on workers_ never syncs on the loop.
  void RunGroup(std::vector<AttachHandler::MergedCall>* merged, GroupErrors* errors);
  // Replies to each of `calls` as `merged` and `errors` say, or parks it.
  // Skips calls whose connection ended meanwhile. Returns whether it
  // parked any.
  bool AnswerMerged(const std::vector<ReceivedCall*>& calls,
                    const std::vector<AttachHandler::MergedCall>& merged,
                    const GroupErrors& errors);
  // After `call` ran (`outcome`): parks it if it must wait; a parked call
  // retried on workers_ keeps its place then, or else leaves parked_.
  void Settle(const ReceivedCall& call, Outcome outcome);
  // Parks `call` in its place by arrival: calls run side by side on
  // workers_ may come back in another order.
  void Park(const ReceivedCall& call);
  // Answers the watches whose count differs from change_count_.
  void AnswerWatches();
  // Runs a request once without waiting (AttachHandler::Run) and replies,
  // unless it must wait.
  Outcome Run(int fd, const FrameHeader& header, std::string_view body, bool final);
  // Retries the parked calls after a change, in arrival order, stopping
  // at the first of a class that must wait. Those of a merge group run on
  // workers_ are retried there, so that a synced pop's or push's fsync
  // never holds the loop: the calls of a kind that gathers all join its
  // next group, the others go one at a time.
  void RetryParked();
  // A parked call about to be retried on workers_, as received.
  ReceivedCall Retried(std::list<ParkedCall>::iterator parked) const;
  // Whether the client of a parked call taken out of parked_ hung up;
  // drops its connection if so.
  bool ParkedCallerGone(const ParkedCall& call);
  // Runs a parked call taken out of parked_, unless its client hung up.
  Outcome RunParked(const ParkedCall& call, bool final);
  void AnswerExpired();
  // Drops the connections whose Hello is overdue.
  void DropSilent();
  // Sets the timer to the earliest of what it serves: the parked calls'
  // deadlines (but those on workers_), Hello deadlines, the accept pause,
  // a gathering group's wait.
  void ArmTimer();
  // Has the timer go off by `when` if it would go off later: a new
  // deadline, without looking at every parked call as ArmTimer does (once
  // per parked call, that would cost the square of their number).
  void ArmTimerBy(Clock::time_point when);
  void SetTimer(Clock::time_point when);
  // Stops or resumes watching the listener (kAcceptPause).
  void WatchListener(bool watch);
  void Reply(int fd, const FrameHeader& request, std::string_view body, uint32_t status = 0) {
    Reply(fd, request, std::vector<std::string_view>{body}, status);
  }
  void Reply(int fd, const FrameHeader& request, const BodyWriter& body) {
    Reply(fd, request, body.Parts(), 0);
  }
  // Replies the way the request came: through the connection's lane if it
  // came so and the reply fits, else on the socket (with `passed_fd`, if
  // given, as SendFrame). Drops the connection if the reply cannot go.
  void Reply(int fd, const FrameHeader& request, const std::vector<std::string_view>& body,
             uint32_t status, int passed_fd = -1);
  void ReplyError(int fd, const FrameHeader& request, const Error& error) {
    Reply(fd, request, error.detail(), WireCode(error.kind()));
  }
  // Sends a doorbell (kLaneDoorbell) on `fd`: false if it could not.
  bool Ring(int fd);
  void Drop(int fd);
  void Shutdown();
  // Who sent `header` on `fd`.
  AttachHandler::Caller CallerOf(int fd, const FrameHeader& header) const;
  // kStats: the attached processes (welcomed connections, inspectors
  // apart), grouped by pid, and the queue's figures.
  QueueOwner Stats() const;

  const std::unique_ptr<AttachHandler> handler_;
  const std::optional<AttachGroup> group_;  // Whose members may attach too.
  Welcome welcome_;  // Its protocol, version and pid; the handler adds the rest at each Hello.
  int directory_fd_ = -1;
  int listen_fd_ = -1;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  int timer_fd_ = -1;
  // inotify on the directory, so that a socket deleted or replaced while
  // this process owns the queue is bound again; -1 if inotify is not to be
  // had (its per-user limits), and then the name is not looked after.
  int watch_fd_ = -1;
  dev_t socket_device_ = 0;  // The socket file's identity, as bound.
  ino_t socket_inode_ = 0;
  std::atomic<bool> changed_{false};
  // How the loop waits for the next request after one before it sleeps: an
  // attached process making call after call sends it within microseconds.
  AdaptivePoll next_request_poll_{std::chrono::microseconds(100)};
  // Whether a parked call or a watch waits for a change, for NoteChange.
  std::atomic<bool> waiting_{false};
  // The queue's changes since the server started (NoteChange): what
  // watches compare, so that a change between a client's last look and
  // its watch is not missed.
  std::atomic<uint64_t> change_count_{0};
  std::map<int, Watch> watches_;  // By connection.
  std::atomic<bool> stopping_{false};
  std::map<int, Connection> connections_;
  std::vector<ReceivedCall> received_;  // In arrival order.
  uint64_t arrivals_ = 0;  // ReceivedCall::arrival of the last received.
  std::list<ParkedCall> parked_;        // In arrival order.
  // Connections not yet welcomed, by Hello deadline (so in accept order);
  // entries of connections since welcomed or dropped are skipped.
  std::deque<std::pair<Clock::time_point, int>> awaiting_hello_;
  Clock::time_point accept_resume_ = Clock::time_point::max();  // While paused.
  // When the timer is set to go off (max: disarmed), so that ArmTimer
  // makes no system call when that does not change, as after most calls.
  Clock::time_point timer_armed_for_ = Clock::time_point::max();
  bool started_ = false;
  uint64_t connections_accepted_ = 0;  // Connection::serial.
  // Set while the loop runs if the handler's groups run on workers.
  WorkerPool* workers_ = nullptr;
  std::mutex worked_mutex_;
  std::vector<std::unique_ptr<WorkedGroup>> worked_;  // Run, not yet answered.
  std::atomic<bool> has_worked_{false};
  // The loop's own: each merge group's calls on workers_ (ServeOnWorkers).
  struct GroupsOfKind {
    std::vector<ReceivedCall> waiting;  // For its next group.
    size_t on_workers = 0;              // Its groups not answered yet.
    size_t last_size = 0;               // How many calls its last group had,
    Clock::time_point gather_until;     // and until when the next waits for as many.
    // Calls wait for others to gather (ServeOnWorkers), until gather_until.
    bool Gathering() const { return on_workers == 0 && !waiting.empty(); }
  };
  std::map<int, GroupsOfKind> kinds_;
  // The arrivals of the calls on workers_ in their first run, by blocked
  // class (AttachHandler::BlockedClass). Two groups of a kind may run side
  // by side: a parked call that arrived after such a call is not retried
  // before it is answered, which may park it ahead (arrival order, as
  // threads queue on a mutex).
  std::map<int, std::multiset<uint64_t>> first_runs_;
  // RetryParked left a call behind a first run: the next answered group
  // has the loop retry the parked calls again.
  bool retry_when_answered_ = false;
  std::thread thread_;
};

// Every failure to serve the queue says how to open it without serving:
// attach is on by default, and some filesystems take no Unix sockets.
[[noreturn]] void ThrowSystem(const std::string& path, const std::string& action) {
  throw Error(ErrorKind::kStorage, path,
              action + ": " + std::strerror(errno) +
                  " (attach=False opens the queue without serving other processes)");
}

void SocketServer::Bind() {
  const std::string& path = handler_->Path();
  directory_fd_ = ::open(path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (directory_fd_ < 0) ThrowSystem(path, "opening the queue's directory");
  listen_fd_ = ListenOnSocket();
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  timer_fd_ = ::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
  if (epoll_fd_ < 0 || wake_fd_ < 0 || timer_fd_ < 0) ThrowSystem(path, "starting the attach server");
  watch_fd_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  const std::string directory = "/proc/self/fd/" + std::to_string(directory_fd_);
  if (watch_fd_ >= 0 &&
      ::inotify_add_watch(watch_fd_, directory.c_str(),
                          IN_DELETE | IN_MOVED_FROM | IN_CREATE | IN_MOVED_TO | IN_ONLYDIR) < 0) {
    ::close(watch_fd_);
    watch_fd_ = -1;
  }
  for (int fd : {directory_fd_, listen_fd_, epoll_fd_, wake_fd_, timer_fd_, watch_fd_}) {
    if (fd >= 0) Track(fd);
  }
  for (int fd : {listen_fd_, wake_fd_, timer_fd_, watch_fd_}) {
    if (fd < 0) continue;
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.fd = fd;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event);
  }
  thread_ = std::thread([this] { Loop(); });
  started_ = true;
}

int SocketServer::ListenOnSocket() {
  const std::string& path = handler_->Path();
  // Only the LOCK holder gets here: a socket left by a killed owner is
  // stale, and nobody else may bind one meanwhile.
  if (::unlinkat(directory_fd_, kAttachSocketName, 0) != 0 && errno != ENOENT) {
    ThrowSystem(path, std::string("removing a stale ") + kAttachSocketName);
  }
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) ThrowSystem(path, "making the attach socket");
  try {
    const sockaddr_un address = SocketAddress(directory_fd_, path);
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
      ThrowSystem(path, "binding the attach socket " + std::string(kAttachSocketName));
    }
    // Peers are also checked at each connection (MayAttach), so the moment
    // before this chmod admits nobody else.
    if (group_ && ::fchownat(directory_fd_, kAttachSocketName, static_cast<uid_t>(-1),
                             group_->gid, AT_SYMLINK_NOFOLLOW) != 0) {
      ThrowSystem(path, "giving the attach socket to group " + group_->name);
    }
    struct stat bound {};
    if (::fchmodat(directory_fd_, kAttachSocketName, group_ ? 0660 : 0600, 0) != 0 ||
        ::fstatat(directory_fd_, kAttachSocketName, &bound, AT_SYMLINK_NOFOLLOW) != 0) {
      ThrowSystem(path, "setting the attach socket's mode");
    }
    if (::listen(fd, SOMAXCONN) != 0) ThrowSystem(path, "listening on the attach socket");
    socket_device_ = bound.st_dev;
    socket_inode_ = bound.st_ino;
  } catch (const Error&) {
    ::close(fd);
    throw;
  }
  return fd;
}

void SocketServer::KeepSocketName() {
  // Drain the events: only whether one named the socket matters.
  alignas(inotify_event) char events[4096];
  bool named = false;
  for (;;) {
    const ssize_t bytes = ::read(watch_fd_, events, sizeof(events));
    if (bytes <= 0) break;
    for (ssize_t at = 0; at < bytes;) {
      const auto* event = reinterpret_cast<const inotify_event*>(events + at);
      if (event->len > 0 && std::strcmp(event->name, kAttachSocketName) == 0) named = true;
      at += static_cast<ssize_t>(sizeof(inotify_event) + event->len);
    }
  }
  if (!named) return;
  struct stat now {};
  if (::fstatat(directory_fd_, kAttachSocketName, &now, AT_SYMLINK_NOFOLLOW) == 0 &&
      now.st_dev == socket_device_ && now.st_ino == socket_inode_) {
    return;  // Still this socket (its own binding is an event too).
  }
  // Deleted, or another file has the name (a program's socket that would
  // take the attached processes' calls, a symlink to another queue's): this
  // process holds the LOCK, so the name is its to take back.
  int listener;
  try {
    listener = ListenOnSocket();
  } catch (const Error&) {
    return;  // A directory has the name: connected processes are still served.
  }
  Track(listener);
  // Connections already queued on the old socket are served, then it goes.
  const int old_listener = listen_fd_;
  ::fcntl(old_listener, F_SETFL, ::fcntl(old_listener, F_GETFL) | O_NONBLOCK);
  while (Accept(old_listener)) {
  }
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, old_listener, nullptr);
  CloseTracked(old_listener);
  listen_fd_ = listener;
  epoll_event event{};
  event.events = accept_resume_ == Clock::time_point::max() ? EPOLLIN : 0;
  event.data.fd = listen_fd_;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &event);
}

void SocketServer::Loop() {
  serving_thread = this;
  std::optional<WorkerPool> workers;
  if (handler_->GroupsRunOnWorkers()) workers_ = &workers.emplace(this, kMergeWorkers);
  epoll_event events[32];
  bool served_request = false;
  // The lanes are memory, looked at on every turn; the descriptors
  // (sockets, timer) cost a system call, so every fourth turn, even while
  // lanes keep the loop busy: new connections and socket frames still get
  // their turn.
  unsigned turns = 0;
  while (!stopping_.load(std::memory_order_acquire)) {
    int ready = 0;
    bool busy = false;  // A lane posted, or a group's run came back.
    const auto look = [&] {
      if (++turns % 4 == 0 && (ready = ::epoll_wait(epoll_fd_, events, 32, 0)) != 0) return true;
      busy = LanesPosted() || has_worked_.load(std::memory_order_acquire);
      return busy;
    };
    if (served_request) next_request_poll_(look);
    if (ready == 0 && !busy) {
      if (!LanesSleep(true)) ready = ::epoll_wait(epoll_fd_, events, 32, -1);
      LanesSleep(false);
    }
    if (ready < 0) continue;  // EINTR.
    served_request = false;
    bool timer_expired = false;
    for (int i = 0; i < ready && !stopping_.load(std::memory_order_acquire); ++i) {
      const int fd = events[i].data.fd;
      if (fd == listen_fd_) {
        Accept(listen_fd_);
      } else if (fd == watch_fd_) {
        KeepSocketName();
      } else if (fd == wake_fd_) {
        uint64_t count;
        (void)!::read(wake_fd_, &count, sizeof(count));
      } else if (fd == timer_fd_) {
        uint64_t expirations;
        (void)!::read(timer_fd_, &expirations, sizeof(expirations));
        timer_armed_for_ = Clock::time_point::max();  // It went off: disarmed.
        timer_expired = true;
      } else {
        auto found = connections_.find(fd);
        if (found != connections_.end()) Receive(&found->second);
        served_request = true;
      }
    }
    if (ReceiveFromLanes()) served_request = true;
    // After the connections: a Hello that arrived while this thread was
    // busy past its deadline is read, not taken for silence.
    if (timer_expired && !stopping_.load(std::memory_order_acquire)) {
      AnswerExpired();
      DropSilent();
      if (Clock::now() >= accept_resume_) WatchListener(true);
      ArmTimer();
      // The queue may have changed by itself (NextChangeWithoutCall).
      changed_.store(true, std::memory_order_release);
    }
    if (has_worked_.load(std::memory_order_acquire)) AnswerWorked();
    if (!stopping_.load(std::memory_order_acquire)) ServeReceived();
    if (workers_ != nullptr && !stopping_.load(std::memory_order_acquire)) ServeWaitingGroups();
    if (changed_.exchange(false, std::memory_order_seq_cst)) {
      RetryParked();
      AnswerWatches();  // After the retries, which may have changed the queue.
    }
    if (parked_.empty() && watches_.empty()) {
      waiting_.store(false, std::memory_order_seq_cst);
    }
  }
  // The groups still on workers finish first, unanswered, as a request
  // being served does: their processes send them again to the next owner.
  workers_ = nullptr;
  workers.reset();
  Shutdown();
}

bool SocketServer::Accept(int listener) {
  const int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  if (fd < 0) {
    if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
      WatchListener(false);
      accept_resume_ = Clock::now() + kAcceptPause;
      ArmTimer();
    }
    return false;
  }
  ucred peer{};
  socklen_t peer_size = sizeof(peer);
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &peer_size) != 0) {
    ::close(fd);
    return true;
  }
  const timeval send_timeout{kSendTimeoutSeconds, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof(send_timeout));
  Track(fd);
  Connection& connection = connections_[fd];
  connection.fd = fd;
  connection.serial = ++connections_accepted_;
  connection.uid = peer.uid;
  connection.pid = static_cast<uint32_t>(peer.pid);
  const std::vector<gid_t> peer_groups = group_ ? PeerGroups(fd) : std::vector<gid_t>{};
  connection.may_attach = MayAttach(::geteuid(), group_, {peer.uid, peer.gid, peer_groups});
  connection.hello_deadline = Clock::now() + kGreetingTimeout;
  awaiting_hello_.emplace_back(connection.hello_deadline, fd);
  if (awaiting_hello_.size() == 1) ArmTimer();
  epoll_event event{};
  event.events = EPOLLIN | EPOLLRDHUP;
  event.data.fd = fd;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event);
  return true;
}

bool HoldsWholeFrame(const std::string& bytes) {
  return bytes.size() >= kFrameHeaderBytes &&
         bytes.size() - kFrameHeaderBytes >= DecodeHeader(bytes.data()).body_bytes;
}

void SocketServer::Receive(Connection* connection) {
  const int fd = connection->fd;
  char buffer[64 * 1024];
  for (;;) {
    const ssize_t received = ::recv(fd, buffer, sizeof(buffer), MSG_DONTWAIT);
    if (received > 0) {
      connection->inbox.append(buffer, static_cast<size_t>(received));
      // Once a whole frame is in, the rest (or the client's hang-up) can
      // wait for the next wake-up: epoll reports it again.
      if (HoldsWholeFrame(connection->inbox)) break;
      continue;
    }
    if (received < 0 && errno == EINTR) continue;
    if (received < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    Drop(fd);  // The client closed (or died): its parked call goes too.
    return;
  }
  // A client sends its next request only after the reply to the last one,
  // so the inbox holds at most one whole frame.
  while (connection->inbox.size() >= kFrameHeaderBytes) {
    const FrameHeader header = DecodeHeader(connection->inbox.data());
    // A doorbell only woke the loop, which looks at every lane anyway.
    if (connection->welcomed && header.op == AttachOp::kLaneDoorbell && header.body_bytes == 0) {
      connection->inbox.erase(0, kFrameHeaderBytes);
      continue;
    }
    // A second request before the first's reply breaks the protocol: the
    // one-request rule is what bounds a connection's share of the owner
    // (one frame, one parked call), and what lets each request be served
    // as if its connection had no other.
    const uint64_t max_body = connection->welcomed ? kMaxFrameBodyBytes : kMaxGreetingBodyBytes;
    if (header.body_bytes > max_body || connection->awaiting_reply) {
      Drop(fd);
      return;
    }
    const size_t frame_bytes = kFrameHeaderBytes + header.body_bytes;
    if (connection->inbox.size() < frame_bytes) return;
    std::string frame = connection->inbox.substr(0, frame_bytes);
    connection->inbox.erase(0, frame_bytes);
    if (!connection->welcomed) {
      Greet(connection, header, std::string_view(frame).substr(kFrameHeaderBytes));
      if (connections_.find(fd) == connections_.end()) return;  // Refused.
    } else {
      connection->awaiting_reply = true;
      received_.push_back(
          {fd, connection->serial, header, std::move(frame), ++arrivals_, std::nullopt});
    }
  }
}

bool SocketServer::LanesPosted() const {
  for (const auto& [fd, connection] : connections_) {
    if (connection.shared_lane && !connection.awaiting_reply &&
        connection.shared_lane->RequestPosted()) {
      return true;
    }
  }
  return false;
}

bool SocketServer::ReceiveFromLanes() {
  bool received = false;
  std::vector<int> broken;
  for (auto& [fd, connection] : connections_) {
    // A request posted before the last one's reply waits for it, as in
    // the socket (there, it breaks the protocol; here it is only seen
    // later).
    if (!connection.shared_lane || connection.awaiting_reply ||
        !connection.shared_lane->RequestPosted()) {
      continue;
    }
    std::string frame;
    if (!connection.shared_lane->TakeRequest(&frame)) {
      broken.push_back(fd);
      continue;
    }
    connection.awaiting_reply = true;
    connection.request_in_lane = true;
    const FrameHeader header = DecodeHeader(frame.data());
    received_.push_back(
        {fd, connection.serial, header, std::move(frame), ++arrivals_, std::nullopt});
    received = true;
  }
  for (int fd : broken) Drop(fd);
  return received;
}

bool SocketServer::LanesSleep(bool sleeps) {
  bool posted = false;
  for (auto& [fd, connection] : connections_) {
    if (!connection.shared_lane) continue;
    // The caller takes every word down again after (or instead of) sleeping.
    posted = connection.shared_lane->OwnerSleeps(sleeps) && !connection.awaiting_reply;
    if (posted) break;
  }
  return posted;
}

void SocketServer::Greet(Connection* connection, const FrameHeader& header,
                         std::string_view body) {
  const int fd = connection->fd;
  const std::string& path = handler_->Path();
  {
    try {
      const Hello hello = DecodeHello(body, path);
      const std::string owner = "owned by process " + std::to_string(welcome_.owner_pid);
      if (!connection->may_attach) {
        throw Error(ErrorKind::kAlreadyOpen, path,
                    owner + " of user " + UserName(::geteuid()) + "; user " +
                        UserName(connection->uid) +
                        (group_ ? ", not in group " + group_->name + ", may not attach (user " +
                                      UserName(::geteuid()) + " and group " + group_->name +
                                      " only)"
                                : std::string(" may not attach (same user only, unless the "
                                              "owner sets attach_group)")));
      }
      if (hello.protocol != kAttachProtocol) {
        throw Error(ErrorKind::kUnsupportedFormat, path,
                    owner + ", which runs RocksQ " + welcome_.version + " (attach protocol " +
                        std::to_string(kAttachProtocol) + "); process " +
                        std::to_string(hello.pid) + " runs RocksQ " + hello.version +
                        " (attach protocol " + std::to_string(hello.protocol) +
                        "): use one RocksQ version per queue");
      }
      const uint32_t kind = static_cast<uint32_t>(handler_->Kind());
      if (hello.kind != kind && hello.kind != kInspectorHelloKind) {
        throw Error(ErrorKind::kNotAQueue, path,
                    "holds " + AttachKindName(kind) + " (" + owner + "), not " +
                        AttachKindName(hello.kind));
      }
      Welcome welcome = welcome_;
      handler_->DescribeQueue(&welcome);
      // Without a lane (the system gave none), the socket carries it all.
      int lane_fd = -1;
      if (hello.shared_lane && hello.kind != kInspectorHelloKind) {
        connection->shared_lane = SharedLane::Create(&lane_fd);
      }
      Reply(fd, header, {EncodeWelcome(welcome)}, 0, lane_fd);
      if (lane_fd >= 0) ::close(lane_fd);
      if (connections_.find(fd) == connections_.end()) return;  // The send failed.
      connection->welcomed = true;
      connection->inspector = hello.kind == kInspectorHelloKind;
      connection->client_id = hello.client_id;
      connection->lane = hello.lane;
    } catch (const Error& refused) {
      ReplyError(fd, header, refused);
      Drop(fd);
    }
  }
}

void SocketServer::ServeReceived() {
  if (received_.empty()) return;
  std::vector<ReceivedCall> calls;
  calls.swap(received_);
  std::map<int, std::vector<ReceivedCall*>> groups;  // By merge group, in order.
  std::vector<ReceivedCall*> alone;
  for (ReceivedCall& call : calls) {
    // An inspector's request is refused by Serve, whatever its group.
    const int group = connections_.at(call.fd).inspector ? 0 : handler_->MergeGroup(call.header.op);
    (group == 0 ? alone : groups[group]).push_back(&call);
  }
  for (const auto& [group, members] : groups) {
    if (workers_ != nullptr) {
      std::vector<ReceivedCall>& next = kinds_[group].waiting;
      for (ReceivedCall* call : members) next.push_back(std::move(*call));
    } else if (members.size() == 1) {
      alone.insert(alone.begin(), members.front());
    } else {
      ServeMerged(members);
    }
  }
  for (const ReceivedCall* call : alone) {
    // An earlier reply that failed dropped its connection; nothing else
    // closes one here, so a descriptor still listed is the same client's.
    if (connections_.count(call->fd) != 0) Serve(*call);
  }
}

void SocketServer::Serve(const ReceivedCall& call) {
  const int fd = call.fd;
  const FrameHeader& header = call.header;
  const std::string_view body = call.body();
  // The transport's own operation, for any kind; the only one an
  // inspector may ask for.
  if (header.op == AttachOp::kStats) {
    std::string stats;
    try {
      stats = EncodeOwnerStats(Stats());
    } catch (const Error& error) {
      ReplyError(fd, header, error);
      return;
    }
    Reply(fd, header, stats);
    return;
  }
  if (header.op == AttachOp::kWatch) {
    // Before the count is compared: a change after it wakes the loop.
    waiting_.store(true, std::memory_order_seq_cst);
    try {
      watches_[fd] = {header, BodyReader(body, handler_->Path()).U64()};
    } catch (const Error& error) {
      ReplyError(fd, header, error);
      return;
    }
    AnswerWatches();
    return;
  }
  if (connections_.at(fd).inspector) {
    ReplyError(fd, header,
               Error(ErrorKind::kInvalidArgument, handler_->Path(),
                     "an inspector connection (Hello kind 0) may only ask for stats"));
    return;
  }
  if (Run(fd, header, body, /*final=*/false) == Outcome::kMustWait) Park(call);
}

void SocketServer::ServeMerged(const std::vector<ReceivedCall*>& calls) {
  std::vector<AttachHandler::MergedCall> merged = MergedCalls(calls);
  GroupErrors errors;
  RunGroup(&merged, &errors);
  AnswerMerged(calls, merged, errors);
}

void SocketServer::ServeWaitingGroups() {
  bool gathering = false;
  for (const auto& [kind, groups] : kinds_) {
    ServeOnWorkers(kind);
    gathering = gathering || groups.Gathering();
  }
  if (gathering) ArmTimer();  // For gather_until.
}

void SocketServer::ServeOnWorkers(int kind) {
  GroupsOfKind& groups = kinds_[kind];
  const bool gathers = handler_->GathersGroups(kind);
  if (groups.waiting.empty() || groups.on_workers >= (gathers ? 1 : kUngatheredGroupsOnWorkers)) {
    return;
  }
  if (gathers && groups.waiting.size() < groups.last_size && Clock::now() < groups.gather_until) {
    return;
  }
  groups.last_size = groups.waiting.size();
  std::vector<ReceivedCall> calls;
  calls.swap(groups.waiting);
  SendToWorkers(kind, std::move(calls));
}

void SocketServer::SendToWorkers(int kind, std::vector<ReceivedCall> calls) {
  auto group = std::make_unique<WorkedGroup>();
  group->kind = kind;
  group->sent = Clock::now();
  group->calls = std::move(calls);
  group->changes_before = change_count_.load(std::memory_order_seq_cst);
  ++kinds_[kind].on_workers;
  for (ReceivedCall& call : group->calls) {
    group->members.push_back(&call);
    if (!call.parked) first_runs_[handler_->BlockedClass(call.header.op)].insert(call.arrival);
  }
  group->merged = MergedCalls(group->members);
  workers_->Run([this, group = group.release()] {
    RunGroup(&group->merged, &group->errors);
    {
      std::lock_guard<std::mutex> lock(worked_mutex_);
      worked_.emplace_back(group);
    }
    has_worked_.store(true, std::memory_order_release);
    Wake();
  });
}

void SocketServer::AnswerWorked() {
  std::vector<std::unique_ptr<WorkedGroup>> worked;
  {
    std::lock_guard<std::mutex> lock(worked_mutex_);
    has_worked_.store(false, std::memory_order_relaxed);
    worked.swap(worked_);
  }
  const Clock::time_point now = Clock::now();
  for (const std::unique_ptr<WorkedGroup>& group : worked) {
    GroupsOfKind& groups = kinds_[group->kind];
    --groups.on_workers;
    for (const ReceivedCall& call : group->calls) {
      if (call.parked) continue;
      std::multiset<uint64_t>& arrivals = first_runs_[handler_->BlockedClass(call.header.op)];
      arrivals.erase(arrivals.find(call.arrival));
    }
    groups.gather_until =
        now + std::min<Clock::duration>((now - group->sent) / 2, kMaxGatherWait);
    if (AnswerMerged(group->members, group->merged, group->errors) &&
        change_count_.load(std::memory_order_seq_cst) != group->changes_before) {
      changed_.store(true, std::memory_order_release);
    }
  }
  if (retry_when_answered_ && !worked.empty()) {
    retry_when_answered_ = false;
    changed_.store(true, std::memory_order_release);
  }
}

std::vector<AttachHandler::MergedCall> SocketServer::MergedCalls(
    const std::vector<ReceivedCall*>& calls) const {
  std::vector<AttachHandler::MergedCall> merged;
  merged.reserve(calls.size());
  for (const ReceivedCall* call : calls) {
    merged.push_back({call->header.op, call->body(), {}, AttachHandler::Outcome::kDone, {}});
    merged.back().caller = CallerOf(call->fd, call->header);
  }
  return merged;
}

void SocketServer::RunGroup(std::vector<AttachHandler::MergedCall>* merged, GroupErrors* errors) {
  errors->assign(merged->size(), std::nullopt);
  try {
    handler_->RunMerged(merged);
    return;
  } catch (const Error&) {
    // Nothing was done: each runs alone, and gets its own answer.
  }
  for (size_t i = 0; i < merged->size(); ++i) {
    AttachHandler::MergedCall& call = (*merged)[i];
    call.reply = BodyWriter();
    try {
      call.outcome = handler_->Run(call.op, call.body, &call.reply, /*final=*/false, call.caller);
    } catch (const Error& error) {
      (*errors)[i] = error;
    }
  }
}

bool SocketServer::AnswerMerged(const std::vector<ReceivedCall*>& calls,
                                const std::vector<AttachHandler::MergedCall>& merged,
                                const GroupErrors& errors) {
  bool parked = false;
  for (size_t i = 0; i < calls.size(); ++i) {
    const ReceivedCall& call = *calls[i];
    if (!Live(call)) continue;
    Outcome outcome = merged[i].outcome;
    if (errors[i]) {
      ReplyError(call.fd, call.header, *errors[i]);
      outcome = Outcome::kDone;
    } else if (outcome == Outcome::kDone) {
      Reply(call.fd, call.header, merged[i].reply);
      handler_->Replied(call.header.op, merged[i].caller.call);
    }
    // A reply that failed dropped the connection, and its parked call.
    if (!Live(call)) continue;
    Settle(call, outcome);
    parked = parked || outcome == Outcome::kMustWait;
  }
  return parked;
}

void SocketServer::Settle(const ReceivedCall& call, Outcome outcome) {
  if (!call.parked) {
    if (outcome == Outcome::kMustWait) Park(call);
  } else if (outcome == Outcome::kMustWait) {
    (*call.parked)->on_workers = false;
    ArmTimerBy((*call.parked)->deadline);
  } else {
    parked_.erase(*call.parked);
  }
}

void SocketServer::Park(const ReceivedCall& call) {
  const std::chrono::nanoseconds timeout = handler_->WaitTimeout(call.header.op, call.body());
  const bool first = parked_.empty();
  auto place = parked_.end();
  while (place != parked_.begin() && std::prev(place)->arrival > call.arrival) --place;
  const auto parked = parked_.insert(place, {call.fd, call.header, std::string(call.body()),
                                             call.arrival, DeadlineAfter(timeout)});
  waiting_.store(true, std::memory_order_seq_cst);
  ArmTimerBy(parked->deadline);
  if (first) ArmTimerBy(handler_->NextChangeWithoutCall());  // Counts while calls are parked.
}

SocketServer::Outcome SocketServer::Run(int fd, const FrameHeader& header,
                                        std::string_view body, bool final) {
  BodyWriter reply;
  const AttachHandler::Caller caller = CallerOf(fd, header);
  try {
    if (handler_->Run(header.op, body, &reply, final, caller) == Outcome::kMustWait) {
      return Outcome::kMustWait;
    }
  } catch (const Error& error) {
    ReplyError(fd, header, error);
    return Outcome::kDone;
  }
  Reply(fd, header, reply);
  handler_->Replied(header.op, caller.call);
  return Outcome::kDone;
}

AttachHandler::Caller SocketServer::CallerOf(int fd, const FrameHeader& header) const {
  AttachHandler::Caller caller;
  const auto connection = connections_.find(fd);
  if (connection != connections_.end()) {
    caller.pid = connection->second.pid;
    caller.call.client_id = connection->second.client_id;
    caller.call.lane = connection->second.lane;
  }
  caller.call.seq = header.seq;
  caller.retry = (header.flags & kRetryFlag) != 0;
  return caller;
}

void SocketServer::RetryParked() {
  if (parked_.empty()) return;
  // In arrival order, as threads queue on a mutex; once a call of a blocked
  // class must wait, the later ones of its class would too.
  std::set<int> blocked_classes;
  // Per merge group that gathers, the calls that join its next group on
  // workers_, ahead of those waiting for it, which arrived after them.
  std::map<int, std::vector<ReceivedCall>> to_workers;
  for (auto call = parked_.begin(); call != parked_.end();) {
    const int blocked_class = handler_->BlockedClass(call->header.op);
    const int group = workers_ != nullptr ? handler_->MergeGroup(call->header.op) : 0;
    const bool gathers = group != 0 && handler_->GathersGroups(group);
    // One of its class still on workers_ goes first (an ungathered kind's
    // calls go one at a time); and the limit on such groups keeps a worker
    // free for the other kind.
    const std::multiset<uint64_t>& first_runs = first_runs_[blocked_class];
    const bool behind_first_run = !first_runs.empty() && *first_runs.begin() < call->arrival;
    retry_when_answered_ = retry_when_answered_ || behind_first_run;
    const bool waits = call->on_workers || behind_first_run ||
                       (group != 0 && !gathers &&
                        kinds_[group].on_workers >= kUngatheredGroupsOnWorkers);
    if (waits) blocked_classes.insert(blocked_class);
    if (blocked_classes.count(blocked_class) != 0) {
      ++call;
      continue;
    }
    // Out of the list while its client is asked, or while it runs: a reply
    // that fails drops the connection, and with it whatever of it is parked.
    ParkedCall taken = std::move(*call);
    call = parked_.erase(call);
    if (group == 0) {
      if (RunParked(taken, /*final=*/false) == Outcome::kMustWait) {
        parked_.insert(call, std::move(taken));
        blocked_classes.insert(blocked_class);
      }
      continue;
    }
    if (ParkedCallerGone(taken)) continue;
    taken.on_workers = true;
    ReceivedCall retried = Retried(parked_.insert(call, std::move(taken)));
    if (gathers) {
      // Its group's run tells whether it must wait again: the later calls
      // of its class join the same group (a gathered group shares what it
      // finds in arrival order, as one call after another would).
      to_workers[group].push_back(std::move(retried));
    } else {
      std::vector<ReceivedCall> alone;
      alone.push_back(std::move(retried));
      SendToWorkers(group, std::move(alone));
      blocked_classes.insert(blocked_class);
    }
  }
  for (auto& [group, calls] : to_workers) {
    std::vector<ReceivedCall>& waiting = kinds_[group].waiting;
    calls.insert(calls.end(), std::make_move_iterator(waiting.begin()),
                 std::make_move_iterator(waiting.end()));
    waiting.swap(calls);
  }
  if (!to_workers.empty()) ServeWaitingGroups();
  ArmTimer();
}

SocketServer::ReceivedCall SocketServer::Retried(std::list<ParkedCall>::iterator parked) const {
  std::string frame(kFrameHeaderBytes, '\0');
  EncodeHeader(parked->header, frame.data());
  frame += parked->body;
  return {parked->fd,           connections_.at(parked->fd).serial, parked->header,
          std::move(frame), parked->arrival,                  parked};
}

void SocketServer::AnswerWatches() {
  const uint64_t changes = change_count_.load(std::memory_order_seq_cst);
  for (auto watch = watches_.begin(); watch != watches_.end();) {
    if (watch->second.seen == changes) {
      ++watch;
      continue;
    }
    const int fd = watch->first;
    const FrameHeader header = watch->second.header;
    watch = watches_.erase(watch);  // First: a failed reply drops the connection.
    BodyWriter reply;
    reply.U64(changes);
    Reply(fd, header, reply);
  }
}

void SocketServer::AnswerExpired() {
  const Clock::time_point now = Clock::now();
  for (auto call = parked_.begin(); call != parked_.end();) {
    // One on workers_ is answered by its group, or parked again first.
    if (call->deadline <= now && !call->on_workers) {
      ParkedCall taken = std::move(*call);  // Out of the list first, as in RetryParked.
      call = parked_.erase(call);
      RunParked(taken, /*final=*/true);
    } else {
      ++call;
    }
  }
}

void SocketServer::DropSilent() {
  const Clock::time_point now = Clock::now();
  while (!awaiting_hello_.empty() && awaiting_hello_.front().first <= now) {
    const int fd = awaiting_hello_.front().second;
    awaiting_hello_.pop_front();
    const auto found = connections_.find(fd);
    // The descriptor may be another connection's by now, with a later deadline.
    if (found != connections_.end() && !found->second.welcomed &&
        found->second.hello_deadline <= now) {
      Drop(fd);
    }
  }
}

void SocketServer::WatchListener(bool watch) {
  epoll_event event{};
  event.events = watch ? EPOLLIN : 0;
  event.data.fd = listen_fd_;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, listen_fd_, &event);
  if (watch) accept_resume_ = Clock::time_point::max();
}

bool SocketServer::ParkedCallerGone(const ParkedCall& call) {
  // A client that died while its call waited must not have items popped
  // for it: they would go down a closed socket. Its hang-up may still be
  // queued behind this event, so the socket is asked directly.
  pollfd state{call.fd, POLLRDHUP, 0};
  if (::poll(&state, 1, 0) < 0 || (state.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0) {
    Drop(call.fd);
    return true;
  }
  return false;
}

SocketServer::Outcome SocketServer::RunParked(const ParkedCall& call, bool final) {
  if (ParkedCallerGone(call)) return Outcome::kDone;
  return Run(call.fd, call.header, call.body, final);
}

void SocketServer::ArmTimer() {
  Clock::time_point earliest = accept_resume_;
  if (!awaiting_hello_.empty()) earliest = std::min(earliest, awaiting_hello_.front().first);
  if (!parked_.empty()) {
    for (const ParkedCall& call : parked_) {
      if (!call.on_workers) earliest = std::min(earliest, call.deadline);
    }
    earliest = std::min(earliest, handler_->NextChangeWithoutCall());
  }
  for (const auto& [kind, groups] : kinds_) {
    if (groups.Gathering()) earliest = std::min(earliest, groups.gather_until);
  }
  if (earliest != timer_armed_for_) SetTimer(earliest);
}

void SocketServer::ArmTimerBy(Clock::time_point when) {
  if (when < timer_armed_for_) SetTimer(when);
}

void SocketServer::SetTimer(Clock::time_point when) {
  timer_armed_for_ = when;
  itimerspec setting{};  // All zeros disarms.
  if (when != Clock::time_point::max()) {
    // steady_clock is CLOCK_MONOTONIC on Linux, the timer's clock.
    const int64_t nanoseconds = std::max<int64_t>(NanosecondsSinceEpoch(when), 1);
    setting.it_value.tv_sec = nanoseconds / 1'000'000'000;
    setting.it_value.tv_nsec = nanoseconds % 1'000'000'000;
  }
  ::timerfd_settime(timer_fd_, TFD_TIMER_ABSTIME, &setting, nullptr);
}

void SocketServer::Reply(int fd, const FrameHeader& request,
                         const std::vector<std::string_view>& body, uint32_t status,
                         int passed_fd) {
  FrameHeader header = request;
  header.status = status;
  const auto found = connections_.find(fd);
  SharedLane* const lane = found != connections_.end() && found->second.request_in_lane
                               ? found->second.shared_lane.get()
                               : nullptr;
  uint64_t body_bytes = 0;
  for (std::string_view part : body) body_bytes += part.size();
  bool sent = false;
  if (lane != nullptr && SharedLane::Fits(body_bytes)) {
    sent = !lane->PostReply(header, body) || Ring(fd);
  } else {
    try {
      sent = SendFrame(fd, header, body, handler_->Path(), passed_fd);
    } catch (const Error&) {
      // A client that stopped reading (the send timed out): dropped below.
    }
    if (sent && lane != nullptr) lane->PostReplyOnSocket();
  }
  if (!sent) {
    Drop(fd);
    return;
  }
  if (found != connections_.end()) {
    found->second.awaiting_reply = false;
    found->second.request_in_lane = false;
  }
}

bool SocketServer::Ring(int fd) {
  try {
    return SharedLane::Ring(fd, handler_->Path());
  } catch (const Error&) {
    return false;  // The send timed out: a client that stopped reading.
  }
}

void SocketServer::Drop(int fd) {
  const auto found = connections_.find(fd);
  if (found == connections_.end()) return;
  const uint32_t pid = found->second.pid;
  const bool attached = found->second.welcomed && !found->second.inspector;
  const uint64_t client_id = found->second.client_id;
  const uint32_t lane = found->second.lane;
  connections_.erase(found);
  parked_.remove_if([fd](const ParkedCall& call) { return call.fd == fd; });
  watches_.erase(fd);
  // Requests being served are checked against connections_ instead (ServeReceived).
  const auto sent_by_fd = [fd](const ReceivedCall& call) { return call.fd == fd; };
  received_.erase(std::remove_if(received_.begin(), received_.end(), sent_by_fd),
                  received_.end());
  for (auto& [kind, groups] : kinds_) {
    groups.waiting.erase(std::remove_if(groups.waiting.begin(), groups.waiting.end(), sent_by_fd),
                         groups.waiting.end());
  }
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
  // Ends the connection itself, not just this descriptor: the client sees
  // it end even if a descriptor of it outlived the tracking.
  ::shutdown(fd, SHUT_RDWR);
  CloseTracked(fd);
  if (!attached || stopping_.load(std::memory_order_acquire)) return;
  handler_->LaneGone(client_id, lane);
  for (const auto& [other_fd, other] : connections_) {
    if (other.pid == pid && other.welcomed) return;  // The process still has the queue.
  }
  handler_->ClientGone(pid);
}

QueueOwner SocketServer::Stats() const {
  QueueOwner stats;
  stats.pid = welcome_.owner_pid;
  stats.version = welcome_.version;
  std::map<pid_t, AttachedProcess> processes;
  for (const auto& [fd, connection] : connections_) {
    if (!connection.welcomed || connection.inspector) continue;
    AttachedProcess& process = processes[connection.pid];
    process.pid = static_cast<uint32_t>(connection.pid);
    process.uid = static_cast<uint32_t>(connection.uid);
    ++process.connections;
  }
  for (const auto& [pid, process] : processes) stats.attached.push_back(process);
  handler_->DescribeBacklog(&stats);
  return stats;
}

void SocketServer::Shutdown() {
  // Calls not answered stay unanswered: each attached process sees its
  // connections end and sends them again to the process that takes over
  // (or, for a kind that does not hand over, raises kClosed naming this
  // owner). Nothing of them was done.
  parked_.clear();
  watches_.clear();
  received_.clear();
  kinds_.clear();
  while (!connections_.empty()) Drop(connections_.begin()->first);
  ::unlinkat(directory_fd_, kAttachSocketName, 0);
  // The wake-up descriptor stays open until the server is destroyed: a
  // queue's thread may still be in NoteChange(), and a closed number could
  // meanwhile name another file.
  waiting_.store(false, std::memory_order_seq_cst);
  for (int fd : {listen_fd_, epoll_fd_, timer_fd_, watch_fd_, directory_fd_}) {
    if (fd >= 0) CloseTracked(fd);
  }
}

}  // namespace

std::vector<size_t> AttachHandler::ShareInArrivalOrder(const std::vector<uint64_t>& wanted,
                                                      size_t found) {
  std::vector<size_t> shares;
  shares.reserve(wanted.size());
  for (uint64_t asked : wanted) {
    const size_t share = static_cast<size_t>(std::min<uint64_t>(asked, found));
    shares.push_back(share);
    found -= share;
  }
  return shares;
}

std::vector<CallId> AttachHandler::MergedCallIds(const std::vector<MergedCall>& calls) const {
  std::vector<CallId> ids;
  ids.reserve(calls.size());
  for (const MergedCall& call : calls) {
    if (call.caller.retry) throw Error(ErrorKind::kInvalidArgument, Path(), "a retry is not merged");
    ids.push_back(call.caller.call);
  }
  return ids;
}

std::vector<std::string_view> AttachHandler::MergedPushItems(
    const std::vector<MergedCall>& calls, std::optional<AttachOp> timed_op) const {
  std::vector<std::string_view> items;
  for (const MergedCall& call : calls) {
    BodyReader reader(call.body, Path());
    if (call.op == timed_op) reader.I64();
    const std::vector<std::string_view> own = reader.Items();
    items.insert(items.end(), own.begin(), own.end());
  }
  return items;
}

size_t AttachHandler::TotalWanted(const std::vector<uint64_t>& wanted) {
  uint64_t total = 0;
  for (uint64_t asked : wanted) total = asked > UINT64_MAX - total ? UINT64_MAX : total + asked;
  return static_cast<size_t>(std::min<uint64_t>(total, SIZE_MAX));
}

std::optional<AttachGroup> ResolveAttachGroup(const std::string& path, const std::string& group) {
  if (group.empty()) return std::nullopt;
  std::vector<char> buffer(1024);
  for (;;) {
    struct group entry {};
    struct group* found = nullptr;
    const int failed = ::getgrnam_r(group.c_str(), &entry, buffer.data(), buffer.size(), &found);
    if (failed == ERANGE) {
      buffer.resize(buffer.size() * 2);
      continue;
    }
    if (found != nullptr) return AttachGroup{found->gr_gid, GroupName(found->gr_gid)};
    break;
  }
  const bool numeric = group.find_first_not_of("0123456789") == std::string::npos &&
                       group.size() <= 10 && std::stoull(group) < static_cast<gid_t>(-1);
  if (!numeric) {
    throw Error(ErrorKind::kInvalidArgument, path,
                "attach_group " + group + " is neither a group of this system nor a gid");
  }
  const auto gid = static_cast<gid_t>(std::stoull(group));
  return AttachGroup{gid, GroupName(gid)};
}

bool MayAttach(uid_t owner_uid, const std::optional<AttachGroup>& group,
               const PeerCredentials& peer) {
  if (peer.uid == owner_uid) return true;
  if (!group) return false;
  return peer.gid == group->gid ||
         std::find(peer.groups.begin(), peer.groups.end(), group->gid) != peer.groups.end();
}

std::unique_ptr<AttachServer> AttachServer::Start(std::unique_ptr<AttachHandler> handler,
                                                  const std::optional<AttachGroup>& group) {
  auto server = std::make_unique<SocketServer>(std::move(handler), group);
  server->Bind();
  return server;
}

std::unique_ptr<AttachServer> StartServing(std::unique_ptr<AttachHandler> handler,
                                           ChangeListener* change_listener,
                                           const std::string& attach_group) {
  const std::string path = handler->Path();
  std::unique_ptr<AttachServer> server =
      AttachServer::Start(std::move(handler), ResolveAttachGroup(path, attach_group));
  change_listener->SetServer(server.get());
  return server;
}

}  // namespace rocksq
