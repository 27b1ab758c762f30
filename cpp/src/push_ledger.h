// The push half of a queue's call ledger: what the pushes an owner served to
// attached processes did, kept where the owner that takes over after a
// hand-over finds it (docs/design/many-processes.md, section 5; format.h has
// the records). Every kind that hands over keeps one: the FIFO queue's pushes
// (fifo_call_ledger.h), the ack queue's pushes, unique pushes and requeues,
// the MPMC queue's adds and label removals.
//
// An attached call's reply can be lost only if the owner dies between the
// call's write and the reply's send. The client then sends the call again, as
// a retry with the same CallId, to the owner that took over. A call that
// changes the queue writes its record (the lane's last seq, and the call's
// outcome when its reply says more than "done") in the same WriteBatch as its
// effect: a retry that finds it gets that outcome and changes nothing; one
// that finds none runs as a first call, since the write never happened.

#ifndef ROCKSQ_SRC_PUSH_LEDGER_H_
#define ROCKSQ_SRC_PUSH_LEDGER_H_

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "attach_wire.h"
#include "group_commit.h"
#include "storage.h"

namespace rocksq {

// Thread-safe: the attach server may run a synced queue's pushes on its
// workers while its own thread ends lanes (AttachHandler::GroupsRunOnWorkers).
class PushLedger {
 public:
  // Reads the records the queue's earlier owners left in the default
  // family, deleting those older than kPushRecordLifetimeSeconds. Throws
  // kStorage or kCorruption if it cannot.
  explicit PushLedger(QueueDatabase* database);

  // The records to write, in the same WriteBatch as its effect, of a call
  // made by each of `calls` whose reply body is `outcome` (empty for a call
  // whose reply is empty).
  GroupCommit::SideRecords Records(const std::vector<CallId>& calls,
                                   std::string_view outcome = {}) const;
  // After that write.
  void Note(const std::vector<CallId>& calls, std::string_view outcome = {});
  // The reply body of `call`, if its write happened.
  std::optional<std::string> Find(const CallId& call) const;

  // The lane's connection ended: its record is deleted (unsynced: a record
  // left by a crash is deleted by a later open).
  void LaneGone(uint64_t client_id, uint32_t lane);

 private:
  using Lane = std::pair<uint64_t, uint32_t>;  // Client id, lane.
  struct Recorded {
    uint64_t seq;
    std::string outcome;
  };

  QueueDatabase* const database_;
  mutable std::mutex mutex_;
  std::map<Lane, Recorded> recorded_;  // Under mutex_: the last recorded call of each lane.
};

}  // namespace rocksq

#endif  // ROCKSQ_SRC_PUSH_LEDGER_H_
