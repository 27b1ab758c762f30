// What this copy of RocksQ was built from and with: a benchmark figure or a
// bug report names the build it came from.

#ifndef ROCKSQ_BUILD_INFO_H_
#define ROCKSQ_BUILD_INFO_H_

#include <string>

namespace rocksq {

struct BuildInfo {
  // The RocksDB linked into this process, as RocksDB reports it ("9.10.0").
  std::string rocksdb_version;
  // Which build this is: "release" (RocksDB compiled from source and linked
  // statically, conan/profiles/release*), "debian" (Debian's shared
  // librocksdb, conan/profiles/debian), or "unknown" (any other toolchain).
  std::string build;
  // Whether RocksDB checksums with the processor's CRC32C instructions on
  // this machine (SSE4.2 on x86_64, the CRC extension on aarch64), and
  // RocksDB's own words for it ("Supported on x86").
  bool crc32c_hardware = false;
  std::string crc32c;
  // The compiler of the core, e.g. "GCC 12.2.0", and the architecture the
  // core was compiled for ("x86_64", "aarch64").
  std::string compiler;
  std::string architecture;
};

// Never throws but std::bad_alloc.
BuildInfo GetBuildInfo();

}  // namespace rocksq

#endif  // ROCKSQ_BUILD_INFO_H_
