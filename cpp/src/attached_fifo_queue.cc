#include "attached_fifo_queue.h"

#include <optional>
#include <utility>
#include <vector>

#include "attach_client.h"
#include "owner_link.h"
#include "waiting.h"

namespace rocksq {
namespace {

using FifoOwnerLink = OwnerLink<FifoQueue, FifoOptions>;

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

class AttachedFifoQueue final : public FifoQueue {
 public:
  explicit AttachedFifoQueue(std::unique_ptr<FifoOwnerLink> link) : link_(std::move(link)) {}
  ~AttachedFifoQueue() override { Close(); }

  void Push(std::string_view item) override { PushBatch({item}); }
  void PushBatch(const std::vector<std::string_view>& items) override {
    const auto body = [&] {
      BodyWriter writer;
      writer.ItemsInPlace(items.data(), items.size());
      return writer;
    };
    std::shared_ptr<FifoQueue> owned;
    if (!link_->Call(AttachOp::kPushBatch, body, &owned)) owned->PushBatch(items);
  }
  PoppedItems Pop(size_t max_items) override {
    const auto body = [&] {
      BodyWriter writer;
      writer.U64(max_items);
      return writer;
    };
    std::shared_ptr<FifoQueue> owned;
    const std::optional<std::string> reply = link_->Call(AttachOp::kPop, body, &owned);
    return reply ? ToPoppedItems(std::move(*reply)) : owned->Pop(max_items);
  }
  PoppedItems PopWait(size_t max_items, std::chrono::nanoseconds timeout) override {
    const Clock::time_point deadline = DeadlineAfter(timeout);
    const auto body = [&] {
      BodyWriter writer;
      writer.U64(max_items);
      writer.I64(Remaining(timeout, deadline).count());
      return writer;
    };
    std::shared_ptr<FifoQueue> owned;
    const std::optional<std::string> reply = link_->Call(AttachOp::kPopWait, body, &owned);
    return reply ? ToPoppedItems(std::move(*reply))
                 : owned->PopWait(max_items, Remaining(timeout, deadline));
  }
  void PushWait(std::string_view item, std::chrono::nanoseconds timeout) override {
    PushBatchWait({item}, timeout);
  }
  void PushBatchWait(const std::vector<std::string_view>& items,
                     std::chrono::nanoseconds timeout) override {
    const Clock::time_point deadline = DeadlineAfter(timeout);
    const auto body = [&] {
      BodyWriter writer;
      writer.I64(Remaining(timeout, deadline).count());
      writer.ItemsInPlace(items.data(), items.size());
      return writer;
    };
    std::shared_ptr<FifoQueue> owned;
    if (!link_->Call(AttachOp::kPushBatchWait, body, &owned)) {
      owned->PushBatchWait(items, Remaining(timeout, deadline));
    }
  }
  void SetChangeListener(std::function<void()> listener) override {
    if (listener) link_->RefuseChangeListener();
  }
  std::unique_ptr<ChangeFd> WatchChanges() override { return link_->WatchChanges(); }

  uint64_t Len() const override { return Count(AttachOp::kLen, &FifoQueue::Len); }
  uint64_t PayloadBytes() const override {
    return Count(AttachOp::kPayloadBytes, &FifoQueue::PayloadBytes);
  }
  uint64_t DiskBytes() const override { return Count(AttachOp::kDiskBytes, &FifoQueue::DiskBytes); }
  uint64_t MaxElements() const override {
    return Count(AttachOp::kMaxElements, &FifoQueue::MaxElements);
  }
  const std::string& Path() const override { return link_->path(); }
  const std::string& QueueId() const override { return link_->welcome().queue_id; }
  const std::string& RecoveryWarning() const override {
    return link_->welcome().recovery_warning;
  }
  std::string LastBackgroundError() const override {
    std::shared_ptr<FifoQueue> owned;
    const std::optional<std::string> reply =
        link_->Call(AttachOp::kLastBackgroundError, [] { return BodyWriter(); }, &owned);
    return reply ? *reply : owned->LastBackgroundError();
  }
  void SetMaxElements(uint64_t max_elements) override {
    const auto body = [&] {
      BodyWriter writer;
      writer.U64(max_elements);
      return writer;
    };
    std::shared_ptr<FifoQueue> owned;
    if (!link_->Call(AttachOp::kSetMaxElements, body, &owned)) owned->SetMaxElements(max_elements);
    // What a take-over opens with, and checks the next owner's against.
    link_->ChangeOptions([&](FifoOptions* options) { options->max_elements = max_elements; });
  }
  void Shutdown(bool immediate) override {
    const auto body = [&] {
      BodyWriter writer;
      writer.U8(immediate ? 1 : 0);
      return writer;
    };
    std::shared_ptr<FifoQueue> owned;
    if (!link_->Call(AttachOp::kShutdown, body, &owned)) owned->Shutdown(immediate);
  }
  bool IsShutDown() const override {
    std::shared_ptr<FifoQueue> owned;
    const std::optional<std::string> reply =
        link_->Call(AttachOp::kIsShutDown, [] { return BodyWriter(); }, &owned);
    return reply ? BodyReader(*reply, Path()).U8() != 0 : owned->IsShutDown();
  }
  bool MayCallAnotherProcess() const override { return true; }
  void Close() override { link_->Close(); }

  uint64_t TaskDone() override {
    std::shared_ptr<FifoQueue> owned;
    const std::optional<std::string> reply =
        link_->Call(AttachOp::kTaskDone, [] { return BodyWriter(); }, &owned);
    return reply ? BodyReader(*reply, Path()).U64() : owned->TaskDone();
  }
  uint64_t UnfinishedTasks() const override {
    return Count(AttachOp::kUnfinishedTasks, &FifoQueue::UnfinishedTasks);
  }
  // Parked by the owner until no task is unfinished, or its timeout.
  bool JoinWait(std::chrono::nanoseconds timeout) override {
    const Clock::time_point deadline = DeadlineAfter(timeout);
    const auto body = [&] {
      BodyWriter writer;
      writer.I64(Remaining(timeout, deadline).count());
      return writer;
    };
    std::shared_ptr<FifoQueue> owned;
    const std::optional<std::string> reply = link_->Call(AttachOp::kJoinWait, body, &owned);
    return reply ? BodyReader(*reply, Path()).U8() != 0
                 : owned->JoinWait(Remaining(timeout, deadline));
  }

 private:
  PoppedItems ToPoppedItems(std::string reply) const {
    BodyReader reader(reply, Path());
    return ReadPoppedItems(&reply, &reader);
  }
  uint64_t Count(AttachOp op, uint64_t (FifoQueue::*own_count)() const) const {
    std::shared_ptr<FifoQueue> owned;
    const std::optional<std::string> reply = link_->Call(op, [] { return BodyWriter(); }, &owned);
    return reply ? BodyReader(*reply, Path()).U64() : (owned.get()->*own_count)();
  }

  const std::unique_ptr<FifoOwnerLink> link_;
};

}  // namespace

std::unique_ptr<FifoQueue> AttachFifoQueue(const std::string& path, const FifoOptions& options,
                                           OpenOwnedFifoQueue open_owned) {
  std::unique_ptr<AttachClient> client =
      ConnectToFifoOwner(path, options, /*identity=*/nullptr, /*claim=*/true);
  if (!client) return nullptr;
  return std::make_unique<AttachedFifoQueue>(std::make_unique<FifoOwnerLink>(
      std::move(client), options,
      [path](const FifoOptions& options, std::shared_ptr<AttachIdentity> identity, bool claim) {
        return ConnectToFifoOwner(path, options, std::move(identity), claim);
      },
      std::move(open_owned)));
}

}  // namespace rocksq
