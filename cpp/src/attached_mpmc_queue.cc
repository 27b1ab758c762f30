#include "attached_mpmc_queue.h"

#include <utility>
#include <vector>

#include "attach_client.h"
#include "change_fds.h"

namespace rocksq {
namespace {

class AttachedMpmcQueue final : public MpmcQueue {
 public:
  explicit AttachedMpmcQueue(std::unique_ptr<AttachClient> client) : client_(std::move(client)) {}
  ~AttachedMpmcQueue() override { Close(); }

  void Add(std::string_view item) override { AddBatch({item}); }
  void AddBatch(const std::vector<std::string_view>& items) override {
    BodyWriter body;
    body.Items(items.data(), items.size());
    client_->Call(AttachOp::kMpmcAddBatch, body.bytes());
  }
  MpmcRead Next(std::string_view label, StartPosition start, size_t max_items) override {
    BodyWriter body;
    body.String(label);
    body.U8(start == StartPosition::kOldest ? 0 : 1);
    body.U64(max_items);
    const std::string reply = client_->Call(AttachOp::kMpmcNext, body.bytes());
    BodyReader reader(reply, Path());
    MpmcRead read;
    read.expired = reader.U8() != 0;
    read.items = ReadPoppedItems(&reader);
    return read;
  }
  bool RemoveLabel(std::string_view label) override {
    BodyWriter body;
    body.String(label);
    const std::string reply = client_->Call(AttachOp::kMpmcRemoveLabel, body.bytes());
    return BodyReader(reply, Path()).U8() != 0;
  }
  std::vector<std::string> Labels() const override {
    const std::string reply = client_->Call(AttachOp::kMpmcLabels, {});
    BodyReader reader(reply, Path());
    std::vector<std::string> labels(reader.U32());
    for (std::string& label : labels) label = std::string(reader.String());
    return labels;
  }
  void SetChangeListener(std::function<void()> listener) override {
    if (listener) client_->RefuseChangeListener();
  }
  std::unique_ptr<ChangeFd> WatchChanges() override { return WatchOwnerOf(*client_); }

  uint64_t Len() const override { return client_->CallForCount(AttachOp::kMpmcLen); }
  uint64_t PayloadBytes() const override {
    return client_->CallForCount(AttachOp::kMpmcPayloadBytes);
  }
  uint64_t DiskBytes() const override { return client_->CallForCount(AttachOp::kMpmcDiskBytes); }
  std::chrono::milliseconds Ttl() const override {
    return std::chrono::milliseconds(client_->welcome().ttl_ms);
  }
  const std::string& Path() const override { return client_->path(); }
  const std::string& QueueId() const override { return client_->welcome().queue_id; }
  const std::string& RecoveryWarning() const override {
    return client_->welcome().recovery_warning;
  }
  std::string LastBackgroundError() const override {
    return client_->Call(AttachOp::kMpmcLastBackgroundError, {});
  }
  void Close() override { client_->Close(); }

 private:
  const std::unique_ptr<AttachClient> client_;
};

}  // namespace

std::unique_ptr<MpmcQueue> AttachMpmcQueue(const std::string& path, const MpmcOptions& options) {
  std::unique_ptr<AttachClient> client = AttachClient::Connect(path, AttachKind::kMpmc);
  if (!client) return nullptr;
  // The options that shape what every process of the queue sees.
  const Welcome& owners = client->welcome();
  client->CheckOptionAgrees("ttl", SecondsText(options.ttl.count()), SecondsText(owners.ttl_ms));
  client->CheckOptionAgrees("sync", FlagText(options.sync), FlagText(owners.sync));
  return std::make_unique<AttachedMpmcQueue>(std::move(client));
}

}  // namespace rocksq
