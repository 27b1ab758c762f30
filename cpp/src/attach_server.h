// The owner's side of attaching (docs/design/many-processes.md, section 2):
// serves a queue this process owns to the processes that attach to it, over
// the Unix socket `rocksq.sock` in the queue's directory (attach_wire.h).
//
// One epoll thread per served queue accepts connections, checks each
// peer's user, and runs each request inline, in order, through the queue's
// own methods, so an attached call has the in-process call's semantics.
// Waiting calls (PopWait, PushBatchWait) run once without waiting; if they
// would wait they are parked, with no thread of their own, and retried in
// arrival order after each change of the queue (its change listener) or
// answered at their deadline (a timerfd).
//
// Only the holder of the queue's RocksDB LOCK makes one, so only it unlinks
// a stale socket or binds a new one.

#ifndef ROCKSQ_SRC_ATTACH_SERVER_H_
#define ROCKSQ_SRC_ATTACH_SERVER_H_

#include <functional>
#include <memory>
#include <string>

#include "age_marks.h"
#include "attach_wire.h"
#include "rocksq/fifo_queue.h"

namespace rocksq {

class AttachServer {
 public:
  // Binds `path`'s socket (replacing a stale one), mode 0600, and serves
  // `queue` until Stop(). `welcome` holds what every attached process is
  // told (its max_elements is read from the queue at each Hello). Throws
  // kStorage if the socket cannot be made, kInvalidArgument if the path is
  // too long for a socket address and /proc is missing.
  // `oldest_item_age` answers for the queue in kStats (age_marks.h).
  static std::unique_ptr<AttachServer> Start(FifoQueue* queue, const Welcome& welcome,
                                             std::function<ItemAge()> oldest_item_age);

  virtual ~AttachServer() = default;

  // To be called after every change of the queue (ChangeListener::SetServer):
  // wakes the parked calls. Cheap when called often.
  virtual void NoteChange() = 0;

  // Stops accepting, answers parked calls with kClosed, lets the request
  // being served finish, closes every connection and unlinks the socket.
  // The queue must stay open until this returns. A second call does nothing.
  virtual void Stop() = 0;
};

}  // namespace rocksq

#endif  // ROCKSQ_SRC_ATTACH_SERVER_H_
