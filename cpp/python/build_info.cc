// Binds rocksq/build_info.h as rocksq.build_info().

#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>

#include "rocksq/build_info.h"

namespace nb = nanobind;

namespace rocksq_python {

void init_build_info(nb::module_& m) {
  m.def(
      "build_info",
      [] {
        const rocksq::BuildInfo info = rocksq::GetBuildInfo();
        nb::dict result;
        result["rocksdb_version"] = info.rocksdb_version;
        result["build"] = info.build;
        result["crc32c_hardware"] = info.crc32c_hardware;
        result["crc32c"] = info.crc32c;
        result["compiler"] = info.compiler;
        result["architecture"] = info.architecture;
        return result;
      },
      nb::sig("def build_info() -> dict[str, str | bool]"),
      "What this copy of rocksq was built from and with, as a dict.\n\n"
      "``rocksdb_version``: the RocksDB linked in (\"9.10.0\"); ``build``: \"release\"\n"
      "(RocksDB compiled from source, linked statically: the wheels), \"debian\"\n"
      "(Debian's shared librocksdb) or \"unknown\"; ``crc32c_hardware``: whether\n"
      "RocksDB checksums with the processor's CRC32C instructions here, and\n"
      "``crc32c`` RocksDB's own words for it; ``compiler`` and ``architecture``\n"
      "of the build. Benchmarks print it, so every figure names its build.");
}

}  // namespace rocksq_python
