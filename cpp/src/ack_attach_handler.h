// The ack queue's operations for the attach server (attach_server.h),
// AttachOp 32..53 (attach_wire.h), and the encodings of what they carry,
// shared with the attached ack queue (attached_ack_queue.h).

#ifndef ROCKSQ_SRC_ACK_ATTACH_HANDLER_H_
#define ROCKSQ_SRC_ACK_ATTACH_HANDLER_H_

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "age_marks.h"
#include "attach_server.h"
#include "push_ledger.h"
#include "rocksq/ack_queue.h"

namespace rocksq {

// The queue an ack handler serves: the owner's own, with the calls that keep
// its push ledger (push_ledger.h) for attached calls. Gets and settles keep
// no record: leases end with the owner, as with a crash.
class ServedAckQueue {
 public:
  virtual ~ServedAckQueue() = default;
  virtual AckQueue& queue() = 0;
  virtual PushLedger& pushes() = 0;
  // Pushes `items` (all or nothing; kQueueFull if they do not fit now),
  // with the push record of each of `calls`.
  virtual void PushForCalls(const std::vector<std::string_view>& items,
                            const std::vector<CallId>& calls) = 0;
  // PushBatchUnique without waiting (kQueueFull if the new items do not fit
  // now), with the record of `call`, which keeps the stored flags.
  virtual std::vector<bool> PushUniqueForCall(const std::vector<KeyedItem>& keyed_items,
                                              const CallId& call) = 0;
  // RequeueFailed(*ids), or RequeueAllFailed() if `ids` is null, with the
  // record of `call`, which keeps the count.
  virtual uint64_t RequeueForCall(const std::vector<uint64_t>* ids, const CallId& call) = 0;
};

// Serves `queue`, opened with `options`; the queue outlives the server.
// `oldest_item_age` answers for it in Stats (age_marks.h).
std::unique_ptr<AttachHandler> MakeAckAttachHandler(ServedAckQueue* queue,
                                                    const AckOptions& options,
                                                    std::function<ItemAge()> oldest_item_age);

// Opens the queue at `path` in this process, to be served by a handler of
// a test's own (AckQueue::Open serves it with `options.attach`).
std::unique_ptr<ServedAckQueue> OpenAckQueueToServe(const std::string& path,
                                                    const AckOptions& options);

// The bodies of attach_wire.h's ack operations.
void WriteKeyedItems(const std::vector<KeyedItem>& keyed_items, BodyWriter* body);
std::vector<KeyedItem> ReadKeyedItems(BodyReader* body);
void WriteStoredFlags(const std::vector<bool>& stored, BodyWriter* body);
std::vector<bool> ReadStoredFlags(BodyReader* body);
void WriteDeliveries(const Deliveries& deliveries, BodyWriter* body);
// Deliveries [first, first + count) only.
void WriteDeliveries(const Deliveries& deliveries, size_t first, size_t count, BodyWriter* body);
Deliveries ReadDeliveries(BodyReader* body);  // Owns its payloads.
void WriteSettled(const std::vector<Delivery>& deliveries, BodyWriter* body);
std::vector<Delivery> ReadSettled(BodyReader* body);  // Without payloads.
void WriteFailedItems(const std::vector<FailedItem>& failed, BodyWriter* body);
std::vector<FailedItem> ReadFailedItems(BodyReader* body);
void WriteIds(const std::vector<uint64_t>& ids, BodyWriter* body);
std::vector<uint64_t> ReadIds(BodyReader* body);

}  // namespace rocksq

#endif  // ROCKSQ_SRC_ACK_ATTACH_HANDLER_H_
