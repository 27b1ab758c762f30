// The owner's side of attaching (docs/design/many-processes.md, section 2):
// serves a queue this process owns to the processes that attach to it, over
// the Unix socket `rocksq.sock` in the queue's directory (attach_wire.h).
//
// The server is the transport, the same for every kind of queue: one epoll
// thread per served queue accepts connections, checks each peer's user and
// Hello, and hands each request to the queue kind's AttachHandler, inline
// and in order, so an attached call has the in-process call's semantics.
// A connection whose Hello asks for one also has a shared-memory lane
// (attach_lane.h), which carries the frames that fit: the thread looks at
// every lane on each turn while it polls, and sleeps only once each lane
// knows to ring.
// Waiting calls run once without waiting; if they would wait they are
// parked, with no thread of their own, and retried in arrival order after
// each change of the queue (its change listener) or answered at their
// deadline (a timerfd).
//
// Only the holder of the queue's RocksDB LOCK makes one, so only it unlinks
// a stale socket or binds a new one.

#ifndef ROCKSQ_SRC_ATTACH_SERVER_H_
#define ROCKSQ_SRC_ATTACH_SERVER_H_

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "attach_wire.h"
#include "rocksq/inspect.h"
#include "waiting.h"

namespace rocksq {

// What one kind of queue adds to the server: its operations. Called on the
// server's thread only.
class AttachHandler {
 public:
  enum class Outcome { kDone, kMustWait };

  virtual ~AttachHandler() = default;

  virtual const std::string& Path() const = 0;
  // The Hello kind it serves (attach_wire.h, AttachKind).
  virtual AttachKind Kind() const = 0;
  // Fills what the Welcome says of the queue now (the server fills the
  // protocol, version and pid).
  virtual void DescribeQueue(Welcome* welcome) const = 0;
  // Fills what `rocksq stats` shows of the queue now (the server fills the
  // owner and the attached processes): its kind, id, length, payload and disk
  // bytes, and the oldest item's age if the kind knows it.
  virtual void DescribeBacklog(QueueOwner* stats) const = 0;

  // Who sent a request: the attached process (its pid at accept), which
  // call it is, and whether it is a retry after a hand-over (kRetryFlag).
  struct Caller {
    uint32_t pid = 0;
    CallId call;
    bool retry = false;
  };

  // Runs one request once, without waiting, writing its reply's body to
  // `reply`; throws the queue's Error, which the server sends back. Returns
  // kMustWait if it is a waiting call that cannot go on yet and may still
  // wait; `final` (at its deadline) answers instead.
  virtual Outcome Run(AttachOp op, std::string_view body, BodyWriter* reply, bool final,
                      const Caller& caller) = 0;
  // The reply to a request Run (or RunMerged) answered was sent, or never
  // will be (its connection ended).
  virtual void Replied(AttachOp /*op*/, const CallId& /*call*/) {}

  // Every connection of the attached process `client` ended: it closed its
  // queue, or exited. Not called when the server stops.
  virtual void ClientGone(uint32_t /*client*/) {}
  // A connection (its lane: CallId) ended while the server runs.
  virtual void LaneGone(uint64_t /*client_id*/, uint32_t /*lane*/) {}

  // Of a call Run() said must wait: how long it may wait, from its arrival,
  // and its blocked class. Parked calls are retried in arrival order, and
  // once one of a class must wait again the later ones of that class are
  // not tried (they would find the same empty queue, or the same lack of
  // room), as threads queue on a mutex.
  virtual std::chrono::nanoseconds WaitTimeout(AttachOp op, std::string_view body) const = 0;
  virtual int BlockedClass(AttachOp op) const = 0;

  // Requests of different attached processes that arrive together may run
  // as one call on the queue, so that they share one write and one sync as
  // the owner's threads share a group commit. MergeGroup names the group an
  // operation merges with (0: it runs alone); groups run in increasing
  // order (a kind puts its pushes before its pops, so that pops find what
  // arrived with them). RunMerged runs `calls`, all of one group, in
  // arrival order, and fills in each one's reply and outcome, exactly as
  // if each had run alone in that order; it throws, having changed
  // nothing, if they cannot run as one (a merged push that does not fit,
  // a failed write), and then the server runs each alone (Run), on the
  // same thread.
  struct MergedCall {
    AttachOp op;
    std::string_view body;
    BodyWriter reply;
    Outcome outcome = Outcome::kDone;
    Caller caller;
  };
  virtual int MergeGroup(AttachOp /*op*/) const { return 0; }
  virtual void RunMerged(std::vector<MergedCall>* /*calls*/) {}
  // Whether merge groups run on worker threads rather than the server's:
  // for a kind whose group runs wait for a sync (a synced FIFO queue), so
  // that the server goes on receiving and answering meanwhile, and the
  // calls that arrive during a sync run together (GathersGroups). Every
  // merge group then runs there, a group of one call too, and so do the
  // retries of parked calls of those groups; groups of different kinds
  // may run at once (a pop need not find a push that arrived with it).
  // RunMerged, and Run for those operations, must then allow that: calls
  // on the queue and its ledgers are thread-safe. Unsynced runs take
  // microseconds: handing one to another thread would cost more than it
  // saves.
  virtual bool GroupsRunOnWorkers() const { return false; }
  // With GroupsRunOnWorkers: whether the calls of merge group `kind` that
  // arrive while one of its groups runs wait to form its next group, which
  // runs once that one is answered and gathers as GroupCommit does, rather
  // than go to a worker at once, two groups of the kind at most. Gathering
  // makes each sync carry the calls of every client that came back from
  // the last one (the FIFO handler gathers both its kinds); going at once
  // saves the hop through the server's thread between groups, and suits a
  // kind whose runs are gathered after the server, as a group commit does.
  virtual bool GathersGroups(int /*kind*/) const { return true; }

  // For RunMerged of takes (pops, gets): the calls asked for `wanted[i]`
  // items each, in arrival order, and one take found `found`: how many go
  // to each, as one take after another would have shared them.
  static std::vector<size_t> ShareInArrivalOrder(const std::vector<uint64_t>& wanted,
                                                 size_t found);
  // What they ask for together (saturated: a take of every item).
  static size_t TotalWanted(const std::vector<uint64_t>& wanted);
  // For RunMerged: each call's id, in arrival order. Throws
  // kInvalidArgument if one is a retry, which first looks for its record
  // and so runs alone (the server then runs each call alone).
  std::vector<CallId> MergedCallIds(const std::vector<MergedCall>& calls) const;
  // For RunMerged of pushes: every call's items, each call's in a row, in
  // arrival order; a call of `timed_op`, if given, has its timeout before
  // its items.
  std::vector<std::string_view> MergedPushItems(
      const std::vector<MergedCall>& calls,
      std::optional<AttachOp> timed_op = std::nullopt) const;
  // What DescribeBacklog says of every kind: `queue`'s id and counts.
  template <typename Queue>
  static void DescribeCounts(const Queue& queue, QueueOwner* stats) {
    stats->queue_id = queue.QueueId();
    stats->length = queue.Len();
    stats->payload_bytes = queue.PayloadBytes();
    stats->disk_bytes = queue.DiskBytes();
  }

  // When the queue may change by itself, with no call (an expired lease),
  // so that parked calls are retried then; time_point::max() if never.
  virtual Clock::time_point NextChangeWithoutCall() const { return Clock::time_point::max(); }
};

// The group whose members may attach besides the owner's user
// (FifoOptions::attach_group).
struct AttachGroup {
  gid_t gid = 0;
  std::string name;  // For messages: "staff (50)", or the gid alone.
};

// The group `group` names: a group name, or else a gid in decimal (which
// need not be listed, as chown takes it); nullopt if `group` is empty.
// Throws kInvalidArgument naming `path` if it is neither.
std::optional<AttachGroup> ResolveAttachGroup(const std::string& path, const std::string& group);

// A connected peer's credentials: SO_PEERCRED's uid and gid, and
// SO_PEERGROUPS' supplementary groups.
struct PeerCredentials {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
};

// Whether `peer` may attach to a queue whose owner runs as `owner_uid`:
// the same user, or (with `group`) a member of the group.
bool MayAttach(uid_t owner_uid, const std::optional<AttachGroup>& group,
               const PeerCredentials& peer);

class AttachServer : public ChangeSink {
 public:
  // Binds the socket in `handler`'s queue's directory (replacing a stale
  // one), mode 0600 (0660 and of `group` if one is given), and serves the
  // queue, to the owner's user and the members of `group`, until Stop().
  // Throws kStorage if the socket cannot be made, kInvalidArgument if the
  // path is too long for a socket address and /proc is missing.
  static std::unique_ptr<AttachServer> Start(std::unique_ptr<AttachHandler> handler,
                                             const std::optional<AttachGroup>& group);

  virtual ~AttachServer() = default;

  // To be called after every change of the queue (ChangeListener::SetServer):
  // wakes the parked calls. Cheap when called often.
  void NoteChange() override = 0;

  // Stops accepting, lets the request being served finish, closes every
  // connection without answering the calls still waiting (their processes
  // send them again to the owner that takes over) and unlinks the socket.
  // The queue must stay open until this returns. A second call does nothing.
  virtual void Stop() = 0;
};

// Starts serving with `handler`, to the members of `attach_group` too (the
// option: ResolveAttachGroup), and has `change_listener` wake the server:
// what a queue opened with attach does in its Open().
std::unique_ptr<AttachServer> StartServing(std::unique_ptr<AttachHandler> handler,
                                           ChangeListener* change_listener,
                                           const std::string& attach_group);

}  // namespace rocksq

#endif  // ROCKSQ_SRC_ATTACH_SERVER_H_
