#include "mpmc_attach_handler.h"

#include <string>
#include <vector>

namespace rocksq {
namespace {

class MpmcAttachHandler final : public AttachHandler {
 public:
  MpmcAttachHandler(MpmcQueue* queue, const MpmcOptions& options)
      : queue_(queue), sync_(options.sync) {}

  const std::string& Path() const override { return queue_->Path(); }
  AttachKind Kind() const override { return AttachKind::kMpmc; }
  void DescribeBacklog(QueueOwner* stats) const override {
    stats->kind = "mpmc";
    DescribeCounts(*queue_, stats);
    // The oldest element's age: `rocksq stats` reads its time from the files.
  }
  void DescribeQueue(Welcome* welcome) const override {
    welcome->queue_id = queue_->QueueId();
    welcome->recovery_warning = queue_->RecoveryWarning();
    welcome->sync = sync_;
    welcome->ttl_ms = queue_->Ttl().count();
  }
  Outcome Run(AttachOp op, std::string_view body, BodyWriter* reply, bool final,
              const Caller& caller) override;
  // No MPMC operation waits, so none is parked.
  std::chrono::nanoseconds WaitTimeout(AttachOp, std::string_view) const override {
    return std::chrono::nanoseconds::zero();
  }
  int BlockedClass(AttachOp) const override { return 0; }

 private:
  MpmcQueue* const queue_;
  const bool sync_;
};

AttachHandler::Outcome MpmcAttachHandler::Run(AttachOp op, std::string_view body,
                                              BodyWriter* reply, bool /*final*/,
                                              const Caller& /*caller*/) {
  BodyReader reader(body, Path());
  switch (op) {
    case AttachOp::kMpmcAddBatch:
      queue_->AddBatch(reader.Items());
      break;
    case AttachOp::kMpmcNext: {
      const std::string_view label = reader.String();
      const StartPosition start =
          reader.U8() == 0 ? StartPosition::kOldest : StartPosition::kNewest;
      const MpmcRead read = queue_->Next(label, start, static_cast<size_t>(reader.U64()));
      reply->U8(read.expired ? 1 : 0);
      std::vector<std::string_view> views;
      views.reserve(read.items.size());
      for (size_t i = 0; i < read.items.size(); ++i) views.push_back(read.items[i]);
      reply->Items(views.data(), views.size());
      break;
    }
    case AttachOp::kMpmcRemoveLabel:
      reply->U8(queue_->RemoveLabel(reader.String()) ? 1 : 0);
      break;
    case AttachOp::kMpmcLabels: {
      const std::vector<std::string> labels = queue_->Labels();
      reply->U32(static_cast<uint32_t>(labels.size()));
      for (const std::string& label : labels) reply->String(label);
      break;
    }
    case AttachOp::kMpmcLen:
      reply->U64(queue_->Len());
      break;
    case AttachOp::kMpmcPayloadBytes:
      reply->U64(queue_->PayloadBytes());
      break;
    case AttachOp::kMpmcDiskBytes:
      reply->U64(queue_->DiskBytes());
      break;
    case AttachOp::kMpmcLastBackgroundError:
      reply->Bytes(queue_->LastBackgroundError());
      break;
    default:
      ThrowUnknownOperation(Path(), op);
  }
  return Outcome::kDone;
}

}  // namespace

std::unique_ptr<AttachHandler> MakeMpmcAttachHandler(MpmcQueue* queue, const MpmcOptions& options) {
  return std::make_unique<MpmcAttachHandler>(queue, options);
}

}  // namespace rocksq
