// The public queue types are abstract interfaces: another implementation
// (a test double, a queue reached through another process) can fill them,
// and code written against them runs on either. The result types such an
// implementation returns are built with PoppedItems::Copy and
// Deliveries::Copy.

#include <gtest/gtest.h>

#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "rocksq/rocksq.h"
#include "test_util.h"

namespace {

using namespace std::chrono_literals;

// A FIFO queue held in memory: the whole interface, none of it RocksDB.
class InMemoryFifoQueue final : public rocksq::FifoQueue {
 public:
  void Push(std::string_view item) override { PushBatch({item}); }
  void PushBatch(const std::vector<std::string_view>& items) override {
    if (items_.size() + items.size() > max_elements_) {
      throw rocksq::Error(rocksq::ErrorKind::kQueueFull, path_, "full");
    }
    items_.insert(items_.end(), items.begin(), items.end());
    unfinished_tasks_ += items.size();
  }
  rocksq::PoppedItems Pop(size_t max_items) override {
    std::vector<std::string_view> views;
    for (size_t i = 0; i < max_items && i < items_.size(); ++i) views.push_back(items_[i]);
    rocksq::PoppedItems popped = rocksq::PoppedItems::Copy(views);
    items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(views.size()));
    return popped;
  }
  rocksq::PoppedItems PopWait(size_t max_items, std::chrono::nanoseconds) override {
    return Pop(max_items);
  }
  void PushWait(std::string_view item, std::chrono::nanoseconds) override { Push(item); }
  void PushBatchWait(const std::vector<std::string_view>& items,
                     std::chrono::nanoseconds) override {
    PushBatch(items);
  }
  void SetChangeListener(std::function<void()>) override {}
  uint64_t Len() const override { return items_.size(); }
  uint64_t PayloadBytes() const override {
    uint64_t bytes = 0;
    for (const std::string& item : items_) bytes += item.size();
    return bytes;
  }
  uint64_t DiskBytes() const override { return 0; }
  uint64_t MaxElements() const override { return max_elements_; }
  const std::string& Path() const override { return path_; }
  const std::string& QueueId() const override { return queue_id_; }
  const std::string& RecoveryWarning() const override { return no_warning_; }
  std::string LastBackgroundError() const override { return ""; }
  void SetMaxElements(uint64_t max_elements) override { max_elements_ = max_elements; }
  void Shutdown(bool) override {}
  bool IsShutDown() const override { return false; }
  void Close() override {}
  uint64_t TaskDone() override {
    if (unfinished_tasks_ == 0) throw rocksq::Error(rocksq::ErrorKind::kInvalidArgument, path_, "");
    return --unfinished_tasks_;
  }
  uint64_t UnfinishedTasks() const override { return unfinished_tasks_; }
  bool JoinWait(std::chrono::nanoseconds) override { return unfinished_tasks_ == 0; }

 private:
  std::deque<std::string> items_;
  uint64_t max_elements_ = 3;
  uint64_t unfinished_tasks_ = 0;
  std::string path_ = "memory";
  std::string queue_id_ = "0123456789abcdef0123456789abcdef";
  std::string no_warning_;
};

// Code written against the interface alone.
std::vector<std::string> MoveThrough(rocksq::FifoQueue& queue,
                                     const std::vector<std::string_view>& items) {
  queue.PushBatch(items);
  rocksq::PoppedItems popped = queue.Pop(10);
  std::vector<std::string> out;
  for (size_t i = 0; i < popped.size(); ++i) out.push_back(popped.ToString(i));
  return out;
}

using QueueInterface = rocksq::testing::TempDirTest;

TEST_F(QueueInterface, CodeWrittenAgainstFifoQueueRunsOnAnotherImplementation) {
  const std::vector<std::string> want = {"a", "bb", "ccc"};
  InMemoryFifoQueue in_memory;
  EXPECT_EQ(MoveThrough(in_memory, {"a", "bb", "ccc"}), want);
  EXPECT_EQ(rocksq::testing::KindThrownBy([&] { in_memory.PushBatch({"1", "2", "3", "4"}); }),
            rocksq::ErrorKind::kQueueFull);

  auto stored = rocksq::FifoQueue::Open(QueuePath(), {/*max_elements=*/3});
  EXPECT_EQ(MoveThrough(*stored, {"a", "bb", "ccc"}), want);
}

TEST(PoppedItemsCopy, OwnsItsBytesAndCountsThem) {
  std::string first = "first", second = "";
  rocksq::PoppedItems items = rocksq::PoppedItems::Copy({first, second, "third"});
  first.assign("XXXXX");
  ASSERT_EQ(items.size(), 3u);
  EXPECT_EQ(items[0], "first");
  EXPECT_EQ(items[1], "");
  EXPECT_EQ(items[2], "third");
  EXPECT_EQ(items.payload_bytes(), 10u);
  EXPECT_THROW(items[3], std::out_of_range);
  EXPECT_TRUE(rocksq::PoppedItems::Copy({}).empty());
}

TEST(DeliveriesCopy, KeepsIdsAttemptsReceiptsAndPayloads) {
  std::string payload = "payload";
  rocksq::Deliveries deliveries =
      rocksq::Deliveries::Copy({{7, 1, payload, 1001}, {9, 3, "x", 5}});
  payload.assign("changed");
  ASSERT_EQ(deliveries.size(), 2u);
  EXPECT_EQ(deliveries[0].id, 7u);
  EXPECT_EQ(deliveries[0].attempt, 1u);
  EXPECT_EQ(deliveries[0].payload, "payload");
  EXPECT_EQ(deliveries[0].receipt, 1001u);
  EXPECT_EQ(deliveries[1].id, 9u);
  EXPECT_EQ(deliveries[1].attempt, 3u);
  EXPECT_EQ(deliveries[1].payload, "x");
  EXPECT_EQ(deliveries[1].receipt, 5u);
  EXPECT_EQ(deliveries.payload_bytes(), 8u);
}

}  // namespace
