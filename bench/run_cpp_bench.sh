#!/usr/bin/env bash
# Builds and runs the Google Benchmark benches of the C++ core
# (bench/cpp/*_bench.cc) and writes their results:
#   build/cpp-bench*/results.json   Google Benchmark's own JSON
#   build/cpp-bench*/results.md     a markdown table of items/s and MB/s
#
#   bash bench/run_cpp_bench.sh                    # every bench, 3 repetitions (~4 min)
#   bash bench/run_cpp_bench.sh --quick            # one repetition, short runs
#   ROCKSQ_BUILD=release bash bench/run_cpp_bench.sh --report docs/generated/performance-cpp.rst
#                                                  # also the docs' page: the release build's only
#   bash bench/run_cpp_bench.sh -- --benchmark_filter=Mpmc   # flags to the binary
# ROCKSQ_BUILD picks the RocksDB (conan/bootstrap.sh; Debian's by default);
# each build has its own directory, build/cpp-bench or build/cpp-bench-release.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
repetitions=3
min_time=()
render_flags=()
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) repetitions=1; min_time=(--benchmark_min_time=0.05); shift ;;
    --report) render_flags+=(--report "$2"); shift 2 ;;
    --) shift; break ;;
    *) echo "usage: $0 [--quick] [--report PAGE] [-- BENCHMARK_FLAGS...]" >&2; exit 2 ;;
  esac
done

source "$repo/conan/bootstrap.sh"
out="$repo/build/cpp-bench$ROCKSQ_BUILD_SUFFIX"
cmake -S "$repo" -B "$out" -G Ninja \
  -DCMAKE_TOOLCHAIN_FILE="$ROCKSQ_TOOLCHAIN" -DCMAKE_BUILD_TYPE=Release \
  -DROCKSQ_BUILD_BENCHMARKS=ON >/dev/null
cmake --build "$out" --target rocksq_bench

# Queues live on the repository's disk, as in the Python harness.
export ROCKSQ_BENCH_DIR="$out/tmp"
rm -rf "$ROCKSQ_BENCH_DIR" && mkdir -p "$ROCKSQ_BENCH_DIR"
"$out/rocksq_bench" --benchmark_repetitions="$repetitions" \
  --benchmark_report_aggregates_only="$([ "$repetitions" -gt 1 ] && echo true || echo false)" \
  --benchmark_counters_tabular=true "${min_time[@]}" \
  --benchmark_out="$out/results.json" --benchmark_out_format=json "$@"
python3 "$repo/bench/render_cpp_bench.py" "$out/results.json" "$out/results.md" "${render_flags[@]}"
