"""The release build's RocksDB recipe and profiles, checked without compiling.

conan/recipes/rocksdb/source builds RocksDB from a tarball whose sha256 is
pinned in its conandata.yml; the release profiles select it with the
options the wheel needs. Each test runs Conan in a Conan home of its own,
so the machine's cache and remotes are neither read nor changed; it runs
no build and reaches no network.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from support import REPO_ROOT

RECIPE = REPO_ROOT / "conan" / "recipes" / "rocksdb" / "source"
PROFILES = REPO_ROOT / "conan" / "profiles"

pytestmark = pytest.mark.skipif(shutil.which("conan") is None, reason="conan is not installed")


def _conan(home: Path, *arguments: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["conan", *arguments],
        env={**os.environ, "CONAN_HOME": str(home), **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def conan_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("conan-home")
    _conan(home, "profile", "detect", "--force").check_returncode()
    added = _conan(home, "remote", "add", "rocksq-system", str(REPO_ROOT / "conan"),
                   "--type=local-recipes-index")
    assert added.returncode == 0, added.stderr
    return home


def test_source_refuses_an_archive_whose_sha256_differs(tmp_path: Path, conan_home: Path) -> None:
    recipe = shutil.copytree(RECIPE, tmp_path / "recipe")
    archive = tmp_path / "rocksdb_9.10.0.orig.tar.gz"
    archive.write_bytes(b"not the release tarball")

    result = _conan(conan_home, "source", str(recipe), "--version", "9.10.0",
                    env={"ROCKSQ_ROCKSDB_ARCHIVE": str(archive)})

    assert result.returncode != 0
    assert "sha256 hash failed" in result.stdout + result.stderr
    assert not (recipe / "src" / "CMakeLists.txt").exists()


def _graph(home: Path, *profile_arguments: str) -> dict[str, dict]:
    """The dependency graph conanfile.py resolves to, by package name."""
    result = _conan(home, "graph", "info", str(REPO_ROOT), *profile_arguments,
                    "-r", "rocksq-system", "--format=json")
    assert result.returncode == 0, result.stderr
    nodes = json.loads(result.stdout)["graph"]["nodes"].values()
    return {node["name"]: node for node in nodes if node["name"] != "rocksq"}


WHEEL_OPTIONS = {"shared": "False", "fPIC": "True", "use_rtti": "True", "with_snappy": "False",
                 "with_lz4": "False", "with_zlib": "False", "with_zstd": "False"}


def test_release_profile_builds_rocksdb_9_10_statically_with_sse42(conan_home: Path) -> None:
    graph = _graph(conan_home, "-pr:a", str(PROFILES / "release"))
    rocksdb = graph["rocksdb"]

    assert set(graph) == {"rocksdb", "gtest", "benchmark"}
    assert rocksdb["ref"].startswith("rocksdb/9.10.0#")
    assert rocksdb["settings"]["arch"] == "x86_64"
    assert rocksdb["options"] == {**WHEEL_OPTIONS, "enable_sse": "sse42", "lto": "False"}


def test_aarch64_profile_cross_builds_rocksdb_without_test_requirements(conan_home: Path) -> None:
    graph = _graph(conan_home, "-pr:h", str(PROFILES / "release-aarch64"), "-pr:b", "default")
    rocksdb = graph["rocksdb"]

    assert set(graph) == {"rocksdb"}
    assert rocksdb["ref"].startswith("rocksdb/9.10.0#")
    assert rocksdb["settings"]["arch"] == "armv8"
    assert rocksdb["options"] == {**WHEEL_OPTIONS, "enable_sse": "False", "lto": "False"}
