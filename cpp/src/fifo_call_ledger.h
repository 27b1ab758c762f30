// A FIFO queue's call ledger: what the pushes and pops it served to attached
// processes did, kept where the owner that takes over after a hand-over finds
// it (docs/design/many-processes.md, section 5; format.h has the records).
//
// An attached call's reply can be lost only if the owner dies between the
// call's write and the reply's send: once sent, the reply waits in the
// attached process's socket, whoever dies. The client then sends the call
// again, as a retry with the same CallId, to the owner that took over, which
// must not run it twice:
//   - a push writes its record (push_ledger.h) in the same WriteBatch as
//     its items: a retry that finds it stores nothing;
//   - a pop writes its record (the items it took) in the cursor file before
//     the cursor: a retry that finds it gets those items again, which stay
//     stored until the reply has been sent (KeepFrom).
// A retry that finds no record runs as a first call: the owner died before
// the call's write, which then never happened.

#ifndef ROCKSQ_SRC_FIFO_CALL_LEDGER_H_
#define ROCKSQ_SRC_FIFO_CALL_LEDGER_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "attach_wire.h"
#include "cursor_file.h"
#include "push_ledger.h"
#include "storage.h"

namespace rocksq {

class CallLedger {
 public:
  // Reads the records the queue's earlier owners left (PushLedger's too),
  // and makes room for pop records in `cursor_file`. Throws kStorage if it
  // cannot.
  CallLedger(QueueDatabase* database, CursorFile* cursor_file);

  // --- Pushes (the attach server's thread only).
  PushLedger& pushes() { return pushes_; }

  // --- Pops (any thread).

  // Records that the calls of `shares` took their counts of items, in
  // order from `first`, then writes the cursor past them
  // (CursorFile::WriteWithRecords): returns the ticket to wait for before
  // the pop counts as done. Throws kStorage as a cursor write does; nothing
  // was popped then.
  uint64_t StorePops(uint64_t first, const std::vector<std::pair<CallId, uint64_t>>& shares);
  // The items a recorded pop of `call` took: (first, count).
  std::optional<std::pair<uint64_t, uint64_t>> FindPop(const CallId& call) const;
  // The reply of `call` was sent, or never will be (its process is gone):
  // its items need not stay stored for a retry.
  void Replied(const CallId& call);
  // Keys from this position on must stay stored (UINT64_MAX: none): the
  // first item of a pop whose reply was not sent yet, or, for a while after
  // the open, of the pops an earlier owner recorded.
  uint64_t KeepFrom();

  // How long an earlier owner's pop records keep their items after the
  // open: the attached processes' patience covers their retries.
  static constexpr std::chrono::seconds kInheritedPopsKept{60};

 private:
  using Lane = std::pair<uint64_t, uint32_t>;  // Client id, lane.
  struct Slot {
    PopRecord record;
    bool replied = false;
  };
  void MarkReplied(Slot* slot);
  // The slot `lane` writes its record in: its own, else a free one.
  size_t SlotFor(const Lane& lane);

  QueueDatabase* const database_;
  PushLedger pushes_;
  CursorFile* const cursor_file_;

  mutable std::mutex pops_mutex_;
  // Slots whose reply was not sent (inherited ones included): KeepFrom's
  // answer without the lock when there are none, the usual case.
  std::atomic<size_t> unreplied_{0};
  std::vector<std::optional<Slot>> slots_;  // kPopRecordSlots, as in the file.
  std::map<Lane, size_t> slot_of_lane_;
  size_t next_reused_slot_ = 0;  // When every slot is taken: round robin.
  // Until then, the records an earlier owner left keep their items.
  std::chrono::steady_clock::time_point inherited_until_;
  bool inherited_ = false;
};

}  // namespace rocksq

#endif  // ROCKSQ_SRC_FIFO_CALL_LEDGER_H_
