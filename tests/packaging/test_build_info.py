"""rocksq.build_info(): what the installed rocksq was built from and with."""

from __future__ import annotations

import os
import platform
import re

import rocksq


def test_build_info_names_rocksdb_the_build_the_checksums_compiler_and_architecture() -> None:
    info = rocksq.build_info()
    assert set(info) == {"rocksdb_version", "build", "crc32c_hardware", "crc32c", "compiler", "architecture"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", info["rocksdb_version"]), info
    assert info["build"] in {"debian", "release", "unknown"}
    assert info["crc32c_hardware"] is ("Not supported" not in info["crc32c"]), info
    assert info["compiler"] and info["compiler"] != "unknown"
    assert info["architecture"] == platform.machine()


def test_the_release_build_checksums_with_the_processor_s_crc32c_instructions() -> None:
    info = rocksq.build_info()
    if info["build"] != "release":
        # Debian's generic library may check in software: nothing to hold it to.
        assert os.environ.get("ROCKSQ_BUILD") != "release", f"the release build was asked for, got {info}"
        return
    assert info["crc32c_hardware"], info


def test_every_benchmark_figure_names_the_rocksdb_build_it_measured() -> None:
    from rocksq.benchmarks import RocksQ

    info = rocksq.build_info()
    version = RocksQ.version()

    assert f"{info['build']} build, RocksDB {info['rocksdb_version']}" in version, version
