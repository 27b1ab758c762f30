// An ack queue's leases: which of its items are handed out, to which
// delivery (the receipt) and until when, and which are ready again after a
// nack or an expired visibility timeout. Kept in memory only (see
// rocksq/ack_queue.h: a reopened queue hands every unsettled item out anew).
//
// A pure data structure: no I/O, and no clock of its own. Every call that
// depends on the time takes `now`, so a test drives time by hand.
//
// The table names an item in at most one of these states:
//   leased    handed out to one delivery until its deadline; only that
//             delivery (its receipt) settles it;
//   settling  taken out of its lease by an ack or a fail whose write is
//             under way: counted, not named, since only the settler can
//             finish it (FinishSettle) or give it back (UndoSettle);
//   returned  ready again, nacked or expired, with its attempts so far,
//             until TakeReturned hands it to a Get.
// Items it does not name belong to the queue: never handed out since the
// open, taken by a Get that has not leased them yet, or settled.
//
// Thread safety: none. The caller serialises every call (AckQueueImpl holds
// its state_mutex_); const methods may run together.

#ifndef ROCKSQ_SRC_LEASE_TABLE_H_
#define ROCKSQ_SRC_LEASE_TABLE_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "rocksq/ack_queue.h"
#include "waiting.h"

namespace rocksq {

class LeaseTable {
 public:
  struct Lease {
    Clock::time_point deadline;  // Meaningless if leases never expire.
    uint32_t attempt;            // The delivery's: 1 the first time.
    uint64_t payload_bytes;
    uint64_t receipt;  // The delivery's: only it settles the item.
  };

  // A returned item as TakeReturned gives it back: its id and the attempts
  // made so far (its next delivery is attempt + 1).
  struct Returned {
    uint64_t id;
    uint32_t attempts;
  };

  // Leases last `visibility_timeout`; zero means they never expire. `path`
  // only names the queue in error messages.
  LeaseTable(std::string path, std::chrono::milliseconds visibility_timeout);

  LeaseTable(const LeaseTable&) = delete;
  LeaseTable& operator=(const LeaseTable&) = delete;

  // --- Handing out

  // Leases `id`, which the table must not name, to the delivery `receipt`
  // (its `attempt`-th) until one visibility timeout after `now`.
  void HandOut(uint64_t id, uint32_t attempt, uint64_t payload_bytes, uint64_t receipt,
               Clock::time_point now);

  // Moves up to `max_items` returned items, smallest id first, into `out`.
  // The table then names them no more: the caller leases them (HandOut) or
  // gives them back (PutBackReturned) if reading them failed.
  void TakeReturned(size_t max_items, std::vector<Returned>* out);
  void PutBackReturned(const std::vector<Returned>& items);

  // --- Expiry

  // Moves every lease whose deadline is at or before `now` to the returned
  // items; its delivery can settle it no more.
  void ExpireOverdue(Clock::time_point now);

  // Whether ExpireOverdue(now) would move a lease.
  bool HasOverdue(Clock::time_point now) const;

  // How long until the earliest lease expires: zero if one is overdue,
  // nanoseconds::max() if none can expire.
  std::chrono::nanoseconds TimeToNextExpiry(Clock::time_point now) const;

  // When a caller waiting for a ready item must look again, at the latest:
  // at the earliest deadline; with nothing leased, one visibility timeout
  // after `now` (the earliest a lease given meanwhile can expire); never if
  // leases never expire.
  Clock::time_point NextWake(Clock::time_point now) const;

  // --- Settling. Each first expires the leases overdue at `now`, then
  // checks every delivery: a delivery whose item is not leased, or leased
  // to another delivery (another receipt), or an item listed twice, throws
  // kNotOutstanding and changes nothing else.

  // Ends the deliveries' leases for an ack or a fail that writes: the items
  // count as settling until FinishSettle(count) or UndoSettle. Returns the
  // ended leases in the order of `deliveries`.
  std::vector<Lease> BeginSettle(const Delivery* deliveries, size_t count, Clock::time_point now);
  void FinishSettle(size_t count);
  // The write failed: the leases (as BeginSettle returned them) hold again,
  // deadlines unchanged, for the same deliveries.
  void UndoSettle(const Delivery* deliveries, const std::vector<Lease>& leases);

  // Ends the deliveries' leases and returns their items, ready again.
  void Nack(const Delivery* deliveries, size_t count, Clock::time_point now);

  // Moves the deliveries' deadlines to `visibility_timeout` after `now`
  // (zero: never), whether that is later or sooner than before; the same
  // deliveries keep their items. If the table's leases never expire, it
  // only checks the deliveries: their leases already last for ever.
  void Extend(const Delivery* deliveries, size_t count, Clock::time_point now,
              std::chrono::milliseconds visibility_timeout);

  // --- Counts

  // Items handed out and not settled yet: leased or settling.
  uint64_t unsettled() const { return leased_.size() + settling_; }
  uint64_t returned() const { return returned_.size(); }
  // The smallest id the table names, leased or returned; `none` if it names
  // none. Walks every lease: for rare callers (the oldest item's age).
  uint64_t SmallestId(uint64_t none) const;

 private:
  using Leases = std::unordered_map<uint64_t, Lease>;

  bool expires() const { return visibility_timeout_.count() != 0; }
  // `timeout` after `now`; never (time_point::max()) for zero or a
  // timeout past the clock's end.
  static Clock::time_point DeadlineFrom(Clock::time_point now, std::chrono::milliseconds timeout);
  std::vector<Lease> EndLeases(const Delivery* deliveries, size_t count, Clock::time_point now);
  std::vector<Leases::iterator> FindLeases(const Delivery* deliveries, size_t count);
  Leases::iterator FindLease(const Delivery& delivery);
  [[noreturn]] void ThrowNotOutstanding(uint64_t id, const char* why) const;

  const std::string path_;
  const std::chrono::milliseconds visibility_timeout_;
  Leases leased_;
  std::set<std::pair<Clock::time_point, uint64_t>> expiry_order_;  // Empty if !expires().
  std::map<uint64_t, uint32_t> returned_;  // Id -> attempts so far.
  uint64_t settling_ = 0;
};

// The first of `count` consecutive receipts (Delivery::receipt) that no
// delivery made in this process had. One counter serves the whole process,
// so no two deliveries of any ack queues in it share a receipt, whichever
// queue or open made them. It starts at a random number, so a delivery
// carried over from another process (pickled, say) almost surely matches
// none either; a forked child moves its counter far from its parent's.
uint64_t TakeReceipts(size_t count);

}  // namespace rocksq

#endif  // ROCKSQ_SRC_LEASE_TABLE_H_
