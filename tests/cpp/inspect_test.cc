// GoogleTest suite of rocksq/inspect.h: reading a queue without opening it,
// including while it is open.

#include "rocksq/inspect.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>
#include <algorithm>
#include <string>
#include <vector>

#include "rocksq/rocksq.h"

namespace {

namespace fs = std::filesystem;
using rocksq::ErrorKind;
using namespace std::chrono_literals;

class InspectTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device random;
    directory_ = fs::temp_directory_path() /
                 ("rocksq-inspect-test-" + std::to_string(::getpid()) + "-" +
                  std::to_string(random()));
    fs::create_directories(directory_);
  }
  void TearDown() override { fs::remove_all(directory_); }

  std::string QueuePath() const { return (directory_ / "queue").string(); }

  // The kind of the Error `call` throws; fails the test if it throws none.
  template <typename Call>
  static ErrorKind KindThrownBy(Call&& call, std::string* message = nullptr) {
    try {
      call();
    } catch (const rocksq::Error& error) {
      if (message) *message = error.what();
      return error.kind();
    }
    ADD_FAILURE() << "no rocksq::Error thrown";
    return ErrorKind::kStorage;
  }

  fs::path directory_;
};

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
  const fs::path temporary = directory_ / "tmp";
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
  const std::string file = (directory_ / "file").string();
  std::ofstream(file) << "not a queue";
  EXPECT_EQ(KindThrownBy([&] { rocksq::InspectQueue(file); }), ErrorKind::kNotAQueue);
  const std::string empty = (directory_ / "empty").string();
  fs::create_directories(empty);
  EXPECT_EQ(KindThrownBy([&] { rocksq::PeekItems(empty, 1); }), ErrorKind::kNotAQueue);
  EXPECT_TRUE(fs::is_empty(empty));
  const std::string foreign = (directory_ / "foreign").string();
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
