"""Google Benchmark as the operating system ships it (Debian's libbenchmark-dev)."""

from conan import ConanFile
from conan.tools.system.package_manager import Apt


class BenchmarkSystemConan(ConanFile):
    name = "benchmark"
    version = "system"
    description = "Google Benchmark from the system package manager"
    license = "Apache-2.0"
    package_type = "static-library"
    settings = "os", "arch", "compiler", "build_type"

    def package_id(self):
        self.info.clear()

    def system_requirements(self):
        Apt(self).install(["libbenchmark-dev"], update=True, check=True)

    def package_info(self):
        self.cpp_info.set_property("cmake_file_name", "benchmark")
        self.cpp_info.set_property("cmake_target_name", "benchmark::benchmark")
        self.cpp_info.components["_benchmark"].set_property("cmake_target_name", "benchmark::benchmark")
        self.cpp_info.components["_benchmark"].system_libs = ["benchmark", "pthread"]
        self.cpp_info.components["benchmark_main"].set_property("cmake_target_name", "benchmark::benchmark_main")
        self.cpp_info.components["benchmark_main"].system_libs = ["benchmark_main"]
        self.cpp_info.components["benchmark_main"].requires = ["_benchmark"]
        # The headers and libraries are in the system's default search paths.
        for component in self.cpp_info.components.values():
            component.includedirs = []
            component.libdirs = []
            component.bindirs = []
