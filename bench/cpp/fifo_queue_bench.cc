// Google Benchmark benches of the RocksQ C++ core, through its public header.
//
// Every benchmark run opens a fresh queue in its own temporary directory and
// removes it afterwards, so runs do not see each other's data. Pops read from
// a queue filled before the timed loop. Each bench is bounded (MinTime or a
// fixed iteration count) so the whole binary finishes in about a minute:
//
//   bash bench/run_cpp_bench.sh        (builds and runs every bench)

#include <benchmark/benchmark.h>

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
using QueuePtr = std::unique_ptr<rocksq::FifoQueue>;

// Pushes `count` copies of `item`, in batches so the fill is quick.
void Fill(rocksq::FifoQueue& queue, const std::string& item, int64_t count) {
  constexpr int64_t kFillBatch = 256;
  const std::vector<std::string_view> batch(kFillBatch, item);
  for (int64_t filled = 0; filled < count; filled += kFillBatch) {
    if (count - filled >= kFillBatch) {
      queue.PushBatch(batch);
    } else {
      queue.PushBatch({batch.begin(), batch.begin() + (count - filled)});
    }
  }
}

// --- Push ----------------------------------------------------------------------

void BM_Push(benchmark::State& state) {
  const int64_t item_size = state.range(0);
  TempDir dir("push");
  QueuePtr queue = rocksq::FifoQueue::Open(dir.QueuePath());
  const std::string item(static_cast<size_t>(item_size), 'p');

  for (auto _ : state) queue->Push(item);

  SetCounters(state, 1, item_size);
  queue->Close();
}
BENCHMARK(BM_Push)
    ->ArgName("item_bytes")
    ->Arg(kItemSizes[0])
    ->Arg(kItemSizes[1])
    ->Arg(kItemSizes[2])
    ->Arg(kItemSizes[3])
    ->MinTime(kMinTimeSeconds);

void BM_PushBatch(benchmark::State& state) {
  constexpr int64_t kBatchSize = 100;
  const int64_t item_size = state.range(0);
  TempDir dir("push_batch");
  QueuePtr queue = rocksq::FifoQueue::Open(dir.QueuePath());
  const std::string item(static_cast<size_t>(item_size), 'b');
  const std::vector<std::string_view> batch(kBatchSize, item);

  for (auto _ : state) queue->PushBatch(batch);

  SetCounters(state, kBatchSize, item_size);
  queue->Close();
}
BENCHMARK(BM_PushBatch)
    ->ArgName("item_bytes")
    ->Arg(64)
    ->Arg(kKiB)
    ->MinTime(kMinTimeSeconds);

// Threads share one queue: thread 0 opens it before the timed loop, whose
// start and end are barriers for all threads, and closes it after.
QueuePtr shared_queue;
std::unique_ptr<TempDir> shared_dir;

void BM_PushThreaded(benchmark::State& state) {
  constexpr int64_t kItemSize = kKiB;
  if (state.thread_index() == 0) {
    shared_dir = std::make_unique<TempDir>("push_threaded");
    rocksq::FifoOptions options;
    options.sync = state.range(0) != 0;
    shared_queue = rocksq::FifoQueue::Open(shared_dir->QueuePath(), options);
  }
  const std::string item(kItemSize, 't');

  for (auto _ : state) shared_queue->Push(item);

  SetCounters(state, 1, kItemSize);
  if (state.thread_index() == 0) {
    shared_queue->Close();
    shared_queue.reset();
    shared_dir.reset();
  }
}
// sync:1 shows group commit: concurrent synced pushes share one fsync.
BENCHMARK(BM_PushThreaded)
    ->ArgName("sync")
    ->Arg(0)
    ->Arg(1)
    ->Threads(1)
    ->Threads(2)
    ->Threads(4)
    ->Threads(8)
    ->UseRealTime()
    ->MinTime(kMinTimeSeconds);

// --- Pop -----------------------------------------------------------------------

// A pop bench needs one stored item per iteration, so its iteration count is
// fixed: about 64 MiB of items per run, at most 100'000.
int64_t PopIterations(int64_t item_size) {
  const int64_t by_bytes = (64 * kKiB * kKiB) / item_size;
  return by_bytes < 100'000 ? by_bytes : 100'000;
}

void BM_Pop(benchmark::State& state) {
  const int64_t item_size = state.range(0);
  TempDir dir("pop");
  QueuePtr queue = rocksq::FifoQueue::Open(dir.QueuePath());
  Fill(*queue, std::string(static_cast<size_t>(item_size), 'o'),
       static_cast<int64_t>(state.max_iterations));

  for (auto _ : state) {
    rocksq::PoppedItems items = queue->Pop();
    if (items.empty()) {
      state.SkipWithError("queue ran dry");
      break;
    }
    benchmark::DoNotOptimize(items[0].data());
  }

  SetCounters(state, 1, item_size);
  queue->Close();
}
BENCHMARK(BM_Pop)->ArgName("item_bytes")->Arg(kItemSizes[0])->Iterations(PopIterations(kItemSizes[0]));
BENCHMARK(BM_Pop)->ArgName("item_bytes")->Arg(kItemSizes[1])->Iterations(PopIterations(kItemSizes[1]));
BENCHMARK(BM_Pop)->ArgName("item_bytes")->Arg(kItemSizes[2])->Iterations(PopIterations(kItemSizes[2]));
BENCHMARK(BM_Pop)->ArgName("item_bytes")->Arg(kItemSizes[3])->Iterations(PopIterations(kItemSizes[3]));

void BM_PopBatch(benchmark::State& state) {
  constexpr int64_t kBatchSize = 100;
  const int64_t item_size = state.range(0);
  TempDir dir("pop_batch");
  QueuePtr queue = rocksq::FifoQueue::Open(dir.QueuePath());
  Fill(*queue, std::string(static_cast<size_t>(item_size), 'o'),
       static_cast<int64_t>(state.max_iterations) * kBatchSize);

  for (auto _ : state) {
    rocksq::PoppedItems items = queue->Pop(kBatchSize);
    if (items.size() != static_cast<size_t>(kBatchSize)) {
      state.SkipWithError("queue ran dry");
      break;
    }
    benchmark::DoNotOptimize(items[0].data());
  }

  SetCounters(state, kBatchSize, item_size);
  queue->Close();
}
BENCHMARK(BM_PopBatch)->ArgName("item_bytes")->Arg(kKiB)->Iterations(500);

}  // namespace
