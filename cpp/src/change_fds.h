// The two kinds of ChangeFd (rocksq/change_fd.h): the owner's pipe, and an
// attached queue's watch of whichever process owns its queue.

#ifndef ROCKSQ_SRC_CHANGE_FDS_H_
#define ROCKSQ_SRC_CHANGE_FDS_H_

#include <functional>
#include <memory>

#include "rocksq/change_fd.h"

namespace rocksq {

class AttachClient;

// In the process that owns the queue: a non-blocking pipe written, once
// armed, by the change listener it installs through `set_listener` (the
// queue's SetChangeListener). Destroying it removes the listener; a
// listener call already under way then writes nothing.
using SetListener = std::function<void(std::function<void()>)>;
std::unique_ptr<ChangeFd> WatchThroughListener(SetListener set_listener);

// Whom an attached queue's changes come from now: another process, through
// `client`, or this process, which took the queue over, through
// `watch_owned` (the owned queue's WatchChanges). `identity` differs
// whenever the owner does (OwnerLink keeps the clients of earlier owners
// alive, so it is never reused).
struct WatchedOwner {
  const AttachClient* client = nullptr;
  std::function<std::unique_ptr<ChangeFd>()> watch_owned;
  const void* identity = nullptr;
};

// In an attached process: an epoll descriptor (so Fd() never changes)
// over the event lane to the owner that `current_owner` names at each
// Arm(). The lane ending (the owner closed or died) makes Fd() readable;
// the next Arm() connects to the owner then, or watches the owned queue.
// If nobody answers then, Fd() is made readable at once, so that the
// waiters retry: their calls hand over, or raise kClosed.
std::unique_ptr<ChangeFd> WatchOwner(std::function<WatchedOwner()> current_owner);
// WatchOwner for an attached queue that does not hand over: always the
// owner `client` attached to, which must outlive the ChangeFd.
std::unique_ptr<ChangeFd> WatchOwnerOf(const AttachClient& client);

}  // namespace rocksq

#endif  // ROCKSQ_SRC_CHANGE_FDS_H_
