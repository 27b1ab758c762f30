#include "attached_fifo_queue.h"

#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "attach_client.h"
#include "storage.h"
#include "waiting.h"

namespace rocksq {
namespace {

// The process that serves an attached queue's calls now: another one, over
// its socket; or, once this one took the queue over, this one (`owned`),
// whose own socket then answers the retries of the calls that were under
// way (the call ledger is kept by the server's handler).
struct Owner {
  std::shared_ptr<AttachClient> client;
  std::shared_ptr<FifoQueue> owned;
};

// Connects to the owner and checks that `options` agree with its own: the
// options that shape what every process of the queue sees.
std::unique_ptr<AttachClient> ConnectToFifoOwner(const std::string& path,
                                                 const FifoOptions& options,
                                                 std::shared_ptr<AttachIdentity> identity,
                                                 bool claim) {
  std::unique_ptr<AttachClient> client =
      AttachClient::Connect(path, AttachKind::kFifo, std::move(identity), claim);
  if (!client) return nullptr;
  const Welcome& owners = client->welcome();
  client->CheckOptionAgrees("max_elements", std::to_string(options.max_elements),
                            std::to_string(owners.max_elements));
  client->CheckOptionAgrees("sync", FlagText(options.sync), FlagText(owners.sync));
  return client;
}

// A request's body, made again for each attempt (a waiting call's timeout
// shrinks by the time a hand-over took).
using BodyOf = std::function<std::string()>;

class AttachedFifoQueue final : public FifoQueue {
 public:
  AttachedFifoQueue(std::unique_ptr<AttachClient> client, const FifoOptions& options,
                    OpenOwnedFifoQueue open_owned)
      : path_(client->path()),
        queue_id_(client->welcome().queue_id),
        recovery_warning_(client->welcome().recovery_warning),
        options_(options),
        identity_(client->identity()),
        open_owned_(std::move(open_owned)),
        owner_(std::make_shared<Owner>(Owner{std::move(client), nullptr})) {}
  ~AttachedFifoQueue() override { Close(); }

  void Push(std::string_view item) override { PushBatch({item}); }
  void PushBatch(const std::vector<std::string_view>& items) override {
    std::shared_ptr<FifoQueue> owned;
    if (!CallOwner(AttachOp::kPushBatch, [&] { return ItemsBody(items); }, &owned)) {
      owned->PushBatch(items);
    }
  }
  PoppedItems Pop(size_t max_items) override {
    std::shared_ptr<FifoQueue> owned;
    const std::optional<std::string> reply = CallOwner(
        AttachOp::kPop,
        [&] {
          BodyWriter body;
          body.U64(max_items);
          return std::move(body.bytes());
        },
        &owned);
    return reply ? ToPoppedItems(*reply) : owned->Pop(max_items);
  }
  PoppedItems PopWait(size_t max_items, std::chrono::nanoseconds timeout) override {
    const Clock::time_point deadline = DeadlineAfter(timeout);
    std::shared_ptr<FifoQueue> owned;
    const std::optional<std::string> reply = CallOwner(
        AttachOp::kPopWait,
        [&] {
          BodyWriter body;
          body.U64(max_items);
          body.I64(Remaining(timeout, deadline).count());
          return std::move(body.bytes());
        },
        &owned);
    return reply ? ToPoppedItems(*reply) : owned->PopWait(max_items, Remaining(timeout, deadline));
  }
  void PushWait(std::string_view item, std::chrono::nanoseconds timeout) override {
    PushBatchWait({item}, timeout);
  }
  void PushBatchWait(const std::vector<std::string_view>& items,
                     std::chrono::nanoseconds timeout) override {
    const Clock::time_point deadline = DeadlineAfter(timeout);
    std::shared_ptr<FifoQueue> owned;
    const bool sent = CallOwner(
        AttachOp::kPushBatchWait,
        [&] {
          BodyWriter body;
          body.I64(Remaining(timeout, deadline).count());
          body.Items(items.data(), items.size());
          return std::move(body.bytes());
        },
        &owned).has_value();
    if (!sent) owned->PushBatchWait(items, Remaining(timeout, deadline));
  }
  void SetChangeListener(std::function<void()> listener) override {
    if (listener) Current()->client->RefuseChangeListener();
  }

  uint64_t Len() const override { return Count(AttachOp::kLen, &FifoQueue::Len); }
  uint64_t PayloadBytes() const override {
    return Count(AttachOp::kPayloadBytes, &FifoQueue::PayloadBytes);
  }
  uint64_t DiskBytes() const override { return Count(AttachOp::kDiskBytes, &FifoQueue::DiskBytes); }
  uint64_t MaxElements() const override {
    return Count(AttachOp::kMaxElements, &FifoQueue::MaxElements);
  }
  const std::string& Path() const override { return path_; }
  const std::string& QueueId() const override { return queue_id_; }
  const std::string& RecoveryWarning() const override { return recovery_warning_; }
  std::string LastBackgroundError() const override {
    std::shared_ptr<FifoQueue> owned;
    const std::optional<std::string> reply =
        CallOwner(AttachOp::kLastBackgroundError, [] { return std::string(); }, &owned);
    return reply ? *reply : owned->LastBackgroundError();
  }
  void SetMaxElements(uint64_t max_elements) override {
    std::shared_ptr<FifoQueue> owned;
    const auto body = [&] {
      BodyWriter writer;
      writer.U64(max_elements);
      return std::move(writer.bytes());
    };
    if (!CallOwner(AttachOp::kSetMaxElements, body, &owned)) owned->SetMaxElements(max_elements);
    std::lock_guard<std::mutex> lock(owner_mutex_);
    options_.max_elements = max_elements;  // What a take-over opens with.
  }
  void Shutdown(bool immediate) override {
    std::shared_ptr<FifoQueue> owned;
    const auto body = [&] {
      BodyWriter writer;
      writer.U8(immediate ? 1 : 0);
      return std::move(writer.bytes());
    };
    if (!CallOwner(AttachOp::kShutdown, body, &owned)) owned->Shutdown(immediate);
  }
  void Close() override {
    std::vector<std::shared_ptr<Owner>> owners;
    {
      std::lock_guard<std::mutex> lock(owner_mutex_);
      if (closed_) return;
      closed_ = true;
      owners = retired_;
      owners.push_back(owner_);
    }
    for (const std::shared_ptr<Owner>& owner : owners) {
      owner->client->Close();
      if (owner->owned) owner->owned->Close();
    }
  }

 private:
  static std::string ItemsBody(const std::vector<std::string_view>& items) {
    BodyWriter body;
    body.Items(items.data(), items.size());
    return std::move(body.bytes());
  }
  // What is left of `timeout`, which ends at `deadline`.
  static std::chrono::nanoseconds Remaining(std::chrono::nanoseconds timeout,
                                            Clock::time_point deadline) {
    if (deadline == Clock::time_point::max()) return timeout;
    return std::max(std::chrono::nanoseconds::zero(),
                    std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - Clock::now()));
  }
  PoppedItems ToPoppedItems(const std::string& reply) const {
    BodyReader reader(reply, Path());
    return ReadPoppedItems(&reader);
  }
  uint64_t Count(AttachOp op, uint64_t (FifoQueue::*own_count)() const) const {
    std::shared_ptr<FifoQueue> owned;
    const std::optional<std::string> reply = CallOwner(op, [] { return std::string(); }, &owned);
    return reply ? BodyReader(*reply, Path()).U64() : (owned.get()->*own_count)();
  }

  std::shared_ptr<Owner> Current() const {
    std::lock_guard<std::mutex> lock(owner_mutex_);
    return owner_;
  }

  // Sends the call to the owner and returns its reply; if the owner went
  // away first, hands over and sends it again as a retry (of the same
  // lane and number), for as long as owners go away. Returns nothing, with
  // `*owned` set, if this process owns the queue: the caller runs the call
  // on it.
  std::optional<std::string> CallOwner(AttachOp op, const BodyOf& body,
                                       std::shared_ptr<FifoQueue>* owned) const {
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

  // The owner after `gone`, which went away: the one another thread of
  // this process already found, or the process that took the queue over
  // (this one, if it could). Throws if the handle was closed, or what an
  // open throws.
  std::shared_ptr<Owner> TakeOver(const std::shared_ptr<Owner>& gone) const {
    std::lock_guard<std::mutex> takeover(takeover_mutex_);
    {
      std::lock_guard<std::mutex> lock(owner_mutex_);
      if (closed_) throw Error(ErrorKind::kClosed, path_, "the queue was closed");
      if (owner_ != gone) return owner_;
    }
    // This process's claim on the path goes with the owner it served, so
    // that it may open the queue itself.
    gone->client->ReleaseClaim();
    const FifoOptions options = [&] {
      std::lock_guard<std::mutex> lock(owner_mutex_);
      return options_;
    }();
    std::unique_ptr<Owner> next = OpenOwnedOrAttached<Owner>(
        path_, /*attach=*/true,
        [&] {
          std::shared_ptr<FifoQueue> owned = open_owned_();
          // The retries go through the handler, like another process's.
          std::unique_ptr<AttachClient> own_socket =
              ConnectToFifoOwner(path_, options, identity_, /*claim=*/false);
          if (!own_socket) {
            throw Error(ErrorKind::kStorage, path_, "this process's own attach socket is gone");
          }
          return std::make_unique<Owner>(Owner{std::move(own_socket), std::move(owned)});
        },
        [&]() -> std::unique_ptr<Owner> {
          std::unique_ptr<AttachClient> client =
              ConnectToFifoOwner(path_, options, identity_, /*claim=*/true);
          if (!client) return nullptr;
          return std::make_unique<Owner>(Owner{std::move(client), nullptr});
        });
    std::lock_guard<std::mutex> lock(owner_mutex_);
    retired_.push_back(owner_);
    owner_ = std::move(next);
    if (closed_) {  // Close() ran meanwhile: it did not see this owner.
      owner_->client->Close();
      if (owner_->owned) owner_->owned->Close();
      throw Error(ErrorKind::kClosed, path_, "the queue was closed");
    }
    return owner_;
  }

  const std::string path_;
  const std::string queue_id_;
  const std::string recovery_warning_;
  mutable std::mutex owner_mutex_;  // Guards the members below.
  FifoOptions options_;
  const std::shared_ptr<AttachIdentity> identity_;
  const OpenOwnedFifoQueue open_owned_;
  // One thread of the process hands over; the others wait for its result.
  mutable std::mutex takeover_mutex_;
  mutable std::shared_ptr<Owner> owner_;
  // Owners that went away: their clients may still have calls returning,
  // and are closed with the queue.
  mutable std::vector<std::shared_ptr<Owner>> retired_;
  mutable bool closed_ = false;
};

}  // namespace

std::unique_ptr<FifoQueue> AttachFifoQueue(const std::string& path, const FifoOptions& options,
                                           OpenOwnedFifoQueue open_owned) {
  std::unique_ptr<AttachClient> client =
      ConnectToFifoOwner(path, options, /*identity=*/nullptr, /*claim=*/true);
  if (!client) return nullptr;
  return std::make_unique<AttachedFifoQueue>(std::move(client), options, std::move(open_owned));
}

}  // namespace rocksq
