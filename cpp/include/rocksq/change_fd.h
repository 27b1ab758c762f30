// A file descriptor that an event loop watches to learn when a queue
// changed, so that a coroutine waiting for an item (or for room) holds no
// thread: rocksq.aio registers Fd() with its loop, calls Arm() before it
// tries a call that may find nothing, and Consume() when Fd() turns
// readable, then tries again.
//
// In the process that owns the queue, the descriptor is a pipe that the
// queue's change listener writes to. In an attached process it is a
// connection to the owner (the attach protocol's Watch operation,
// docs/format.rst), which the owner answers after its queue's next change:
// no thread of the attached process waits. When that owner closes the queue
// or dies, the descriptor turns readable too, so that the waiters retry (a
// FIFO queue's retry hands over); the next Arm() then watches whichever
// process owns the queue by then. Fd() keeps its number for the object's
// life either way.
//
// Thread safety: one thread (the event loop's) uses the object; the queue's
// own threads may change the queue meanwhile.

#ifndef ROCKSQ_CHANGE_FD_H_
#define ROCKSQ_CHANGE_FD_H_

namespace rocksq {

class ChangeFd {
 public:
  virtual ~ChangeFd() = default;

  // The descriptor to watch for reading; the same for the object's life.
  virtual int Fd() const = 0;
  // Makes Fd() readable after the queue's next change, or at once if it
  // changed since the last Consume() (for an attached queue: since the last
  // change the owner reported); a second call before Consume() does
  // nothing more. Throws rocksq::Error if the queue cannot be reached (an
  // attached ack or MPMC queue whose owner went away: kClosed).
  virtual void Arm() = 0;
  // Reads what made Fd() readable, so that it stops being readable until a
  // change after the next Arm(). Never waits.
  virtual void Consume() = 0;
};

}  // namespace rocksq

#endif  // ROCKSQ_CHANGE_FD_H_
