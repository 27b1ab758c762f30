#include "rocksq/build_info.h"

#include <rocksdb/version.h>

#include <string>

// RocksDB's own CRC32C probe: the answer RocksDB logs as "Fast CRC32
// supported" when a database opens. It is not in RocksDB's installed headers
// (util/crc32c.h) but is an exported function of every RocksDB since 6.x
// (returning std::string since 7.x), static and shared alike.
namespace rocksdb::crc32c {
std::string IsFastCrc32Supported();
}  // namespace rocksdb::crc32c

#ifndef ROCKSQ_BUILD_KIND
#define ROCKSQ_BUILD_KIND "unknown"
#endif

namespace rocksq {

namespace {

std::string Compiler() {
#if defined(__clang__)
  return "Clang " __clang_version__;
#elif defined(__GNUC__)
  return "GCC " __VERSION__;
#else
  return "unknown";
#endif
}

std::string Architecture() {
#if defined(__x86_64__)
  return "x86_64";
#elif defined(__aarch64__)
  return "aarch64";
#else
  return "unknown";
#endif
}

}  // namespace

BuildInfo GetBuildInfo() {
  BuildInfo info;
  info.rocksdb_version = rocksdb::GetRocksVersionAsString(/*with_patch=*/true);
  info.build = ROCKSQ_BUILD_KIND;
  info.crc32c = rocksdb::crc32c::IsFastCrc32Supported();
  // "Supported on x86", "Not supported on Arm64": RocksDB's two phrasings.
  info.crc32c_hardware = info.crc32c.rfind("Supported", 0) == 0;
  info.compiler = Compiler();
  info.architecture = Architecture();
  return info;
}

}  // namespace rocksq
