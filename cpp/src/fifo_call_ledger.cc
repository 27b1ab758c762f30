#include "fifo_call_ledger.h"

#include <algorithm>

namespace rocksq {

CallLedger::CallLedger(QueueDatabase* database, CursorFile* cursor_file)
    : database_(database), pushes_(database), cursor_file_(cursor_file), slots_(kPopRecordSlots) {
  // Pop records: an earlier owner's keep their items for a while.
  cursor_file_->ReserveRecords();
  for (const auto& [slot, record] : cursor_file_->LoadRecords()) {
    slots_[slot] = Slot{record, /*replied=*/false};
    slot_of_lane_[{record.client_id, record.lane}] = slot;
    inherited_ = true;
    unreplied_.fetch_add(1);
  }
  inherited_until_ = std::chrono::steady_clock::now() + kInheritedPopsKept;
}

size_t CallLedger::SlotFor(const Lane& lane) {
  // A lane's last pop was replied to before the lane sent this one.
  const auto own = slot_of_lane_.find(lane);
  if (own != slot_of_lane_.end()) {
    // Unreplied only if an earlier owner left it and the lane went on
    // without a retry: it got that reply.
    MarkReplied(&*slots_[own->second]);
    return own->second;
  }
  size_t slot = next_reused_slot_;
  for (size_t tried = 0; tried < kPopRecordSlots; ++tried, slot = (slot + 1) % kPopRecordSlots) {
    if (!slots_[slot] || slots_[slot]->replied) {
      next_reused_slot_ = (slot + 1) % kPopRecordSlots;
      if (slots_[slot]) {
        slot_of_lane_.erase({slots_[slot]->record.client_id, slots_[slot]->record.lane});
        slots_[slot].reset();
      }
      return slot;
    }
  }
  throw Error(ErrorKind::kStorage, database_->path,
              "every pop record holds a pop whose reply was not sent yet");
}

uint64_t CallLedger::StorePops(uint64_t first,
                               const std::vector<std::pair<CallId, uint64_t>>& shares) {
  std::lock_guard<std::mutex> lock(pops_mutex_);
  std::vector<std::pair<size_t, PopRecord>> records;
  records.reserve(shares.size());
  for (const auto& [call, count] : shares) {
    const Lane lane{call.client_id, call.lane};
    const size_t slot = SlotFor(lane);
    slot_of_lane_[lane] = slot;  // Taken before the next share looks for one.
    PopRecord record;
    record.client_id = call.client_id;
    record.lane = call.lane;
    record.seq = call.seq;
    record.first = first;
    record.count = count;
    record.cursor_after = first + count;
    first += count;
    records.emplace_back(slot, record);
    slots_[slot] = Slot{record, /*replied=*/false};
    unreplied_.fetch_add(1);
  }
  try {
    return cursor_file_->WriteWithRecords(records);
  } catch (...) {
    // Nothing was popped, and the calls get this error as their reply.
    for (const auto& [slot, record] : records) MarkReplied(&*slots_[slot]);
    throw;
  }
}

std::optional<std::pair<uint64_t, uint64_t>> CallLedger::FindPop(const CallId& call) const {
  std::lock_guard<std::mutex> lock(pops_mutex_);
  const auto found = slot_of_lane_.find({call.client_id, call.lane});
  if (found == slot_of_lane_.end()) return std::nullopt;
  const PopRecord& record = slots_[found->second]->record;
  if (record.seq != call.seq) return std::nullopt;
  return std::make_pair(record.first, record.count);
}

void CallLedger::Replied(const CallId& call) {
  std::lock_guard<std::mutex> lock(pops_mutex_);
  const auto found = slot_of_lane_.find({call.client_id, call.lane});
  if (found == slot_of_lane_.end()) return;
  Slot& slot = *slots_[found->second];
  if (slot.record.seq == call.seq) MarkReplied(&slot);
}

void CallLedger::MarkReplied(Slot* slot) {
  if (slot->replied) return;
  slot->replied = true;
  unreplied_.fetch_sub(1);
}

uint64_t CallLedger::KeepFrom() {
  if (unreplied_.load() == 0) return UINT64_MAX;
  std::lock_guard<std::mutex> lock(pops_mutex_);
  if (inherited_ && std::chrono::steady_clock::now() >= inherited_until_) {
    // Their processes did not come back in time: those items went to
    // processes that died, as items popped by a dead owner's threads did.
    inherited_ = false;
    for (std::optional<Slot>& slot : slots_) {
      if (slot) MarkReplied(&*slot);
    }
  }
  uint64_t keep_from = UINT64_MAX;
  for (const auto& [lane, slot] : slot_of_lane_) {
    const Slot& held = *slots_[slot];
    if (!held.replied) keep_from = std::min(keep_from, held.record.first);
  }
  return keep_from;
}

}  // namespace rocksq
