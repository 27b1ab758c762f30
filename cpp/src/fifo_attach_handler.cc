#include "fifo_attach_handler.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace rocksq {
namespace {

class FifoAttachHandler final : public AttachHandler {
 public:
  FifoAttachHandler(ServedFifoQueue* served, const FifoOptions& options,
                    std::function<ItemAge()> oldest_item_age)
      : served_(served),
        queue_(&served->queue()),
        sync_(options.sync),
        oldest_item_age_(std::move(oldest_item_age)) {}

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
              const Caller& caller) override;
  void Replied(AttachOp op, const CallId& call) override {
    if (op == AttachOp::kPop || op == AttachOp::kPopWait) served_->ledger().Replied(call);
  }
  void LaneGone(uint64_t client_id, uint32_t lane) override {
    served_->ledger().pushes().LaneGone(client_id, lane);
  }
  std::chrono::nanoseconds WaitTimeout(AttachOp op, std::string_view body) const override {
    BodyReader reader(body, Path());
    if (op == AttachOp::kPopWait) reader.U64();  // Its max items come first.
    return std::chrono::nanoseconds(reader.I64());
  }
  int BlockedClass(AttachOp op) const override {
    switch (op) {
      case AttachOp::kPopWait:
        return kWaitsForItems;
      case AttachOp::kJoinWait:
        return kWaitsForTasksDone;
      default:
        return kWaitsForRoom;
    }
  }
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
  // Synced, each group waits for a sync: pushes for RocksDB's WAL, pops
  // for the read cursor's file. The server gathers both kinds (the
  // default GathersGroups): pops store the cursor under the pop lock, one
  // group after another; pushes would join the queue's GroupCommit, which
  // gathers its callers, but a push group sent at once holds the one or
  // two calls that came back first, and the others miss its sync
  // (docs/design/many-processes.md, "Gathered pushes").
  bool GroupsRunOnWorkers() const override { return sync_; }

 private:
  // Pushes first, so that pops that arrived with them find their items.
  static constexpr int kPushes = 1;
  static constexpr int kPops = 2;
  // BlockedClass: what a parked call waits for.
  static constexpr int kWaitsForItems = 0;
  static constexpr int kWaitsForRoom = 1;
  static constexpr int kWaitsForTasksDone = 2;

  // A retried call that ran before the owner that served it died: its reply
  // rebuilt from its record. False if it did not run.
  bool AnswerFromRecord(AttachOp op, const CallId& call, BodyWriter* reply);
  // Writes items [first, first + count) of `items` into `reply`, which
  // keeps them (sent from where they are, not copied).
  static void ReplyItems(const std::shared_ptr<const PoppedItems>& items, size_t first,
                         size_t count, BodyWriter* reply);

  ServedFifoQueue* const served_;
  FifoQueue* const queue_;
  const bool sync_;
  const std::function<ItemAge()> oldest_item_age_;
};

void FifoAttachHandler::RunMerged(std::vector<MergedCall>* calls) {
  const std::vector<CallId> ids = MergedCallIds(*calls);
  if (MergeGroup(calls->front().op) == kPushes) {
    // One batch: all stored, or none (and each call then runs alone, to
    // get its own answer).
    served_->PushForCalls(MergedPushItems(*calls, AttachOp::kPushBatchWait), ids);
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
  const auto items = std::make_shared<const PoppedItems>(served_->PopForCalls(wanted, ids));
  const std::vector<size_t> shares = ShareInArrivalOrder(wanted, items->size());
  size_t next = 0;
  for (size_t i = 0; i < calls->size(); ++i) {
    MergedCall& call = (*calls)[i];
    const size_t count = shares[i];
    if (count == 0 && wanted[i] != 0 && may_wait[i]) {
      call.outcome = Outcome::kMustWait;
      continue;
    }
    ReplyItems(items, next, count, &call.reply);
    next += count;
  }
}

void FifoAttachHandler::ReplyItems(const std::shared_ptr<const PoppedItems>& items, size_t first,
                                   size_t count, BodyWriter* reply) {
  std::vector<std::string_view> views;
  views.reserve(count);
  for (size_t i = first; i < first + count; ++i) views.push_back((*items)[i]);
  reply->ItemsInPlace(views.data(), views.size(), items);
}

bool FifoAttachHandler::AnswerFromRecord(AttachOp op, const CallId& call, BodyWriter* reply) {
  switch (op) {
    case AttachOp::kPushBatch:
    case AttachOp::kPushBatchWait:
      return served_->ledger().pushes().Find(call).has_value();
    case AttachOp::kPop:
    case AttachOp::kPopWait: {
      const auto taken = served_->ledger().FindPop(call);
      if (!taken) return false;
      const auto items =
          std::make_shared<const PoppedItems>(served_->ReadPopped(taken->first, taken->second));
      ReplyItems(items, 0, items->size(), reply);
      return true;
    }
    default:
      return false;  // The others change nothing, or nothing a second run harms.
  }
}

AttachHandler::Outcome FifoAttachHandler::Run(AttachOp op, std::string_view body,
                                              BodyWriter* reply, bool final,
                                              const Caller& caller) {
  if (caller.retry && AnswerFromRecord(op, caller.call, reply)) return Outcome::kDone;
  BodyReader reader(body, Path());
  switch (op) {
    case AttachOp::kPushBatch:
      served_->PushForCalls(reader.Items(), {caller.call});
      break;
    case AttachOp::kPushBatchWait: {
      const int64_t timeout = reader.I64();
      const std::vector<std::string_view> items = reader.Items();
      try {
        served_->PushForCalls(items, {caller.call});
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
      const auto items =
          std::make_shared<const PoppedItems>(served_->PopForCalls({max_items}, {caller.call}));
      if (items->empty() && max_items != 0 && timeout > 0 && !final) return Outcome::kMustWait;
      ReplyItems(items, 0, items->size(), reply);
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
    case AttachOp::kIsShutDown:
      reply->U8(queue_->IsShutDown() ? 1 : 0);
      break;
    case AttachOp::kLastBackgroundError:
      reply->Bytes(queue_->LastBackgroundError());
      break;
    case AttachOp::kTaskDone:
      // A retry's first run, if it had one, went to an owner whose count
      // is gone; this one never counted the item it marks (popped before).
      reply->U64(caller.retry ? queue_->UnfinishedTasks() : queue_->TaskDone());
      break;
    case AttachOp::kUnfinishedTasks:
      reply->U64(queue_->UnfinishedTasks());
      break;
    case AttachOp::kJoinWait: {
      const int64_t timeout = reader.I64();
      const bool finished = queue_->JoinWait(std::chrono::nanoseconds::zero());
      if (!finished && timeout > 0 && !final) return Outcome::kMustWait;
      reply->U8(finished ? 1 : 0);
      break;
    }
    default:
      ThrowUnknownOperation(Path(), op);
  }
  return Outcome::kDone;
}

}  // namespace

std::unique_ptr<AttachHandler> MakeFifoAttachHandler(ServedFifoQueue* queue,
                                                     const FifoOptions& options,
                                                     std::function<ItemAge()> oldest_item_age) {
  return std::make_unique<FifoAttachHandler>(queue, options, std::move(oldest_item_age));
}

}  // namespace rocksq
