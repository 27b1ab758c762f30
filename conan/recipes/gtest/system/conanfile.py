"""GoogleTest as the operating system ships it (Debian's libgtest-dev)."""

from conan import ConanFile
from conan.tools.system.package_manager import Apt


class GTestSystemConan(ConanFile):
    name = "gtest"
    version = "system"
    description = "GoogleTest from the system package manager"
    license = "BSD-3-Clause"
    package_type = "static-library"
    settings = "os", "arch", "compiler", "build_type"

    def package_id(self):
        self.info.clear()

    def system_requirements(self):
        Apt(self).install(["libgtest-dev"], update=True, check=True)

    def package_info(self):
        # Target and component names as in the Conan Center recipe.
        self.cpp_info.set_property("cmake_file_name", "GTest")
        self.cpp_info.set_property("cmake_target_name", "GTest::gtest")
        self.cpp_info.components["libgtest"].set_property("cmake_target_name", "GTest::gtest")
        self.cpp_info.components["libgtest"].system_libs = ["gtest", "pthread"]
        self.cpp_info.components["gtest_main"].set_property("cmake_target_name", "GTest::gtest_main")
        self.cpp_info.components["gtest_main"].system_libs = ["gtest_main"]
        self.cpp_info.components["gtest_main"].requires = ["libgtest"]
        # The headers and libraries are in the system's default search paths.
        for component in self.cpp_info.components.values():
            component.includedirs = []
            component.libdirs = []
            component.bindirs = []
