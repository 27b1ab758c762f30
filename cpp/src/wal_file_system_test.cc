// Write-ahead logs under RocksQ's file system (wal_file_system.h): synced
// writes land inside zeros laid down ahead of them and change no file size,
// while a log never synced grows by appends; a clean close trims the zeros; a copy taken while the database is open
// (what a crash leaves) recovers every synced write under the strict
// recovery an open tries first; and a reader of a live log stops at the
// end of its last record's block, so it never meets a record that started
// in zeros it skipped.

#include "wal_file_system.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "process_env.h"
#include "rocksdb/db.h"
#include "rocksdb/options.h"
#include "test_util.h"

namespace {

namespace fs = std::filesystem;
using WalFileSystemTest = rocksq::testing::TempDirTest;

constexpr int kSyncedWrites = 100;

rocksdb::Options DatabaseOptions() {
  rocksdb::Options options;
  options.env = rocksq::ThisProcessEnv();
  options.create_if_missing = true;
  options.wal_recovery_mode = rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
  return options;
}

std::unique_ptr<rocksdb::DB> OpenDatabase(const fs::path& path,
                                         rocksdb::Options options = DatabaseOptions()) {
  rocksdb::DB* db = nullptr;
  const rocksdb::Status opened = rocksdb::DB::Open(options, path.string(), &db);
  EXPECT_TRUE(opened.ok()) << opened.ToString();
  return std::unique_ptr<rocksdb::DB>(db);
}

// The size of each write-ahead log file in `path`, by name.
std::map<std::string, uintmax_t> LogSizes(const fs::path& path) {
  std::map<std::string, uintmax_t> sizes;
  for (const fs::directory_entry& entry : fs::directory_iterator(path)) {
    if (entry.path().extension() == ".log") {
      sizes[entry.path().filename().string()] = entry.file_size();
    }
  }
  return sizes;
}

uintmax_t TotalLogBytes(const fs::path& path) {
  uintmax_t total = 0;
  for (const auto& [name, size] : LogSizes(path)) total += size;
  return total;
}

// A value that ends in zero bytes, as an item's data may: the reader's
// bound must not cut it off.
std::string ValueOf(int index) {
  std::string value(1000 + index % 7, 'x');
  value.replace(0, std::to_string(index).size(), std::to_string(index));
  value.append(40, '\0');
  return value;
}

void PutSynced(rocksdb::DB* db, int index) {
  rocksdb::WriteOptions synced;
  synced.sync = true;
  const rocksdb::Status put = db->Put(synced, "key" + std::to_string(index), ValueOf(index));
  ASSERT_TRUE(put.ok()) << put.ToString();
}

void ExpectEveryValue(rocksdb::DB* db, int count) {
  for (int i = 0; i < count; ++i) {
    std::string value;
    const rocksdb::Status read = db->Get(rocksdb::ReadOptions(), "key" + std::to_string(i), &value);
    ASSERT_TRUE(read.ok()) << i << ": " << read.ToString();
    EXPECT_EQ(value, ValueOf(i)) << i;
  }
}

void WriteFile(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

TEST_F(WalFileSystemTest, SyncedWritesChangeNoLogSizeAndACleanCloseTrimsTheZeros) {
  const fs::path path = Dir() / "db";
  std::unique_ptr<rocksdb::DB> db = OpenDatabase(path);
  // The first sync turns the extension on; the next write extends.
  PutSynced(db.get(), 0);
  PutSynced(db.get(), 1);
  const std::map<std::string, uintmax_t> extended = LogSizes(path);
  ASSERT_GE(TotalLogBytes(path), rocksq::kWalExtensionBytes) << "the log was not extended ahead";
  for (int i = 2; i < kSyncedWrites; ++i) PutSynced(db.get(), i);

  EXPECT_EQ(LogSizes(path), extended);
  ASSERT_TRUE(db->Close().ok());
  db.reset();
  const uintmax_t closed_bytes = TotalLogBytes(path);
  EXPECT_LT(closed_bytes, rocksq::kWalExtensionBytes);
  EXPECT_GT(closed_bytes, uintmax_t{kSyncedWrites} * 1000);

  std::unique_ptr<rocksdb::DB> reopened = OpenDatabase(path);
  ASSERT_NE(reopened, nullptr);
  ExpectEveryValue(reopened.get(), kSyncedWrites);
}

TEST_F(WalFileSystemTest, ALogNeverSyncedGrowsByAppends) {
  const fs::path path = Dir() / "db";
  std::unique_ptr<rocksdb::DB> db = OpenDatabase(path);
  for (int i = 0; i < kSyncedWrites; ++i) {
    const rocksdb::Status put =
        db->Put(rocksdb::WriteOptions(), "key" + std::to_string(i), ValueOf(i));
    ASSERT_TRUE(put.ok()) << put.ToString();
  }
  // Every record is in the log, and nothing past them.
  EXPECT_GT(TotalLogBytes(path), uintmax_t{kSyncedWrites} * 1000);
  EXPECT_LT(TotalLogBytes(path), uintmax_t{kSyncedWrites} * 1200);
}

TEST_F(WalFileSystemTest, ACopyTakenWhileOpenRecoversEverySyncedWriteStrictly) {
  const fs::path path = Dir() / "db";
  const fs::path crashed = Dir() / "crashed";
  std::unique_ptr<rocksdb::DB> db = OpenDatabase(path);
  for (int i = 0; i < kSyncedWrites; ++i) PutSynced(db.get(), i);
  // What a crash leaves: the files as they are, the log's zeros included.
  fs::copy(path, crashed, fs::copy_options::recursive);
  db.reset();
  ASSERT_GE(TotalLogBytes(crashed), rocksq::kWalExtensionBytes);

  // Strict: the zeros past the records are the log's end, not damage.
  std::unique_ptr<rocksdb::DB> recovered = OpenDatabase(crashed);
  ASSERT_NE(recovered, nullptr);
  ExpectEveryValue(recovered.get(), kSyncedWrites);
}

TEST_F(WalFileSystemTest, ALiveLogIsReadToTheEndOfItsLastRecordsBlock) {
  const fs::path file = Dir() / "000001.log";
  const uint64_t block = rocksq::kWalBlockBytes;
  // Records (here: any nonzero byte) end 100 bytes into the third block,
  // the last of them with zero bytes; zeros follow to 1 MiB.
  std::string bytes(2 * block + 100, 'r');
  bytes.replace(2 * block + 60, 40, std::string(40, '\0'));
  bytes.resize(rocksq::kWalExtensionBytes, '\0');
  WriteFile(file, bytes);
  EXPECT_EQ(rocksq::WalReadableBytes(file.string(), bytes.size()), 3 * block);

  // A log without zeros past it (closed, trimmed) is read whole.
  bytes.resize(2 * block + 100);
  WriteFile(file, bytes);
  EXPECT_EQ(rocksq::WalReadableBytes(file.string(), bytes.size()), bytes.size());

  // Only zeros: nothing to read (a crash before the first record landed).
  WriteFile(file, std::string(3 * block, '\0'));
  EXPECT_EQ(rocksq::WalReadableBytes(file.string(), 3 * block), 0u);

  // A last nonzero byte at a block's last position, and a file whose end
  // is not a block's.
  bytes.assign(5 * block, '\0');
  bytes[2 * block - 1] = 'r';
  WriteFile(file, bytes);
  EXPECT_EQ(rocksq::WalReadableBytes(file.string(), bytes.size()), 2 * block);
  bytes.assign(block + 10, '\0');
  bytes[block + 2] = 'r';
  WriteFile(file, bytes);
  EXPECT_EQ(rocksq::WalReadableBytes(file.string(), bytes.size()), block + 10);
}

// The race that made a live queue unreadable when logs first grew ahead:
// records spanning blocks, written while read-only opens replay the log.
TEST_F(WalFileSystemTest, ReadOnlyOpensOfALiveLogNeverFindItDamaged) {
  const fs::path path = Dir() / "db";
  rocksdb::Options writing = DatabaseOptions();
  writing.write_buffer_size = 4 << 20;  // Logs each opens replays stay short.
  // No table is deleted under a reader (a different race, which the
  // inspection's opens retry: inspect.cc).
  writing.disable_auto_compactions = true;
  std::unique_ptr<rocksdb::DB> db = OpenDatabase(path, writing);
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    const std::string value(5000, 'v');  // Most records cross a block.
    rocksdb::WriteOptions now_and_then_synced;
    for (int i = 0; !stop.load(); ++i) {
      // A sync early in each log has the rest written into zeros.
      now_and_then_synced.sync = i % 50 == 0;
      const std::string key = "key" + std::to_string(i % 1000);
      if (!db->Put(now_and_then_synced, key, value).ok()) return;
    }
  });
  rocksdb::Options reading = DatabaseOptions();
  reading.create_if_missing = false;
  int damaged = 0;
  std::string first_damage;
  for (int open = 0; open < 200; ++open) {
    rocksdb::DB* reader = nullptr;
    const rocksdb::Status opened = rocksdb::DB::OpenForReadOnly(reading, path.string(), &reader);
    // A log deleted after a flush, between the reader's listing and its
    // read, is the retried race too.
    const bool file_gone = opened.ToString().find("No such file") != std::string::npos;
    if (opened.IsCorruption() && !file_gone) {
      if (++damaged == 1) first_damage = opened.ToString();
    } else {
      EXPECT_TRUE(opened.ok() || file_gone) << opened.ToString();
    }
    delete reader;
  }
  stop = true;
  writer.join();
  EXPECT_EQ(damaged, 0) << first_damage;
}

}  // namespace
