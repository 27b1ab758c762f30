#include "ack_attach_handler.h"

#include <algorithm>
#include <optional>
#include <string_view>
#include <unordered_map>

namespace rocksq {

void WriteKeyedItems(const std::vector<KeyedItem>& keyed_items, BodyWriter* body) {
  body->U32(static_cast<uint32_t>(keyed_items.size()));
  for (const KeyedItem& keyed : keyed_items) {
    body->String(keyed.key);
    body->String(keyed.item);
  }
}

std::vector<KeyedItem> ReadKeyedItems(BodyReader* body) {
  const uint32_t count = body->U32();
  std::vector<KeyedItem> keyed_items;
  for (uint32_t i = 0; i < count; ++i) {
    const std::string_view key = body->String();
    keyed_items.push_back({key, body->String()});
  }
  return keyed_items;
}

void WriteStoredFlags(const std::vector<bool>& stored, BodyWriter* body) {
  body->U32(static_cast<uint32_t>(stored.size()));
  for (bool flag : stored) body->U8(flag ? 1 : 0);
}

std::vector<bool> ReadStoredFlags(BodyReader* body) {
  const uint32_t count = body->U32();
  std::vector<bool> stored;
  for (uint32_t i = 0; i < count; ++i) stored.push_back(body->U8() != 0);
  return stored;
}

void WriteDeliveries(const Deliveries& deliveries, BodyWriter* body) {
  WriteDeliveries(deliveries, 0, deliveries.size(), body);
}

void WriteDeliveries(const Deliveries& deliveries, size_t first, size_t count, BodyWriter* body) {
  body->U32(static_cast<uint32_t>(count));
  for (size_t i = first; i < first + count; ++i) {
    const Delivery delivery = deliveries[i];
    body->U64(delivery.id);
    body->U32(delivery.attempt);
    body->U64(delivery.receipt);
    body->String(delivery.payload);
  }
}

Deliveries ReadDeliveries(BodyReader* body) {
  const uint32_t count = body->U32();
  if (count == 0) return Deliveries();
  std::vector<Delivery> deliveries;
  for (uint32_t i = 0; i < count; ++i) {
    Delivery delivery{};
    delivery.id = body->U64();
    delivery.attempt = body->U32();
    delivery.receipt = body->U64();
    delivery.payload = body->String();
    deliveries.push_back(delivery);
  }
  return Deliveries::Copy(deliveries);
}

void WriteSettled(const std::vector<Delivery>& deliveries, BodyWriter* body) {
  body->U32(static_cast<uint32_t>(deliveries.size()));
  for (const Delivery& delivery : deliveries) {
    body->U64(delivery.id);
    body->U64(delivery.receipt);
  }
}

std::vector<Delivery> ReadSettled(BodyReader* body) {
  const uint32_t count = body->U32();
  std::vector<Delivery> deliveries;
  for (uint32_t i = 0; i < count; ++i) {
    Delivery delivery{};
    delivery.id = body->U64();
    delivery.receipt = body->U64();
    deliveries.push_back(delivery);
  }
  return deliveries;
}

void WriteFailedItems(const std::vector<FailedItem>& failed, BodyWriter* body) {
  body->U32(static_cast<uint32_t>(failed.size()));
  for (const FailedItem& item : failed) {
    body->U64(item.id);
    body->String(item.payload);
  }
}

std::vector<FailedItem> ReadFailedItems(BodyReader* body) {
  const uint32_t count = body->U32();
  std::vector<FailedItem> failed;
  for (uint32_t i = 0; i < count; ++i) {
    const uint64_t id = body->U64();
    failed.push_back({id, std::string(body->String())});
  }
  return failed;
}

void WriteIds(const std::vector<uint64_t>& ids, BodyWriter* body) {
  body->U32(static_cast<uint32_t>(ids.size()));
  for (uint64_t id : ids) body->U64(id);
}

std::vector<uint64_t> ReadIds(BodyReader* body) {
  const uint32_t count = body->U32();
  std::vector<uint64_t> ids;
  for (uint32_t i = 0; i < count; ++i) ids.push_back(body->U64());
  return ids;
}

namespace {

// The parked calls' blocked classes.
constexpr int kWaitsForItems = 0;
constexpr int kWaitsForRoom = 1;

// The merge groups (AttachHandler::MergeGroup): pushes first, so that gets
// that arrived with them find their items.
constexpr int kPushes = 1;
constexpr int kGets = 2;
constexpr int kAcks = 3;

// An expired lease makes an item ready with no call; a parked get is
// retried then, but not more often than this when leases keep expiring.
constexpr auto kLeaseRetryFloor = std::chrono::milliseconds(1);

class AckAttachHandler final : public AttachHandler {
 public:
  AckAttachHandler(ServedAckQueue* served, const AckOptions& options,
                   std::function<ItemAge()> oldest_item_age)
      : served_(served),
        queue_(&served->queue()),
        sync_(options.sync),
        oldest_item_age_(std::move(oldest_item_age)) {}

  const std::string& Path() const override { return queue_->Path(); }
  AttachKind Kind() const override { return AttachKind::kAck; }
  void DescribeBacklog(QueueOwner* stats) const override {
    stats->kind = "ack";
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
    welcome->visibility_timeout_ms = queue_->VisibilityTimeout().count();
    welcome->dedup_window = queue_->DedupWindow();
  }
  Outcome Run(AttachOp op, std::string_view body, BodyWriter* reply, bool final,
              const Caller& caller) override;
  void LaneGone(uint64_t client_id, uint32_t lane) override {
    served_->pushes().LaneGone(client_id, lane);
  }
  std::chrono::nanoseconds WaitTimeout(AttachOp op, std::string_view body) const override {
    BodyReader reader(body, Path());
    if (op == AttachOp::kAckGetWait) reader.U64();  // Its max items come first.
    return std::chrono::nanoseconds(reader.I64());
  }
  int BlockedClass(AttachOp op) const override {
    return op == AttachOp::kAckGetWait ? kWaitsForItems : kWaitsForRoom;
  }
  int MergeGroup(AttachOp op) const override {
    switch (op) {
      case AttachOp::kAckPushBatch:
      case AttachOp::kAckPushBatchWait:
        return kPushes;
      case AttachOp::kAckGet:
      case AttachOp::kAckGetWait:
        return kGets;
      case AttachOp::kAckAckBatch:
        return kAcks;
      default:
        return 0;
    }
  }
  void RunMerged(std::vector<MergedCall>* calls) override;
  // Its deliveries still outstanding are made ready again at once, as a
  // crash and reopen would (the leases end with the process that held
  // them), rather than when their visibility timeout expires, or never
  // with a zero one.
  void ClientGone(uint32_t client) override;
  Clock::time_point NextChangeWithoutCall() const override {
    const std::chrono::nanoseconds until_expiry = queue_->TimeToNextExpiry();
    if (until_expiry == std::chrono::nanoseconds::max()) return Clock::time_point::max();
    return DeadlineAfter(std::max<std::chrono::nanoseconds>(until_expiry, kLeaseRetryFloor));
  }

 private:
  // Runs a push that may wait for room once, without waiting: kMustWait if
  // there is no room yet and the call may still wait.
  template <typename Push>
  Outcome PushOrWait(int64_t timeout, size_t count, bool final, Push push) {
    try {
      push();
    } catch (const Error& full) {
      // Items that could never fit are refused at once, as in-process. (A
      // unique push's count includes keys pushed before, which in-process
      // are not counted: such a batch waits for its deadline here.)
      if (full.kind() != ErrorKind::kQueueFull || final || timeout <= 0 ||
          count > queue_->MaxElements()) {
        throw;
      }
      return Outcome::kMustWait;
    }
    return Outcome::kDone;
  }

  // Who got each delivery handed out through the server, by item id:
  // recorded as it is handed out, forgotten when settled through the
  // server; one settled otherwise (expired, then handed out in the owner)
  // stays until its client leaves, and is then found not outstanding.
  struct Lent {
    uint32_t client;
    uint64_t receipt;
  };
  void NoteLent(uint32_t client, const Deliveries& deliveries, size_t first, size_t count) {
    for (size_t i = first; i < first + count; ++i) {
      const Delivery delivery = deliveries[i];
      lent_[delivery.id] = {client, delivery.receipt};
    }
  }
  void NoteSettled(const std::vector<Delivery>& settled) {
    for (const Delivery& delivery : settled) {
      const auto found = lent_.find(delivery.id);
      if (found != lent_.end() && found->second.receipt == delivery.receipt) lent_.erase(found);
    }
  }

  // A retried call that ran, or whose leases ended, before the owner that
  // served it died: its reply, or its error. False if it must run.
  bool AnswerRetry(AttachOp op, const CallId& call, BodyWriter* reply);

  ServedAckQueue* const served_;
  AckQueue* const queue_;
  const bool sync_;
  const std::function<ItemAge()> oldest_item_age_;
  std::unordered_map<uint64_t, Lent> lent_;
};

void AckAttachHandler::ClientGone(uint32_t client) {
  for (auto entry = lent_.begin(); entry != lent_.end();) {
    if (entry->second.client != client) {
      ++entry;
      continue;
    }
    Delivery delivery{};
    delivery.id = entry->first;
    delivery.receipt = entry->second.receipt;
    entry = lent_.erase(entry);
    try {
      queue_->Nack(delivery);
    } catch (const Error&) {
      // Settled or expired since: nothing of it is held any more.
    }
  }
}

void AckAttachHandler::RunMerged(std::vector<MergedCall>* calls) {
  const std::vector<CallId> ids = MergedCallIds(*calls);
  switch (MergeGroup(calls->front().op)) {
    case kPushes:  // One batch, all stored or none, as FIFO's.
      served_->PushForCalls(MergedPushItems(*calls, AttachOp::kAckPushBatchWait), ids);
      return;
    case kAcks: {  // One ack record: one not outstanding (or two calls
                   // settling one item) settles none.
      std::vector<Delivery> settled;
      for (const MergedCall& call : *calls) {
        BodyReader reader(call.body, Path());
        const std::vector<Delivery> own = ReadSettled(&reader);
        settled.insert(settled.end(), own.begin(), own.end());
      }
      queue_->AckBatch(settled);
      NoteSettled(settled);
      return;
    }
    default: {  // One get, handed out in arrival order.
      std::vector<uint64_t> wanted;
      std::vector<bool> may_wait;
      for (const MergedCall& call : *calls) {
        BodyReader reader(call.body, Path());
        wanted.push_back(reader.U64());
        may_wait.push_back(call.op == AttachOp::kAckGetWait && reader.I64() > 0);
      }
      Deliveries deliveries = queue_->Get(TotalWanted(wanted));
      const std::vector<size_t> shares = ShareInArrivalOrder(wanted, deliveries.size());
      size_t next = 0;
      for (size_t i = 0; i < calls->size(); ++i) {
        MergedCall& call = (*calls)[i];
        if (shares[i] == 0 && wanted[i] != 0 && may_wait[i]) {
          call.outcome = Outcome::kMustWait;
          continue;
        }
        WriteDeliveries(deliveries, next, shares[i], &call.reply);
        NoteLent(call.caller.pid, deliveries, next, shares[i]);
        next += shares[i];
      }
    }
  }
}

bool AckAttachHandler::AnswerRetry(AttachOp op, const CallId& call, BodyWriter* reply) {
  switch (op) {
    case AttachOp::kAckPushBatch:
    case AttachOp::kAckPushBatchWait:
    case AttachOp::kAckPushBatchUnique:
    case AttachOp::kAckPushBatchUniqueWait:
    case AttachOp::kAckRequeueFailed:
    case AttachOp::kAckRequeueAllFailed: {
      const std::optional<std::string> outcome = served_->pushes().Find(call);
      if (!outcome) return false;
      reply->Bytes(*outcome);
      return true;
    }
    case AttachOp::kAckAckBatch:
    case AttachOp::kAckNackBatch:
    case AttachOp::kAckFailBatch:
    case AttachOp::kAckExtendBatch:
      // Its leases ended with the owner that died: settled by it, or ready
      // again here.
      throw Error(ErrorKind::kNotOutstanding, Path(),
                  "the owner changed while this call was in flight: its items were either "
                  "settled or will be delivered again");
    default:
      return false;  // Gets run again (their leases ended with the owner); reads change nothing.
  }
}

AttachHandler::Outcome AckAttachHandler::Run(AttachOp op, std::string_view body,
                                             BodyWriter* reply, bool final,
                                             const Caller& caller) {
  if (caller.retry && AnswerRetry(op, caller.call, reply)) return Outcome::kDone;
  BodyReader reader(body, Path());
  switch (op) {
    case AttachOp::kAckPushBatch:
      served_->PushForCalls(reader.Items(), {caller.call});
      break;
    case AttachOp::kAckPushBatchWait: {
      const int64_t timeout = reader.I64();
      const std::vector<std::string_view> items = reader.Items();
      return PushOrWait(timeout, items.size(), final,
                        [&] { served_->PushForCalls(items, {caller.call}); });
    }
    case AttachOp::kAckPushBatchUnique:
      WriteStoredFlags(served_->PushUniqueForCall(ReadKeyedItems(&reader), caller.call), reply);
      break;
    case AttachOp::kAckPushBatchUniqueWait: {
      const int64_t timeout = reader.I64();
      const std::vector<KeyedItem> keyed_items = ReadKeyedItems(&reader);
      return PushOrWait(timeout, keyed_items.size(), final, [&] {
        WriteStoredFlags(served_->PushUniqueForCall(keyed_items, caller.call), reply);
      });
    }
    case AttachOp::kAckGet:
    case AttachOp::kAckGetWait: {
      const uint64_t max_items = reader.U64();
      const int64_t timeout = op == AttachOp::kAckGetWait ? reader.I64() : 0;
      Deliveries deliveries = queue_->Get(static_cast<size_t>(max_items));
      if (deliveries.empty() && max_items != 0 && timeout > 0 && !final) {
        return Outcome::kMustWait;
      }
      WriteDeliveries(deliveries, reply);
      NoteLent(caller.pid, deliveries, 0, deliveries.size());
      break;
    }
    case AttachOp::kAckAckBatch:
    case AttachOp::kAckNackBatch:
    case AttachOp::kAckFailBatch: {
      const std::vector<Delivery> settled = ReadSettled(&reader);
      if (op == AttachOp::kAckAckBatch) {
        queue_->AckBatch(settled);
      } else if (op == AttachOp::kAckNackBatch) {
        queue_->NackBatch(settled);
      } else {
        queue_->AckFailedBatch(settled);
      }
      NoteSettled(settled);
      break;
    }
    case AttachOp::kAckExtendBatch: {
      const std::chrono::milliseconds visibility_timeout(reader.I64());
      queue_->ExtendBatch(ReadSettled(&reader), visibility_timeout);
      break;
    }
    case AttachOp::kAckFailed:
      WriteFailedItems(queue_->Failed(static_cast<size_t>(reader.U64())), reply);
      break;
    case AttachOp::kAckRequeueFailed: {
      const std::vector<uint64_t> ids = ReadIds(&reader);
      reply->U64(served_->RequeueForCall(&ids, caller.call));
      break;
    }
    case AttachOp::kAckRequeueAllFailed:
      reply->U64(served_->RequeueForCall(nullptr, caller.call));
      break;
    case AttachOp::kAckTimeToNextExpiry:
      reply->I64(queue_->TimeToNextExpiry().count());
      break;
    case AttachOp::kAckReadyLen:
      reply->U64(queue_->ReadyLen());
      break;
    case AttachOp::kAckUnackedLen:
      reply->U64(queue_->UnackedLen());
      break;
    case AttachOp::kAckFailedLen:
      reply->U64(queue_->FailedLen());
      break;
    case AttachOp::kAckLen:
      reply->U64(queue_->Len());
      break;
    case AttachOp::kAckPayloadBytes:
      reply->U64(queue_->PayloadBytes());
      break;
    case AttachOp::kAckDiskBytes:
      reply->U64(queue_->DiskBytes());
      break;
    case AttachOp::kAckMaxElements:
      reply->U64(queue_->MaxElements());
      break;
    case AttachOp::kAckLastBackgroundError:
      reply->Bytes(queue_->LastBackgroundError());
      break;
    default:
      ThrowUnknownOperation(Path(), op);
  }
  return Outcome::kDone;
}

}  // namespace

std::unique_ptr<AttachHandler> MakeAckAttachHandler(ServedAckQueue* queue,
                                                    const AckOptions& options,
                                                    std::function<ItemAge()> oldest_item_age) {
  return std::make_unique<AckAttachHandler>(queue, options, std::move(oldest_item_age));
}

}  // namespace rocksq
