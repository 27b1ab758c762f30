// The on-disk format version (docs/format.rst, "Format version"): written
// when a queue is created, reported by inspection, a newer one refused
// with kUnsupportedFormat and the directory left unwritten, and a marker
// that a crash cut short, or that names no format, made whole by the next
// open.

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "format.h"
#include "rocksdb/db.h"
#include "rocksdb/table.h"
#include "rocksdb/utilities/options_util.h"
#include "rocksq/inspect.h"
#include "rocksq/rocksq.h"
#include "test_util.h"

namespace rocksq {
namespace {

namespace fs = std::filesystem;
using testing::DirectorySnapshot;
using testing::KindThrownBy;
using testing::ReadFile;
using testing::WriteFile;
using FormatVersion = testing::TempDirTest;

// Stores `version` as the format key of the closed queue at `path`, as a
// release writing another format would.
void WriteFormatKey(const std::string& path, const std::string& version) {
  testing::ChangeRecords(path, {}, [&](rocksdb::DB* db, auto) {
    rocksdb::WriteOptions synced;
    synced.sync = true;
    ASSERT_TRUE(db->Put(synced, kFormatKey, version).ok());
  });
}

std::string MarkerText(const char* kind) {
  return std::string("RocksQ queue\nkind: ") + kind + "\nformat: 1\n";
}

struct Kind {
  const char* name;
  std::function<void(const std::string&)> make;  // Creates the queue with one item.
  std::function<void(const std::string&)> open;
};

std::vector<Kind> Kinds() {
  return {
      {"fifo",
       [](const std::string& path) { FifoQueue::Open(path)->Push("item"); },
       [](const std::string& path) { FifoQueue::Open(path); }},
      {"mpmc",
       [](const std::string& path) { MpmcQueue::Open(path)->Add("item"); },
       [](const std::string& path) { MpmcQueue::Open(path); }},
      {"ack",
       [](const std::string& path) { AckQueue::Open(path)->Push("item"); },
       [](const std::string& path) { AckQueue::Open(path); }},
  };
}

TEST_F(FormatVersion, ANewQueueRecordsTheCurrentVersionAndInspectionReportsIt) {
  for (const Kind& kind : Kinds()) {
    SCOPED_TRACE(kind.name);
    const std::string path = (Dir() / kind.name).string();
    kind.make(path);
    EXPECT_EQ(ReadFile(fs::path(path) / kQueueMarkerFile), MarkerText(kind.name));
    EXPECT_EQ(InspectQueue(path).format_version, kFormatVersion);
    EXPECT_EQ(CheckQueue(path).format_version, kFormatVersion);
  }
}

// The release build (RocksDB 9.10) and the development build (Debian 12's
// RocksDB 7.8.3) open each other's queues: 7.8.3 reads tables up to
// format_version 5. RocksDB's OPTIONS file records each family's table options.
// Every family's tables are ones any build reads: a table format RocksDB 7
// reads, and uncompressed (the release wheels' RocksDB has no Snappy; the
// default family's tables once took RocksDB's default, Snappy where the
// library has it).
TEST_F(FormatVersion, EveryKindWritesTablesThatRocksDB7Reads) {
  for (const Kind& kind : Kinds()) {
    const std::string path = (dir_ / kind.name).string();
    kind.make(path);
    rocksdb::DBOptions options;
    std::vector<rocksdb::ColumnFamilyDescriptor> families;
    const rocksdb::Status loaded =
        rocksdb::LoadLatestOptions(rocksdb::ConfigOptions(), path, &options, &families);
    ASSERT_TRUE(loaded.ok()) << loaded.ToString();
    for (const rocksdb::ColumnFamilyDescriptor& family : families) {
      const auto* table = family.options.table_factory->GetOptions<rocksdb::BlockBasedTableOptions>();
      ASSERT_NE(table, nullptr) << kind.name << ": " << family.name;
      EXPECT_LE(table->format_version, 5u) << kind.name << ": " << family.name;
      EXPECT_EQ(family.options.compression, rocksdb::kNoCompression)
          << kind.name << ": " << family.name;
    }
  }
}

TEST_F(FormatVersion, AMarkerNamingANewerFormatIsRefusedAndNothingIsWritten) {
  for (const Kind& kind : Kinds()) {
    SCOPED_TRACE(kind.name);
    const std::string path = (Dir() / kind.name).string();
    kind.make(path);
    WriteFile(fs::path(path) / kQueueMarkerFile,
              std::string("RocksQ queue\nkind: ") + kind.name + "\nformat: 2\n");
    const auto before = DirectorySnapshot(path);
    std::string message;
    EXPECT_EQ(KindThrownBy([&] { kind.open(path); }, &message), ErrorKind::kUnsupportedFormat);
    EXPECT_NE(message.find("Unsupported format: " + path + ": written in on-disk format version 2 "
                           "by a newer RocksQ; this build reads versions up to 1"),
              std::string::npos)
        << message;
    EXPECT_EQ(KindThrownBy([&] { InspectQueue(path); }), ErrorKind::kUnsupportedFormat);
    EXPECT_EQ(KindThrownBy([&] { CheckQueue(path); }), ErrorKind::kUnsupportedFormat);
    EXPECT_EQ(DirectorySnapshot(path), before);
  }
}

TEST_F(FormatVersion, ANewerVersionKeyIsRefusedByOpenAndInspection) {
  FifoQueue::Open(QueuePath())->Push("item");
  WriteFormatKey(QueuePath(), "2");
  std::string message;
  EXPECT_EQ(KindThrownBy([&] { FifoQueue::Open(QueuePath()); }, &message),
            ErrorKind::kUnsupportedFormat);
  EXPECT_NE(message.find("format version 2"), std::string::npos) << message;
  EXPECT_EQ(KindThrownBy([&] { InspectQueue(QueuePath()); }), ErrorKind::kUnsupportedFormat);
}

TEST_F(FormatVersion, AnUnmarkedQueueOfANewerFormatIsRefusedUnwritten) {
  FifoQueue::Open(QueuePath())->Push("item");
  WriteFormatKey(QueuePath(), "2");
  fs::remove(fs::path(QueuePath()) / kQueueMarkerFile);
  const auto before = DirectorySnapshot(QueuePath());
  EXPECT_EQ(KindThrownBy([&] { FifoQueue::Open(QueuePath()); }), ErrorKind::kUnsupportedFormat);
  EXPECT_EQ(DirectorySnapshot(QueuePath()), before);
}

TEST_F(FormatVersion, AMalformedVersionIsCorruption) {
  FifoQueue::Open(QueuePath())->Push("item");
  for (const char* version : {"", "0", "one", "1 ", "99999999999999999999"}) {
    SCOPED_TRACE(version);
    WriteFormatKey(QueuePath(), version);
    EXPECT_EQ(KindThrownBy([&] { FifoQueue::Open(QueuePath()); }), ErrorKind::kCorruption);
  }
}

TEST_F(FormatVersion, AMarkerCutShortByACrashIsMadeWholeByTheNextOpen) {
  for (const Kind& kind : Kinds()) {
    SCOPED_TRACE(kind.name);
    const std::string path = (Dir() / kind.name).string();
    kind.make(path);
    WriteFile(fs::path(path) / kQueueMarkerFile, "RocksQ qu");
    kind.open(path);
    EXPECT_EQ(ReadFile(fs::path(path) / kQueueMarkerFile), MarkerText(kind.name));
    EXPECT_EQ(InspectQueue(path).length, 1u);
  }
}

// Stamping writes the new marker to kQueueMarkerTempFile, then renames it
// over the old: a crash before the rename leaves the old marker and part of
// the new one.
TEST_F(FormatVersion, AStampInterruptedBeforeItsRenameLeavesAQueueThatOpens) {
  FifoQueue::Open(QueuePath())->Push("item");
  const fs::path directory(QueuePath());
  WriteFile(directory / kQueueMarkerFile, "RocksQ queue\nkind: fifo\n");  // Names no format.
  WriteFile(directory / kQueueMarkerTempFile, "RocksQ queue\nki");

  auto queue = FifoQueue::Open(QueuePath());
  EXPECT_EQ(queue->Len(), 1u);
  EXPECT_EQ(ReadFile(directory / kQueueMarkerFile), MarkerText("fifo"));
  EXPECT_FALSE(fs::exists(directory / kQueueMarkerTempFile));
  queue->Close();

  // An interrupted stamp of a queue from before the marker existed.
  fs::remove(directory / kQueueMarkerFile);
  WriteFile(directory / kQueueMarkerTempFile, "RocksQ");
  EXPECT_EQ(FifoQueue::Open(QueuePath())->Len(), 1u);
  EXPECT_EQ(ReadFile(directory / kQueueMarkerFile), MarkerText("fifo"));
  EXPECT_FALSE(fs::exists(directory / kQueueMarkerTempFile));
}

TEST_F(FormatVersion, RemovalDeletesAStampLeftHalfDone) {
  FifoQueue::Open(QueuePath())->Push("item");
  WriteFile(fs::path(QueuePath()) / kQueueMarkerTempFile, "RocksQ queue\nki");
  FifoQueue::Destroy(QueuePath());
  EXPECT_FALSE(fs::exists(QueuePath()));
}

// --- The queue id (kQueueIdKey) ---------------------------------------------------

bool IsQueueId(const std::string& id) {
  return id.size() == 32 && id.find_first_not_of("0123456789abcdef") == std::string::npos;
}

std::string QueueIdOf(const std::string& kind, const std::string& path) {
  if (kind == "fifo") return FifoQueue::Open(path)->QueueId();
  if (kind == "mpmc") return MpmcQueue::Open(path)->QueueId();
  return AckQueue::Open(path)->QueueId();
}

TEST_F(FormatVersion, ANewQueueGetsARandomIdThatLastsUntilItIsRemoved) {
  for (const Kind& kind : Kinds()) {
    SCOPED_TRACE(kind.name);
    const std::string path = (Dir() / kind.name).string();
    kind.make(path);
    const std::string id = QueueIdOf(kind.name, path);
    EXPECT_TRUE(IsQueueId(id)) << id;
    EXPECT_EQ(QueueIdOf(kind.name, path), id);
    EXPECT_EQ(InspectQueue(path).queue_id, id);
    const std::string other = (Dir() / (std::string(kind.name) + "-other")).string();
    EXPECT_NE(QueueIdOf(kind.name, other), id);
    // Removed and created again at the same path: another queue, another id.
    if (std::string(kind.name) == "fifo") FifoQueue::Destroy(path);
    if (std::string(kind.name) == "mpmc") MpmcQueue::Destroy(path);
    if (std::string(kind.name) == "ack") AckQueue::Destroy(path);
    EXPECT_NE(QueueIdOf(kind.name, path), id);
  }
}

// A queue an earlier release created has no id. Its first open here writes
// one, durably, before returning it: a crash right after the open (a copy
// of the directory taken while it is open) keeps that id.
TEST_F(FormatVersion, AQueueWithoutAnIdGetsOneAtItsFirstOpenThatACrashKeeps) {
  for (const Kind& kind : Kinds()) {
    SCOPED_TRACE(kind.name);
    const std::string path = (Dir() / kind.name).string();
    kind.make(path);
    testing::ChangeRecords(path, {}, [&](rocksdb::DB* db, auto) {
      rocksdb::WriteOptions synced;
      synced.sync = true;
      ASSERT_TRUE(db->Delete(synced, kQueueIdKey).ok());
    });
    EXPECT_EQ(InspectQueue(path).queue_id, "");
    const fs::path crashed = Dir() / (std::string(kind.name) + "-crashed");
    std::string id;
    {
      std::unique_ptr<FifoQueue> fifo;
      std::unique_ptr<MpmcQueue> mpmc;
      std::unique_ptr<AckQueue> ack;
      if (std::string(kind.name) == "fifo") id = (fifo = FifoQueue::Open(path))->QueueId();
      if (std::string(kind.name) == "mpmc") id = (mpmc = MpmcQueue::Open(path))->QueueId();
      if (std::string(kind.name) == "ack") id = (ack = AckQueue::Open(path))->QueueId();
      rocksq::testing::CopyAsACrashLeavesIt(path, crashed);
    }
    EXPECT_TRUE(IsQueueId(id)) << id;
    EXPECT_EQ(QueueIdOf(kind.name, crashed.string()), id);
    EXPECT_EQ(QueueIdOf(kind.name, path), id);
    EXPECT_EQ(InspectQueue(path).length, 1u);
  }
}

TEST_F(FormatVersion, AMalformedQueueIdIsCorruption) {
  AckQueue::Open(QueuePath())->Push("item");
  testing::ChangeRecords(QueuePath(), {}, [&](rocksdb::DB* db, auto) {
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), kQueueIdKey, "not hex").ok());
  });
  EXPECT_EQ(KindThrownBy([&] { AckQueue::Open(QueuePath()); }), ErrorKind::kCorruption);
}

}  // namespace
}  // namespace rocksq
