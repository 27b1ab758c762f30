"""RocksDB compiled from its release source, for RocksQ's release build.

Selected by the `release` and `release-aarch64` profiles. The source is the
release tarball as Debian's archive carries it (the same bytes, by sha256, as
the archive Conan Center's recipe builds: see conandata.yml), so a machine
that reaches only Debian and PyPI builds it. Only the static library target is
compiled: no tools, tests or benchmarks.

The options keep Conan Center's names and meanings, so the project's
conanfile.py sets the same values for either recipe.
"""

import glob
import os
import re

from conan import ConanFile
from conan.errors import ConanException, ConanInvalidConfiguration
from conan.tools.cmake import CMake, CMakeDeps, CMakeToolchain, cmake_layout
from conan.tools.files import check_sha256, copy, download, unzip

# A local copy of the tarball: the build then needs no network at all.
ARCHIVE_ENV = "ROCKSQ_ROCKSDB_ARCHIVE"


def debian_mirrors():
    """The Debian archives this machine's apt is configured with, in order.

    Read from apt's own sources so that no host name lives in the project.
    Security archives are skipped: their pool holds only security updates.
    """
    uris = []
    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        with open(path, encoding="utf-8") as sources:
            for stanza in sources.read().split("\n\n"):
                fields = dict(re.findall(r"^(\w[\w-]*):\s*(.*)$", stanza, re.MULTILINE))
                if "security" not in fields.get("Suites", ""):
                    uris += fields.get("URIs", "").split()
    for path in ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list")):
        if os.path.exists(path):
            with open(path, encoding="utf-8") as sources:
                for line in sources:
                    match = re.match(r"\s*deb(?:-src)?\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)", line)
                    if match and "security" not in match.group(2):
                        uris.append(match.group(1))
    return list(dict.fromkeys(uri.rstrip("/") for uri in uris))


class RocksDBSourceConan(ConanFile):
    name = "rocksdb"
    description = "RocksDB built from its release source"
    license = ("GPL-2.0-only", "Apache-2.0")
    package_type = "library"
    settings = "os", "arch", "compiler", "build_type"
    options = {
        "shared": [True, False],
        "fPIC": [True, False],
        # CRC32C in hardware: every WAL record and block is checksummed, and
        # the software fallback caps writes near 1.6 GB/s. "sse42" adds
        # SSE4.2 + PCLMUL (x86-64 processors since 2010); "avx2" targets
        # Haswell. Not an x86 option: on armv8 RocksDB's CMake adds
        # -march=armv8-a+crc+crypto itself and checks the CPU at run time.
        "enable_sse": [False, "sse42", "avx2"],
        # RocksQ subclasses rocksdb::Logger and rocksdb::EnvWrapper, which
        # needs their typeinfo: RocksDB's release build drops RTTI otherwise.
        "use_rtti": [True, False],
        # Link-time optimisation: the static library then holds GCC's
        # intermediate code, optimised together with the consumer at its link.
        "lto": [True, False],
        # Compression: off, since queue payloads are usually already
        # compressed. Each turned on requires its Conan package.
        "with_snappy": [True, False],
        "with_lz4": [True, False],
        "with_zlib": [True, False],
        "with_zstd": [True, False],
    }
    default_options = {
        "shared": False,
        "fPIC": True,
        "enable_sse": "sse42",
        "use_rtti": True,
        "lto": False,
        "with_snappy": False,
        "with_lz4": False,
        "with_zlib": False,
        "with_zstd": False,
    }

    def config_options(self):
        if self.settings.arch != "x86_64":
            self.options.enable_sse = False

    def configure(self):
        if self.options.shared:
            self.options.rm_safe("fPIC")

    def validate(self):
        if self.options.enable_sse and self.settings.arch != "x86_64":
            raise ConanInvalidConfiguration("enable_sse is an x86_64 option")

    def layout(self):
        cmake_layout(self, src_folder="src")

    def requirements(self):
        # The versions Conan Center's rocksdb recipe pairs with this release.
        if self.options.with_snappy:
            self.requires("snappy/1.1.10")
        if self.options.with_lz4:
            self.requires("lz4/1.9.4")
        if self.options.with_zlib:
            self.requires("zlib/[>=1.2.11 <2]")
        if self.options.with_zstd:
            self.requires("zstd/1.5.5")

    def source(self):
        data = self.conan_data["sources"][self.version]
        archive = os.path.join(self.source_folder, "..", os.path.basename(data["debian_pool_path"]))
        local = os.environ.get(ARCHIVE_ENV)
        if local:
            archive = os.path.abspath(local)
            check_sha256(self, archive, data["sha256"])
        else:
            mirrors = debian_mirrors()
            if not mirrors:
                raise ConanException(
                    f"no Debian archive in apt's sources to fetch {data['debian_pool_path']} from;"
                    f" set {ARCHIVE_ENV} to a local copy of it")
            download(self, [f"{mirror}/{data['debian_pool_path']}" for mirror in mirrors],
                     archive, sha256=data["sha256"])
        unzip(self, archive, destination=self.source_folder, strip_root=True)
        if not local:
            os.remove(archive)

    def generate(self):
        toolchain = CMakeToolchain(self)
        variables = toolchain.cache_variables
        for knob in ("WITH_GFLAGS", "WITH_TOOLS", "WITH_CORE_TOOLS", "WITH_BENCHMARK_TOOLS",
                     "WITH_TRACE_TOOLS", "WITH_TESTS", "WITH_ALL_TESTS", "WITH_BENCHMARK",
                     "WITH_EXAMPLES", "FAIL_ON_WARNINGS",
                     # Each would link a library the wheel must then carry.
                     "WITH_LIBURING", "WITH_JEMALLOC", "WITH_TBB", "WITH_NUMA", "WITH_BZ2"):
            variables[knob] = False
        variables["WITH_SNAPPY"] = bool(self.options.with_snappy)
        variables["WITH_LZ4"] = bool(self.options.with_lz4)
        variables["WITH_ZLIB"] = bool(self.options.with_zlib)
        variables["WITH_ZSTD"] = bool(self.options.with_zstd)
        variables["ROCKSDB_BUILD_SHARED"] = bool(self.options.shared)
        variables["USE_RTTI"] = bool(self.options.use_rtti)
        variables["CMAKE_INTERPROCEDURAL_OPTIMIZATION"] = bool(self.options.lto)
        # PORTABLE=0 would mean -march=native: a binary for this machine only.
        # 1 keeps the compiler's baseline, to which the flags below add.
        variables["PORTABLE"] = "haswell" if self.options.enable_sse == "avx2" else "1"
        if self.options.enable_sse == "sse42":
            toolchain.extra_cflags += ["-msse4.2", "-mpclmul"]
            toolchain.extra_cxxflags += ["-msse4.2", "-mpclmul"]
        toolchain.generate()
        dependencies = CMakeDeps(self)
        # RocksDB's own find modules name this target so.
        dependencies.set_property("zstd", "cmake_target_name", "zstd::zstd")
        dependencies.generate()

    @property
    def _target(self):
        return "rocksdb-shared" if self.options.shared else "rocksdb"

    def build(self):
        cmake = CMake(self)
        cmake.configure()
        cmake.build(target=self._target)

    def package(self):
        copy(self, "COPYING", self.source_folder, os.path.join(self.package_folder, "licenses"))
        copy(self, "LICENSE*", self.source_folder, os.path.join(self.package_folder, "licenses"))
        copy(self, "*.h", os.path.join(self.source_folder, "include"),
             os.path.join(self.package_folder, "include"))
        for library in ("*.a", "*.so", "*.so.*"):
            copy(self, library, self.build_folder, os.path.join(self.package_folder, "lib"),
                 keep_path=False, excludes=("third-party/*",))

    def package_info(self):
        # The names the system recipe and Conan Center's recipe give it, so
        # CMake's find_package(RocksDB CONFIG) sees no difference.
        self.cpp_info.set_property("cmake_file_name", "RocksDB")
        self.cpp_info.set_property("cmake_target_name", f"RocksDB::{self._target}")
        self.cpp_info.libs = ["rocksdb"]
        self.cpp_info.system_libs = ["pthread", "m", "dl"]
        if self.options.lto:
            # The consumer's link runs the optimisation over GCC's bytecode.
            self.cpp_info.sharedlinkflags = ["-flto=auto"]
            self.cpp_info.exelinkflags = ["-flto=auto"]
