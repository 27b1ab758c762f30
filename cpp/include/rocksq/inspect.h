// Looking into a queue without opening it: what `rocksq stats` and
// `rocksq peek` show.
//
// These functions read a queue's directory while the queue may be open, in
// this process or another, and never change it: they take no lock and write
// nothing there. Each call sees the queue as it was at one instant during
// the call (RocksDB's flushed files plus its write-ahead log, so every push
// that had returned by then is seen); pushes and pops made meanwhile are not.
// Each call opens the database anew, which costs milliseconds plus a read of
// the write-ahead log: they are for tools and checks, not for a hot path.
//
// Thread safety: any number of calls may run at once, on any paths.
//
// Errors: throw rocksq::Error. kNotAQueue if `path` does not exist, is a
// file or an empty directory, or holds something other than a queue of a
// kind this build can inspect; kUnsupportedFormat if the queue is stored in
// a newer on-disk format than this build reads; kCorruption or kStorage if the files cannot
// be read. InspectQueue and PeekItems first make sure every table file the
// database lists loads (a missing, cut or zeroed one throws kCorruption,
// as opening the queue would), and InspectQueue reads the write-ahead log
// as an open would; CheckQueue goes further and reports instead of throwing.
//
//   rocksq::QueueSnapshot snapshot = rocksq::InspectQueue("/var/lib/app/frames");
//   std::cout << snapshot.kind << ": " << snapshot.length << " items\n";
//   for (const rocksq::StoredItem& item : rocksq::PeekItems("/var/lib/app/frames", 3))
//     std::cout << item.position << ": " << item.data.size() << " bytes\n";

#ifndef ROCKSQ_INSPECT_H_
#define ROCKSQ_INSPECT_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "rocksq/error.h"

namespace rocksq {

// An MPMC queue's reader and where it is.
struct LabelPosition {
  std::string label;
  uint64_t position = 0;  // The next position the label reads.
  uint64_t unread = 0;    // Stored elements at or after `position`.
};

// What a queue held at one instant.
struct QueueSnapshot {
  std::string path;  // As given.
  // "fifo" (FifoQueue), "mpmc" (MpmcQueue) or "ack" (AckQueue): the kind's
  // short name.
  std::string kind;
  // The on-disk format version the queue is stored in (docs/format.rst).
  uint64_t format_version = 0;
  // The queue's identity (as the queues' QueueId()); empty for a queue an
  // earlier release created and no release since has opened.
  std::string queue_id;
  // Items stored. For an MPMC queue: elements stored, including any that
  // expired but are not deleted yet. The ttl is an option of the opener and
  // not stored, so only an opener knows which are alive.
  uint64_t length = 0;
  // For an ack queue: every stored item, failed ones included; which are
  // handed out is known only to the process that has it open.
  uint64_t payload_bytes = 0;  // The sum of those items' sizes.
  uint64_t disk_bytes = 0;     // The size of the files in the directory.
  // The stored items' positions are [first_position, end_position): a FIFO
  // queue's read and write cursors.
  uint64_t first_position = 0;
  uint64_t end_position = 0;
  // MPMC queues only (otherwise 0 and empty): when the oldest and newest
  // stored elements were added, in microseconds since 1970-01-01 UTC (0 if
  // none is stored), and the labels in byte order.
  uint64_t oldest_added_micros = 0;
  uint64_t newest_added_micros = 0;
  std::vector<LabelPosition> labels;
  // Ack queues only (otherwise 0): the failed items among `length`, and
  // their payload bytes.
  uint64_t failed_length = 0;
  uint64_t failed_payload_bytes = 0;
  // Records lost to a damaged write-ahead log, one sentence each: first,
  // if the log is damaged before its end now, that the next open will drop
  // the records after the damage; then every earlier open that did so,
  // with its UTC time. Empty when nothing was lost that way.
  std::vector<std::string> dropped_records;
  // The newest failure of the queue's background work (reclaiming disk
  // space, expiring elements) written to the LOG file in its directory: its
  // message and UTC time, as the opener's LastBackgroundError() gave it.
  // Empty if the LOG holds none; the LOG starts over past 1 MiB, so an old
  // failure may be gone.
  std::string last_background_failure;
};

// What CheckQueue found.
struct QueueCheck {
  std::string path;  // As given.
  std::string kind;  // As QueueSnapshot::kind.
  uint64_t format_version = 0;  // As QueueSnapshot::format_version.
  // Damage, one sentence each: files that do not load or whose checksums
  // fail, and records that break the queue's invariants. Empty if healthy.
  std::vector<std::string> damage;
  // As QueueSnapshot::dropped_records.
  std::vector<std::string> dropped_records;
  uint64_t records_checked = 0;  // Item records read and checked.
};

// One stored item, copied out.
struct StoredItem {
  uint64_t position = 0;
  std::string data;
  uint64_t added_micros = 0;  // MPMC: when it was added (as above). FIFO: 0.
};

// A process attached to a queue's owner (FifoOptions::attach), as the
// kernel named it when it connected (SO_PEERCRED).
struct AttachedProcess {
  uint32_t pid = 0;
  uint32_t uid = 0;
  uint32_t connections = 0;  // One per thread of it calling at once.
};

// Which process has a queue open, and what that owner says of it.
struct QueueOwner {
  // The process holding the queue's database (RocksDB's LOCK file); 0 if
  // none does (or it is in a PID namespace this process cannot see).
  uint32_t pid = 0;
  // True if the owner opened the queue with attach and answered on the
  // queue's socket: the fields below are then its own, live figures. False
  // for an owner without attach (`pid` comes from the LOCK file's lock),
  // and for none: the fields below stay empty, and InspectQueue gives the
  // queue's figures from its files.
  bool answered = false;
  std::string version;  // The owner's RocksQ release.
  std::string kind;     // As QueueSnapshot::kind.
  std::string queue_id;
  // Ordered by pid. The inspecting connection is not among them.
  std::vector<AttachedProcess> attached;
  uint64_t length = 0;  // As the owner's Len(), PayloadBytes(), DiskBytes().
  uint64_t payload_bytes = 0;
  uint64_t disk_bytes = 0;
  // How long ago the oldest item was added, in microseconds; -1 if none is
  // stored. FIFO and ack queues store no time with their items
  // (docs/format.rst): their owner notes when each write committed, to
  // within 10 ms, so the age may be up to that much too old, never too
  // young. For an item stored before the owner opened the queue, it is the
  // time since the open, and oldest_age_is_lower_bound is set: the item is
  // at least that old.
  int64_t oldest_age_micros = -1;
  bool oldest_age_is_lower_bound = false;
  // The owner's refusal, when it listens but would not answer this build
  // (another RocksQ release, another user); `pid` then comes from LOCK.
  std::string refusal;
};

// The kind, sizes, positions and (MPMC) labels of the queue at `path`.
QueueSnapshot InspectQueue(const std::string& path);

// Who owns the queue at `path`: asks the owner on the queue's socket
// (docs/format.rst, "Attach protocol", kStats), or, if no owner listens
// there, reads which process holds the LOCK file's fcntl lock. In a
// process that has the queue open itself without attach, `pid` is its own.
// Takes milliseconds; throws as InspectQueue for a path that is not a queue.
QueueOwner InspectOwner(const std::string& path);

// Up to `max_items` stored items, oldest first, without consuming them: the
// items the next pops would return (FIFO), the oldest stored elements
// (MPMC), or the items not acked or failed, oldest first (ack queue: which
// are handed out now is not stored). With a `label` (MPMC only), the elements that label reads next
// instead; throws kInvalidArgument if the queue has no such label or is not
// an MPMC queue.
std::vector<StoredItem> PeekItems(const std::string& path, size_t max_items,
                                  const std::string& label = "");

// Checks the queue at `path` through: that every file RocksDB lists loads
// and every block's checksum holds, that the write-ahead log is whole or
// only cut short at its end, and the invariants of the queue's kind, read
// from every record: FIFO and MPMC positions contiguous with payload totals
// that add up, the FIFO read cursor file sound and within the items, MPMC
// added-at times in order and labels within the elements; ack queue counts
// and totals matching its removal counts, and the ack log's records sound.
// Reads everything, so it takes as long as reading the queue once. Works
// while the queue is open elsewhere, like InspectQueue (damage a live
// writer is repairing, such as a file it deleted a moment ago, is retried
// away). Throws only if `path` is not a queue (kNotAQueue), is in a newer
// format (kUnsupportedFormat) or cannot be read at all (kStorage); damage
// is reported in the result.
QueueCheck CheckQueue(const std::string& path);

}  // namespace rocksq

#endif  // ROCKSQ_INSPECT_H_
