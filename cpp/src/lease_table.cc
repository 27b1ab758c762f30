#include "lease_table.h"

#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <random>
#include <unordered_set>

#include "rocksq/error.h"

namespace rocksq {

LeaseTable::LeaseTable(std::string path, std::chrono::milliseconds visibility_timeout)
    : path_(std::move(path)), visibility_timeout_(visibility_timeout) {}

// Saturates instead of overflowing for "practically never" timeouts.
Clock::time_point LeaseTable::DeadlineFrom(Clock::time_point now,
                                           std::chrono::milliseconds timeout) {
  const auto room =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::time_point::max() - now);
  if (timeout.count() == 0 || timeout >= room) return Clock::time_point::max();
  return now + std::chrono::duration_cast<Clock::duration>(timeout);
}

void LeaseTable::HandOut(uint64_t id, uint32_t attempt, uint64_t payload_bytes, uint64_t receipt,
                         Clock::time_point now) {
  const Clock::time_point deadline = DeadlineFrom(now, visibility_timeout_);
  leased_.emplace(id, Lease{deadline, attempt, payload_bytes, receipt});
  if (expires()) expiry_order_.emplace(deadline, id);
}

void LeaseTable::TakeReturned(size_t max_items, std::vector<Returned>* out) {
  for (size_t taken = 0; taken < max_items && !returned_.empty(); ++taken) {
    out->push_back(Returned{returned_.begin()->first, returned_.begin()->second});
    returned_.erase(returned_.begin());
  }
}

void LeaseTable::PutBackReturned(const std::vector<Returned>& items) {
  for (const Returned& item : items) returned_.emplace(item.id, item.attempts);
}

void LeaseTable::ExpireOverdue(Clock::time_point now) {
  while (!expiry_order_.empty() && expiry_order_.begin()->first <= now) {
    const uint64_t id = expiry_order_.begin()->second;
    expiry_order_.erase(expiry_order_.begin());
    auto lease = leased_.find(id);
    returned_.emplace(id, lease->second.attempt);
    leased_.erase(lease);
  }
}

bool LeaseTable::HasOverdue(Clock::time_point now) const {
  return !expiry_order_.empty() && expiry_order_.begin()->first <= now;
}

std::chrono::nanoseconds LeaseTable::TimeToNextExpiry(Clock::time_point now) const {
  if (expiry_order_.empty()) return std::chrono::nanoseconds::max();
  const Clock::time_point next = expiry_order_.begin()->first;
  // A lease extended for ever (Extend with zero) is no expiry.
  if (next == Clock::time_point::max()) return std::chrono::nanoseconds::max();
  return next <= now ? std::chrono::nanoseconds::zero()
                     : std::chrono::duration_cast<std::chrono::nanoseconds>(next - now);
}

Clock::time_point LeaseTable::NextWake(Clock::time_point now) const {
  if (!expires()) return Clock::time_point::max();
  if (!expiry_order_.empty()) return expiry_order_.begin()->first;
  return DeadlineFrom(now, visibility_timeout_);
}

void LeaseTable::ThrowNotOutstanding(uint64_t id, const char* why) const {
  throw Error(ErrorKind::kNotOutstanding, path_, "item " + std::to_string(id) + why);
}

// The lease of `delivery`'s item, if that delivery holds it; otherwise
// throws kNotOutstanding, saying why.
LeaseTable::Leases::iterator LeaseTable::FindLease(const Delivery& delivery) {
  auto lease = leased_.find(delivery.id);
  if (lease == leased_.end()) {
    ThrowNotOutstanding(delivery.id,
                        " is not handed out (acked, nacked, failed, expired, or never delivered)");
  }
  if (lease->second.receipt != delivery.receipt) {
    ThrowNotOutstanding(delivery.id,
                        " is handed out by another delivery: this one expired or was nacked, "
                        "or comes from another queue or an earlier open");
  }
  return lease;
}

// The deliveries' leases, in their order, once every one is checked: throws
// kNotOutstanding if one does not hold its item or an item is listed twice.
std::vector<LeaseTable::Leases::iterator> LeaseTable::FindLeases(const Delivery* deliveries,
                                                                 size_t count) {
  std::vector<Leases::iterator> found;
  found.reserve(count);
  if (count == 1) {  // The common case, with no set of the ids seen.
    found.push_back(FindLease(deliveries[0]));
    return found;
  }
  std::unordered_set<uint64_t> seen;
  for (size_t i = 0; i < count; ++i) {
    if (!seen.insert(deliveries[i].id).second) {
      ThrowNotOutstanding(deliveries[i].id, " is listed twice");
    }
    found.push_back(FindLease(deliveries[i]));
  }
  return found;
}

// Removes the deliveries' leases, all or none. Erasing one element of an
// unordered_map leaves iterators to the others valid.
std::vector<LeaseTable::Lease> LeaseTable::EndLeases(const Delivery* deliveries, size_t count,
                                                     Clock::time_point now) {
  ExpireOverdue(now);
  std::vector<Lease> ended;
  ended.reserve(count);
  for (Leases::iterator lease : FindLeases(deliveries, count)) {
    ended.push_back(lease->second);
    if (expires()) expiry_order_.erase({lease->second.deadline, lease->first});
    leased_.erase(lease);
  }
  return ended;
}

void LeaseTable::Extend(const Delivery* deliveries, size_t count, Clock::time_point now,
                        std::chrono::milliseconds visibility_timeout) {
  ExpireOverdue(now);
  const std::vector<Leases::iterator> found = FindLeases(deliveries, count);
  if (!expires()) return;
  const Clock::time_point deadline = DeadlineFrom(now, visibility_timeout);
  for (Leases::iterator lease : found) {
    expiry_order_.erase({lease->second.deadline, lease->first});
    lease->second.deadline = deadline;
    expiry_order_.emplace(deadline, lease->first);
  }
}

std::vector<LeaseTable::Lease> LeaseTable::BeginSettle(const Delivery* deliveries, size_t count,
                                                       Clock::time_point now) {
  std::vector<Lease> ended = EndLeases(deliveries, count, now);
  settling_ += count;
  return ended;
}

void LeaseTable::FinishSettle(size_t count) { settling_ -= count; }

void LeaseTable::UndoSettle(const Delivery* deliveries, const std::vector<Lease>& leases) {
  settling_ -= leases.size();
  for (size_t i = 0; i < leases.size(); ++i) {
    leased_.emplace(deliveries[i].id, leases[i]);
    if (expires()) expiry_order_.emplace(leases[i].deadline, deliveries[i].id);
  }
}

void LeaseTable::Nack(const Delivery* deliveries, size_t count, Clock::time_point now) {
  const std::vector<Lease> ended = EndLeases(deliveries, count, now);
  for (size_t i = 0; i < count; ++i) returned_.emplace(deliveries[i].id, ended[i].attempt);
}

// --- Receipts ------------------------------------------------------------------

namespace {

std::atomic<uint64_t> next_receipt{0};

// A bijective mix of 64 bits (the splitmix64 finalizer).
uint64_t Mix(uint64_t bits) {
  bits = (bits ^ (bits >> 30)) * 0xBF58476D1CE4E5B9ull;
  bits = (bits ^ (bits >> 27)) * 0x94D049BB133111EBull;
  return bits ^ (bits >> 31);
}

// Runs in a forked child, where only async-signal-safe calls are allowed:
// getpid and a lock-free atomic are.
void MoveReceiptsAfterFork() {
  const uint64_t pid = static_cast<uint64_t>(::getpid());
  next_receipt.store(Mix(next_receipt.load(std::memory_order_relaxed) ^ (pid << 32 | pid)),
                     std::memory_order_relaxed);
}

bool SeedReceipts() {
  std::random_device random;
  next_receipt.store(Mix(uint64_t{random()} << 32 ^ random()), std::memory_order_relaxed);
  ::pthread_atfork(nullptr, nullptr, MoveReceiptsAfterFork);
  return true;
}

}  // namespace

uint64_t TakeReceipts(size_t count) {
  [[maybe_unused]] static const bool seeded = SeedReceipts();  // By the process's first Get.
  return next_receipt.fetch_add(count, std::memory_order_relaxed);
}

uint64_t LeaseTable::SmallestId(uint64_t none) const {
  uint64_t smallest = returned_.empty() ? none : std::min(none, returned_.begin()->first);
  for (const auto& [id, lease] : leased_) smallest = std::min(smallest, id);
  return smallest;
}

}  // namespace rocksq
