#include "attached_fifo_queue.h"

#include <utility>
#include <vector>

#include "attach_client.h"

namespace rocksq {
namespace {

class AttachedFifoQueue final : public FifoQueue {
 public:
  explicit AttachedFifoQueue(std::unique_ptr<AttachClient> client) : client_(std::move(client)) {}
  ~AttachedFifoQueue() override { Close(); }

  void Push(std::string_view item) override { PushBatch({item}); }
  void PushBatch(const std::vector<std::string_view>& items) override {
    BodyWriter body;
    body.Items(items.data(), items.size());
    client_->Call(AttachOp::kPushBatch, body.bytes());
  }
  PoppedItems Pop(size_t max_items) override {
    BodyWriter body;
    body.U64(max_items);
    return ToPoppedItems(client_->Call(AttachOp::kPop, body.bytes()));
  }
  PoppedItems PopWait(size_t max_items, std::chrono::nanoseconds timeout) override {
    BodyWriter body;
    body.U64(max_items);
    body.I64(timeout.count());
    return ToPoppedItems(client_->Call(AttachOp::kPopWait, body.bytes()));
  }
  void PushWait(std::string_view item, std::chrono::nanoseconds timeout) override {
    PushBatchWait({item}, timeout);
  }
  void PushBatchWait(const std::vector<std::string_view>& items,
                     std::chrono::nanoseconds timeout) override {
    BodyWriter body;
    body.I64(timeout.count());
    body.Items(items.data(), items.size());
    client_->Call(AttachOp::kPushBatchWait, body.bytes());
  }
  void SetChangeListener(std::function<void()> listener) override {
    if (listener) client_->RefuseChangeListener();
  }

  uint64_t Len() const override { return client_->CallForCount(AttachOp::kLen); }
  uint64_t PayloadBytes() const override { return client_->CallForCount(AttachOp::kPayloadBytes); }
  uint64_t DiskBytes() const override { return client_->CallForCount(AttachOp::kDiskBytes); }
  uint64_t MaxElements() const override { return client_->CallForCount(AttachOp::kMaxElements); }
  const std::string& Path() const override { return client_->path(); }
  const std::string& QueueId() const override { return client_->welcome().queue_id; }
  const std::string& RecoveryWarning() const override {
    return client_->welcome().recovery_warning;
  }
  std::string LastBackgroundError() const override {
    return client_->Call(AttachOp::kLastBackgroundError, {});
  }
  void SetMaxElements(uint64_t max_elements) override {
    BodyWriter body;
    body.U64(max_elements);
    client_->Call(AttachOp::kSetMaxElements, body.bytes());
  }
  void Shutdown(bool immediate) override {
    BodyWriter body;
    body.U8(immediate ? 1 : 0);
    client_->Call(AttachOp::kShutdown, body.bytes());
  }
  void Close() override { client_->Close(); }

 private:
  PoppedItems ToPoppedItems(const std::string& reply) const {
    BodyReader reader(reply, Path());
    return ReadPoppedItems(&reader);
  }

  const std::unique_ptr<AttachClient> client_;
};

}  // namespace

std::unique_ptr<FifoQueue> AttachFifoQueue(const std::string& path, const FifoOptions& options) {
  std::unique_ptr<AttachClient> client = AttachClient::Connect(path, AttachKind::kFifo);
  if (!client) return nullptr;
  // The options that shape what every process of the queue sees.
  const Welcome& owners = client->welcome();
  client->CheckOptionAgrees("max_elements", std::to_string(options.max_elements),
                            std::to_string(owners.max_elements));
  client->CheckOptionAgrees("sync", FlagText(options.sync), FlagText(owners.sync));
  return std::make_unique<AttachedFifoQueue>(std::move(client));
}

}  // namespace rocksq
