"""Fixtures shared by the tests of the rocksq package.

The tests are grouped by what they test: fifo/, mpmc/ and ack/ the queue
kinds' behaviour; faces/ what each Python face adds (queue.Queue- and
asyncio-style, nonblocking, the seed API, typing); reliability/ crashes,
damage, full disks, fork, directories and misuse; cli/ the `rocksq`
command; packaging/ the wheel, the CMake package, the docs and the README;
compat/ comparisons with rocksq 0.3.0 itself; cpp/ the C++ tests of the
public API (the engine's unit tests sit beside the engine, in cpp/src/). Helpers
that several folders import are in support/; a script a test runs sits
beside it.

The tests exercise the *installed* package (`pip install .`), whose rocksq/
holds the compiled rocksq._core. The source tree's rocksq/ has no _core, and
`python -m pytest` run from the repository root puts that root first on
sys.path, where it would shadow the installed package. So the checkout is
taken off sys.path here, before any test module imports rocksq; plain
`pytest` never puts it there (it adds each test's folder, and tests/ for
support/: pyproject.toml's `pythonpath`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Callable

import pytest
from support import REPO_ROOT
from support.processes import run_checked

sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != REPO_ROOT]

try:
    import rocksq._core  # noqa: F401
except ImportError as error:  # pragma: no cover - a setup problem, not a test failure
    raise pytest.UsageError(
        f"the tests need the installed rocksq package with its extension ({error}); "
        "build it with `pip install --no-build-isolation .` (see CMakeLists.txt)"
    ) from error

# After the checkout left sys.path: it imports rocksq.
from support.full_disk import SMALL_DISK_BYTES  # noqa: E402

RunPython = Callable[..., str]


@pytest.fixture
def queue_path(tmp_path: Path) -> str:
    """A directory path for a queue that does not exist yet."""
    return str(tmp_path / "queue")


@pytest.fixture
def run_python(tmp_path: Path) -> RunPython:
    """Runs a Python script in a fresh interpreter and returns its stdout.

    The script is source text, or the Path of a script file (whose folder the
    child can import from). The child starts in tmp_path, so it too imports
    the installed rocksq. Extra arguments become sys.argv[1:]; a non-zero exit
    fails the test.
    """

    def run(
        script: str | Path, *args: str, python: str = sys.executable, timeout: float = 60
    ) -> str:
        program = [str(script)] if isinstance(script, Path) else ["-c", textwrap.dedent(script)]
        return run_checked([python, *program, *args], cwd=tmp_path, timeout=timeout)

    return run


@pytest.fixture
def run_example(tmp_path: Path) -> Callable[[str, str], None]:
    """Runs a documentation example as a script, as a reader would, in an empty directory.

    `where` names the example in a failure. A script file, not `-c`, so that
    multiprocessing's "spawn" children can import the example's functions.
    """

    def run(code: str, where: str) -> None:
        script = tmp_path / "example.py"
        script.write_text(code, encoding="utf-8")
        completed = subprocess.run([sys.executable, script.name], cwd=tmp_path,
                                   capture_output=True, text=True, timeout=120)
        assert completed.returncode == 0, (
            f"the example in {where} exited with {completed.returncode}\n"
            f"{code}\nstdout:\n{completed.stdout}\nstderr:\n{completed.stderr}")

    return run


@pytest.fixture
def queue_held_by_another_process(queue_path: str, tmp_path: Path) -> Iterator[str]:
    """Opens the queue at queue_path in a child process for the test's duration."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                """
                import sys
                from rocksq.blocking import PersistentQueueWithCapacity
                queue = PersistentQueueWithCapacity(sys.argv[1])
                print("open", flush=True)
                sys.stdin.read()  # Hold the queue until the parent closes stdin.
                queue.close()
                """
            ),
            queue_path,
        ],
        cwd=tmp_path,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "open\n"
        yield queue_path
    finally:
        holder.communicate(timeout=30)
    assert holder.returncode == 0


@pytest.fixture
def short_switch_interval() -> Iterator[None]:
    """Bounds how long a thread waits for the GIL after its holder could give it up."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(0.001)
    yield
    sys.setswitchinterval(previous)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of SMALL_DISK_BYTES (support/full_disk.py), unmounted after the test."""
    directory = tmp_path / "disk"
    directory.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a size-limited tmpfs needs root")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={SMALL_DISK_BYTES}", "tmpfs", str(directory)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip() or mounted.returncode}")
    try:
        yield directory
    finally:
        subprocess.run(["umount", "-l", str(directory)], check=False)


@pytest.fixture
def strace() -> None:
    """Skips the test unless strace can trace here (its fault injection makes chosen system calls fail)."""
    if shutil.which("strace") is None:
        pytest.skip("strace is not installed")
    probe = subprocess.run(["strace", "-qq", "-o", os.devnull, "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"strace cannot trace here: {probe.stderr.decode().strip()}")
