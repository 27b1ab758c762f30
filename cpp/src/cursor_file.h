// The FIFO queue's read cursor, kept in a small file of its own beside the
// RocksDB files: the position of the first item not yet popped.
//
// Why not a RocksDB key, or deleting each popped item's key at once: a pop
// must be recorded before it returns, and a RocksDB write of even one
// tombstone costs about 6 us here (its write path, WAL record and memtable
// insert), three times a point read. Rewriting 16 bytes in place costs one
// pwrite, about 1 us. The popped keys are then deleted in bulk, with one
// range tombstone per many pops (see fifo_queue.cc), and nothing reads
// below the cursor, so a crash between a pop and that deletion only leaves
// dead keys for the next open to delete.
//
// Layout (format.h, kCursorFileName): the cursor then its bitwise
// complement. Rewriting 16 bytes at the start of one page is atomic against
// a process crash. A machine crash can leave the file empty or zeroed when
// the write was not synced: that reads as "no cursor" (the first stored key
// counts, so popped items may come back, as unsynced pops may after a power
// loss). Any other pair that does not check out is corruption and refuses
// to open, rather than guess.
//
// With sync, the callers that write meanwhile share each fdatasync: one
// writes, another syncs, and one sync covers every write before it. The
// durable position is what other files may rely on (popped keys are
// deleted only below it). A sync that fails leaves the file's page in an
// unknown state: every later call then fails, and first rewrites the file
// with the last durable cursor (and clears the pop records past it), so
// that the items of the pops that failed come back at the next open, and no
// later pop takes effect.

#ifndef ROCKSQ_SRC_CURSOR_FILE_H_
#define ROCKSQ_SRC_CURSOR_FILE_H_

#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "format.h"
#include "rocksq/error.h"

namespace rocksq {

// A pop served to an attached process (format.h, kPopRecordsOffset).
struct PopRecord {
  uint64_t client_id = 0;  // The call (CallId, attach_wire.h).
  uint32_t lane = 0;
  uint64_t seq = 0;
  uint64_t first = 0;  // The items it took: [first, first + count).
  uint64_t count = 0;
  uint64_t cursor_after = 0;
};

class CursorFile {
 public:
  // The file's name inside the queue's directory.
  static constexpr const char* kFileName = kCursorFileName;

  // Opens (creating it if needed) the cursor file of the queue in
  // `directory`, and writes its 16 bytes if it is empty, so that no later
  // write needs new disk space. With `sync`, WaitDurable fsyncs the
  // writes, and creating the file also fsyncs the directory. Throws
  // kStorage if it cannot.
  CursorFile(const std::string& directory, bool sync);
  ~CursorFile();
  CursorFile(const CursorFile&) = delete;
  CursorFile& operator=(const CursorFile&) = delete;

  // The stored cursor, or a pop record's "cursor after" if it is larger
  // (the owner died between writing the two); 0 if none was ever stored
  // (or a machine crash lost an unsynced one). Throws kCorruption if the
  // cursor's bytes do not check out. It counts as durable.
  uint64_t Load();

  // Writes the pop records' slots as zeros unless the file already has
  // them, so that WriteWithRecords never needs new disk space. Throws
  // kStorage if it cannot (a full disk).
  void ReserveRecords();
  // The pop records whose slots check out, each with its slot's number.
  std::vector<std::pair<size_t, PopRecord>> LoadRecords() const;
  // Writes each record in its slot (< kPopRecordSlots), then the last
  // one's cursor_after as the cursor, as Write() does: returns the ticket
  // for WaitDurable.
  uint64_t WriteWithRecords(const std::vector<std::pair<size_t, PopRecord>>& records);

  // Writes `position`, not waiting for it to be durable; returns the
  // write's ticket for WaitDurable. Throws kStorage if the write fails (the
  // stored cursor may then be the old or the new one), or if a sync failed
  // before.
  uint64_t Write(uint64_t position);
  // Returns once the write `ticket` is durable (at once without `sync`):
  // syncs the file unless another caller is syncing it, and then waits for
  // that sync and, if it began before the write, the next. Throws kStorage
  // if the sync that would cover it failed, as does every later call.
  void WaitDurable(uint64_t ticket);
  // The last position written and known durable.
  uint64_t DurablePosition();
  // Write then WaitDurable.
  void Store(uint64_t position) { WaitDurable(Write(position)); }

  // Reads the cursor of the queue in `directory` without opening the file
  // for writing; 0 if the file does not exist. For readers that must not
  // change a queue (inspection). Throws like Load().
  static uint64_t Peek(const std::string& directory);

 private:
  // Writes the cursor's 16 bytes; under mutex_.
  void WriteCursor(uint64_t position);
  // Writes `record` in `slot`, or zeros (an empty slot) without one.
  void WriteRecord(size_t slot, const PopRecord* record);
  // Write(), under mutex_.
  uint64_t WriteLocked(uint64_t position);
  // Once a sync failed: stores the durable cursor again, clears the
  // records written since, and throws why. Under mutex_.
  void ThrowIfSyncFailed();

  std::string path_;
  int fd_ = -1;
  bool sync_;

  std::mutex mutex_;  // Writes, and what follows.
  std::condition_variable sync_done_;
  uint64_t writes_ = 0;            // Tickets handed out: the last write's.
  uint64_t written_position_ = 0;  // The cursor the last write stored.
  uint64_t durable_writes_ = 0;    // Writes up to this ticket are durable,
  uint64_t durable_position_ = 0;  // and so is this cursor.
  bool syncing_ = false;           // A caller of WaitDurable syncs the file.
  // The pop records written and not yet durable: slot -> cursor_after.
  std::map<size_t, uint64_t> undurable_records_;
  std::optional<Error> sync_failed_;  // Then every call throws it.
};

}  // namespace rocksq

#endif  // ROCKSQ_SRC_CURSOR_FILE_H_
