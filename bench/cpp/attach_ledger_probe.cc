// What the attach design's ledger costs a push (docs/design/many-processes.md,
// section 5): a write of one 100-byte item (or a batch of 100) into an item
// column family, against the same write carrying the (client id, lane) ->
// (sequence, outcome) record that lets a retried push be recognised, in the
// same WriteBatch, two ways: as one more key in the default column family
// (WAL and memtable), or as WriteBatch::PutLogData (a blob written to the
// WAL only, which a WalFilter sees when the next owner replays the log).
// Unsynced, WAL on, as a push with sync=False. The three ways alternate one
// write at a time, so that all meet the same machine.
//
//   cmake target rocksq_attach_ledger_probe (-DROCKSQ_BUILD_BENCHMARKS=ON), or by hand:
//   g++ -std=c++17 -O2 -pthread bench/cpp/attach_ledger_probe.cc -lrocksdb -o attach_ledger_probe
//   ./attach_ledger_probe DIR [WRITES] [RUNS]   # DIR is created, then removed

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "rocksdb/db.h"
#include "rocksdb/options.h"
#include "rocksdb/write_batch.h"

namespace {

using Clock = std::chrono::steady_clock;

void Check(const rocksdb::Status& status, const char* what) {
  if (!status.ok()) {
    std::fprintf(stderr, "attach_ledger_probe: %s: %s\n", what, status.ToString().c_str());
    std::exit(2);
  }
}

void BigEndian(uint64_t value, char* out) {
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(value & 0xff);
    value >>= 8;
  }
}

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: attach_ledger_probe DIR [WRITES] [RUNS]\n");
    return 2;
  }
  const std::filesystem::path directory = argv[1];
  const int writes = argc > 2 ? std::atoi(argv[2]) : 100000;
  const int runs = argc > 3 ? std::atoi(argv[3]) : 5;

  rocksdb::Options options;
  options.create_if_missing = true;
  options.create_missing_column_families = true;
  options.write_buffer_size = 64 << 20;  // As RocksQ's item families.
  std::vector<rocksdb::ColumnFamilyDescriptor> families = {
      {rocksdb::kDefaultColumnFamilyName, options}, {"items", options}};
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* opened = nullptr;
  Check(rocksdb::DB::Open(options, directory.string(), families, &handles, &opened), "open");
  std::unique_ptr<rocksdb::DB> db(opened);
  rocksdb::ColumnFamilyHandle* items = handles[1];

  const std::string payload(100, 'p');
  // The ledger record: "rocksq.attach:" + 16-byte client id + 4-byte lane
  // -> seq (8), op and time (16), no outcome (a plain push).
  std::string ledger_key = "rocksq.attach:" + std::string(16, 'c') + std::string(4, 'l');
  std::string ledger_value(24, 'v');
  rocksdb::WriteOptions unsynced;
  uint64_t position = 0;
  rocksdb::WriteBatch batch;

  enum Ledger { kNone, kKey, kLogData };
  // One write of `count` items, with the ledger as `ledger` says; returns
  // its duration in microseconds.
  auto write = [&](size_t count, Ledger ledger) {
    const auto start = Clock::now();
    batch.Clear();
    for (size_t i = 0; i < count; ++i) {
      char key[8];
      BigEndian(position++, key);
      Check(batch.Put(items, rocksdb::Slice(key, 8), payload), "batch");
    }
    if (ledger != kNone) BigEndian(position, &ledger_value[0]);
    if (ledger == kKey) Check(batch.Put(ledger_key, ledger_value), "ledger");
    if (ledger == kLogData) Check(batch.PutLogData(ledger_key + ledger_value), "log data");
    Check(db->Write(unsynced, &batch), "write");
    return std::chrono::duration<double, std::micro>(Clock::now() - start).count();
  };

  std::printf("%zu-byte items, unsynced, %d writes per way per run, median of %d runs\n",
              payload.size(), writes, runs);
  for (size_t count : {size_t{1}, size_t{100}}) {
    std::vector<double> plain_runs, key_runs, log_data_runs;
    const int writes_here = count == 1 ? writes : std::max(1, writes / 100);
    for (int run = 0; run < runs; ++run) {
      double plain = 0, key = 0, log_data = 0;
      for (int i = 0; i < writes_here; ++i) {
        plain += write(count, kNone);
        key += write(count, kKey);
        log_data += write(count, kLogData);
      }
      plain_runs.push_back(plain / writes_here);
      key_runs.push_back(key / writes_here);
      log_data_runs.push_back(log_data / writes_here);
    }
    const double plain = Median(plain_runs);
    const double key = Median(key_runs);
    const double log_data = Median(log_data_runs);
    std::printf("%3zu item(s) a write: %.3f us plain; ledger as a key %.3f us (%+.3f); "
                "as WAL log data %.3f us (%+.3f)\n",
                count, plain, key, key - plain, log_data, log_data - plain);
  }

  for (rocksdb::ColumnFamilyHandle* handle : handles) {
    Check(db->DestroyColumnFamilyHandle(handle), "handle");
  }
  Check(db->Close(), "close");
  db.reset();
  std::filesystem::remove_all(directory);
  return 0;
}
