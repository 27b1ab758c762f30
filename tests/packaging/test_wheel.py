"""The release wheel: RocksDB linked into the extension, nothing vendored, nothing else loaded.

conan/build_wheel.sh builds the wheel from the release build and tags it with
auditwheel; `ROCKSQ_BUILD=release bash tests/run.sh` runs it just before
pytest and names the result in ROCKSQ_WHEEL. Without ROCKSQ_WHEEL these tests
are skipped: building the release wheel compiles RocksDB the first time (see
docs/building.rst). The wheel is installed into a new virtual environment
without the system's site-packages, and both the loader (ldd,
/proc/self/maps) and the queue itself are asked what they use.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
from support.processes import run_checked

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="manylinux wheels are Linux-only"),
    pytest.mark.skipif(shutil.which("ldd") is None, reason="the loader's ldd is not installed"),
    pytest.mark.skipif(
        not os.environ.get("ROCKSQ_WHEEL"),
        reason="no release wheel named: ROCKSQ_BUILD=release bash tests/run.sh builds and names one",
    ),
]

# glibc's libraries and the C++ runtime, which every manylinux system has:
# all a release wheel's extension may load (RocksDB is inside it).
SYSTEM_LIBRARY = re.compile(r"^(linux-vdso|ld-linux[-\w]*|libc|libm|libdl|librt|libpthread|libstdc\+\+|libgcc_s)\.so")
# The package's size unpacked, with RocksDB inside its one extension.
MAX_UNPACKED_BYTES = 10 * 1000 * 1000


@pytest.fixture(scope="module")
def release_wheel() -> Path:
    wheel = Path(os.environ["ROCKSQ_WHEEL"])
    assert wheel.is_file(), wheel
    return wheel


@pytest.fixture(scope="module")
def wheel_venv(release_wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtual environment, without the system's site-packages, holding the wheel."""
    venv = tmp_path_factory.mktemp("wheel-venv") / "venv"
    run_checked([sys.executable, "-m", "venv", venv], timeout=300)
    run_checked(
        [venv / "bin" / "python", "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", release_wheel],
        timeout=300,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    return venv


def _clean_environment() -> dict[str, str]:
    """This process's environment without anything that points the loader or Python elsewhere."""
    hidden = {"LD_LIBRARY_PATH", "LD_PRELOAD", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}
    environment = {name: value for name, value in os.environ.items() if name not in hidden}
    environment["LD_LIBRARY_PATH"] = ""
    return environment


def _ldd(library: Path) -> dict[str, str]:
    """What the loader resolves each of `library`'s dependencies to: {soname: path}."""
    resolved: dict[str, str] = {}
    for line in run_checked(["ldd", library], env=_clean_environment()).splitlines():
        line = line.strip()
        assert "not found" not in line, f"{library}: {line}"
        if "=>" in line:
            name, _, target = line.partition("=>")
            resolved[name.strip()] = target.split("(")[0].strip()
        elif line:
            resolved[line.split()[0].rsplit("/", 1)[-1]] = line.split()[0]
    return resolved


def test_the_wheel_is_manylinux_and_holds_the_python_package_with_one_extension(release_wheel: Path) -> None:
    assert re.fullmatch(r"rocksq-[\d.]+-cp3\d+-cp3\d+-manylinux_2_\d+_(x86_64|aarch64)\.whl", release_wheel.name)
    with zipfile.ZipFile(release_wheel) as wheel:
        entries = wheel.infolist()
    names = [entry.filename for entry in entries]
    top_levels = {name.split("/", 1)[0] for name in names}
    assert {top for top in top_levels if not top.endswith(".dist-info")} == {"rocksq"}
    assert "rocksq/py.typed" in names and "rocksq/_core.pyi" in names
    shared_objects = [name for name in names if re.search(r"\.so(\.|$)", name)]
    assert len(shared_objects) == 1 and re.fullmatch(r"rocksq/_core\.cpython-3\d+-\w+-linux-gnu\.so", shared_objects[0])
    assert sum(entry.file_size for entry in entries) <= MAX_UNPACKED_BYTES


def test_the_installed_queue_works_in_a_fresh_venv_with_no_librocksdb_mapped(
    wheel_venv: Path, tmp_path: Path
) -> None:
    script = textwrap.dedent(
        """
        import json, sys
        import rocksq, rocksq._core
        from rocksq.blocking import MpmcQueue, PersistentQueueWithCapacity

        q = PersistentQueueWithCapacity(sys.argv[1] + "/fifo", max_elements=2)
        q.push([b"a", bytearray(b"b")])
        try:
            q.push([b"c"])
            raise AssertionError("a third item fit in a queue of two")
        except rocksq.QueueFull:
            pass
        assert q.pop(max_elements=5) == [b"a", b"b"]
        q.close()

        log = MpmcQueue(sys.argv[1] + "/log", ttl=60)
        log.add([b"e1"])
        assert log.next("reader", rocksq.StartPosition.Oldest) == ([b"e1"], False)
        log.close()

        with open("/proc/self/maps") as maps:
            mapped = sorted({line.split()[-1] for line in maps if line.split()[-1].startswith("/")})
        print(json.dumps({"rocksq": rocksq.__file__, "core": rocksq._core.__file__,
                          "path": sys.path, "mapped": mapped, "build": rocksq.build_info()}))
        """
    )
    output = run_checked(
        [wheel_venv / "bin" / "python", "-I", "-c", script, tmp_path],
        cwd=tmp_path,
        env=_clean_environment(),
        timeout=120,
    )
    seen = json.loads(output)
    venv = str(wheel_venv.resolve())
    assert seen["rocksq"].startswith(venv) and seen["core"].startswith(venv)
    # No site-packages but the venv's own: not the one holding the system's rocksq.
    assert all(entry.startswith(venv) for entry in seen["path"] if "site-packages" in entry)
    assert seen["core"] in seen["mapped"]
    assert not [path for path in seen["mapped"] if "rocksdb" in path], seen["mapped"]
    assert seen["build"]["build"] == "release" and seen["build"]["crc32c_hardware"], seen["build"]


def test_the_extension_needs_only_glibc_and_the_cxx_runtime(wheel_venv: Path) -> None:
    (package,) = wheel_venv.glob("lib/python3.*/site-packages/rocksq")
    (extension,) = package.glob("_core*.so")
    needed = _ldd(extension)
    assert needed, "ldd listed nothing"
    assert [name for name in needed if not SYSTEM_LIBRARY.match(name)] == []
