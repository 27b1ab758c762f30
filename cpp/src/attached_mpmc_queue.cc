#include "attached_mpmc_queue.h"

#include <optional>
#include <utility>
#include <vector>

#include "attach_client.h"
#include "owner_link.h"

namespace rocksq {
namespace {

using MpmcOwnerLink = OwnerLink<MpmcQueue, MpmcOptions>;

// Connects to the owner and checks that `options` agree with its own: the
// options that shape what every process of the queue sees.
std::unique_ptr<AttachClient> ConnectToMpmcOwner(const std::string& path,
                                                 const MpmcOptions& options,
                                                 std::shared_ptr<AttachIdentity> identity,
                                                 bool claim) {
  std::unique_ptr<AttachClient> client =
      AttachClient::Connect(path, AttachKind::kMpmc, std::move(identity), claim);
  if (!client) return nullptr;
  const Welcome& owners = client->welcome();
  client->CheckOptionAgrees("ttl", SecondsText(options.ttl.count()), SecondsText(owners.ttl_ms));
  client->CheckOptionAgrees("sync", FlagText(options.sync), FlagText(owners.sync));
  return client;
}

class AttachedMpmcQueue final : public MpmcQueue {
 public:
  explicit AttachedMpmcQueue(std::unique_ptr<MpmcOwnerLink> link) : link_(std::move(link)) {}
  ~AttachedMpmcQueue() override { Close(); }

  void Add(std::string_view item) override { AddBatch({item}); }
  void AddBatch(const std::vector<std::string_view>& items) override {
    const auto body = [&] {
      BodyWriter writer;
      writer.ItemsInPlace(items.data(), items.size());
      return writer;
    };
    std::shared_ptr<MpmcQueue> owned;
    if (!link_->Call(AttachOp::kMpmcAddBatch, body, &owned)) owned->AddBatch(items);
  }
  MpmcRead Next(std::string_view label, StartPosition start, size_t max_items) override {
    const auto body = [&] {
      BodyWriter writer;
      writer.String(label);
      writer.U8(start == StartPosition::kOldest ? 0 : 1);
      writer.U64(max_items);
      return writer;
    };
    std::shared_ptr<MpmcQueue> owned;
    std::optional<std::string> reply = link_->Call(AttachOp::kMpmcNext, body, &owned);
    if (!reply) return owned->Next(label, start, max_items);
    BodyReader reader(*reply, Path());
    MpmcRead read;
    read.expired = reader.U8() != 0;
    read.items = ReadPoppedItems(&*reply, &reader);
    return read;
  }
  bool RemoveLabel(std::string_view label) override {
    const auto body = [&] {
      BodyWriter writer;
      writer.String(label);
      return writer;
    };
    std::shared_ptr<MpmcQueue> owned;
    const std::optional<std::string> reply =
        link_->Call(AttachOp::kMpmcRemoveLabel, body, &owned);
    return reply ? BodyReader(*reply, Path()).U8() != 0 : owned->RemoveLabel(label);
  }
  std::vector<std::string> Labels() const override {
    std::shared_ptr<MpmcQueue> owned;
    const std::optional<std::string> reply =
        link_->Call(AttachOp::kMpmcLabels, [] { return BodyWriter(); }, &owned);
    if (!reply) return owned->Labels();
    BodyReader reader(*reply, Path());
    std::vector<std::string> labels(reader.U32());
    for (std::string& label : labels) label = std::string(reader.String());
    return labels;
  }
  void SetChangeListener(std::function<void()> listener) override {
    if (listener) link_->RefuseChangeListener();
  }
  std::unique_ptr<ChangeFd> WatchChanges() override { return link_->WatchChanges(); }

  uint64_t Len() const override { return Count(AttachOp::kMpmcLen, &MpmcQueue::Len); }
  uint64_t PayloadBytes() const override {
    return Count(AttachOp::kMpmcPayloadBytes, &MpmcQueue::PayloadBytes);
  }
  uint64_t DiskBytes() const override {
    return Count(AttachOp::kMpmcDiskBytes, &MpmcQueue::DiskBytes);
  }
  std::chrono::milliseconds Ttl() const override {
    return std::chrono::milliseconds(link_->welcome().ttl_ms);
  }
  const std::string& Path() const override { return link_->path(); }
  const std::string& QueueId() const override { return link_->welcome().queue_id; }
  const std::string& RecoveryWarning() const override {
    return link_->welcome().recovery_warning;
  }
  std::string LastBackgroundError() const override {
    std::shared_ptr<MpmcQueue> owned;
    const std::optional<std::string> reply = link_->Call(
        AttachOp::kMpmcLastBackgroundError, [] { return BodyWriter(); }, &owned);
    return reply ? *reply : owned->LastBackgroundError();
  }
  bool MayCallAnotherProcess() const override { return true; }
  void Close() override { link_->Close(); }

 private:
  uint64_t Count(AttachOp op, uint64_t (MpmcQueue::*own_count)() const) const {
    std::shared_ptr<MpmcQueue> owned;
    const std::optional<std::string> reply = link_->Call(op, [] { return BodyWriter(); }, &owned);
    return reply ? BodyReader(*reply, Path()).U64() : (owned.get()->*own_count)();
  }

  const std::unique_ptr<MpmcOwnerLink> link_;
};

}  // namespace

std::unique_ptr<MpmcQueue> AttachMpmcQueue(const std::string& path, const MpmcOptions& options,
                                           OpenOwnedMpmcQueue open_owned) {
  std::unique_ptr<AttachClient> client =
      ConnectToMpmcOwner(path, options, /*identity=*/nullptr, /*claim=*/true);
  if (!client) return nullptr;
  return std::make_unique<AttachedMpmcQueue>(std::make_unique<MpmcOwnerLink>(
      std::move(client), options,
      [path](const MpmcOptions& options, std::shared_ptr<AttachIdentity> identity, bool claim) {
        return ConnectToMpmcOwner(path, options, std::move(identity), claim);
      },
      std::move(open_owned)));
}

}  // namespace rocksq
