// GoogleTest suite of rocksq/inspect.h: reading a queue without opening it,
// including while it is open.

#include "rocksq/inspect.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>
#include <algorithm>
#include <string>
#include <vector>

#include "rocksdb/db.h"
#include "rocksdb/options.h"
#include "rocksq/rocksq.h"
#include "test_util.h"

namespace {

namespace fs = std::filesystem;
using rocksq::ErrorKind;
using namespace std::chrono_literals;

using InspectTest = rocksq::testing::TempDirTest;
using rocksq::testing::ChangeRecords;
using rocksq::testing::KindThrownBy;

// --- Who owns a queue (InspectOwner) ---------------------------------------------

TEST_F(InspectTest, AQueueNobodyHasOpenHasNoOwner) {
  rocksq::FifoQueue::Open(QueuePath())->Close();

  const rocksq::QueueOwner owner = rocksq::InspectOwner(QueuePath());

  EXPECT_EQ(owner.pid, 0u);
  EXPECT_FALSE(owner.answered);
  EXPECT_TRUE(owner.attached.empty());
}

TEST_F(InspectTest, AnOwnerServingAttachAnswersWithItsOwnFigures) {
  rocksq::FifoOptions options;
  options.attach = true;
  auto queue = rocksq::FifoQueue::Open(QueuePath(), options);
  const auto before_push = std::chrono::steady_clock::now();
  queue->PushBatch({"a", "bb", "ccc"});
  const auto after_push = std::chrono::steady_clock::now();

  const auto before_stats = std::chrono::steady_clock::now();
  const rocksq::QueueOwner owner = rocksq::InspectOwner(QueuePath());
  const auto after_stats = std::chrono::steady_clock::now();

  EXPECT_TRUE(owner.answered);
  EXPECT_EQ(owner.pid, static_cast<uint32_t>(::getpid()));
  EXPECT_EQ(owner.kind, "fifo");
  EXPECT_EQ(owner.queue_id, queue->QueueId());
  EXPECT_EQ(owner.length, 3u);
  EXPECT_EQ(owner.payload_bytes, 6u);
  // The owner marked when the push committed.
  const auto micros = [](auto duration) {
    return std::chrono::duration_cast<std::chrono::microseconds>(duration).count();
  };
  EXPECT_GE(owner.oldest_age_micros, micros(before_stats - after_push));
  EXPECT_LE(owner.oldest_age_micros, micros(after_stats - before_push));
  EXPECT_FALSE(owner.oldest_age_is_lower_bound);
  EXPECT_TRUE(owner.attached.empty());     // The inspecting connection is not attached.
}

TEST_F(InspectTest, AnOwnerWithoutAttachInThisProcessIsThisProcessAndKeepsItsLock) {
  auto queue = rocksq::FifoQueue::Open(QueuePath());

  EXPECT_EQ(rocksq::InspectOwner(QueuePath()).pid, static_cast<uint32_t>(::getpid()));

  // Had LOCK been opened and closed here, RocksDB's lock would be gone.
  pid_t child = ::fork();
  if (child == 0) {
    const uint32_t seen = rocksq::InspectOwner(QueuePath()).pid;
    ::_exit(seen == static_cast<uint32_t>(::getppid()) ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

// --- Checking (CheckQueue) and what recovery drops ------------------------------

// An 8-byte big-endian position or header word, as the queue stores it.
std::string BigEndian(uint64_t value) {
  std::string bytes(8, '\0');
  for (int i = 7; i >= 0; --i, value >>= 8) bytes[i] = static_cast<char>(value & 0xff);
  return bytes;
}

std::string Joined(const std::vector<std::string>& lines) {
  std::string text;
  for (const std::string& line : lines) text += line + "\n";
  return text;
}

// Inverts 16 bytes in the middle of the largest file of `directory` whose
// name ends with `suffix`; returns its name.
std::string FlipMiddleOfLargest(const fs::path& directory, const std::string& suffix) {
  fs::path largest;
  for (const fs::directory_entry& entry : fs::directory_iterator(directory)) {
    const std::string name = entry.path().filename().string();
    if (name.size() >= suffix.size() &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0 &&
        (largest.empty() || entry.file_size() > fs::file_size(largest))) {
      largest = entry.path();
    }
  }
  EXPECT_FALSE(largest.empty()) << "no *" << suffix << " file";
  std::fstream file(largest, std::ios::in | std::ios::out | std::ios::binary);
  const std::streamoff middle = static_cast<std::streamoff>(fs::file_size(largest) / 2);
  char bytes[16];
  file.seekg(middle);
  file.read(bytes, sizeof bytes);
  for (char& byte : bytes) byte = static_cast<char>(~byte);
  file.seekp(middle);
  file.write(bytes, sizeof bytes);
  return largest.filename().string();
}

TEST_F(InspectTest, CheckFindsASoundQueueOfEachKindSound) {
  {
    auto fifo = rocksq::FifoQueue::Open(QueuePath() + "-fifo");
    fifo->PushBatch({"a", "bb", "ccc"});
    fifo->Pop(1);
    auto mpmc = rocksq::MpmcQueue::Open(QueuePath() + "-mpmc", {std::chrono::hours(1)});
    mpmc->AddBatch({"a", "bb", "ccc"});
    mpmc->Next("reader", rocksq::StartPosition::kOldest, 2);
    auto ack = rocksq::AckQueue::Open(QueuePath() + "-ack");
    ack->PushBatch({"a", "bb", "ccc", "dddd"});
    rocksq::Deliveries got = ack->Get(2);
    ack->Ack(got[0]);
    ack->AckFailed(got[1]);
  }
  for (const auto& [suffix, records] :
       std::vector<std::pair<std::string, uint64_t>>{{"-fifo", 2}, {"-mpmc", 3}, {"-ack", 3}}) {
    const rocksq::QueueCheck check = rocksq::CheckQueue(QueuePath() + suffix);
    EXPECT_EQ(check.kind, suffix.substr(1));
    EXPECT_TRUE(check.damage.empty()) << suffix << ": " << Joined(check.damage);
    EXPECT_TRUE(check.dropped_records.empty()) << suffix << ": " << Joined(check.dropped_records);
    EXPECT_EQ(check.records_checked, records) << suffix;
  }
}

TEST_F(InspectTest, CheckFindsAFifoItemMissingAndAPayloadTotalThatDoesNotAddUp) {
  rocksq::FifoQueue::Open(QueuePath())->PushBatch({"a", "b", "c", "d", "e", "f"});
  ChangeRecords(QueuePath(), {"fifo_items"}, [](rocksdb::DB* db, auto families) {
    ASSERT_TRUE(db->Delete(rocksdb::WriteOptions(), families[0], BigEndian(3)).ok());
  });
  rocksq::QueueCheck check = rocksq::CheckQueue(QueuePath());
  EXPECT_NE(Joined(check.damage).find("positions 3 to 3 are missing"), std::string::npos)
      << Joined(check.damage);

  ChangeRecords(QueuePath(), {"fifo_items"}, [](rocksdb::DB* db, auto families) {
    // Item 3 back, but claiming 7 bytes came before it where 3 did.
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), families[0], BigEndian(3), BigEndian(7) + "d").ok());
  });
  check = rocksq::CheckQueue(QueuePath());
  EXPECT_NE(Joined(check.damage).find("position 3 says 7 payload bytes came before it; the items "
                                      "before it add up to 3"),
            std::string::npos)
      << Joined(check.damage);
}

TEST_F(InspectTest, CheckFindsAnMpmcLabelPastTheElementsAndElementsAddedOutOfOrder) {
  {
    auto queue = rocksq::MpmcQueue::Open(QueuePath(), {std::chrono::hours(1)});
    queue->AddBatch({"a", "b", "c"});
  }
  ChangeRecords(QueuePath(), {"mpmc_items", "mpmc_labels", "mpmc_meta"},
                [](rocksdb::DB* db, auto families) {
                  ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), families[1], "ahead", BigEndian(9)).ok());
                  // Element 2 added at time 1, long before element 1.
                  ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), families[0], BigEndian(2),
                                      BigEndian(2) + BigEndian(1) + "c")
                                  .ok());
                });
  const std::string damage = Joined(rocksq::CheckQueue(QueuePath()).damage);
  EXPECT_NE(damage.find("label 'ahead' reads from position 9, past the last element"),
            std::string::npos)
      << damage;
  EXPECT_NE(damage.find("the element at position 2 was added before the one ahead of it"),
            std::string::npos)
      << damage;
}

TEST_F(InspectTest, CheckFindsAckItemsTheRemovalCountsDoNotAccountFor) {
  rocksq::AckQueue::Open(QueuePath())->PushBatch({"a", "bb", "ccc"});
  ChangeRecords(QueuePath(), {"ack_items", "ack_failed", "ack_meta"},
                [](rocksdb::DB* db, auto families) {
                  ASSERT_TRUE(db->Delete(rocksdb::WriteOptions(), families[0], BigEndian(1)).ok());
                });
  const std::string damage = Joined(rocksq::CheckQueue(QueuePath()).damage);
  EXPECT_NE(damage.find("2 items of 4 payload bytes are stored, but the removal counts leave 3 "
                        "of 6"),
            std::string::npos)
      << damage;
}

TEST_F(InspectTest, ATableThatDoesNotLoadIsRefusedByInspectionAndReportedByCheck) {
  {
    auto queue = rocksq::FifoQueue::Open(QueuePath());
    queue->PushBatch({std::string(100000, 'a'), std::string(100000, 'b')});
  }
  rocksq::FifoQueue::Open(QueuePath())->Close();  // The recovered log goes into a table.
  for (const fs::directory_entry& entry : fs::directory_iterator(QueuePath())) {
    if (entry.path().extension() == ".sst") fs::resize_file(entry.path(), entry.file_size() / 2);
  }
  std::string message;
  EXPECT_EQ(KindThrownBy([&] { rocksq::InspectQueue(QueuePath()); }, &message),
            ErrorKind::kCorruption);
  EXPECT_NE(message.find("do not load"), std::string::npos) << message;
  EXPECT_EQ(KindThrownBy([&] { rocksq::PeekItems(QueuePath(), 1); }), ErrorKind::kCorruption);
  const rocksq::QueueCheck check = rocksq::CheckQueue(QueuePath());
  ASSERT_EQ(check.damage.size(), 1u);
  EXPECT_NE(check.damage[0].find(".sst"), std::string::npos) << check.damage[0];
}

// The items are only in the write-ahead log when the queue closes; damage in
// its middle makes recovery drop the records after it. Every step says so.
TEST_F(InspectTest, RecordsDroppedFromADamagedLogAreReportedBeforeAtAndAfterTheOpen) {
  {
    auto queue = rocksq::FifoQueue::Open(QueuePath());
    for (int i = 0; i < 200; ++i) queue->Push(std::string(1000, static_cast<char>('a' + i % 26)));
  }
  FlipMiddleOfLargest(QueuePath(), ".log");
  const rocksq::QueueCheck before = rocksq::CheckQueue(QueuePath());
  EXPECT_TRUE(before.damage.empty()) << Joined(before.damage);
  ASSERT_EQ(before.dropped_records.size(), 1u);
  EXPECT_NE(before.dropped_records[0].find("the next open"), std::string::npos);

  auto queue = rocksq::FifoQueue::Open(QueuePath());
  EXPECT_NE(queue->RecoveryWarning().find("recovery dropped write-ahead log records"),
            std::string::npos)
      << queue->RecoveryWarning();
  EXPECT_GT(queue->Len(), 0u);
  EXPECT_LT(queue->Len(), 200u);
  queue->Close();

  const rocksq::QueueCheck after = rocksq::CheckQueue(QueuePath());
  EXPECT_TRUE(after.damage.empty()) << Joined(after.damage);
  ASSERT_EQ(after.dropped_records.size(), 1u);
  EXPECT_EQ(after.dropped_records[0].rfind("an open at ", 0), 0u) << after.dropped_records[0];
  EXPECT_EQ(rocksq::InspectQueue(QueuePath()).dropped_records, after.dropped_records);
  // The loss was reported once; later opens recover cleanly.
  EXPECT_EQ(rocksq::FifoQueue::Open(QueuePath())->RecoveryWarning(), "");
}

TEST_F(InspectTest, ALogCutShortAsByACrashDropsNothingWorthAWarning) {
  {
    auto queue = rocksq::FifoQueue::Open(QueuePath());
    for (int i = 0; i < 200; ++i) queue->Push(std::string(1000, 'x'));
  }
  for (const fs::directory_entry& entry : fs::directory_iterator(QueuePath())) {
    if (entry.path().extension() == ".log" && entry.file_size() > 100000) {
      fs::resize_file(entry.path(), entry.file_size() / 2 + 7);
    }
  }
  EXPECT_TRUE(rocksq::CheckQueue(QueuePath()).dropped_records.empty());
  auto queue = rocksq::FifoQueue::Open(QueuePath());
  EXPECT_EQ(queue->RecoveryWarning(), "");
  EXPECT_GT(queue->Len(), 0u);
}

TEST_F(InspectTest, FifoSnapshotCountsItemsBytesAndCursors) {
  {
    auto queue = rocksq::FifoQueue::Open(QueuePath());
    queue->PushBatch({"one", "two", "three"});
    queue->Pop(1);
  }
  const rocksq::QueueSnapshot snapshot = rocksq::InspectQueue(QueuePath());
  EXPECT_EQ(snapshot.kind, "fifo");
  EXPECT_EQ(snapshot.path, QueuePath());
  EXPECT_EQ(snapshot.length, 2u);
  EXPECT_EQ(snapshot.payload_bytes, 8u);  // "two" + "three"
  EXPECT_EQ(snapshot.first_position, 1u);
  EXPECT_EQ(snapshot.end_position, 3u);
  EXPECT_GT(snapshot.disk_bytes, 0u);
  EXPECT_TRUE(snapshot.labels.empty());
}

TEST_F(InspectTest, EmptyFifoQueueHasLengthZero) {
  rocksq::FifoQueue::Open(QueuePath())->Close();
  const rocksq::QueueSnapshot snapshot = rocksq::InspectQueue(QueuePath());
  EXPECT_EQ(snapshot.kind, "fifo");
  EXPECT_EQ(snapshot.length, 0u);
  EXPECT_EQ(snapshot.payload_bytes, 0u);
  EXPECT_TRUE(rocksq::PeekItems(QueuePath(), 5).empty());
}

// Background failures are lines of the queue's LOG, written as
// BackgroundFailures::Record writes them through storage.cc's DiagnosticLog
// (item_log_test.cc makes one for real); the newest is reported, also once
// the queue is open again.
TEST_F(InspectTest, SnapshotReportsTheNewestBackgroundFailureInTheLog) {
  rocksq::FifoQueue::Open(QueuePath())->Push("x");
  EXPECT_EQ(rocksq::InspectQueue(QueuePath()).last_background_failure, "");
  {
    std::ofstream log(QueuePath() + "/LOG", std::ios::app);
    log << "2026/01/02-03:04:05 [ERROR] [rocksq] background work failed: reclaiming removed "
           "items' space: IO error: No space left on device (at 2026-01-02 03:04:05 UTC)\n"
        << "2026/01/02-03:05:05 [ERROR] [rocksq] background work failed: reclaiming removed "
           "items' space: IO error: disk gone (at 2026-01-02 03:05:05 UTC)\n"
        << "2026/01/02-03:06:05 ------- DUMPING STATS -------\n";
  }
  const std::string newest =
      "reclaiming removed items' space: IO error: disk gone (at 2026-01-02 03:05:05 UTC)";
  EXPECT_EQ(rocksq::InspectQueue(QueuePath()).last_background_failure, newest);
  auto queue = rocksq::FifoQueue::Open(QueuePath());
  EXPECT_EQ(queue->LastBackgroundError(), "");  // Only since this open.
  EXPECT_EQ(rocksq::InspectQueue(QueuePath()).last_background_failure, newest);
}

TEST_F(InspectTest, PeekReturnsTheOldestItemsWithoutPoppingThem) {
  auto queue = rocksq::FifoQueue::Open(QueuePath());
  queue->PushBatch({"a", "bb", "ccc"});
  const std::vector<rocksq::StoredItem> items = rocksq::PeekItems(QueuePath(), 2);
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0].data, "a");
  EXPECT_EQ(items[0].position, 0u);
  EXPECT_EQ(items[1].data, "bb");
  EXPECT_EQ(items[1].added_micros, 0u);
  EXPECT_EQ(queue->Len(), 3u);
  EXPECT_EQ(queue->Pop(3)[0], "a");
}

TEST_F(InspectTest, SeesEveryReturnedPushWhileTheQueueIsOpen) {
  auto queue = rocksq::FifoQueue::Open(QueuePath());
  for (int round = 1; round <= 3; ++round) {
    queue->Push("item " + std::to_string(round));
    const rocksq::QueueSnapshot snapshot = rocksq::InspectQueue(QueuePath());
    EXPECT_EQ(snapshot.length, static_cast<uint64_t>(round));
  }
  queue->Pop(1);
  EXPECT_EQ(rocksq::PeekItems(QueuePath(), 1)[0].data, "item 2");
  // The queue is unaffected: it keeps working and closes cleanly.
  queue->Push("item 4");
  EXPECT_EQ(queue->Len(), 3u);
  queue->Close();
}

TEST_F(InspectTest, LeavesNoFilesBehindInTheQueueOrTheTemporaryDirectory) {
  rocksq::FifoQueue::Open(QueuePath())->Push("x");
  auto listing = [](const fs::path& directory) {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(directory)) {
      names.push_back(entry.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
  };
  const std::vector<std::string> before = listing(QueuePath());
  // The secondary instance's files go to the temporary directory: this
  // test's own, so that nothing else running meanwhile can confuse it.
  const fs::path temporary = dir_ / "tmp";
  fs::create_directories(temporary);
  const char* old_tmpdir = std::getenv("TMPDIR");
  const std::string saved = old_tmpdir ? old_tmpdir : "";
  ::setenv("TMPDIR", temporary.c_str(), 1);
  rocksq::InspectQueue(QueuePath());
  rocksq::PeekItems(QueuePath(), 1);
  if (old_tmpdir) {
    ::setenv("TMPDIR", saved.c_str(), 1);
  } else {
    ::unsetenv("TMPDIR");
  }
  EXPECT_EQ(listing(QueuePath()), before);
  EXPECT_TRUE(fs::is_empty(temporary)) << "left behind: " << listing(temporary).front();
}

TEST_F(InspectTest, MpmcSnapshotListsLabelsWithPositionsAndUnreadCounts) {
  const uint64_t before_add =
      std::chrono::duration_cast<std::chrono::microseconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count();
  {
    auto queue = rocksq::MpmcQueue::Open(QueuePath(), {std::chrono::hours(1)});
    queue->AddBatch({"e1", "e2", "e3", "e4"});
    queue->Next("audit", rocksq::StartPosition::kOldest, 3);
    queue->Next("live", rocksq::StartPosition::kNewest, 0);
  }
  const rocksq::QueueSnapshot snapshot = rocksq::InspectQueue(QueuePath());
  EXPECT_EQ(snapshot.kind, "mpmc");
  EXPECT_EQ(snapshot.length, 4u);
  EXPECT_EQ(snapshot.payload_bytes, 8u);
  EXPECT_EQ(snapshot.first_position, 0u);
  EXPECT_EQ(snapshot.end_position, 4u);
  EXPECT_GE(snapshot.oldest_added_micros, before_add);
  EXPECT_GE(snapshot.newest_added_micros, snapshot.oldest_added_micros);
  ASSERT_EQ(snapshot.labels.size(), 2u);
  EXPECT_EQ(snapshot.labels[0].label, "audit");
  EXPECT_EQ(snapshot.labels[0].position, 3u);
  EXPECT_EQ(snapshot.labels[0].unread, 1u);
  EXPECT_EQ(snapshot.labels[1].label, "live");
  EXPECT_EQ(snapshot.labels[1].position, 3u);  // Newest: the last element alive.
}

TEST_F(InspectTest, MpmcPeekFromTheOldestOrFromALabel) {
  auto queue = rocksq::MpmcQueue::Open(QueuePath(), {std::chrono::hours(1)});
  queue->AddBatch({"e1", "e2", "e3"});
  queue->Next("audit", rocksq::StartPosition::kOldest, 2);
  const auto oldest = rocksq::PeekItems(QueuePath(), 10);
  ASSERT_EQ(oldest.size(), 3u);
  EXPECT_EQ(oldest[0].data, "e1");
  EXPECT_GT(oldest[0].added_micros, 0u);
  const auto for_audit = rocksq::PeekItems(QueuePath(), 10, "audit");
  ASSERT_EQ(for_audit.size(), 1u);
  EXPECT_EQ(for_audit[0].data, "e3");
  EXPECT_EQ(for_audit[0].position, 2u);
  // Peeking did not move the label.
  EXPECT_EQ(queue->Next("audit", rocksq::StartPosition::kOldest, 10).items.size(), 1u);
  EXPECT_EQ(KindThrownBy([&] { rocksq::PeekItems(QueuePath(), 1, "nobody"); }),
            ErrorKind::kInvalidArgument);
}

TEST_F(InspectTest, ExpiredAndSweptMpmcElementsAreNotCounted) {
  // "new" must stay alive while the two reads below open the database.
  auto queue = rocksq::MpmcQueue::Open(QueuePath(), {std::chrono::seconds(2)});
  queue->AddBatch({"old1", "old2"});
  std::this_thread::sleep_for(2500ms);  // Expired, and swept (every ttl / 10).
  queue->Add("new");
  const rocksq::QueueSnapshot snapshot = rocksq::InspectQueue(QueuePath());
  EXPECT_EQ(snapshot.length, 1u);
  EXPECT_EQ(snapshot.first_position, 2u);
  EXPECT_EQ(snapshot.payload_bytes, 3u);
  EXPECT_EQ(rocksq::PeekItems(QueuePath(), 5).at(0).data, "new");
}

TEST_F(InspectTest, LabelIsRefusedForAFifoQueue) {
  rocksq::FifoQueue::Open(QueuePath())->Push("x");
  EXPECT_EQ(KindThrownBy([&] { rocksq::PeekItems(QueuePath(), 1, "audit"); }),
            ErrorKind::kInvalidArgument);
}

TEST_F(InspectTest, MissingPathIsNotAQueue) {
  std::string message;
  EXPECT_EQ(KindThrownBy([&] { rocksq::InspectQueue(QueuePath()); }, &message),
            ErrorKind::kNotAQueue);
  EXPECT_NE(message.find("does not exist"), std::string::npos) << message;
  EXPECT_FALSE(fs::exists(QueuePath()));  // Inspecting created nothing.
}

TEST_F(InspectTest, FileEmptyDirectoryAndForeignDirectoryAreNotQueues) {
  const std::string file = (dir_ / "file").string();
  std::ofstream(file) << "not a queue";
  EXPECT_EQ(KindThrownBy([&] { rocksq::InspectQueue(file); }), ErrorKind::kNotAQueue);
  const std::string empty = (dir_ / "empty").string();
  fs::create_directories(empty);
  EXPECT_EQ(KindThrownBy([&] { rocksq::PeekItems(empty, 1); }), ErrorKind::kNotAQueue);
  EXPECT_TRUE(fs::is_empty(empty));
  const std::string foreign = (dir_ / "foreign").string();
  fs::create_directories(foreign);
  std::ofstream(foreign + "/notes.txt") << "hello";
  std::string message;
  EXPECT_EQ(KindThrownBy([&] { rocksq::InspectQueue(foreign); }, &message),
            ErrorKind::kNotAQueue);
  EXPECT_NE(message.find(foreign), std::string::npos) << message;
}

// The owner still has the queue open: its ack of "a" is in the ack log, not
// yet applied to the items, and must not count or be peeked.
TEST_F(InspectTest, AnAckQueueShowsItsStoredAndFailedItemsAsItsOwnerCountsThem) {
  rocksq::AckOptions options;
  auto queue = rocksq::AckQueue::Open(QueuePath(), options);
  queue->PushBatch({"a", "bb", "ccc", "dddd"});
  rocksq::Deliveries got = queue->Get(3);
  ASSERT_EQ(got.size(), 3u);
  queue->Ack(got[0]);           // "a" leaves for good (logged, still stored)
  queue->AckFailed(got[1]);     // "bb" is set aside
  // "ccc" stays handed out: stored, and not known as such from outside.

  const rocksq::QueueSnapshot snapshot = rocksq::InspectQueue(QueuePath());
  EXPECT_EQ(snapshot.kind, "ack");
  EXPECT_EQ(snapshot.length, queue->Len());
  EXPECT_EQ(snapshot.length, 3u);
  EXPECT_EQ(snapshot.payload_bytes, queue->PayloadBytes());
  EXPECT_EQ(snapshot.failed_length, 1u);
  EXPECT_EQ(snapshot.failed_payload_bytes, 2u);
  EXPECT_EQ(snapshot.end_position, 4u);

  std::vector<std::string> peeked;
  for (const rocksq::StoredItem& item : rocksq::PeekItems(QueuePath(), 10)) {
    peeked.push_back(item.data);
  }
  EXPECT_EQ(peeked, (std::vector<std::string>{"ccc", "dddd"}));
  EXPECT_EQ(queue->Len(), 3u);  // Inspection took nothing.
}

TEST_F(InspectTest, PeekingAnAckQueueWithALabelIsRefused) {
  rocksq::AckQueue::Open(QueuePath())->Push("x");
  EXPECT_EQ(KindThrownBy([&] { rocksq::PeekItems(QueuePath(), 1, "reader"); }),
            ErrorKind::kInvalidArgument);
}

}  // namespace
