// The attached side's transport (docs/design/many-processes.md, sections 1
// and 4): the connections of one attached queue to the process that owns
// the queue, over the queue's Unix socket (attach_wire.h), whatever its
// kind. The attached queues (attached_*_queue.h) are thin over it.

#ifndef ROCKSQ_SRC_ATTACH_CLIENT_H_
#define ROCKSQ_SRC_ATTACH_CLIENT_H_

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "attach_lane.h"
#include "attach_wire.h"
#include "rocksq/popped_items.h"
#include "storage.h"
#include "waiting.h"

namespace rocksq {

// Connects to the owner's socket; -1 if nobody listens there (ENOENT: not
// bound yet or never; ECONNREFUSED: stale), or if the process listening
// does not hold the queue's LOCK (a socket that is not the owner's: the
// owner binds its name again). Other failures throw.
int ConnectToOwner(const std::string& path);

// Why no owner answers on the socket of the queue at `path`, whose LOCK
// another process holds: what is at the socket's name, for the message of
// an attaching open that gave up.
std::string WhyNoOwnerAnswers(const std::string& path);

// Whether another process holds the LOCK of the queue at `path`, which this
// process's user may not write: why this process's open failed, if it did.
bool HeldByAnotherProcessAndUnwritable(const std::string& path);

// Sends this process's Hello as `kind` (AttachKind, or kInspectorHelloKind)
// for the lane `lane` of the attached queue `client_id` (0, 0 for an
// inspector) on `fd`, and reads the answer into `welcome_body`. With
// `shared_lane`, asks for a shared-memory lane and maps it there (null if
// the owner passed none). False if the owner closed the connection (it was
// closing); throws its refusal, or kStorage if no answer came within
// kGreetingTimeout.
bool Handshake(int fd, const std::string& path, uint32_t kind, uint64_t client_id, uint32_t lane,
               std::string* welcome_body, std::unique_ptr<SharedLane>* shared_lane = nullptr);

// Who an attached queue is, whatever process owns the queue (CallId): its
// id, and the numbers of its next lane and request, never reused by it.
struct AttachIdentity {
  AttachIdentity();  // A random id.
  const uint64_t client_id;
  std::atomic<uint32_t> next_lane{1};
  std::atomic<uint64_t> next_seq{1};
};

// The owner went away (closed the queue, or died) before it answered the
// call `call`: it is retried by the attached queues that hand over, and is
// the kClosed of those that do not.
class OwnerGone : public Error {
 public:
  OwnerGone(const std::string& path, const std::string& detail, const CallId& call)
      : Error(ErrorKind::kClosed, path, detail), call_(call) {}
  const CallId& call() const { return call_; }

 private:
  CallId call_;
};

class AttachClient {
 public:
  // Connects to the owner of the queue at `path`, says Hello as a queue of
  // `kind` and reads the Welcome. Returns null if no process listens on the
  // queue's socket (none is there, or it is stale: the caller tries to open
  // the queue again). Throws the owner's refusal (another user:
  // kAlreadyOpen; another protocol: kUnsupportedFormat; another kind:
  // kNotAQueue) or kStorage. `identity` (null: a new one) names the calls.
  // Unless `claim` is false (a process that took over, connecting to its
  // own socket to retry the calls it had under way), it claims the path as
  // an open does (OpenPathClaim), until Close() or ReleaseClaim().
  static std::unique_ptr<AttachClient> Connect(const std::string& path, AttachKind kind,
                                               std::shared_ptr<AttachIdentity> identity = nullptr,
                                               bool claim = true);

  AttachClient(const std::string& path, AttachKind kind, int first_fd, uint32_t first_lane,
               std::unique_ptr<SharedLane> first_shared_lane, const Welcome& welcome,
               std::shared_ptr<AttachIdentity> identity, bool claim);

  // Lets this process open the queue itself, to take over from an owner
  // that went away; the calls under way still throw OwnerGone.
  void ReleaseClaim();
  ~AttachClient() { Close(); }

  const std::string& path() const { return path_; }
  const Welcome& welcome() const { return welcome_; }
  const std::shared_ptr<AttachIdentity>& identity() const { return identity_; }

  // One request on a connection no other thread uses meanwhile (so that a
  // waiting call in one thread never holds up another's): an idle one, or
  // a new one. Returns the reply's body; rethrows the owner's error, throws
  // OwnerGone if the owner went away before it answered, and kClosed if
  // Close() was called.
  std::string Call(AttachOp op, const BodyWriter& body) const;
  // Sends `call`, which an owner that went away did not answer, again to
  // this one, as a retry on a new connection of its lane. Throws as Call.
  std::string CallAgain(AttachOp op, const BodyWriter& body, const CallId& call) const;
  // A call whose reply is a u64 (the counts).
  uint64_t CallForCount(AttachOp op) const;

  // Throws kInvalidArgument if this open's value of an option that shapes
  // the queue, `mine`, is not the owner's, naming both.
  void CheckOptionAgrees(const char* name, const std::string& mine,
                         const std::string& owners) const;

  // A new connection to the owner, welcomed, for an event lane (ChangeFd):
  // the caller owns it (CloseTrackedDescriptor). Throws OwnerGone if the
  // owner went away, or its refusal.
  int ConnectEventLane() const;

  // Throws kInvalidArgument for a change listener: it would need a thread
  // of this process reading the owner's reports; an attached queue reports
  // changes through WatchChanges() only.
  void RefuseChangeListener() const;

  // Wakes the calls under way (they throw kClosed), waits for them, and
  // closes every connection; the owner forgets their parked calls. This
  // process may then open the queue again. A second call does nothing.
  void Close();

 private:
  struct Connection {
    int fd;
    uint32_t lane;
    // Its shared-memory lane, if the owner gave one: the frames that fit
    // go through it, the others on the socket.
    std::shared_ptr<SharedLane> shared_lane;
  };
  // An idle connection, or a new one (of lane `lane`, if not 0, else of a
  // new lane).
  Connection TakeConnection(uint32_t lane = 0) const;
  // A new connection, welcomed (of lane `lane`, if not 0, else of a new
  // lane), that Close() does not know of; with a shared-memory lane if
  // `shared_lane` and the owner gives one.
  Connection Connect(uint32_t lane, bool shared_lane = true) const;
  std::string Send(Connection connection, AttachOp op, const BodyWriter& body, uint64_t seq,
                   uint16_t flags) const;
  // Sends `request` through the connection's lane and waits for the reply
  // there, or on the socket: asleep on it, the owner's doorbell or the
  // reply itself wakes it. False if the owner went away first.
  bool CallThroughLane(const Connection& connection, const FrameHeader& request,
                       const BodyWriter& body, FrameHeader* reply, std::string* reply_body) const;
  void ForgetConnection(int fd) const;
  [[noreturn]] void ThrowOwnerGone(const CallId& call) const;

  const std::string path_;
  const AttachKind kind_;
  const Welcome welcome_;
  std::unique_ptr<OpenPathClaim> claim_;
  std::atomic<bool> closed_{false};
  // Calls hold it shared; Close() exclusively, before closing the sockets.
  mutable std::shared_mutex lifetime_mutex_;
  mutable std::mutex connections_mutex_;
  mutable std::vector<Connection> idle_;
  mutable std::set<int> all_;
  const std::shared_ptr<AttachIdentity> identity_;
  // How long a call polls for its reply before it sleeps (AdaptivePoll):
  // the owner answers most calls within tens of microseconds, and a call
  // on a synced queue once its fsync returns, 100-400 us on the test
  // machines. A caller asleep costs a wake-up, and the owner a doorbell
  // rung on its serving thread, one reply after another: 8 synced
  // processes (bench/processes.py, processes-sync) made 8.1-8.4 k items/s
  // polling 100 us and 12 k polling 500 us, on 2 cores. A wait that
  // outlasts its polling (a slower disk, a parked call) makes the next
  // waits sleep at once, as AdaptivePoll says.
  static constexpr std::chrono::microseconds kReplyPoll{100};
  static constexpr std::chrono::microseconds kSyncedReplyPoll{500};
  mutable AdaptivePoll reply_poll_{welcome_.sync ? kSyncedReplyPoll : kReplyPoll};
};

// Items of a reply (BodyWriter::Items) read by `body` from `*reply`, which
// they take (moved from): not copied.
PoppedItems ReadPoppedItems(std::string* reply, BodyReader* body);

// An option's value in CheckOptionAgrees' messages, as Python spells it.
inline std::string FlagText(bool value) { return value ? "True" : "False"; }
// A duration in milliseconds, as the Python faces take it: "1.5" (seconds).
std::string SecondsText(int64_t milliseconds);

// What Open() does for every kind: opens the queue with `open_owned`; if
// another process holds it and `attach` is set, attaches with
// `attach_to_owner` (null: nobody answered yet) instead, retrying both
// until one works or the patience runs out.
template <typename Queue, typename OpenOwned, typename AttachToOwner>
std::unique_ptr<Queue> OpenOwnedOrAttached(const std::string& path, bool attach,
                                           OpenOwned open_owned, AttachToOwner attach_to_owner) {
  // Between another process taking the queue's lock and binding its socket
  // (or after it died, leaving a stale one), nobody answers: open again,
  // backing off, for at most this long.
  constexpr auto kAttachPatience = std::chrono::seconds(10);
  const Clock::time_point give_up = Clock::now() + kAttachPatience;
  auto backoff = std::chrono::microseconds(100);
  for (;;) {
    std::string held_by;  // Why this process cannot own the queue now.
    try {
      return open_owned();
    } catch (const LockedByAnotherProcess& locked) {
      if (!attach) throw;
      held_by = locked.detail();
    } catch (const Error& failed) {
      // A member of the owner's attach_group may not write the queue's
      // files, which owning needs: it attaches all the same.
      if (!attach || !HeldByAnotherProcessAndUnwritable(path)) throw;
      held_by = "held by another process; this user may not open it itself (" +
                failed.detail() + ")";
    }
    if (std::unique_ptr<Queue> attached = attach_to_owner()) return attached;
    if (Clock::now() >= give_up) {
      throw Error(ErrorKind::kAlreadyOpen, path,
                  held_by + ", which answers no attached process: " + WhyNoOwnerAnswers(path));
    }
    std::this_thread::sleep_for(backoff);
    backoff = std::min<std::chrono::microseconds>(backoff * 2, std::chrono::milliseconds(50));
  }
}

}  // namespace rocksq

#endif  // ROCKSQ_SRC_ATTACH_CLIENT_H_
