// The ack queue's operations for the attach server (attach_server.h),
// AttachOp 32..53 (attach_wire.h), and the encodings of what they carry,
// shared with the attached ack queue (attached_ack_queue.h).

#ifndef ROCKSQ_SRC_ACK_ATTACH_HANDLER_H_
#define ROCKSQ_SRC_ACK_ATTACH_HANDLER_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "age_marks.h"
#include "attach_server.h"
#include "rocksq/ack_queue.h"

namespace rocksq {

// Serves `queue`, opened with `options`; the queue outlives the server.
// `oldest_item_age` answers for it in Stats (age_marks.h).
std::unique_ptr<AttachHandler> MakeAckAttachHandler(AckQueue* queue, const AckOptions& options,
                                                    std::function<ItemAge()> oldest_item_age);

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
