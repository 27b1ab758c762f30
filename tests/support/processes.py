"""Running a command that must succeed."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path


def run_checked(
    command: Sequence[str | os.PathLike[str]],
    *,
    timeout: float = 120,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> str:
    """Runs `command` and returns its stdout; a non-zero exit fails the test, showing both outputs."""
    completed = subprocess.run(
        [str(part) for part in command],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=env,
    )
    assert completed.returncode == 0, (
        f"{' '.join(map(str, command))} exited with {completed.returncode}\n"
        f"stdout:\n{completed.stdout}\nstderr:\n{completed.stderr}"
    )
    return completed.stdout
