// A RocksDB database that is not a RocksQ queue is never written into, even
// if its column families are named like a queue's; a queue of the release
// before the marker file (RocksDB's files with the format key, no
// rocksq.queue) opens and gets the marker. The databases are made with
// RocksDB's own API, as another program would.

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "rocksdb/db.h"
#include "rocksq/inspect.h"
#include "rocksq/rocksq.h"
#include "test_util.h"

namespace {

namespace fs = std::filesystem;
using rocksq::ErrorKind;

class ForeignDatabase : public rocksq::testing::TempDirTest {
 protected:
  // Makes a RocksDB database at `path` with the column families `families`
  // (each holding one pair "key" -> "value" if `fill`) and, in the default
  // family, the pairs `defaults`.
  static void MakeDatabase(const std::string& path, const std::vector<std::string>& families,
                           const std::map<std::string, std::string>& defaults, bool fill) {
    rocksdb::Options options;
    options.create_if_missing = true;
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(options, path, &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    for (const std::string& name : families) {
      rocksdb::ColumnFamilyHandle* handle = nullptr;
      ASSERT_TRUE(db->CreateColumnFamily(rocksdb::ColumnFamilyOptions(), name, &handle).ok());
      if (fill) ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), handle, "key", "value").ok());
      db->DestroyColumnFamilyHandle(handle);
    }
    for (const auto& [key, value] : defaults) {
      ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), key, value).ok());
    }
    ASSERT_TRUE(db->Close().ok());
  }

  std::string Path() const { return (dir_ / "db").string(); }
};

using rocksq::testing::KindThrownBy;

TEST_F(ForeignDatabase, WithQueueFamiliesIsRefusedByEveryKindAndLeftUnwritten) {
  const std::vector<std::pair<const char*, std::vector<std::string>>> lookalikes = {
      {"fifo", {"fifo_items"}},
      {"mpmc", {"mpmc_items", "mpmc_labels", "mpmc_marks", "mpmc_meta"}},
      {"ack", {"ack_items", "ack_failed", "ack_meta"}},
  };
  for (const auto& [kind, families] : lookalikes) {
    SCOPED_TRACE(kind);
    fs::remove_all(Path());
    MakeDatabase(Path(), families, {{"their.key", "theirs"}}, /*fill=*/true);
    const auto before = rocksq::testing::DirectorySnapshot(Path());

    EXPECT_EQ(KindThrownBy([&] { rocksq::FifoQueue::Open(Path()); }), ErrorKind::kNotAQueue);
    EXPECT_EQ(KindThrownBy([&] { rocksq::MpmcQueue::Open(Path()); }), ErrorKind::kNotAQueue);
    EXPECT_EQ(KindThrownBy([&] { rocksq::AckQueue::Open(Path()); }), ErrorKind::kNotAQueue);
    EXPECT_EQ(KindThrownBy([&] { rocksq::FifoQueue::Destroy(Path()); }), ErrorKind::kNotAQueue);
    EXPECT_EQ(KindThrownBy([&] { rocksq::MpmcQueue::Destroy(Path()); }), ErrorKind::kNotAQueue);
    EXPECT_EQ(KindThrownBy([&] { rocksq::AckQueue::Destroy(Path()); }), ErrorKind::kNotAQueue);
    EXPECT_EQ(KindThrownBy([&] { rocksq::InspectQueue(Path()); }), ErrorKind::kNotAQueue);

    EXPECT_EQ(rocksq::testing::DirectorySnapshot(Path()), before);
  }
}

TEST_F(ForeignDatabase, OfTheReleaseBeforeTheMarkerOpensAndIsMarked) {
  MakeDatabase(Path(), {"fifo_items"}, {{"rocksq.format", "1"}}, /*fill=*/false);
  ASSERT_FALSE(fs::exists(fs::path(Path()) / "rocksq.queue"));

  {
    auto queue = rocksq::FifoQueue::Open(Path());
    queue->Push("item");
    queue->Close();
  }

  EXPECT_TRUE(fs::exists(fs::path(Path()) / "rocksq.queue"));
  auto queue = rocksq::FifoQueue::Open(Path());
  EXPECT_EQ(queue->Len(), 1u);
}

}  // namespace
