"""The C++ package: `cmake --install` and a program that does find_package(rocksq).

The core is built in build/pkg-cmake (incremental after the first run) and
installed into a fresh prefix; tests/packaging/cmake_consumer is then configured against
that prefix alone, built and run. RocksDB is found the way the core found it:
through Conan's toolchain when bootstrap.sh made one (ROCKSQ_TOOLCHAIN), else
through the system's own CMake package.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from support import REPO_ROOT
from support.processes import run_checked

CORE_BUILD_DIR = REPO_ROOT / "build" / "pkg-cmake"
CONSUMER_SOURCE_DIR = Path(__file__).with_name("cmake_consumer")
DEFAULT_TOOLCHAIN = REPO_ROOT / "build/conan/build/Release/generators/conan_toolchain.cmake"

pytestmark = pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake is not installed")


def _toolchain_arguments() -> list[str]:
    toolchain = os.environ.get("ROCKSQ_TOOLCHAIN") or (
        str(DEFAULT_TOOLCHAIN) if DEFAULT_TOOLCHAIN.is_file() else ""
    )
    return [f"-DCMAKE_TOOLCHAIN_FILE={toolchain}"] if toolchain else []


def _cached_toolchain(build_dir: Path) -> list[str] | None:
    """The toolchain argument `build_dir` was configured with; None if it was not configured."""
    cache = build_dir / "CMakeCache.txt"
    if not cache.is_file():
        return None
    for line in cache.read_text().splitlines():
        if line.startswith("CMAKE_TOOLCHAIN_FILE:"):
            return [f"-DCMAKE_TOOLCHAIN_FILE={line.partition('=')[2]}"]
    return []


def _generator_arguments() -> list[str]:
    return ["-G", "Ninja"] if shutil.which("ninja") else []


def _configure_consumer(prefix: Path, build_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            "cmake",
            "-S",
            str(CONSUMER_SOURCE_DIR),
            "-B",
            str(build_dir),
            *_generator_arguments(),
            *_toolchain_arguments(),
            "-DCMAKE_BUILD_TYPE=Release",
            f"-DCMAKE_PREFIX_PATH={prefix}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def installed_prefix(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A prefix holding what `cmake --install` installs from a build of the core."""
    # A build configured with another toolchain (or none: build/conan appears
    # once conan/build_wheel.sh ran) keeps the RocksDB its cache found, which
    # the consumer, configured afresh, would not find: start that build over.
    if CORE_BUILD_DIR.exists() and _cached_toolchain(CORE_BUILD_DIR) != _toolchain_arguments():
        shutil.rmtree(CORE_BUILD_DIR)
    run_checked(
        [
            "cmake",
            "-S",
            REPO_ROOT,
            "-B",
            CORE_BUILD_DIR,
            *_generator_arguments(),
            *_toolchain_arguments(),
            "-DCMAKE_BUILD_TYPE=Release",
        ],
        timeout=600,
    )
    run_checked(["cmake", "--build", CORE_BUILD_DIR, "-j2"], timeout=1200)
    prefix = tmp_path_factory.mktemp("prefix")
    run_checked(["cmake", "--install", CORE_BUILD_DIR, "--prefix", prefix], timeout=600)
    return prefix


def test_install_holds_the_public_headers_the_library_and_the_cmake_package(
    installed_prefix: Path,
) -> None:
    installed = {
        str(path.relative_to(installed_prefix))
        for path in installed_prefix.rglob("*")
        if path.is_file()
    }
    public_headers = {
        f"include/rocksq/{header.name}"
        for header in (REPO_ROOT / "cpp" / "include" / "rocksq").glob("*.h")
    }
    assert "include/rocksq/rocksq.h" in public_headers
    assert {path for path in installed if path.startswith("include/")} == public_headers
    assert "lib/librocksq_core.a" in installed
    assert {
        "lib/cmake/rocksq/rocksqConfig.cmake",
        "lib/cmake/rocksq/rocksqConfigVersion.cmake",
        "lib/cmake/rocksq/rocksqTargets.cmake",
    } <= installed
    # The wheel's pieces are not part of the C++ package.
    assert not any(".so" in path or path.endswith((".py", ".pyi", "py.typed")) for path in installed)


def test_a_program_using_find_package_builds_and_runs_against_the_installed_package(
    installed_prefix: Path, tmp_path: Path
) -> None:
    build_dir = tmp_path / "consumer"
    configured = _configure_consumer(installed_prefix, build_dir)
    assert configured.returncode == 0, configured.stdout + configured.stderr
    # The package came from the prefix, not from this repository's build tree.
    cache = (build_dir / "CMakeCache.txt").read_text()
    assert f"rocksq_DIR:PATH={installed_prefix}/lib/cmake/rocksq" in cache
    run_checked(["cmake", "--build", build_dir], timeout=600)
    output = run_checked([build_dir / "rocksq_consumer", tmp_path / "queue"], timeout=60)
    assert output == "rocksq consumer: pushed and popped 3 items\n"
    assert not (tmp_path / "queue").exists()  # Destroy() removed it.

