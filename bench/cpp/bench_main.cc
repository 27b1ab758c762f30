// The benches' main: Google Benchmark's, plus the build under test in the
// report's context, so that every table names the RocksDB it measured
// (bench/render_cpp_bench.py prints it; --report publishes only a release
// build's figures).

#include <benchmark/benchmark.h>

#include "rocksq/build_info.h"

int main(int argc, char** argv) {
  const rocksq::BuildInfo build = rocksq::GetBuildInfo();
  benchmark::AddCustomContext("rocksq_build", build.build);
  benchmark::AddCustomContext("rocksdb_version", build.rocksdb_version);
  benchmark::AddCustomContext("crc32c", build.crc32c_hardware ? "hardware" : "software");
  benchmark::AddCustomContext("compiler", build.compiler);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
