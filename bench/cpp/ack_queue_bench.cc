// Google Benchmark benches of the C++ ack queue: what at-least-once delivery
// costs next to a FIFO queue's pop, for the 100-byte items of the Python
// harness's small-item workload (bench/ack_vs_pop.py is the same from Python).
//
// Each run fills a fresh queue before the timed loop, one item (or one batch)
// per iteration, and takes them out in the loop:
//   BM_FifoPop100       FifoQueue::Pop(), the baseline
//   BM_AckGetAck        AckQueue::Get() then Ack() of that item
//   BM_AckGetAckBatch   AckQueue::Get(100) then AckBatch() of those 100
//   BM_AckSyncedThreaded  Get() then Ack() with sync=True, from 1 and 4 threads

#include <benchmark/benchmark.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bench_support.h"
#include "rocksq/rocksq.h"

namespace {

using rocksq_bench::SetCounters;
using rocksq_bench::TempDir;

constexpr int64_t kItemSize = 100;
constexpr int64_t kTakenItems = 100'000;
constexpr int64_t kBatchSize = 100;

template <typename Queue>
void Fill(Queue& queue, int64_t count) {
  const std::string item(kItemSize, 'a');
  const std::vector<std::string_view> batch(256, item);
  for (int64_t filled = 0; filled < count; filled += 256) {
    const int64_t now = count - filled < 256 ? count - filled : 256;
    queue.PushBatch({batch.begin(), batch.begin() + now});
  }
}

void BM_FifoPop100(benchmark::State& state) {
  TempDir dir("fifo_pop_100");
  std::unique_ptr<rocksq::FifoQueue> queue = rocksq::FifoQueue::Open(dir.QueuePath());
  Fill(*queue, static_cast<int64_t>(state.max_iterations));
  for (auto _ : state) {
    rocksq::PoppedItems items = queue->Pop();
    if (items.empty()) {
      state.SkipWithError("queue ran dry");
      break;
    }
    benchmark::DoNotOptimize(items[0].data());
  }
  SetCounters(state, 1, kItemSize);
  queue->Close();
}
BENCHMARK(BM_FifoPop100)->Iterations(kTakenItems);

void BM_AckGetAck(benchmark::State& state) {
  TempDir dir("ack_get_ack");
  std::unique_ptr<rocksq::AckQueue> queue = rocksq::AckQueue::Open(dir.QueuePath());
  Fill(*queue, static_cast<int64_t>(state.max_iterations));
  for (auto _ : state) {
    rocksq::Deliveries taken = queue->Get();
    if (taken.empty()) {
      state.SkipWithError("queue ran dry");
      break;
    }
    benchmark::DoNotOptimize(taken[0].payload.data());
    queue->Ack(taken[0]);
  }
  SetCounters(state, 1, kItemSize);
  queue->Close();
}
BENCHMARK(BM_AckGetAck)->Iterations(kTakenItems);

void BM_AckGetAckBatch(benchmark::State& state) {
  TempDir dir("ack_get_ack_batch");
  std::unique_ptr<rocksq::AckQueue> queue = rocksq::AckQueue::Open(dir.QueuePath());
  Fill(*queue, static_cast<int64_t>(state.max_iterations) * kBatchSize);
  std::vector<rocksq::Delivery> batch;
  for (auto _ : state) {
    rocksq::Deliveries taken = queue->Get(kBatchSize);
    if (taken.size() != static_cast<size_t>(kBatchSize)) {
      state.SkipWithError("queue ran dry");
      break;
    }
    batch.clear();
    for (size_t i = 0; i < taken.size(); ++i) batch.push_back(taken[i]);
    queue->AckBatch(batch);
  }
  SetCounters(state, kBatchSize, kItemSize);
  queue->Close();
}
BENCHMARK(BM_AckGetAckBatch)->Iterations(kTakenItems / kBatchSize);

// Consumers acking with sync=True, each ack durable before it returns: one
// thread, then several sharing fsyncs. Real time, all threads together.
constexpr int64_t kSyncedAcksPerThread = 1500;
std::unique_ptr<rocksq::AckQueue> synced_queue;  // Set up and closed by thread 0.
std::unique_ptr<TempDir> synced_dir;

void BM_AckSyncedThreaded(benchmark::State& state) {
  if (state.thread_index() == 0) {
    synced_dir = std::make_unique<TempDir>("ack_synced");
    rocksq::AckOptions options;
    options.sync = true;
    synced_queue = rocksq::AckQueue::Open(synced_dir->QueuePath(), options);
    Fill(*synced_queue, kSyncedAcksPerThread * state.threads());
  }
  for (auto _ : state) {
    rocksq::Deliveries taken = synced_queue->Get();
    if (taken.empty()) {
      state.SkipWithError("queue ran dry");
      break;
    }
    synced_queue->Ack(taken[0]);
  }
  SetCounters(state, 1, kItemSize);
  if (state.thread_index() == 0) {
    synced_queue->Close();
    synced_queue.reset();
    synced_dir.reset();
  }
}
BENCHMARK(BM_AckSyncedThreaded)
    ->Iterations(kSyncedAcksPerThread)
    ->Threads(1)
    ->Threads(4)
    ->UseRealTime();

}  // namespace
