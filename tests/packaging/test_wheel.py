"""The wheel: repaired by auditwheel, it works where no RocksDB but its own is visible.

conan/build_wheel.sh builds the wheel and repairs it into build/wheelhouse;
tests/run.sh runs it just before pytest and names the result in ROCKSQ_WHEEL.
Without ROCKSQ_WHEEL these tests run the script themselves, so they never
test a wheel older than the sources. The wheel is then installed into a new
virtual environment without the system's site-packages, and both the loader
(ldd, /proc/self/maps) and the queue itself are asked what they use.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
from support import REPO_ROOT
from support.processes import run_checked


pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="manylinux wheels are Linux-only"),
    pytest.mark.skipif(shutil.which("ldd") is None, reason="the loader's ldd is not installed"),
]

# Libraries every manylinux system provides, which a wheel must not carry
# (auditwheel's policy); everything else must resolve inside the wheel.
SYSTEM_LIBRARY = re.compile(
    r"^(linux-vdso|ld-linux[-\w]*|libc|libm|libdl|librt|libpthread|libstdc\+\+|libgcc_s|libz)\.so"
)


@pytest.fixture(scope="module")
def repaired_wheel() -> Path:
    named = os.environ.get("ROCKSQ_WHEEL")
    if named:
        wheel = Path(named)
    else:
        output = run_checked(["bash", REPO_ROOT / "conan" / "build_wheel.sh"], timeout=1800)
        wheel = Path(output.strip().splitlines()[-1])
    assert wheel.is_file(), wheel
    return wheel


@pytest.fixture(scope="module")
def wheel_venv(repaired_wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtual environment, without the system's site-packages, holding the wheel."""
    venv = tmp_path_factory.mktemp("wheel-venv") / "venv"
    run_checked([sys.executable, "-m", "venv", venv], timeout=300)
    run_checked(
        [venv / "bin" / "python", "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", repaired_wheel],
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


def _system_rocksdb() -> list[str]:
    """The librocksdb files the system's loader cache knows, if any."""
    if shutil.which("ldconfig") is None:
        return []
    cache = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
    return [line.split("=>")[-1].strip() for line in cache.splitlines() if "librocksdb" in line]


def test_the_wheel_is_manylinux_and_holds_only_the_python_package_and_its_libraries(
    repaired_wheel: Path,
) -> None:
    assert re.fullmatch(r"rocksq-[\d.]+-cp3\d+-cp3\d+-manylinux_2_\d+_(x86_64|aarch64)\.whl", repaired_wheel.name)
    with zipfile.ZipFile(repaired_wheel) as wheel:
        names = wheel.namelist()
    top_levels = {name.split("/", 1)[0] for name in names}
    assert {top for top in top_levels if not top.endswith(".dist-info")} == {"rocksq", "rocksq.libs"}
    assert "rocksq/py.typed" in names and "rocksq/_core.pyi" in names
    assert any(re.fullmatch(r"rocksq\.libs/librocksdb-[0-9a-f]+\.so[.\d]*", name) for name in names)


def test_the_installed_queue_works_in_a_fresh_venv_with_only_the_wheels_rocksdb_mapped(
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
            mapped = sorted({line.split()[-1] for line in maps if "rocksdb" in line})
        print(json.dumps({"rocksq": rocksq.__file__, "core": rocksq._core.__file__,
                          "path": sys.path, "rocksdb_mapped": mapped}))
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
    assert len(seen["rocksdb_mapped"]) == 1
    assert re.fullmatch(
        re.escape(venv) + r"/lib/python3\.\d+/site-packages/rocksq\.libs/librocksdb-[0-9a-f]+\.so[.\d]*",
        seen["rocksdb_mapped"][0],
    ), seen["rocksdb_mapped"]


def test_ldd_resolves_every_library_outside_the_manylinux_set_inside_the_wheel(wheel_venv: Path) -> None:
    (package,) = wheel_venv.glob("lib/python3.*/site-packages/rocksq")
    vendored = (package.parent / "rocksq.libs").resolve()
    (extension,) = package.glob("_core*.so")
    libraries = [extension, *vendored.glob("*.so*")]
    assert len(libraries) >= 2
    resolved_rocksdb: list[Path] = []
    for library in libraries:
        for name, path in _ldd(library).items():
            if SYSTEM_LIBRARY.match(name):
                continue
            location = Path(path).resolve()
            assert location.parent == vendored, f"{library.name} loads {name} from {path}"
            if name.startswith("librocksdb"):
                resolved_rocksdb.append(location)
    assert resolved_rocksdb, "the extension does not load librocksdb through the loader"
    # The system has a RocksDB of its own, and the loader did not take it.
    for system_library in _system_rocksdb():
        assert Path(system_library).resolve() not in resolved_rocksdb
