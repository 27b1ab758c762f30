// An attached queue's link to the process that owns its queue, and the
// hand-over when that process goes away (docs/design/many-processes.md,
// section 5), for every kind of queue that hands over.
//
// The link keeps the current owner: another process, reached through an
// AttachClient; or, once this process took the queue over, this one (the
// queue it opened, served to the others). A call the owner did not answer
// (OwnerGone) makes the first thread that sees it take over: open the queue
// in this process, or attach to the process that did first, for at most
// OpenOwnedOrAttached's patience; the process's other threads wait for its
// result. The call is then sent again, as a retry of the same lane and seq,
// which the new owner answers from its call ledger: so each call completes
// exactly once. A process that took over sends its retries through its own
// socket, so that they take the one path other processes' retries take.

#ifndef ROCKSQ_SRC_OWNER_LINK_H_
#define ROCKSQ_SRC_OWNER_LINK_H_

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "attach_client.h"
#include "change_fds.h"

namespace rocksq {

template <typename Queue, typename Options>
class OwnerLink {
 public:
  // Connects to the owner as `identity` (claiming the path unless `claim`
  // is false: AttachClient::Connect) and checks that `options` agree with
  // its own; null if nobody listens on the queue's socket.
  using Connect = std::function<std::unique_ptr<AttachClient>(
      const Options& options, std::shared_ptr<AttachIdentity> identity, bool claim)>;
  // Opens the queue in this process, served to attached ones, or throws
  // LockedByAnotherProcess.
  using OpenOwned = std::function<std::unique_ptr<Queue>(const Options& options)>;
  // A request's body, made again for each attempt (a waiting call's timeout
  // shrinks by the time a hand-over took).
  using BodyOf = std::function<BodyWriter()>;

  OwnerLink(std::unique_ptr<AttachClient> first, const Options& options, Connect connect,
            OpenOwned open_owned)
      : path_(first->path()),
        welcome_(first->welcome()),
        identity_(first->identity()),
        connect_(std::move(connect)),
        open_owned_(std::move(open_owned)),
        options_(options),
        owner_(std::make_shared<Owner>(Owner{std::move(first), nullptr})) {}

  const std::string& path() const { return path_; }
  // The Welcome of the owner this queue attached to first.
  const Welcome& welcome() const { return welcome_; }

  // Sends `op` to the owner and returns its reply; if the owner went away,
  // takes over and sends it again, for as long as owners go away. Returns
  // nothing, with `*owned` set, if this process owns the queue: the caller
  // runs the call on it. Throws the owner's Error, kClosed after Close(),
  // or what a take-over's open throws.
  std::optional<std::string> Call(AttachOp op, const BodyOf& body,
                                  std::shared_ptr<Queue>* owned) const {
    std::shared_ptr<Owner> owner = Current();
    if (owner->owned) {
      *owned = owner->owned;
      return std::nullopt;
    }
    std::optional<CallId> under_way;
    for (;;) {
      try {
        return under_way ? owner->client->CallAgain(op, body(), *under_way)
                         : owner->client->Call(op, body());
      } catch (const OwnerGone& gone) {
        // A call never sent (seq 0) just goes to the next owner.
        if (gone.call().seq != 0) under_way = gone.call();
      }
      owner = TakeOver(owner);
      if (owner->owned && !under_way) {
        *owned = owner->owned;
        return std::nullopt;
      }
    }
  }

  // Refuses a change listener (AttachClient::RefuseChangeListener).
  void RefuseChangeListener() const { Current()->client->RefuseChangeListener(); }

  // A ChangeFd that follows the owner: its event lane, or the queue this
  // process took over (change_fds.h). The link must outlive it.
  std::unique_ptr<ChangeFd> WatchChanges() const {
    return WatchOwner([this] {
      const std::shared_ptr<Owner> owner = Current();
      WatchedOwner watched;
      watched.identity = owner.get();
      if (owner->owned) {
        watched.watch_owned = [owned = owner->owned] { return owned->WatchChanges(); };
      } else {
        watched.client = owner->client.get();
      }
      return watched;
    });
  }

  // Changes an option a take-over opens with (a FIFO queue's max_elements).
  template <typename Change>
  void ChangeOptions(Change change) {
    std::lock_guard<std::mutex> lock(mutex_);
    change(&options_);
  }

  // Closes the queue: the owned one if this process took over, and every
  // connection. A second call does nothing.
  void Close() {
    std::vector<std::shared_ptr<Owner>> owners;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (closed_) return;
      closed_ = true;
      owners = retired_;
      owners.push_back(owner_);
    }
    for (const std::shared_ptr<Owner>& owner : owners) CloseOwner(*owner);
  }

 private:
  struct Owner {
    std::shared_ptr<AttachClient> client;
    std::shared_ptr<Queue> owned;  // Set once this process took over.
  };

  static void CloseOwner(const Owner& owner) {
    owner.client->Close();
    if (owner.owned) owner.owned->Close();
  }

  std::shared_ptr<Owner> Current() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return owner_;
  }

  // The owner after `gone`, which went away: the one another thread of
  // this process already found, or the process that took the queue over
  // (this one, if it could).
  std::shared_ptr<Owner> TakeOver(const std::shared_ptr<Owner>& gone) const {
    std::lock_guard<std::mutex> takeover(takeover_mutex_);
    Options options;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (closed_) throw Error(ErrorKind::kClosed, path_, "the queue was closed");
      if (owner_ != gone) return owner_;
      options = options_;
    }
    // This process's claim on the path goes with the owner it attached to,
    // so that it may open the queue itself.
    gone->client->ReleaseClaim();
    std::unique_ptr<Owner> next = OpenOwnedOrAttached<Owner>(
        path_, /*attach=*/true,
        [&] {
          std::shared_ptr<Queue> owned = open_owned_(options);
          std::unique_ptr<AttachClient> own_socket = connect_(options, identity_, /*claim=*/false);
          if (!own_socket) {
            owned->Close();
            throw Error(ErrorKind::kStorage, path_, "this process's own attach socket is gone");
          }
          return std::make_unique<Owner>(Owner{std::move(own_socket), std::move(owned)});
        },
        [&]() -> std::unique_ptr<Owner> {
          std::unique_ptr<AttachClient> client = connect_(options, identity_, /*claim=*/true);
          if (!client) return nullptr;
          return std::make_unique<Owner>(Owner{std::move(client), nullptr});
        });
    std::lock_guard<std::mutex> lock(mutex_);
    if (closed_) {  // Close() ran meanwhile and did not see this owner.
      CloseOwner(*next);
      throw Error(ErrorKind::kClosed, path_, "the queue was closed");
    }
    // The old owner's clients may still have calls returning: they are
    // closed with the queue.
    retired_.push_back(owner_);
    owner_ = std::move(next);
    return owner_;
  }

  const std::string path_;
  const Welcome welcome_;
  const std::shared_ptr<AttachIdentity> identity_;
  const Connect connect_;
  const OpenOwned open_owned_;
  // One thread of the process takes over; the others wait for its result.
  mutable std::mutex takeover_mutex_;
  mutable std::mutex mutex_;  // Guards the members below.
  Options options_;
  mutable std::shared_ptr<Owner> owner_;
  mutable std::vector<std::shared_ptr<Owner>> retired_;
  mutable bool closed_ = false;
};

}  // namespace rocksq

#endif  // ROCKSQ_SRC_OWNER_LINK_H_
