#include "attached_ack_queue.h"

#include <utility>
#include <vector>

#include "ack_attach_handler.h"
#include "attach_client.h"
#include "change_fds.h"

namespace rocksq {
namespace {

class AttachedAckQueue final : public AckQueue {
 public:
  explicit AttachedAckQueue(std::unique_ptr<AttachClient> client) : client_(std::move(client)) {}
  ~AttachedAckQueue() override { Close(); }

  void Push(std::string_view item) override { PushBatch({item}); }
  void PushBatch(const std::vector<std::string_view>& items) override {
    BodyWriter body;
    body.Items(items.data(), items.size());
    client_->Call(AttachOp::kAckPushBatch, body.bytes());
  }
  void PushWait(std::string_view item, std::chrono::nanoseconds timeout) override {
    PushBatchWait({item}, timeout);
  }
  void PushBatchWait(const std::vector<std::string_view>& items,
                     std::chrono::nanoseconds timeout) override {
    BodyWriter body;
    body.I64(timeout.count());
    body.Items(items.data(), items.size());
    client_->Call(AttachOp::kAckPushBatchWait, body.bytes());
  }
  bool PushUnique(std::string_view key, std::string_view item) override {
    return PushBatchUnique({{key, item}}).front();
  }
  std::vector<bool> PushBatchUnique(const std::vector<KeyedItem>& keyed_items) override {
    BodyWriter body;
    WriteKeyedItems(keyed_items, &body);
    return ToStoredFlags(client_->Call(AttachOp::kAckPushBatchUnique, body.bytes()));
  }
  bool PushUniqueWait(std::string_view key, std::string_view item,
                      std::chrono::nanoseconds timeout) override {
    return PushBatchUniqueWait({{key, item}}, timeout).front();
  }
  std::vector<bool> PushBatchUniqueWait(const std::vector<KeyedItem>& keyed_items,
                                        std::chrono::nanoseconds timeout) override {
    BodyWriter body;
    body.I64(timeout.count());
    WriteKeyedItems(keyed_items, &body);
    return ToStoredFlags(client_->Call(AttachOp::kAckPushBatchUniqueWait, body.bytes()));
  }
  uint64_t DedupWindow() const override { return client_->welcome().dedup_window; }

  Deliveries Get(size_t max_items) override {
    BodyWriter body;
    body.U64(max_items);
    return ToDeliveries(client_->Call(AttachOp::kAckGet, body.bytes()));
  }
  Deliveries GetWait(size_t max_items, std::chrono::nanoseconds timeout) override {
    BodyWriter body;
    body.U64(max_items);
    body.I64(timeout.count());
    return ToDeliveries(client_->Call(AttachOp::kAckGetWait, body.bytes()));
  }

  void Ack(const Delivery& delivery) override { AckBatch({delivery}); }
  void AckBatch(const std::vector<Delivery>& deliveries) override {
    Settle(AttachOp::kAckAckBatch, deliveries);
  }
  void Nack(const Delivery& delivery) override { NackBatch({delivery}); }
  void NackBatch(const std::vector<Delivery>& deliveries) override {
    Settle(AttachOp::kAckNackBatch, deliveries);
  }
  void Extend(const Delivery& delivery, std::chrono::milliseconds visibility_timeout) override {
    ExtendBatch({delivery}, visibility_timeout);
  }
  void ExtendBatch(const std::vector<Delivery>& deliveries,
                   std::chrono::milliseconds visibility_timeout) override {
    BodyWriter body;
    body.I64(visibility_timeout.count());
    WriteSettled(deliveries, &body);
    client_->Call(AttachOp::kAckExtendBatch, body.bytes());
  }
  void AckFailed(const Delivery& delivery) override { AckFailedBatch({delivery}); }
  void AckFailedBatch(const std::vector<Delivery>& deliveries) override {
    Settle(AttachOp::kAckFailBatch, deliveries);
  }
  std::vector<FailedItem> Failed(size_t max_items) const override {
    BodyWriter body;
    body.U64(max_items);
    const std::string reply = client_->Call(AttachOp::kAckFailed, body.bytes());
    BodyReader reader(reply, Path());
    return ReadFailedItems(&reader);
  }
  uint64_t RequeueFailed(const std::vector<uint64_t>& ids) override {
    BodyWriter body;
    WriteIds(ids, &body);
    const std::string reply = client_->Call(AttachOp::kAckRequeueFailed, body.bytes());
    return BodyReader(reply, Path()).U64();
  }
  uint64_t RequeueAllFailed() override {
    return client_->CallForCount(AttachOp::kAckRequeueAllFailed);
  }

  void SetChangeListener(std::function<void()> listener) override {
    if (listener) client_->RefuseChangeListener();
  }
  std::unique_ptr<ChangeFd> WatchChanges() override { return WatchOwnerOf(*client_); }
  std::chrono::nanoseconds TimeToNextExpiry() const override {
    const std::string reply = client_->Call(AttachOp::kAckTimeToNextExpiry, {});
    return std::chrono::nanoseconds(BodyReader(reply, Path()).I64());
  }

  uint64_t ReadyLen() const override { return client_->CallForCount(AttachOp::kAckReadyLen); }
  uint64_t UnackedLen() const override { return client_->CallForCount(AttachOp::kAckUnackedLen); }
  uint64_t FailedLen() const override { return client_->CallForCount(AttachOp::kAckFailedLen); }
  uint64_t Len() const override { return client_->CallForCount(AttachOp::kAckLen); }
  uint64_t PayloadBytes() const override {
    return client_->CallForCount(AttachOp::kAckPayloadBytes);
  }
  uint64_t DiskBytes() const override { return client_->CallForCount(AttachOp::kAckDiskBytes); }
  uint64_t MaxElements() const override {
    return client_->CallForCount(AttachOp::kAckMaxElements);
  }
  std::chrono::milliseconds VisibilityTimeout() const override {
    return std::chrono::milliseconds(client_->welcome().visibility_timeout_ms);
  }
  const std::string& Path() const override { return client_->path(); }
  const std::string& QueueId() const override { return client_->welcome().queue_id; }
  const std::string& RecoveryWarning() const override {
    return client_->welcome().recovery_warning;
  }
  std::string LastBackgroundError() const override {
    return client_->Call(AttachOp::kAckLastBackgroundError, {});
  }
  void Close() override { client_->Close(); }

 private:
  void Settle(AttachOp op, const std::vector<Delivery>& deliveries) {
    BodyWriter body;
    WriteSettled(deliveries, &body);
    client_->Call(op, body.bytes());
  }
  std::vector<bool> ToStoredFlags(const std::string& reply) const {
    BodyReader reader(reply, Path());
    return ReadStoredFlags(&reader);
  }
  Deliveries ToDeliveries(const std::string& reply) const {
    BodyReader reader(reply, Path());
    return ReadDeliveries(&reader);
  }

  const std::unique_ptr<AttachClient> client_;
};

}  // namespace

std::unique_ptr<AckQueue> AttachAckQueue(const std::string& path, const AckOptions& options) {
  std::unique_ptr<AttachClient> client = AttachClient::Connect(path, AttachKind::kAck);
  if (!client) return nullptr;
  // The options that shape what every process of the queue sees.
  const Welcome& owners = client->welcome();
  client->CheckOptionAgrees("max_elements", std::to_string(options.max_elements),
                            std::to_string(owners.max_elements));
  client->CheckOptionAgrees("sync", FlagText(options.sync), FlagText(owners.sync));
  client->CheckOptionAgrees("visibility_timeout",
                            SecondsText(options.visibility_timeout.count()),
                            SecondsText(owners.visibility_timeout_ms));
  client->CheckOptionAgrees("dedup_window", std::to_string(options.dedup_window),
                            std::to_string(owners.dedup_window));
  return std::make_unique<AttachedAckQueue>(std::move(client));
}

}  // namespace rocksq
