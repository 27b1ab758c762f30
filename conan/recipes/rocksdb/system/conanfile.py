"""RocksDB as the operating system ships it (Debian's librocksdb-dev).

Selected by the `debian` profile's [replace_requires]. Debian's static
librocksdb.a is built without -fPIC, so a Python extension can only link the
shared library: this recipe hands consumers `-lrocksdb`, which the linker
resolves to librocksdb.so.
"""

from conan import ConanFile
from conan.tools.system.package_manager import Apt


class RocksDBSystemConan(ConanFile):
    name = "rocksdb"
    version = "system"
    description = "RocksDB from the system package manager"
    license = ("GPL-2.0-only", "Apache-2.0")
    package_type = "shared-library"
    settings = "os", "arch", "compiler", "build_type"

    def package_id(self):
        # One system library serves every configuration.
        self.info.clear()

    def system_requirements(self):
        Apt(self).install(["librocksdb-dev"], update=True, check=True)

    def package_info(self):
        self.cpp_info.includedirs = []
        self.cpp_info.libdirs = []
        self.cpp_info.bindirs = []
        self.cpp_info.system_libs = ["rocksdb", "pthread", "dl"]
        # The same names as the Conan Center recipe, so CMake sees no difference.
        self.cpp_info.set_property("cmake_file_name", "RocksDB")
        self.cpp_info.set_property("cmake_target_name", "RocksDB::rocksdb")
