// Google Benchmark benches of the RocksQ MPMC queue, through its public
// header: adds, and labels reading what was added (each read also stores the
// label's new position). Run them with bash bench/run_cpp_bench.sh.

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bench_support.h"
#include "rocksq/rocksq.h"

namespace {

using rocksq_bench::kItemSizes;
using rocksq_bench::kKiB;
using rocksq_bench::kMinTimeSeconds;
using rocksq_bench::SetCounters;
using rocksq_bench::TempDir;
using QueuePtr = std::unique_ptr<rocksq::MpmcQueue>;

// Long enough that nothing expires during a bench.
rocksq::MpmcOptions LongLived() {
  rocksq::MpmcOptions options;
  options.ttl = std::chrono::hours(1);
  return options;
}

// Adds `count` copies of `item`, in batches so the fill is quick.
void Fill(rocksq::MpmcQueue& queue, const std::string& item, int64_t count) {
  constexpr int64_t kFillBatch = 256;
  const std::vector<std::string_view> batch(kFillBatch, item);
  for (int64_t filled = 0; filled < count; filled += kFillBatch) {
    if (count - filled >= kFillBatch) {
      queue.AddBatch(batch);
    } else {
      queue.AddBatch({batch.begin(), batch.begin() + (count - filled)});
    }
  }
}

// --- Add -----------------------------------------------------------------------

void BM_MpmcAdd(benchmark::State& state) {
  const int64_t item_size = state.range(0);
  TempDir dir("mpmc_add");
  QueuePtr queue = rocksq::MpmcQueue::Open(dir.QueuePath(), LongLived());
  const std::string item(static_cast<size_t>(item_size), 'a');

  for (auto _ : state) queue->Add(item);

  SetCounters(state, 1, item_size);
  queue->Close();
}
BENCHMARK(BM_MpmcAdd)
    ->ArgName("item_bytes")
    ->Arg(kItemSizes[0])
    ->Arg(kItemSizes[1])
    ->Arg(kItemSizes[2])
    ->Arg(kItemSizes[3])
    ->MinTime(kMinTimeSeconds);

void BM_MpmcAddBatch(benchmark::State& state) {
  constexpr int64_t kBatchSize = 100;
  const int64_t item_size = state.range(0);
  TempDir dir("mpmc_add_batch");
  QueuePtr queue = rocksq::MpmcQueue::Open(dir.QueuePath(), LongLived());
  const std::string item(static_cast<size_t>(item_size), 'b');
  const std::vector<std::string_view> batch(kBatchSize, item);

  for (auto _ : state) queue->AddBatch(batch);

  SetCounters(state, kBatchSize, item_size);
  queue->Close();
}
BENCHMARK(BM_MpmcAddBatch)->ArgName("item_bytes")->Arg(64)->Arg(kKiB)->MinTime(kMinTimeSeconds);

// --- Next ----------------------------------------------------------------------

// Labels read what was added before the timed loop, so the iteration count
// is fixed: one element (or one batch) per iteration.
constexpr int64_t kReadItems = 100'000;

// One label reading `batch` elements per call.
void BM_MpmcNext(benchmark::State& state) {
  constexpr int64_t kItemSize = 100;
  const int64_t batch = state.range(0);
  TempDir dir("mpmc_next");
  QueuePtr queue = rocksq::MpmcQueue::Open(dir.QueuePath(), LongLived());
  Fill(*queue, std::string(kItemSize, 'n'), static_cast<int64_t>(state.max_iterations) * batch);

  for (auto _ : state) {
    rocksq::MpmcRead read =
        queue->Next("reader", rocksq::StartPosition::kOldest, static_cast<size_t>(batch));
    if (read.items.size() != static_cast<size_t>(batch)) {
      state.SkipWithError("the label read everything too early");
      break;
    }
    benchmark::DoNotOptimize(read.items[0].data());
  }

  SetCounters(state, batch, kItemSize);
  queue->Close();
}
BENCHMARK(BM_MpmcNext)->ArgName("batch")->Arg(1)->Iterations(kReadItems);
BENCHMARK(BM_MpmcNext)->ArgName("batch")->Arg(100)->Iterations(kReadItems / 100);

// Threads, each its own label, read the same elements of one shared queue
// (thread 0 opens and fills it before the timed loop, closes it after).
QueuePtr shared_queue;
std::unique_ptr<TempDir> shared_dir;

void BM_MpmcLabelsReading(benchmark::State& state) {
  constexpr int64_t kItemSize = 100;
  constexpr int64_t kBatch = 100;
  if (state.thread_index() == 0) {
    shared_dir = std::make_unique<TempDir>("mpmc_labels");
    shared_queue = rocksq::MpmcQueue::Open(shared_dir->QueuePath(), LongLived());
    Fill(*shared_queue, std::string(kItemSize, 'l'),
         static_cast<int64_t>(state.max_iterations) * kBatch);
  }
  const std::string label = "reader-" + std::to_string(state.thread_index());

  for (auto _ : state) {
    rocksq::MpmcRead read = shared_queue->Next(label, rocksq::StartPosition::kOldest, kBatch);
    if (read.items.size() != static_cast<size_t>(kBatch)) {
      state.SkipWithError("the label read everything too early");
      break;
    }
    benchmark::DoNotOptimize(read.items[0].data());
  }

  SetCounters(state, kBatch, kItemSize);
  if (state.thread_index() == 0) {
    shared_queue->Close();
    shared_queue.reset();
    shared_dir.reset();
  }
}
BENCHMARK(BM_MpmcLabelsReading)
    ->Iterations(kReadItems / 100)
    ->Threads(1)
    ->Threads(3)
    ->UseRealTime();

}  // namespace
