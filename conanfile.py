"""Native dependencies of RocksQ: the one manifest.

Two ways to resolve it:

* Release wheels (Conan Center): `conan install . --build=missing` builds
  RocksDB statically with hardware CRC32C, which the wheel then carries.
* Offline, against Debian's packages: `conan install . -pr:a conan/profiles/debian`
  after `conan remote add rocksq-system conan/recipes --type=local-recipes-index`;
  the profile replaces each requirement with a `system` recipe.

Either way CMake sees `find_package(RocksDB CONFIG)` and `RocksDB::rocksdb`.
"""

from conan import ConanFile
from conan.tools.cmake import cmake_layout


class RocksQConan(ConanFile):
    name = "rocksq"
    settings = "os", "arch", "compiler", "build_type"
    generators = "CMakeDeps", "CMakeToolchain"

    default_options = {
        # A Python extension is a shared object: link RocksDB into it statically,
        # position-independent, so the wheel needs no other library.
        "rocksdb/*:shared": False,
        "rocksdb/*:fPIC": True,
        # RocksDB checksums every WAL record; a software CRC32C caps pushes near
        # 1.6 GB/s. SSE4.2 is in every x86-64-v2 processor (2009 on).
        "rocksdb/*:enable_sse": "sse42",
        # RocksQ subclasses RocksDB's Logger and EnvWrapper: their typeinfo
        # must be in the library, which a release build drops unless asked.
        "rocksdb/*:use_rtti": True,
        # Queue payloads are usually already compressed (images, video, protobufs).
        "rocksdb/*:with_snappy": False,
        "rocksdb/*:with_lz4": False,
        "rocksdb/*:with_zlib": False,
        "rocksdb/*:with_zstd": False,
    }

    def configure(self):
        if self.settings.arch != "x86_64":
            # The option exists only for x86; on armv8 RocksDB's CMake detects
            # the CRC extension by itself when built for armv8-a+crc.
            self.options["rocksdb"].enable_sse = False

    def requirements(self):
        # Pinned: Conan Center's rocksdb/9.10.0 compiles the same source bytes
        # (same sha256) as conan/recipes/rocksdb, which the release profiles
        # build, test and measure here; so the wheel released is the build measured.
        self.requires("rocksdb/9.10.0")

    def build_requirements(self):
        self.test_requires("gtest/[>=1.12 <2]")
        self.test_requires("benchmark/[>=1.7 <2]")

    def layout(self):
        cmake_layout(self)
