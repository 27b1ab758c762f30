// Durable writes (100 bytes unless told), five ways, interleaved one operation at a time so
// that every way meets the same disk (other work on the machine changes an
// fsync's latency from one moment to the next far more than these ways
// differ): a raw file appended to, a raw file written inside a range
// fallocate() already added to its size, a raw file overwriting blocks it
// already holds, RocksDB with Env::Default() (logs grow record by record),
// and RocksDB with RocksQ's Env (logs written into zeros laid down ahead of
// them: cpp/src/wal_file_system.h). Writes of a few KiB (a synced group of
// 1 KiB pushes) show why zeros rather than fallocate(): nearly every write
// then lands in a block fallocate() left unwritten, which must be marked
// written in the filesystem's journal.
// Prints each way's latency median and quartiles, and the median over
// operations of the per-operation ratios that matter.
//
//   cmake ... -DROCKSQ_BUILD_BENCHMARKS=ON && cmake --build BUILD --target rocksq_wal_sync_probe
//   BUILD/rocksq_wal_sync_probe DIR [WRITES [BYTES]]   # DIR on the filesystem to measure; removed after

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "process_env.h"
#include "rocksdb/db.h"
#include "rocksdb/options.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr size_t kDefaultItemBytes = 100;
constexpr off_t kMinRawFileBytes = 4 << 20;

enum Way { kAppend, kInsideExtension, kOverwrite, kRocksDbDefault, kRocksDbQueueEnv, kWays };
const char* const kWayNames[kWays] = {
    "raw append + fdatasync",
    "raw write inside fallocate()d size + fdatasync",
    "raw overwrite of written blocks + fdatasync",
    "RocksDB sync Put, Env::Default()",
    "RocksDB sync Put, RocksQ's Env",
};

int OpenRaw(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    std::perror(path.c_str());
    std::exit(1);
  }
  return fd;
}

std::unique_ptr<rocksdb::DB> OpenDatabase(const fs::path& path, rocksdb::Env* env) {
  rocksdb::Options options;
  options.create_if_missing = true;
  options.env = env;
  rocksdb::DB* db = nullptr;
  const rocksdb::Status opened = rocksdb::DB::Open(options, path.string(), &db);
  if (!opened.ok()) {
    std::fprintf(stderr, "%s: %s\n", path.c_str(), opened.ToString().c_str());
    std::exit(1);
  }
  return std::unique_ptr<rocksdb::DB>(db);
}

double Median(std::vector<double> values, double quantile = 0.5) {
  std::sort(values.begin(), values.end());
  return values[static_cast<size_t>(quantile * (values.size() - 1))];
}

double MedianRatio(const std::vector<double>& numerators, const std::vector<double>& denominators) {
  std::vector<double> ratios;
  for (size_t i = 0; i < numerators.size(); ++i) ratios.push_back(numerators[i] / denominators[i]);
  return Median(ratios);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s DIR [WRITES [BYTES]]\n", argv[0]);
    return 2;
  }
  const fs::path base = fs::path(argv[1]) / "rocksq_wal_sync_probe";
  const int writes = argc > 2 ? std::atoi(argv[2]) : 2000;
  const size_t item_bytes = argc > 3 ? std::strtoul(argv[3], nullptr, 10) : kDefaultItemBytes;
  // The raw files hold every write inside their first size.
  const off_t raw_file_bytes =
      std::max<off_t>(kMinRawFileBytes, static_cast<off_t>(item_bytes) * writes);
  fs::remove_all(base);
  fs::create_directories(base);
  const std::string item(item_bytes, 'x');

  const int append_fd = OpenRaw(base / "append");
  const int inside_fd = OpenRaw(base / "inside");
  const int overwrite_fd = OpenRaw(base / "overwrite");
  if (::fallocate(inside_fd, 0, 0, raw_file_bytes) != 0) std::perror("fallocate");
  const std::string filler(raw_file_bytes, 'z');
  if (::write(overwrite_fd, filler.data(), filler.size()) != raw_file_bytes) std::perror("write");
  ::fsync(inside_fd);
  ::fsync(overwrite_fd);
  ::lseek(overwrite_fd, 0, SEEK_SET);
  std::unique_ptr<rocksdb::DB> default_db = OpenDatabase(base / "default", rocksdb::Env::Default());
  std::unique_ptr<rocksdb::DB> queue_env_db = OpenDatabase(base / "queue_env", rocksq::ThisProcessEnv());
  rocksdb::WriteOptions synced;
  synced.sync = true;

  std::vector<double> micros[kWays];
  for (int i = 0; i < writes; ++i) {
    const std::string key = "key" + std::to_string(i);
    for (int turn = 0; turn < kWays; ++turn) {
      const Way way = static_cast<Way>((i + turn) % kWays);  // Each way goes first in turn.
      const Clock::time_point start = Clock::now();
      bool ok = true;
      switch (way) {
        case kAppend:
          ok = ::write(append_fd, item.data(), item.size()) == item_bytes && ::fdatasync(append_fd) == 0;
          break;
        case kInsideExtension:
          ok = ::write(inside_fd, item.data(), item.size()) == item_bytes && ::fdatasync(inside_fd) == 0;
          break;
        case kOverwrite:
          ok = ::write(overwrite_fd, item.data(), item.size()) == item_bytes &&
               ::fdatasync(overwrite_fd) == 0;
          break;
        case kRocksDbDefault:
          ok = default_db->Put(synced, key, item).ok();
          break;
        case kRocksDbQueueEnv:
          ok = queue_env_db->Put(synced, key, item).ok();
          break;
        case kWays:
          break;
      }
      if (!ok) {
        std::fprintf(stderr, "%s failed\n", kWayNames[way]);
        return 1;
      }
      micros[way].push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
    }
  }

  std::printf("%d synced %zu-byte writes each, interleaved; latency in us\n", writes, item_bytes);
  for (int way = 0; way < kWays; ++way) {
    std::printf("  %-48s median %6.0f  p25 %6.0f  p75 %6.0f\n", kWayNames[way],
                Median(micros[way]), Median(micros[way], 0.25), Median(micros[way], 0.75));
  }
  std::printf("median per-operation ratio, Env::Default() / RocksQ's Env: %.2f\n",
              MedianRatio(micros[kRocksDbDefault], micros[kRocksDbQueueEnv]));
  std::printf("median per-operation ratio, raw append / write inside the size: %.2f\n",
              MedianRatio(micros[kAppend], micros[kInsideExtension]));
  std::printf("median per-operation ratio, raw append / overwrite: %.2f\n",
              MedianRatio(micros[kAppend], micros[kOverwrite]));
  default_db.reset();
  queue_env_db.reset();
  for (const int fd : {append_fd, inside_fd, overwrite_fd}) ::close(fd);
  fs::remove_all(base);
  return 0;
}
