// The ack queue's log of acks not yet applied to its items: a small file of
// its own beside the RocksDB files.
//
// Why not delete each acked item's key at once: an ack must be recorded
// before it returns, and a RocksDB write of one tombstone (with the removal
// counts beside it) costs about 9 us here, most of it the write path and two
// memtable inserts, twice a FIFO queue's whole pop. Appending one record to
// this file costs one write(), about 1.5 us. The logged acks are applied in
// bulk (ack_queue.cc): one WriteBatch deletes their keys, a range tombstone
// per run of consecutive ids, and advances the epoch in the removal counts;
// then the log is emptied.
//
// Records (format.h, kAckLogFileName): [epoch][count][count ids][checksum],
// 8-byte words; the checksum covers the rest. A record acks all its ids or, cut short by a
// crash mid-write, none: so AckBatch stays all or nothing. Reading stops at
// the first record that does not check out: the tail of an append that a
// crash cut short, or zeros left by a machine crash after an unsynced
// append. Acks lost that way had not returned, or were not synced: their
// items come back, as unsynced writes may after a power loss; an item whose
// ack returned (and was synced, with sync) never does.
//
// The epoch is the removal counts' epoch (format.h's RemovalMeta) when the record
// was written. Applying the log advances it, so the records of an older
// epoch, left when a crash came between applying them and emptying the
// file, are skipped: the file's emptying need not be durable. Ids are never
// reused, so even without the epoch an applied id would find no item; the
// epoch matters after a power loss without sync, when the log can keep an
// ack whose push was lost, and the id goes to a later push.

#ifndef ROCKSQ_SRC_ACK_LOG_H_
#define ROCKSQ_SRC_ACK_LOG_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "format.h"

namespace rocksq {

class AckLog {
 public:
  // The file's name inside the queue's directory.
  static constexpr const char* kFileName = kAckLogFileName;

  // Opens (creating it if needed) the ack log of the queue in `directory`.
  // With `sync`, creating the file also fsyncs the directory, and
  // SyncThrough() makes appends durable. Throws kStorage if it cannot.
  AckLog(const std::string& directory, bool sync);
  ~AckLog();
  AckLog(const AckLog&) = delete;
  AckLog& operator=(const AckLog&) = delete;

  // What the log's records of an epoch at or after a given one ack.
  struct Records {
    std::vector<uint64_t> ids;  // In the order written.
    uint64_t last_epoch = 0;    // The latest epoch among them (if any).
    bool empty() const { return ids.empty(); }
  };

  // The records of `epoch` or later. A later epoch than the removal counts'
  // appears only when a machine crash lost the unsynced write that advanced
  // them, but not the log's later appends: those acks still count.
  Records Load(uint64_t epoch) const;

  // Appends one record acking `ids` in `epoch` and returns where it ends,
  // counted in bytes ever appended (for SyncThrough). Throws kStorage if
  // the write fails; then the record is not in the file. The queue empties
  // the log at open (Clear) before it appends, so no torn tail of an
  // earlier life comes before the first record. Not thread-safe: the queue
  // serialises appends and Clear.
  uint64_t Append(uint64_t epoch, const uint64_t* ids, size_t count);

  // Returns once every byte appended up to `end` is fsynced. Safe to call
  // from many threads at once, also while Append and Clear run: one fsync
  // covers every record appended before it started, so concurrent acking
  // threads share fsyncs rather than queue for one each. Throws kStorage if
  // the fsync fails.
  void SyncThrough(uint64_t end);

  // Empties the file, once its records are applied (by a synced write, if
  // the log is synced: they count as synced from then on). Throws kStorage
  // if it cannot (harmless for correctness: the records' epoch is past).
  void Clear();

  // Reads the log of the queue in `directory` without opening it for
  // writing, as Load() does; nothing if the file does not exist. For
  // readers that must not change a queue (inspection).
  static Records Peek(const std::string& directory, uint64_t epoch);

  // Empty if every byte of the log of the queue in `directory` is a whole
  // record, zeros, or the start of one record that a crash cut short;
  // otherwise says where the records stop checking out: the acks from
  // there on are ignored, so their items are delivered again. For checks
  // (rocksq check): a queue reads such a log as Load() does.
  static std::string DescribeDamage(const std::string& directory);

 private:
  std::string path_;
  int fd_ = -1;
  bool sync_;
  uint64_t size_ = 0;    // Bytes of whole records in the file.
  bool dirty_ = false;  // A failed append may have left a partial record.
  // Bytes ever appended, and how many of them are known to be synced.
  std::atomic<uint64_t> appended_total_{0};
  std::atomic<uint64_t> synced_total_{0};
  std::mutex sync_mutex_;  // One fsync at a time; the others wait for it.
};

}  // namespace rocksq

#endif  // ROCKSQ_SRC_ACK_LOG_H_
