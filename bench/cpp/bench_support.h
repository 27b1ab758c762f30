// What the Google Benchmark benches of the C++ core share: item sizes, time
// budgets, counters, and a scratch directory per queue.

#ifndef ROCKSQ_BENCH_CPP_BENCH_SUPPORT_H_
#define ROCKSQ_BENCH_CPP_BENCH_SUPPORT_H_

#include <benchmark/benchmark.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>

namespace rocksq_bench {

constexpr int64_t kKiB = 1024;
// Item sizes every single-item bench runs with.
constexpr int64_t kItemSizes[] = {64, kKiB, 16 * kKiB, 256 * kKiB};
// The wall-clock budget of a bench whose iteration count the library picks.
constexpr double kMinTimeSeconds = 0.3;

// Items and bytes per second in the report, from the iterations run.
inline void SetCounters(benchmark::State& state, int64_t items_per_iteration,
                        int64_t item_size) {
  state.SetItemsProcessed(state.iterations() * items_per_iteration);
  state.SetBytesProcessed(state.iterations() * items_per_iteration * item_size);
}

// A fresh directory for one queue, removed on destruction. It lies under
// $ROCKSQ_BENCH_DIR if set (bench/run_cpp_bench.sh points it into build/,
// on the repository's disk, as the Python harness does), else under the
// system's temporary directory, which may be a RAM disk.
class TempDir {
 public:
  explicit TempDir(const std::string& label) {
    static std::atomic<int> counter{0};
    const char* root = std::getenv("ROCKSQ_BENCH_DIR");
    const std::filesystem::path base =
        root && *root ? std::filesystem::path(root) : std::filesystem::temp_directory_path();
    path_ = base / ("rocksq_bench_" + label + "_" + std::to_string(::getpid()) + "_" +
                    std::to_string(counter++));
    std::filesystem::remove_all(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::string QueuePath() const { return (path_ / "queue").string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace rocksq_bench

#endif  // ROCKSQ_BENCH_CPP_BENCH_SUPPORT_H_
