#include "lease_table.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "test_util.h"

namespace rocksq {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;
using testing::KindThrownBy;

// Time is whatever the test says: leases are given and checked at chosen
// points from here.
const Clock::time_point kStart = Clock::time_point() + hours(1);

Delivery DeliveryOf(uint64_t id, uint64_t receipt) { return Delivery{id, 1, {}, receipt}; }

std::vector<uint64_t> IdsOf(const std::vector<LeaseTable::Returned>& items) {
  std::vector<uint64_t> ids;
  for (const LeaseTable::Returned& item : items) ids.push_back(item.id);
  return ids;
}

TEST(LeaseTable, SettlingByTheReceiptEndsTheLeaseAndReturnsIt) {
  LeaseTable leases("q", seconds(30));
  leases.HandOut(7, 1, 10, 100, kStart);
  EXPECT_EQ(leases.unsettled(), 1u);

  const Delivery delivery = DeliveryOf(7, 100);
  const std::vector<LeaseTable::Lease> ended = leases.BeginSettle(&delivery, 1, kStart);
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].payload_bytes, 10u);
  EXPECT_EQ(ended[0].attempt, 1u);
  EXPECT_EQ(ended[0].receipt, 100u);
  EXPECT_EQ(leases.unsettled(), 1u);  // Settling still counts until it finishes.
  leases.FinishSettle(1);
  EXPECT_EQ(leases.unsettled(), 0u);
  EXPECT_EQ(leases.returned(), 0u);
}

TEST(LeaseTable, AStaleReceiptIsRefusedAndTheLeaseHolds) {
  LeaseTable leases("q", seconds(30));
  leases.HandOut(7, 1, 10, 100, kStart);
  const Delivery stale = DeliveryOf(7, 99);
  std::string message;
  EXPECT_EQ(KindThrownBy([&] { leases.BeginSettle(&stale, 1, kStart); }, &message),
            ErrorKind::kNotOutstanding);
  EXPECT_NE(message.find("q"), std::string::npos);
  EXPECT_NE(message.find("handed out by another delivery"), std::string::npos);
  EXPECT_EQ(leases.unsettled(), 1u);

  const Delivery current = DeliveryOf(7, 100);
  EXPECT_EQ(leases.BeginSettle(&current, 1, kStart).size(), 1u);
}

TEST(LeaseTable, AnItemNotHandedOutIsRefused) {
  LeaseTable leases("q", seconds(30));
  const Delivery never = DeliveryOf(3, 1);
  std::string message;
  EXPECT_EQ(KindThrownBy([&] { leases.Nack(&never, 1, kStart); }, &message),
            ErrorKind::kNotOutstanding);
  EXPECT_NE(message.find("item 3 is not handed out"), std::string::npos);
}

TEST(LeaseTable, LeasesExpireInDeadlineOrderAndReturnSmallestIdFirst) {
  LeaseTable leases("q", seconds(10));
  leases.HandOut(5, 1, 0, 1, kStart);
  leases.HandOut(3, 2, 0, 2, kStart + seconds(1));
  leases.HandOut(9, 1, 0, 3, kStart + seconds(2));
  EXPECT_EQ(leases.TimeToNextExpiry(kStart), seconds(10));
  EXPECT_EQ(leases.NextWake(kStart), kStart + seconds(10));

  EXPECT_FALSE(leases.HasOverdue(kStart + seconds(10) - nanoseconds(1)));
  EXPECT_TRUE(leases.HasOverdue(kStart + seconds(10)));  // The deadline itself is overdue.
  leases.ExpireOverdue(kStart + seconds(10));
  EXPECT_EQ(leases.unsettled(), 2u);
  EXPECT_EQ(leases.returned(), 1u);
  EXPECT_EQ(leases.TimeToNextExpiry(kStart + seconds(10)), seconds(1));

  leases.ExpireOverdue(kStart + seconds(12));
  EXPECT_EQ(leases.unsettled(), 0u);
  std::vector<LeaseTable::Returned> again;
  leases.TakeReturned(10, &again);
  EXPECT_EQ(IdsOf(again), (std::vector<uint64_t>{3, 5, 9}));
  EXPECT_EQ(again[0].attempts, 2u);  // Item 3's attempts so far.
  EXPECT_EQ(leases.returned(), 0u);
}

TEST(LeaseTable, AnExpiredDeliveryCannotSettle) {
  LeaseTable leases("q", seconds(10));
  leases.HandOut(4, 1, 0, 40, kStart);
  const Delivery late = DeliveryOf(4, 40);
  // Settling after the deadline expires the lease first.
  EXPECT_EQ(KindThrownBy([&] { leases.BeginSettle(&late, 1, kStart + seconds(10)); }),
            ErrorKind::kNotOutstanding);
  EXPECT_EQ(leases.unsettled(), 0u);
  EXPECT_EQ(leases.returned(), 1u);

  // Handed out again, only the new delivery settles it.
  std::vector<LeaseTable::Returned> again;
  leases.TakeReturned(1, &again);
  leases.HandOut(4, again[0].attempts + 1, 0, 41, kStart + seconds(11));
  EXPECT_EQ(KindThrownBy([&] { leases.BeginSettle(&late, 1, kStart + seconds(11)); }),
            ErrorKind::kNotOutstanding);
  const Delivery current = DeliveryOf(4, 41);
  EXPECT_EQ(leases.BeginSettle(&current, 1, kStart + seconds(11))[0].attempt, 2u);
}

TEST(LeaseTable, WithAZeroTimeoutLeasesNeverExpire) {
  LeaseTable leases("q", milliseconds(0));
  leases.HandOut(1, 1, 0, 1, kStart);
  EXPECT_FALSE(leases.HasOverdue(Clock::time_point::max()));
  leases.ExpireOverdue(Clock::time_point::max());
  EXPECT_EQ(leases.unsettled(), 1u);
  EXPECT_EQ(leases.TimeToNextExpiry(kStart), nanoseconds::max());
  EXPECT_EQ(leases.NextWake(kStart), Clock::time_point::max());
}

TEST(LeaseTable, AHugeTimeoutSaturatesInsteadOfOverflowing) {
  LeaseTable leases("q", milliseconds::max());
  leases.HandOut(1, 1, 0, 1, kStart);
  EXPECT_FALSE(leases.HasOverdue(kStart + hours(24 * 365 * 100)));
  EXPECT_GT(leases.TimeToNextExpiry(kStart), hours(24 * 365 * 100));
  EXPECT_EQ(leases.NextWake(kStart), Clock::time_point::max());
}

TEST(LeaseTable, WithNothingLeasedAWaiterLooksAgainOneTimeoutLater) {
  LeaseTable leases("q", seconds(10));
  EXPECT_EQ(leases.NextWake(kStart), kStart + seconds(10));
  EXPECT_EQ(leases.TimeToNextExpiry(kStart), nanoseconds::max());
}

TEST(LeaseTable, ANackReturnsTheItemWithItsAttempts) {
  LeaseTable leases("q", seconds(10));
  leases.HandOut(6, 3, 0, 60, kStart);
  const Delivery delivery = DeliveryOf(6, 60);
  leases.Nack(&delivery, 1, kStart);
  EXPECT_EQ(leases.unsettled(), 0u);
  EXPECT_FALSE(leases.HasOverdue(kStart + seconds(10)));  // Its expiry went with the lease.
  std::vector<LeaseTable::Returned> again;
  leases.TakeReturned(1, &again);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].id, 6u);
  EXPECT_EQ(again[0].attempts, 3u);
  // Nacked once, the delivery settles nothing more.
  EXPECT_EQ(KindThrownBy([&] { leases.Nack(&delivery, 1, kStart); }), ErrorKind::kNotOutstanding);
}

TEST(LeaseTable, ABulkSettleEndsEveryLeaseOrNone) {
  LeaseTable leases("q", seconds(10));
  for (uint64_t id = 1; id <= 3; ++id) leases.HandOut(id, 1, id, 10 * id, kStart);
  const std::vector<Delivery> one_stale = {DeliveryOf(1, 10), DeliveryOf(2, 20), DeliveryOf(3, 31)};
  EXPECT_EQ(KindThrownBy([&] { leases.BeginSettle(one_stale.data(), 3, kStart); }),
            ErrorKind::kNotOutstanding);
  EXPECT_EQ(leases.unsettled(), 3u);

  const std::vector<Delivery> twice = {DeliveryOf(1, 10), DeliveryOf(1, 10)};
  std::string message;
  EXPECT_EQ(KindThrownBy([&] { leases.Nack(twice.data(), 2, kStart); }, &message),
            ErrorKind::kNotOutstanding);
  EXPECT_NE(message.find("listed twice"), std::string::npos);
  EXPECT_EQ(leases.returned(), 0u);

  const std::vector<Delivery> all = {DeliveryOf(3, 30), DeliveryOf(1, 10), DeliveryOf(2, 20)};
  const std::vector<LeaseTable::Lease> ended = leases.BeginSettle(all.data(), 3, kStart);
  ASSERT_EQ(ended.size(), 3u);
  EXPECT_EQ(ended[0].payload_bytes, 3u);  // In the order of the deliveries.
  EXPECT_EQ(ended[1].payload_bytes, 1u);
  EXPECT_EQ(ended[2].payload_bytes, 2u);
  EXPECT_FALSE(leases.HasOverdue(Clock::time_point::max()));
  leases.FinishSettle(3);
  EXPECT_EQ(leases.unsettled(), 0u);
}

TEST(LeaseTable, AnUndoneSettleLeavesTheLeasesAsTheyWere) {
  LeaseTable leases("q", seconds(10));
  leases.HandOut(8, 1, 5, 80, kStart);
  const Delivery delivery = DeliveryOf(8, 80);
  const std::vector<LeaseTable::Lease> ended = leases.BeginSettle(&delivery, 1, kStart);
  EXPECT_FALSE(leases.HasOverdue(kStart + seconds(10)));
  leases.UndoSettle(&delivery, ended);
  EXPECT_EQ(leases.unsettled(), 1u);
  EXPECT_TRUE(leases.HasOverdue(kStart + seconds(10)));  // The same deadline.
  EXPECT_EQ(leases.BeginSettle(&delivery, 1, kStart).size(), 1u);  // The same receipt.
}

TEST(LeaseTable, TakeReturnedTakesAtMostTheLimitAndPutBackRestoresThem) {
  LeaseTable leases("q", seconds(10));
  for (uint64_t id = 10; id < 13; ++id) leases.HandOut(id, 1, 0, id, kStart);
  leases.ExpireOverdue(kStart + seconds(10));
  std::vector<LeaseTable::Returned> none;
  leases.TakeReturned(0, &none);
  EXPECT_TRUE(none.empty());
  std::vector<LeaseTable::Returned> two;
  leases.TakeReturned(2, &two);
  EXPECT_EQ(IdsOf(two), (std::vector<uint64_t>{10, 11}));
  EXPECT_EQ(leases.returned(), 1u);
  leases.PutBackReturned(two);
  std::vector<LeaseTable::Returned> all;
  leases.TakeReturned(5, &all);
  EXPECT_EQ(IdsOf(all), (std::vector<uint64_t>{10, 11, 12}));
}

TEST(LeaseTable, ReceiptsAreConsecutiveAndNeverRepeat) {
  const uint64_t first = TakeReceipts(3);
  const uint64_t next = TakeReceipts(1);
  EXPECT_EQ(next, first + 3);
  EXPECT_EQ(TakeReceipts(0), first + 4);
}

// --- Extending a lease

TEST(LeaseTable, ExtendMovesTheDeadlineAndTheSameReceiptKeepsTheItem) {
  LeaseTable leases("q", seconds(30));
  leases.HandOut(7, 1, 10, 100, kStart);
  const Delivery delivery = DeliveryOf(7, 100);
  leases.Extend(&delivery, 1, kStart + seconds(20), seconds(60));
  EXPECT_EQ(leases.TimeToNextExpiry(kStart + seconds(20)), seconds(60));
  leases.ExpireOverdue(kStart + seconds(79));  // Long past the old deadline.
  EXPECT_EQ(leases.returned(), 0u);
  EXPECT_EQ(leases.unsettled(), 1u);
  leases.ExpireOverdue(kStart + seconds(80));
  EXPECT_EQ(leases.returned(), 1u);
}

TEST(LeaseTable, ExtendCanShortenALeaseAndZeroMeansNever) {
  LeaseTable leases("q", seconds(30));
  leases.HandOut(7, 1, 10, 100, kStart);
  leases.HandOut(8, 1, 10, 101, kStart);
  const Delivery sooner = DeliveryOf(7, 100);
  const Delivery never = DeliveryOf(8, 101);
  leases.Extend(&sooner, 1, kStart, seconds(5));
  leases.Extend(&never, 1, kStart, seconds(0));
  leases.ExpireOverdue(kStart + seconds(5));
  std::vector<LeaseTable::Returned> returned;
  leases.TakeReturned(10, &returned);
  EXPECT_EQ(IdsOf(returned), std::vector<uint64_t>{7});
  leases.ExpireOverdue(kStart + hours(24 * 365));
  EXPECT_EQ(leases.returned(), 0u);
  EXPECT_EQ(leases.TimeToNextExpiry(kStart), nanoseconds::max());
  const Delivery held = DeliveryOf(8, 101);
  leases.BeginSettle(&held, 1, kStart + hours(1));  // Still its delivery's.
}

TEST(LeaseTable, ExtendRefusesEveryDeliveryIfOneIsNotOutstanding) {
  LeaseTable leases("q", seconds(30));
  leases.HandOut(7, 1, 10, 100, kStart);
  leases.HandOut(8, 1, 10, 101, kStart);
  const std::vector<Delivery> stale = {DeliveryOf(7, 100), DeliveryOf(8, 99)};
  EXPECT_EQ(KindThrownBy([&] { leases.Extend(stale.data(), 2, kStart, seconds(60)); }),
            ErrorKind::kNotOutstanding);
  const std::vector<Delivery> twice = {DeliveryOf(7, 100), DeliveryOf(7, 100)};
  EXPECT_EQ(KindThrownBy([&] { leases.Extend(twice.data(), 2, kStart, seconds(60)); }),
            ErrorKind::kNotOutstanding);
  // Neither call moved item 7's deadline.
  leases.ExpireOverdue(kStart + seconds(30));
  EXPECT_EQ(leases.returned(), 2u);
  const Delivery expired = DeliveryOf(7, 100);
  EXPECT_EQ(KindThrownBy([&] { leases.Extend(&expired, 1, kStart + seconds(31), seconds(60)); }),
            ErrorKind::kNotOutstanding);
}

TEST(LeaseTable, ExtendInATableThatNeverExpiresOnlyChecks) {
  LeaseTable leases("q", seconds(0));
  leases.HandOut(7, 1, 10, 100, kStart);
  const Delivery delivery = DeliveryOf(7, 100);
  leases.Extend(&delivery, 1, kStart, seconds(5));
  leases.ExpireOverdue(kStart + hours(1));
  EXPECT_EQ(leases.returned(), 0u);
  const Delivery stale = DeliveryOf(7, 99);
  EXPECT_EQ(KindThrownBy([&] { leases.Extend(&stale, 1, kStart, seconds(5)); }),
            ErrorKind::kNotOutstanding);
}

TEST(LeaseTable, TheSmallestIdIsTheSmallestLeasedOrReturned) {
  LeaseTable leases("q", seconds(30));
  EXPECT_EQ(leases.SmallestId(99), 99u);  // Names none.
  leases.HandOut(9, 1, 1, 100, kStart);
  leases.HandOut(4, 1, 1, 101, kStart);
  leases.HandOut(6, 1, 1, 102, kStart);
  EXPECT_EQ(leases.SmallestId(99), 4u);
  EXPECT_EQ(leases.SmallestId(2), 2u);  // Below every id named.
  const Delivery fourth = DeliveryOf(4, 101);
  leases.Nack(&fourth, 1, kStart);  // Returned: still named.
  EXPECT_EQ(leases.SmallestId(99), 4u);
  std::vector<LeaseTable::Returned> again;
  leases.TakeReturned(1, &again);
  EXPECT_EQ(leases.SmallestId(99), 6u);
}

}  // namespace
}  // namespace rocksq
