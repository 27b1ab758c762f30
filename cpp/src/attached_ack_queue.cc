#include "attached_ack_queue.h"

#include <optional>
#include <utility>
#include <vector>

#include "ack_attach_handler.h"
#include "attach_client.h"
#include "owner_link.h"
#include "waiting.h"

namespace rocksq {
namespace {

using AckOwnerLink = OwnerLink<AckQueue, AckOptions>;

// Connects to the owner and checks that `options` agree with its own: the
// options that shape what every process of the queue sees.
std::unique_ptr<AttachClient> ConnectToAckOwner(const std::string& path, const AckOptions& options,
                                                std::shared_ptr<AttachIdentity> identity,
                                                bool claim) {
  std::unique_ptr<AttachClient> client =
      AttachClient::Connect(path, AttachKind::kAck, std::move(identity), claim);
  if (!client) return nullptr;
  const Welcome& owners = client->welcome();
  client->CheckOptionAgrees("max_elements", std::to_string(options.max_elements),
                            std::to_string(owners.max_elements));
  client->CheckOptionAgrees("sync", FlagText(options.sync), FlagText(owners.sync));
  client->CheckOptionAgrees("visibility_timeout",
                            SecondsText(options.visibility_timeout.count()),
                            SecondsText(owners.visibility_timeout_ms));
  client->CheckOptionAgrees("dedup_window", std::to_string(options.dedup_window),
                            std::to_string(owners.dedup_window));
  return client;
}

class AttachedAckQueue final : public AckQueue {
 public:
  explicit AttachedAckQueue(std::unique_ptr<AckOwnerLink> link) : link_(std::move(link)) {}
  ~AttachedAckQueue() override { Close(); }

  void Push(std::string_view item) override { PushBatch({item}); }
  void PushBatch(const std::vector<std::string_view>& items) override {
    const auto body = [&] {
      BodyWriter writer;
      writer.ItemsInPlace(items.data(), items.size());
      return writer;
    };
    std::shared_ptr<AckQueue> owned;
    if (!link_->Call(AttachOp::kAckPushBatch, body, &owned)) owned->PushBatch(items);
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
    std::shared_ptr<AckQueue> owned;
    if (!link_->Call(AttachOp::kAckPushBatchWait, body, &owned)) {
      owned->PushBatchWait(items, Remaining(timeout, deadline));
    }
  }
  bool PushUnique(std::string_view key, std::string_view item) override {
    return PushBatchUnique({{key, item}}).front();
  }
  std::vector<bool> PushBatchUnique(const std::vector<KeyedItem>& keyed_items) override {
    const auto body = [&] {
      BodyWriter writer;
      WriteKeyedItems(keyed_items, &writer);
      return writer;
    };
    std::shared_ptr<AckQueue> owned;
    const std::optional<std::string> reply =
        link_->Call(AttachOp::kAckPushBatchUnique, body, &owned);
    return reply ? ToStoredFlags(*reply) : owned->PushBatchUnique(keyed_items);
  }
  bool PushUniqueWait(std::string_view key, std::string_view item,
                      std::chrono::nanoseconds timeout) override {
    return PushBatchUniqueWait({{key, item}}, timeout).front();
  }
  std::vector<bool> PushBatchUniqueWait(const std::vector<KeyedItem>& keyed_items,
                                        std::chrono::nanoseconds timeout) override {
    const Clock::time_point deadline = DeadlineAfter(timeout);
    const auto body = [&] {
      BodyWriter writer;
      writer.I64(Remaining(timeout, deadline).count());
      WriteKeyedItems(keyed_items, &writer);
      return writer;
    };
    std::shared_ptr<AckQueue> owned;
    const std::optional<std::string> reply =
        link_->Call(AttachOp::kAckPushBatchUniqueWait, body, &owned);
    return reply ? ToStoredFlags(*reply)
                 : owned->PushBatchUniqueWait(keyed_items, Remaining(timeout, deadline));
  }
  uint64_t DedupWindow() const override { return link_->welcome().dedup_window; }

  Deliveries Get(size_t max_items) override {
    const auto body = [&] {
      BodyWriter writer;
      writer.U64(max_items);
      return writer;
    };
    std::shared_ptr<AckQueue> owned;
    const std::optional<std::string> reply = link_->Call(AttachOp::kAckGet, body, &owned);
    return reply ? ToDeliveries(*reply) : owned->Get(max_items);
  }
  Deliveries GetWait(size_t max_items, std::chrono::nanoseconds timeout) override {
    const Clock::time_point deadline = DeadlineAfter(timeout);
    const auto body = [&] {
      BodyWriter writer;
      writer.U64(max_items);
      writer.I64(Remaining(timeout, deadline).count());
      return writer;
    };
    std::shared_ptr<AckQueue> owned;
    const std::optional<std::string> reply = link_->Call(AttachOp::kAckGetWait, body, &owned);
    return reply ? ToDeliveries(*reply) : owned->GetWait(max_items, Remaining(timeout, deadline));
  }

  void Ack(const Delivery& delivery) override { AckBatch({delivery}); }
  void AckBatch(const std::vector<Delivery>& deliveries) override {
    Settle(AttachOp::kAckAckBatch, deliveries, &AckQueue::AckBatch);
  }
  void Nack(const Delivery& delivery) override { NackBatch({delivery}); }
  void NackBatch(const std::vector<Delivery>& deliveries) override {
    Settle(AttachOp::kAckNackBatch, deliveries, &AckQueue::NackBatch);
  }
  void Extend(const Delivery& delivery, std::chrono::milliseconds visibility_timeout) override {
    ExtendBatch({delivery}, visibility_timeout);
  }
  void ExtendBatch(const std::vector<Delivery>& deliveries,
                   std::chrono::milliseconds visibility_timeout) override {
    const auto body = [&] {
      BodyWriter writer;
      writer.I64(visibility_timeout.count());
      WriteSettled(deliveries, &writer);
      return writer;
    };
    std::shared_ptr<AckQueue> owned;
    if (!link_->Call(AttachOp::kAckExtendBatch, body, &owned)) {
      owned->ExtendBatch(deliveries, visibility_timeout);
    }
  }
  void AckFailed(const Delivery& delivery) override { AckFailedBatch({delivery}); }
  void AckFailedBatch(const std::vector<Delivery>& deliveries) override {
    Settle(AttachOp::kAckFailBatch, deliveries, &AckQueue::AckFailedBatch);
  }
  std::vector<FailedItem> Failed(size_t max_items) const override {
    const auto body = [&] {
      BodyWriter writer;
      writer.U64(max_items);
      return writer;
    };
    std::shared_ptr<AckQueue> owned;
    const std::optional<std::string> reply = link_->Call(AttachOp::kAckFailed, body, &owned);
    if (!reply) return owned->Failed(max_items);
    BodyReader reader(*reply, Path());
    return ReadFailedItems(&reader);
  }
  uint64_t RequeueFailed(const std::vector<uint64_t>& ids) override {
    const auto body = [&] {
      BodyWriter writer;
      WriteIds(ids, &writer);
      return writer;
    };
    std::shared_ptr<AckQueue> owned;
    const std::optional<std::string> reply =
        link_->Call(AttachOp::kAckRequeueFailed, body, &owned);
    return reply ? BodyReader(*reply, Path()).U64() : owned->RequeueFailed(ids);
  }
  uint64_t RequeueAllFailed() override {
    return Count(AttachOp::kAckRequeueAllFailed, [](AckQueue* owned) {
      return owned->RequeueAllFailed();
    });
  }

  void SetChangeListener(std::function<void()> listener) override {
    if (listener) link_->RefuseChangeListener();
  }
  std::unique_ptr<ChangeFd> WatchChanges() override { return link_->WatchChanges(); }
  std::chrono::nanoseconds TimeToNextExpiry() const override {
    std::shared_ptr<AckQueue> owned;
    const std::optional<std::string> reply =
        link_->Call(AttachOp::kAckTimeToNextExpiry, [] { return BodyWriter(); }, &owned);
    return reply ? std::chrono::nanoseconds(BodyReader(*reply, Path()).I64())
                 : owned->TimeToNextExpiry();
  }

  uint64_t ReadyLen() const override {
    return Count(AttachOp::kAckReadyLen, [](AckQueue* owned) { return owned->ReadyLen(); });
  }
  uint64_t UnackedLen() const override {
    return Count(AttachOp::kAckUnackedLen, [](AckQueue* owned) { return owned->UnackedLen(); });
  }
  uint64_t FailedLen() const override {
    return Count(AttachOp::kAckFailedLen, [](AckQueue* owned) { return owned->FailedLen(); });
  }
  uint64_t Len() const override {
    return Count(AttachOp::kAckLen, [](AckQueue* owned) { return owned->Len(); });
  }
  uint64_t PayloadBytes() const override {
    return Count(AttachOp::kAckPayloadBytes,
                 [](AckQueue* owned) { return owned->PayloadBytes(); });
  }
  uint64_t DiskBytes() const override {
    return Count(AttachOp::kAckDiskBytes, [](AckQueue* owned) { return owned->DiskBytes(); });
  }
  uint64_t MaxElements() const override {
    return Count(AttachOp::kAckMaxElements, [](AckQueue* owned) { return owned->MaxElements(); });
  }
  std::chrono::milliseconds VisibilityTimeout() const override {
    return std::chrono::milliseconds(link_->welcome().visibility_timeout_ms);
  }
  const std::string& Path() const override { return link_->path(); }
  const std::string& QueueId() const override { return link_->welcome().queue_id; }
  const std::string& RecoveryWarning() const override {
    return link_->welcome().recovery_warning;
  }
  std::string LastBackgroundError() const override {
    std::shared_ptr<AckQueue> owned;
    const std::optional<std::string> reply = link_->Call(
        AttachOp::kAckLastBackgroundError, [] { return BodyWriter(); }, &owned);
    return reply ? *reply : owned->LastBackgroundError();
  }
  bool MayCallAnotherProcess() const override { return true; }
  void Close() override { link_->Close(); }

 private:
  void Settle(AttachOp op, const std::vector<Delivery>& deliveries,
              void (AckQueue::*own_settle)(const std::vector<Delivery>&)) {
    const auto body = [&] {
      BodyWriter writer;
      WriteSettled(deliveries, &writer);
      return writer;
    };
    std::shared_ptr<AckQueue> owned;
    if (!link_->Call(op, body, &owned)) (owned.get()->*own_settle)(deliveries);
  }
  // A call with an empty body whose reply is a count.
  template <typename OwnCount>
  uint64_t Count(AttachOp op, OwnCount own_count) const {
    std::shared_ptr<AckQueue> owned;
    const std::optional<std::string> reply = link_->Call(op, [] { return BodyWriter(); }, &owned);
    return reply ? BodyReader(*reply, Path()).U64() : own_count(owned.get());
  }
  std::vector<bool> ToStoredFlags(const std::string& reply) const {
    BodyReader reader(reply, Path());
    return ReadStoredFlags(&reader);
  }
  Deliveries ToDeliveries(const std::string& reply) const {
    BodyReader reader(reply, Path());
    return ReadDeliveries(&reader);
  }

  const std::unique_ptr<AckOwnerLink> link_;
};

}  // namespace

std::unique_ptr<AckQueue> AttachAckQueue(const std::string& path, const AckOptions& options,
                                         OpenOwnedAckQueue open_owned) {
  std::unique_ptr<AttachClient> client =
      ConnectToAckOwner(path, options, /*identity=*/nullptr, /*claim=*/true);
  if (!client) return nullptr;
  return std::make_unique<AttachedAckQueue>(std::make_unique<AckOwnerLink>(
      std::move(client), options,
      [path](const AckOptions& options, std::shared_ptr<AttachIdentity> identity, bool claim) {
        return ConnectToAckOwner(path, options, std::move(identity), claim);
      },
      std::move(open_owned)));
}

}  // namespace rocksq
