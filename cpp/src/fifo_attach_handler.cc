#include "fifo_attach_handler.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace rocksq {
namespace {

class FifoAttachHandler final : public AttachHandler {
 public:
  FifoAttachHandler(FifoQueue* queue, const FifoOptions& options,
                    std::function<ItemAge()> oldest_item_age)
      : queue_(queue), sync_(options.sync), oldest_item_age_(std::move(oldest_item_age)) {}

  const std::string& Path() const override { return queue_->Path(); }
  AttachKind Kind() const override { return AttachKind::kFifo; }
  void DescribeBacklog(QueueOwner* stats) const override {
    stats->kind = "fifo";
    DescribeCounts(*queue_, stats);
    const ItemAge age = oldest_item_age_();
    stats->oldest_age_micros = age.micros;
    stats->oldest_age_is_lower_bound = age.lower_bound;
  }
  void DescribeQueue(Welcome* welcome) const override {
    welcome->queue_id = queue_->QueueId();
    welcome->recovery_warning = queue_->RecoveryWarning();
    welcome->max_elements = queue_->MaxElements();
    welcome->sync = sync_;
  }
  Outcome Run(AttachOp op, std::string_view body, BodyWriter* reply, bool final,
              uint32_t client) override;
  std::chrono::nanoseconds WaitTimeout(AttachOp op, std::string_view body) const override {
    BodyReader reader(body, Path());
    if (op == AttachOp::kPopWait) reader.U64();  // Its max items come first.
    return std::chrono::nanoseconds(reader.I64());
  }
  int BlockedClass(AttachOp op) const override { return op == AttachOp::kPopWait ? 0 : 1; }
  int MergeGroup(AttachOp op) const override {
    switch (op) {
      case AttachOp::kPushBatch:
      case AttachOp::kPushBatchWait:
        return kPushes;
      case AttachOp::kPop:
      case AttachOp::kPopWait:
        return kPops;
      default:
        return 0;
    }
  }
  void RunMerged(std::vector<MergedCall>* calls) override;

 private:
  // Pushes first, so that pops that arrived with them find their items.
  static constexpr int kPushes = 1;
  static constexpr int kPops = 2;

  FifoQueue* const queue_;
  const bool sync_;
  const std::function<ItemAge()> oldest_item_age_;
};

void FifoAttachHandler::RunMerged(std::vector<MergedCall>* calls) {
  if (MergeGroup(calls->front().op) == kPushes) {
    // One batch: all stored, or none (and each call then runs alone, to
    // get its own answer).
    queue_->PushBatch(MergedPushItems(*calls, AttachOp::kPushBatchWait));
    return;
  }
  // One pop of what they all asked for, handed out in arrival order: what
  // they would have got one after another.
  std::vector<uint64_t> wanted;
  std::vector<bool> may_wait;
  for (const MergedCall& call : *calls) {
    BodyReader reader(call.body, Path());
    wanted.push_back(reader.U64());
    may_wait.push_back(call.op == AttachOp::kPopWait && reader.I64() > 0);
  }
  PoppedItems items = queue_->Pop(TotalWanted(wanted));
  const std::vector<size_t> shares = ShareInArrivalOrder(wanted, items.size());
  size_t next = 0;
  for (size_t i = 0; i < calls->size(); ++i) {
    MergedCall& call = (*calls)[i];
    const size_t count = shares[i];
    if (count == 0 && wanted[i] != 0 && may_wait[i]) {
      call.outcome = Outcome::kMustWait;
      continue;
    }
    std::vector<std::string_view> share;
    share.reserve(count);
    for (size_t j = next; j < next + count; ++j) share.push_back(items[j]);
    call.reply.Items(share.data(), share.size());
    next += count;
  }
}

AttachHandler::Outcome FifoAttachHandler::Run(AttachOp op, std::string_view body,
                                              BodyWriter* reply, bool final, uint32_t /*client*/) {
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

std::unique_ptr<AttachHandler> MakeFifoAttachHandler(FifoQueue* queue, const FifoOptions& options,
                                                     std::function<ItemAge()> oldest_item_age) {
  return std::make_unique<FifoAttachHandler>(queue, options, std::move(oldest_item_age));
}

}  // namespace rocksq
