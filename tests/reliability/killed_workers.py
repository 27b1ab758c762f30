"""What the crash tests do with the worker processes they kill (crash_worker.py, ack_crash_worker.py).

A worker prints "ready" once its queue is open, and logs every step to an
fsynced file, one line a step; the kill may cut the last line short.
"""

from __future__ import annotations

import select
import signal
import subprocess
import sys
from pathlib import Path

READY_TIMEOUT = 30.0


def start_worker(script: Path, *args: str, cwd: Path) -> subprocess.Popen[str]:
    """Starts `script` with `args` in a new interpreter, its outputs piped to the test."""
    return subprocess.Popen(
        [sys.executable, str(script), *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until_ready(worker: subprocess.Popen[str]) -> None:
    assert worker.stdout is not None
    ready, _, _ = select.select([worker.stdout], [], [], READY_TIMEOUT)
    line = worker.stdout.readline() if ready else ""
    if line != "ready\n":
        worker.kill()
        _, stderr = worker.communicate()
        raise AssertionError(f"worker did not start: {line!r}\n{stderr}")


def read_log(path: Path) -> list[list[str]]:
    """The log's complete lines, split into words; a line cut off by the kill is dropped."""
    if not path.exists():
        return []
    lines = path.read_text().split("\n")[:-1]  # The last piece has no newline: cut off, or empty.
    return [line.split() for line in lines]


def kill(worker: subprocess.Popen[str], name: str = "worker") -> None:
    """SIGKILLs `worker` and waits for it to die; fails the test if it had ended by itself."""
    alive = worker.poll() is None
    worker.send_signal(signal.SIGKILL)
    _, stderr = worker.communicate(timeout=READY_TIMEOUT)
    assert alive and worker.returncode == -signal.SIGKILL, (
        f"{name} ended by itself with {worker.returncode}:\n{stderr}"
    )
