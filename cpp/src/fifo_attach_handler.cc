#include "fifo_attach_handler.h"

#include <string>
#include <vector>

namespace rocksq {
namespace {

class FifoAttachHandler final : public AttachHandler {
 public:
  FifoAttachHandler(FifoQueue* queue, const FifoOptions& options)
      : queue_(queue), sync_(options.sync) {}

  const std::string& Path() const override { return queue_->Path(); }
  AttachKind Kind() const override { return AttachKind::kFifo; }
  void DescribeQueue(Welcome* welcome) const override {
    welcome->queue_id = queue_->QueueId();
    welcome->recovery_warning = queue_->RecoveryWarning();
    welcome->max_elements = queue_->MaxElements();
    welcome->sync = sync_;
  }
  Outcome Run(AttachOp op, std::string_view body, BodyWriter* reply, bool final) override;
  std::chrono::nanoseconds WaitTimeout(AttachOp op, std::string_view body) const override {
    BodyReader reader(body, Path());
    if (op == AttachOp::kPopWait) reader.U64();  // Its max items come first.
    return std::chrono::nanoseconds(reader.I64());
  }
  int BlockedClass(AttachOp op) const override { return op == AttachOp::kPopWait ? 0 : 1; }

 private:
  FifoQueue* const queue_;
  const bool sync_;
};

AttachHandler::Outcome FifoAttachHandler::Run(AttachOp op, std::string_view body,
                                              BodyWriter* reply, bool final) {
  BodyReader reader(body, Path());
  switch (op) {
    case AttachOp::kPushBatch:
      queue_->PushBatch(reader.Items());
      break;
    case AttachOp::kPushBatchWait: {
      const int64_t timeout = reader.I64();
      const std::vector<std::string_view> items = reader.Items();
      try {
        queue_->PushBatchWait(items, std::chrono::nanoseconds::zero());
      } catch (const Error& full) {
        // Items that could never fit are refused at once, as in-process.
        if (full.kind() != ErrorKind::kQueueFull || final || timeout <= 0 ||
            items.size() > queue_->MaxElements()) {
          throw;
        }
        return Outcome::kMustWait;
      }
      break;
    }
    case AttachOp::kPop:
    case AttachOp::kPopWait: {
      const uint64_t max_items = reader.U64();
      const int64_t timeout = op == AttachOp::kPopWait ? reader.I64() : 0;
      PoppedItems items = queue_->Pop(static_cast<size_t>(max_items));
      if (items.empty() && max_items != 0 && timeout > 0 && !final) return Outcome::kMustWait;
      std::vector<std::string_view> views;
      views.reserve(items.size());
      for (size_t i = 0; i < items.size(); ++i) views.push_back(items[i]);
      reply->Items(views.data(), views.size());
      break;
    }
    case AttachOp::kLen:
      reply->U64(queue_->Len());
      break;
    case AttachOp::kPayloadBytes:
      reply->U64(queue_->PayloadBytes());
      break;
    case AttachOp::kDiskBytes:
      reply->U64(queue_->DiskBytes());
      break;
    case AttachOp::kMaxElements:
      reply->U64(queue_->MaxElements());
      break;
    case AttachOp::kSetMaxElements:
      queue_->SetMaxElements(reader.U64());
      break;
    case AttachOp::kShutdown:
      queue_->Shutdown(reader.U8() != 0);
      break;
    case AttachOp::kLastBackgroundError:
      reply->Bytes(queue_->LastBackgroundError());
      break;
    default:
      ThrowUnknownOperation(Path(), op);
  }
  return Outcome::kDone;
}

}  // namespace

std::unique_ptr<AttachHandler> MakeFifoAttachHandler(FifoQueue* queue, const FifoOptions& options) {
  return std::make_unique<FifoAttachHandler>(queue, options);
}

}  // namespace rocksq
