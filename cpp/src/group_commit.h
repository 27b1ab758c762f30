// Group commit: concurrent appends written together, one WriteBatch per
// group, in the order the calls arrived (LevelDB's writer queue).
//
// Each call waits in line; the call at the front becomes the leader, takes
// the calls queued behind it into a group, writes the group without holding
// the lock, then hands every call its result. Only one group is written at a
// time, so the owner can number the items of a group from where the last one
// ended: positions stay contiguous and in call order. Synced writes from many
// threads thus share one fsync, and small unsynced ones share one WAL record.
//
// Gathering (for synced writes, SetGathering): a group's fsync takes far
// longer than its callers take to come back with their next write, so
// without it the callers split into two cohorts, one queueing while the
// other's group syncs, and each fsync carries half of them (8 threads ran
// at 3.2x one thread's rate here). A gathering leader first waits until as
// many calls are queued as were inside Append at once since the last group
// formed, for at most half the last write's duration (and kMaxGatherWait):
// the callers just released come back within microseconds and share the
// next fsync. A lone caller never waits (it is the whole population), and
// the population estimate restarts at each group, so a thread that stops
// writing costs at most one bounded wait.

#ifndef ROCKSQ_SRC_GROUP_COMMIT_H_
#define ROCKSQ_SRC_GROUP_COMMIT_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rocksdb/status.h"

namespace rocksq {

class GroupCommit {
 public:
  // Key-value pairs of the default column family a call writes in the same
  // WriteBatch as its items (a FIFO queue's push records, format.h).
  using SideRecords = std::vector<std::pair<std::string, std::string>>;

  // The items of one call, as the caller passed them, and its side records
  // (null: none).
  struct Span {
    const std::string_view* items;
    size_t count;
    const SideRecords* side_records = nullptr;
  };

  // The calls one leader writes together.
  struct Group {
    std::vector<Span> spans;  // The admitted calls' items, in call order.
    uint64_t item_count = 0;
    uint64_t payload_bytes = 0;
    // When its write returned (steady clock): set before GroupCommitted,
    // from the clock read that times the write, so owners that note the
    // time (age_marks.h) read no clock of their own.
    std::chrono::steady_clock::time_point written_at{};
  };

  // What the queue that owns the items decides.
  class Owner {
   public:
    virtual ~Owner() = default;
    // Under mutex(): may a call of `count` items join a group that already
    // admitted `admitted_items`? Returns (or throws) the error that call
    // throws if not.
    virtual std::exception_ptr Admit(uint64_t admitted_items, size_t count) = 0;
    // Without the lock, by one leader at a time: encodes and writes `group`.
    // If it throws, every call of the group throws that.
    virtual rocksdb::Status WriteGroup(const Group& group) = 0;
    // Under mutex(), after WriteGroup succeeded: publish the items. Must not
    // throw.
    virtual void GroupCommitted(const Group& group) noexcept = 0;
    // Under mutex(), after WriteGroup returned an error: the error every
    // call of the group throws. Must not throw.
    virtual std::exception_ptr GroupFailed(const rocksdb::Status& status) noexcept = 0;
  };

  explicit GroupCommit(Owner* owner) : owner_(owner) {}
  GroupCommit(const GroupCommit&) = delete;
  GroupCommit& operator=(const GroupCommit&) = delete;

  // Appends `items` (all or nothing), with `side_records` if not null, and
  // returns once they are written, or throws the error Admit or GroupFailed
  // gave this call.
  void Append(const std::string_view* items, size_t count,
              const SideRecords* side_records = nullptr);

  // Waits its turn in line as an Append does, then runs `write` alone: no
  // group is written meanwhile, so `write` may number items from where the
  // last group ended (the ack queue's requeue, which writes them in one
  // batch with other changes). Throws what `write` throws.
  void Exclusively(const std::function<void()>& write);

  // Held by Admit, GroupCommitted and GroupFailed; owners may take it to
  // read what those change.
  std::mutex& mutex() { return mutex_; }

  // Turns gathering on (see above); for owners whose writes are synced.
  // Call before the first Append.
  void SetGathering(bool gather) { gather_ = gather; }

 private:
  struct Call {
    Call(const std::string_view* items, size_t count, const SideRecords* side_records);
    Span span;
    const std::function<void()>* exclusive = nullptr;  // Set: runs alone.
    size_t bytes = 0;
    bool done = false;
    bool admitted = false;
    // Set (after done, or on becoming the front) before `turn` is notified:
    // lets a waiting call spin briefly before it sleeps.
    std::atomic<bool> signaled{false};
    std::exception_ptr error;
    std::condition_variable turn;
  };

  void Run(Call& self);  // Append and Exclusively.
  std::vector<Call*> FormGroup(Group* group);  // Needs mutex_.
  void Gather(std::unique_lock<std::mutex>& lock, Call& leader);  // Needs mutex_.

  Owner* const owner_;
  bool gather_ = false;
  std::mutex mutex_;
  std::deque<Call*> calls_;
  // Under mutex_: calls inside Append now, the most at once since the last
  // group formed, and how long the last group's write took.
  size_t active_ = 0;
  size_t peak_active_ = 0;
  std::chrono::steady_clock::duration last_write_{};
};

}  // namespace rocksq

#endif  // ROCKSQ_SRC_GROUP_COMMIT_H_
