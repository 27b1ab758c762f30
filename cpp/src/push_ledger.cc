#include "push_ledger.h"

#include <algorithm>
#include <chrono>
#include <memory>

#include "format.h"
#include "rocksdb/db.h"
#include "rocksdb/write_batch.h"

namespace rocksq {
namespace {

std::string PushRecordKey(uint64_t client_id, uint32_t lane) {
  std::string key(kPushRecordPrefix);
  char bytes[12];
  EncodeBigEndian64(client_id, bytes);
  char lane_bytes[8];
  EncodeBigEndian64(lane, lane_bytes);
  std::copy(lane_bytes + 4, lane_bytes + 8, bytes + 8);
  key.append(bytes, sizeof(bytes));
  return key;
}

uint64_t UnixMicrosNow() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

}  // namespace

PushLedger::PushLedger(QueueDatabase* database) : database_(database) {
  const uint64_t too_old = UnixMicrosNow() - kPushRecordLifetimeSeconds * 1'000'000;
  rocksdb::WriteBatch expired;
  std::unique_ptr<rocksdb::Iterator> it(database_->db->NewIterator(rocksdb::ReadOptions()));
  const rocksdb::Slice prefix(kPushRecordPrefix);
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    const rocksdb::Slice key = it->key();
    const rocksdb::Slice value = it->value();
    if (key.size() != kPushRecordKeyBytes || value.size() < kPushRecordHeaderBytes) {
      throw Error(ErrorKind::kCorruption, database_->path, "a push record is malformed");
    }
    if (DecodeBigEndian64(value.data() + 8) < too_old) {
      expired.Delete(key);
      continue;
    }
    const char* id = key.data() + prefix.size();
    char lane_bytes[8] = {};
    std::copy(id + 8, id + 12, lane_bytes + 4);
    recorded_[{DecodeBigEndian64(id), static_cast<uint32_t>(DecodeBigEndian64(lane_bytes))}] =
        Recorded{DecodeBigEndian64(value.data()),
                 std::string(value.data() + kPushRecordHeaderBytes,
                             value.size() - kPushRecordHeaderBytes)};
  }
  if (!it->status().ok()) ThrowStatus(database_->path, "reading push records", it->status());
  if (expired.Count() != 0) {
    const rocksdb::Status deleted = database_->db->Write(rocksdb::WriteOptions(), &expired);
    if (!deleted.ok()) ThrowStatus(database_->path, "deleting old push records", deleted);
  }
}

GroupCommit::SideRecords PushLedger::Records(const std::vector<CallId>& calls,
                                             std::string_view outcome) const {
  GroupCommit::SideRecords records;
  records.reserve(calls.size());
  const uint64_t now = UnixMicrosNow();
  for (const CallId& call : calls) {
    std::string value(kPushRecordHeaderBytes, '\0');
    EncodeBigEndian64(call.seq, value.data());
    EncodeBigEndian64(now, value.data() + 8);
    value.append(outcome.data(), outcome.size());
    records.emplace_back(PushRecordKey(call.client_id, call.lane), std::move(value));
  }
  return records;
}

void PushLedger::Note(const std::vector<CallId>& calls, std::string_view outcome) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (const CallId& call : calls) {
    recorded_[{call.client_id, call.lane}] = Recorded{call.seq, std::string(outcome)};
  }
}

std::optional<std::string> PushLedger::Find(const CallId& call) const {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto found = recorded_.find({call.client_id, call.lane});
  if (found == recorded_.end() || found->second.seq != call.seq) return std::nullopt;
  return found->second.outcome;
}

void PushLedger::LaneGone(uint64_t client_id, uint32_t lane) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (recorded_.erase({client_id, lane}) == 0) return;
  }
  // Best effort: a record left behind is deleted by a later open.
  (void)database_->db->Delete(rocksdb::WriteOptions(), PushRecordKey(client_id, lane));
}

}  // namespace rocksq
