// Unit tests of the item log (item_log.h), on a queue database of its own.

#include "item_log.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "rocksq/fifo_queue.h"
#include "test_util.h"

namespace rocksq {
namespace {

using ::rocksq::testing::KindThrownBy;

class ItemLogTest : public ::rocksq::testing::TempDirTest {
 protected:
  void TearDown() override {
    log_.reset();
    if (database_) database_->Close();
    database_.reset();
    TempDirTest::TearDown();
  }

  ItemLog& Open(ItemLog::Options options = {}) {
    log_.reset();
    if (database_) database_->Close();
    database_ = std::make_unique<QueueDatabase>(
        OpenQueueDatabase(QueuePath(), QueueKind::kFifo, {"fifo_items"}));
    if (options.max_elements == 0) options.max_elements = 1000;
    log_ = std::make_unique<ItemLog>(database_.get(), database_->families[0], options);
    return *log_;
  }

  void Append(const std::vector<std::string>& items) {
    std::vector<std::string_view> views(items.begin(), items.end());
    log_->Append(views.data(), views.size());
  }

  std::vector<std::string> Read(uint64_t first, size_t count) {
    PoppedItems::Rep rep;
    log_->ReadItems(first, count, &rep);
    std::vector<std::string> items;
    for (size_t i = 0; i < rep.size(); ++i) items.emplace_back(rep.item(i));
    return items;
  }

  std::unique_ptr<QueueDatabase> database_;
  std::unique_ptr<ItemLog> log_;
};

TEST_F(ItemLogTest, RecoversPositionsAndPayloadTotalFromTheRecordsAtReopen) {
  Open().RecoverPrefix(0);
  Append({"a", "bb", "ccc", "dddd"});
  Open();
  // Positions below 1 were removed (a stored read cursor says so).
  EXPECT_EQ(log_->RecoverPrefix(1), 1u);
  EXPECT_EQ(log_->write_cursor(), 4u);
  EXPECT_EQ(log_->StoredItems(), 3u);
  EXPECT_EQ(log_->PayloadBytes(), 2u + 3u + 4u);
  // Appends go on from the write cursor, with the running total.
  Append({"ee"});
  Open();
  EXPECT_EQ(log_->RecoverPrefix(1), 1u);
  EXPECT_EQ(log_->write_cursor(), 5u);
  EXPECT_EQ(log_->PayloadBytes(), 2u + 3u + 4u + 2u);
  EXPECT_EQ(Read(1, 4), (std::vector<std::string>{"bb", "ccc", "dddd", "ee"}));
}

TEST_F(ItemLogTest, RecoveryOfAnEmptyLogStartsAtTheStoredCursor) {
  Open();
  EXPECT_EQ(log_->RecoverPrefix(7), 7u);
  EXPECT_EQ(log_->write_cursor(), 7u);
  EXPECT_EQ(log_->StoredItems(), 0u);
  Append({"x"});
  EXPECT_EQ(Read(7, 1), std::vector<std::string>{"x"});
}

TEST_F(ItemLogTest, AdmitsAppendsUpToTheCapacityAndNoFurther) {
  ItemLog::Options options;
  options.max_elements = 3;
  Open(options).RecoverPrefix(0);
  Append({"a", "b"});
  // A batch that does not fit stores nothing.
  EXPECT_EQ(KindThrownBy([&] { Append({"c", "d"}); }), ErrorKind::kQueueFull);
  EXPECT_EQ(log_->write_cursor(), 2u);
  Append({"c"});
  EXPECT_EQ(KindThrownBy([&] { Append({"d"}); }), ErrorKind::kQueueFull);
  // Removals make room.
  log_->CountRemoved(1, 1);
  Append({"d"});
  EXPECT_EQ(log_->StoredItems(), 3u);
}

TEST_F(ItemLogTest, CountsItemsStoredElsewhereAgainstTheCapacity) {
  std::atomic<uint64_t> failed{2};
  ItemLog::Options options;
  options.max_elements = 3;
  options.also_counted = &failed;
  Open(options).RecoverPrefix(0);
  Append({"a"});
  EXPECT_EQ(KindThrownBy([&] { Append({"b"}); }), ErrorKind::kQueueFull);
  failed = 1;
  Append({"b"});
}

TEST_F(ItemLogTest, RefusesAppendsAfterShutdown) {
  Open().RecoverPrefix(0);
  log_->Shutdown(/*immediate=*/false);
  EXPECT_EQ(KindThrownBy([&] { Append({"a"}); }), ErrorKind::kShutDown);
  EXPECT_EQ(log_->write_cursor(), 0u);
}

TEST_F(ItemLogTest, GroupCommitKeepsEachCallersItemsContiguousAndInOrder) {
  Open().RecoverPrefix(0);
  constexpr int kThreads = 4;
  constexpr int kCalls = 50;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int call = 0; call < kCalls; ++call) {
        Append({std::to_string(t) + ":" + std::to_string(call) + ":0",
                std::to_string(t) + ":" + std::to_string(call) + ":1"});
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  const size_t total = kThreads * kCalls * 2;
  ASSERT_EQ(log_->write_cursor(), total);
  const std::vector<std::string> items = Read(0, total);
  ASSERT_EQ(items.size(), total);
  uint64_t payload = 0;
  std::vector<int> next_call(kThreads, 0);
  for (size_t i = 0; i < total; i += 2) {
    // A call's two items sit side by side; each thread's calls in order.
    const int thread = items[i][0] - '0';
    const std::string call = std::to_string(thread) + ":" + std::to_string(next_call[thread]++);
    EXPECT_EQ(items[i], call + ":0");
    EXPECT_EQ(items[i + 1], call + ":1");
    payload += items[i].size() + items[i + 1].size();
  }
  EXPECT_EQ(log_->PayloadBytes(), payload);
}

TEST_F(ItemLogTest, ExclusiveWritesContinueFromTheWriteCursor) {
  Open().RecoverPrefix(0);
  Append({"a"});
  log_->Exclusively([&] {
    const auto [position, pushed] = log_->WriteMark();
    rocksdb::WriteBatch batch;
    log_->EncodeRecord(position, pushed, "bb", &batch);
    ASSERT_TRUE(database_->db->Write(rocksdb::WriteOptions(), &batch).ok());
    log_->Published(1, 2);
  });
  Append({"c"});
  EXPECT_EQ(Read(0, 3), (std::vector<std::string>{"a", "bb", "c"}));
  Open();
  log_->RecoverPrefix(0);
  EXPECT_EQ(log_->PayloadBytes(), 4u);
}

// Exclusive writes number their records from WriteMark() while other
// threads append: each waits for the groups before it, and no group is
// written while it runs, so no position is written twice or skipped.
TEST_F(ItemLogTest, ExclusiveWritesAndConcurrentAppendsNeverShareAPosition) {
  ItemLog::Options options;
  options.max_elements = kMaxElementsLimit;
  Open(options).RecoverPrefix(0);
  constexpr int kAppenders = 3;
  constexpr int kExclusiveWrites = 20;
  std::atomic<bool> exclusive_done{false};
  std::atomic<uint64_t> appended{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kAppenders; ++t) {
    threads.emplace_back([&] {
      // At least once, and for as long as the exclusive writes go on.
      do {
        Append({"appended"});
        ++appended;
      } while (!exclusive_done);
    });
  }
  for (int call = 0; call < kExclusiveWrites; ++call) {
    log_->Exclusively([&] {
      const auto [position, pushed] = log_->WriteMark();
      rocksdb::WriteBatch batch;
      log_->EncodeRecord(position, pushed, "exclusive", &batch);
      // Long enough for appends to pile up behind this write.
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      ASSERT_TRUE(database_->db->Write(rocksdb::WriteOptions(), &batch).ok());
      log_->Published(1, 9);
    });
  }
  exclusive_done = true;
  for (std::thread& thread : threads) thread.join();
  const size_t total = appended + kExclusiveWrites;
  ASSERT_EQ(log_->write_cursor(), total);
  const std::vector<std::string> items = Read(0, total);
  EXPECT_EQ(std::count(items.begin(), items.end(), "exclusive"), kExclusiveWrites);
  EXPECT_EQ(std::count(items.begin(), items.end(), "appended"), static_cast<long>(appended));
}

TEST_F(ItemLogTest, RangeReadOfAMissingItemIsCorruption) {
  Open().RecoverPrefix(0);
  Append({"a", "b", "c"});
  rocksdb::WriteBatch batch;
  const EncodedKey middle(1);
  ASSERT_TRUE(batch.Delete(database_->families[0], rocksdb::Slice(middle.bytes, kKeyBytes)).ok());
  ASSERT_TRUE(database_->db->Write(rocksdb::WriteOptions(), &batch).ok());
  EXPECT_EQ(Read(0, 1), std::vector<std::string>{"a"});
  EXPECT_EQ(KindThrownBy([&] { Read(0, 3); }), ErrorKind::kCorruption);
  EXPECT_EQ(KindThrownBy([&] { Read(1, 1); }), ErrorKind::kCorruption);
}

TEST_F(ItemLogTest, DeletingAPrefixWaitsForABatchUnlessForced) {
  Open().RecoverPrefix(0);
  Append({"a", "b", "c", "d"});
  log_->CountRemoved(2, 2);
  log_->DeletePrefix(2, 2, /*force=*/false);  // Too few to be worth a tombstone yet.
  EXPECT_EQ(log_->deleted_below(), 0u);
  log_->DeletePrefix(2, 0, /*force=*/true);
  EXPECT_EQ(log_->deleted_below(), 2u);
  std::vector<uint64_t> stored;
  log_->Scan(0, 10, [&](uint64_t position, const rocksdb::Slice&) {
    stored.push_back(position);
    return true;
  });
  EXPECT_EQ(stored, (std::vector<uint64_t>{2, 3}));
}

TEST_F(ItemLogTest, DeletesSingleIdsAndRunsOfThem) {
  Open().RecoverPrefix(0);
  Append({"0", "1", "2", "3", "4", "5"});
  rocksdb::WriteBatch batch;
  log_->AddDeletions({0, 2, 3, 5}, &batch);
  ASSERT_TRUE(database_->db->Write(rocksdb::WriteOptions(), &batch).ok());
  std::vector<uint64_t> stored;
  log_->Scan(0, 6, [&](uint64_t position, const rocksdb::Slice&) {
    stored.push_back(position);
    return true;
  });
  EXPECT_EQ(stored, (std::vector<uint64_t>{1, 4}));
}

// A reclaim that fails (here: manual compactions are switched off, so
// CompactRange refuses) is recorded, written to the LOG, and named by the
// message of a write that fails afterwards.
TEST_F(ItemLogTest, RecordsAFailedReclaimAndNamesItInLaterWriteFailures) {
  ItemLog::Options options;
  options.reclaim.idle_before = std::chrono::microseconds(0);
  options.reclaim.retry_after = std::chrono::seconds(60);
  Open(options).RecoverPrefix(0);
  log_->StartReclaimer([] { return uint64_t{1}; });
  Append({"a"});
  EXPECT_EQ(log_->background_failures().Last(), "");
  database_->db->DisableManualCompaction();
  log_->CountRemoved(1, 1);
  log_->NoteRemoved(1, 1);
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (log_->background_failures().Last().empty() &&
         std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const std::string failure = log_->background_failures().Last();
  EXPECT_NE(failure.find("reclaiming removed items' space"), std::string::npos) << failure;
  EXPECT_NE(failure.find(" UTC)"), std::string::npos) << failure;

  std::string message;
  EXPECT_EQ(KindThrownBy([&] {
              log_->ThrowWriteFailure("writing items", rocksdb::Status::IOError("disk gone"));
            }, &message),
            ErrorKind::kStorage);
  EXPECT_NE(message.find("writing items"), std::string::npos) << message;
  EXPECT_NE(message.find("the last background failure: " + failure), std::string::npos)
      << message;

  log_.reset();
  database_->Close();
  database_.reset();
  std::ifstream info_log(QueuePath() + "/LOG");
  const std::string logged((std::istreambuf_iterator<char>(info_log)),
                           std::istreambuf_iterator<char>());
  EXPECT_NE(logged.find("[rocksq] background work failed: " + failure), std::string::npos);
  EXPECT_EQ(BackgroundFailures::LastLogged(QueuePath()), failure);  // What `rocksq stats` shows.
}

}  // namespace
}  // namespace rocksq
