"""Fixtures of the comparisons with rocksq 0.3.0: its interpreter, and a script run under both.

rocksq 0.3.0 is installed into its own virtual environment, cached in the
repository's build/ folder. Without network access to install it the tests
that need it skip, saying so.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import pytest
from support import REPO_ROOT

if TYPE_CHECKING:
    from conftest import RunPython

REFERENCE_VERSION = "0.3.0"
REFERENCE_VENV = REPO_ROOT / "build" / "reference-venv"

# Runs one script of calls (a file beside the tests) under this package and
# under rocksq 0.3.0, each with a fresh directory as sys.argv[1], and
# returns what each printed: (ours, the reference's).
RunUnderBoth = Callable[[str], "tuple[str, str]"]


def venv_python(venv: Path) -> Path:
    scripts = "Scripts" if sys.platform == "win32" else "bin"
    return venv / scripts / ("python.exe" if sys.platform == "win32" else "python")


def has_reference_rocksq(python: Path) -> bool:
    if not python.exists():
        return False
    check = subprocess.run(
        [str(python), "-c", f"import rocksq; assert rocksq.version() == {REFERENCE_VERSION!r}"],
        cwd=REFERENCE_VENV,
        capture_output=True,
    )
    return check.returncode == 0


@pytest.fixture(scope="session")
def reference_python() -> Path:
    """A Python interpreter with rocksq 0.3.0 installed, and not this package."""
    python = venv_python(REFERENCE_VENV)
    if has_reference_rocksq(python):
        return python
    steps = [
        [sys.executable, "-m", "venv", "--clear", str(REFERENCE_VENV)],
        [
            str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            "--timeout", "30", f"rocksq=={REFERENCE_VERSION}",
        ],
    ]
    for step in steps:
        try:
            done = subprocess.run(step, capture_output=True, text=True, timeout=300)
        except subprocess.TimeoutExpired:
            pytest.skip(f"installing rocksq {REFERENCE_VERSION} timed out: {' '.join(step)}")
        if done.returncode != 0:
            reason = (done.stderr.strip().splitlines() or ["no output"])[-1]
            pytest.skip(
                f"cannot install rocksq {REFERENCE_VERSION} into {REFERENCE_VENV} "
                f"(no network?): {reason}"
            )
    return python


@pytest.fixture
def run_under_both(reference_python: Path, run_python: RunPython, tmp_path: Path) -> RunUnderBoth:
    def run(script_name: str) -> tuple[str, str]:
        script = Path(__file__).with_name(script_name)
        (tmp_path / "ours").mkdir()
        (tmp_path / "reference").mkdir()
        ours = run_python(script, str(tmp_path / "ours"))
        reference = run_python(script, str(tmp_path / "reference"), python=str(reference_python))
        return ours, reference

    return run
