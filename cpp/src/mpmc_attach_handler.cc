#include "mpmc_attach_handler.h"

#include <optional>
#include <string>
#include <vector>

namespace rocksq {
namespace {

// The one merge group (AttachHandler::MergeGroup).
constexpr int kAdds = 1;

class MpmcAttachHandler final : public AttachHandler {
 public:
  MpmcAttachHandler(ServedMpmcQueue* served, const MpmcOptions& options)
      : served_(served), queue_(&served->queue()), sync_(options.sync) {}

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
  // Adds merge: one group-commit write for the adds that arrive together.
  int MergeGroup(AttachOp op) const override { return op == AttachOp::kMpmcAddBatch ? kAdds : 0; }
  void RunMerged(std::vector<MergedCall>* calls) override;
  // Synced, an add group waits for RocksDB's WAL sync: on a worker, the
  // server goes on serving, and gathers the adds that come meanwhile.
  // (A Next that moves its label syncs too, on the server's thread.)
  bool GroupsRunOnWorkers() const override { return sync_; }
  void LaneGone(uint64_t client_id, uint32_t lane) override {
    served_->pushes().LaneGone(client_id, lane);
  }

 private:
  // A retried call that ran before the owner that served it died: its reply
  // rebuilt from its record. False if it did not run.
  bool AnswerFromRecord(AttachOp op, const CallId& call, BodyWriter* reply);
  static void ReplyRead(MpmcRead read, BodyWriter* reply);

  ServedMpmcQueue* const served_;
  MpmcQueue* const queue_;
  const bool sync_;
};

void MpmcAttachHandler::ReplyRead(MpmcRead read, BodyWriter* reply) {
  reply->U8(read.expired ? 1 : 0);
  const auto items = std::make_shared<const PoppedItems>(std::move(read.items));
  std::vector<std::string_view> views;
  views.reserve(items->size());
  for (size_t i = 0; i < items->size(); ++i) views.push_back((*items)[i]);
  reply->ItemsInPlace(views.data(), views.size(), items);  // Sent from where they are.
}

void MpmcAttachHandler::RunMerged(std::vector<MergedCall>* calls) {
  const std::vector<CallId> ids = MergedCallIds(*calls);
  served_->AddForCalls(MergedPushItems(*calls), ids);  // All stored, or none.
}

bool MpmcAttachHandler::AnswerFromRecord(AttachOp op, const CallId& call, BodyWriter* reply) {
  if (op != AttachOp::kMpmcAddBatch && op != AttachOp::kMpmcNext &&
      op != AttachOp::kMpmcRemoveLabel) {
    return false;  // The others change nothing.
  }
  const std::optional<std::string> outcome = served_->pushes().Find(call);
  if (!outcome) return false;
  if (op == AttachOp::kMpmcNext) {
    ReplyRead(served_->ReadAgain(*outcome), reply);
  } else {
    reply->Bytes(*outcome);
  }
  return true;
}

AttachHandler::Outcome MpmcAttachHandler::Run(AttachOp op, std::string_view body,
                                              BodyWriter* reply, bool /*final*/,
                                              const Caller& caller) {
  if (caller.retry && AnswerFromRecord(op, caller.call, reply)) return Outcome::kDone;
  BodyReader reader(body, Path());
  switch (op) {
    case AttachOp::kMpmcAddBatch:
      served_->AddForCalls(reader.Items(), {caller.call});
      break;
    case AttachOp::kMpmcNext: {
      const std::string_view label = reader.String();
      const StartPosition start =
          reader.U8() == 0 ? StartPosition::kOldest : StartPosition::kNewest;
      ReplyRead(served_->NextForCall(label, start, static_cast<size_t>(reader.U64()), caller.call),
                reply);
      break;
    }
    case AttachOp::kMpmcRemoveLabel:
      reply->U8(served_->RemoveLabelForCall(reader.String(), caller.call) ? 1 : 0);
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

std::unique_ptr<AttachHandler> MakeMpmcAttachHandler(ServedMpmcQueue* queue,
                                                     const MpmcOptions& options) {
  return std::make_unique<MpmcAttachHandler>(queue, options);
}

}  // namespace rocksq
