// The file system RocksQ's databases use (process_env.h): Default's, but
// write-ahead log files are written into zeros laid down ahead of their
// records, and read up to the end of their last record's block.
//
// Why: a synced write that makes a file longer must also commit the file's
// new size to the filesystem's journal before fdatasync returns, a second
// device flush per sync; a write into blocks the file already has, written,
// needs only its own. (Blocks reserved by fallocate() are no better: the
// first write into each must mark it written, a journal commit again, and a
// synced group of 1 KiB pushes meets a new block almost every time.) So a
// log, once synced, is filled with zeros kWalExtensionBytes ahead of its
// records, one write and one metadata change per extension, and its synced
// writes cost what an overwrite costs (docs/performance.rst). A log never
// synced grows by appends: small unsynced writes cost ext4 more inside a
// file's size than past its end. A clean close trims the log to its
// records.
//
// Reading: RocksDB's log reader takes a zero record header for padding and
// skips the rest of its 32 KiB block (db/log_reader.cc), so the zeros a
// crash leaves past the records read as the log's end. But a reader of a
// live log (a read-only or secondary open of a queue another process
// writes) could skip zeros that the writer fills a moment later, then meet
// the rest of that record in the next block and report "missing start of
// fragmented record". So a log is read only up to the end of the block
// that holds its last nonzero byte when the reader opens it: a record's
// fragments never cross a block, and every fragment's header has a nonzero
// type, so each record written by then is inside, whatever bytes its data
// ends with; a record still being written reads as a cut tail, as it would
// at the end of a log that grows by appends.
//
// What the zeros change after a power loss: unsynced records may reach the
// disk out of order, leaving a zeroed block between records that did. The
// open then finds the log damaged before its end and says so, keeping what
// precedes the gap (storage.cc, OpenRecoveringWriteAheadLog); only unsynced
// records are lost, as without the zeros.

#ifndef ROCKSQ_SRC_WAL_FILE_SYSTEM_H_
#define ROCKSQ_SRC_WAL_FILE_SYSTEM_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "rocksdb/file_system.h"

namespace rocksq {

// How far ahead of its records a write-ahead log is filled with zeros.
// `disk_size` counts them (at most this much per live log).
inline constexpr size_t kWalExtensionBytes = 1 << 20;

// RocksDB's write-ahead log block (db/log_format.h, kBlockSize): no record
// fragment crosses one.
inline constexpr uint64_t kWalBlockBytes = 32768;

// Where a reader of the log file `path` stops: the end of the block that
// holds its last nonzero byte (or the file's end, if sooner); 0 if the file
// is all zeros. Throws nothing: a file it cannot read keeps its whole size
// (`size`), and the reader reports what it finds.
uint64_t WalReadableBytes(const std::string& path, uint64_t size);

// Default's file system with write-ahead logs grown and read as above.
std::shared_ptr<rocksdb::FileSystem> NewWalFileSystem();

}  // namespace rocksq

#endif  // ROCKSQ_SRC_WAL_FILE_SYSTEM_H_
