#include "lease_table.h"

#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <random>
#include <unordered_set>

#include "rocksq/error.h"

namespace rocksq {

LeaseTable::LeaseTable(std::string path, std::chrono::milliseconds visibility_timeout)
    : path_(std::move(path)), visibility_timeout_(visibility_timeout) {}

// Saturates instead of overflowing for "practically never" timeouts.
Clock::time_point LeaseTable::DeadlineFrom(Clock::time_point now) const {
  const auto room =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::time_point::max() - now);
  if (visibility_timeout_ >= room) return Clock::time_point::max();
  return now + std::chrono::duration_cast<Clock::duration>(visibility_timeout_);
}

void LeaseTable::HandOut(uint64_t id, uint32_t attempt, uint64_t payload_bytes, uint64_t receipt,
                         Clock::time_point now) {
  const Clock::time_point deadline = DeadlineFrom(now);
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
  return next <= now ? std::chrono::nanoseconds::zero()
                     : std::chrono::duration_cast<std::chrono::nanoseconds>(next - now);
}

Clock::time_point LeaseTable::NextWake(Clock::time_point now) const {
  if (!expires()) return Clock::time_point::max();
  if (!expiry_order_.empty()) return expiry_order_.begin()->first;
  return DeadlineFrom(now);
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

// Removes the deliveries' leases, all or none.
std::vector<LeaseTable::Lease> LeaseTable::EndLeases(const Delivery* deliveries, size_t count,
                                                     Clock::time_point now) {
  ExpireOverdue(now);
  std::vector<Lease> ended;
  ended.reserve(count);
  auto end = [&](Leases::iterator lease) {
    ended.push_back(lease->second);
    if (expires()) expiry_order_.erase({lease->second.deadline, lease->first});
    leased_.erase(lease);
  };
  if (count == 1) {  // The common case, with no set of the ids seen.
    end(FindLease(deliveries[0]));
    return ended;
  }
  // Every one is checked before any is ended. Erasing one element of an
  // unordered_map leaves iterators to the others valid.
  std::vector<Leases::iterator> found;
  found.reserve(count);
  std::unordered_set<uint64_t> seen;
  for (size_t i = 0; i < count; ++i) {
    if (!seen.insert(deliveries[i].id).second) {
      ThrowNotOutstanding(deliveries[i].id, " is listed twice");
    }
    found.push_back(FindLease(deliveries[i]));
  }
  for (auto lease : found) end(lease);
  return ended;
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

}  // namespace rocksq
