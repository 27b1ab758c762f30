"""The blocking API behaves as rocksq 0.3.0 does, checked against 0.3.0 itself.

rocksq 0.3.0 is installed into its own virtual environment, cached in the
repository's build/ folder, and the same script of calls (reference_calls.py)
runs under both packages. Without network access to install it the test
skips, saying so.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import RunPython

pytestmark = pytest.mark.reference

REFERENCE_VERSION = "0.3.0"
REPO_ROOT = Path(__file__).resolve().parent.parent
REFERENCE_VENV = REPO_ROOT / "build" / "reference-venv"
REFERENCE_CALLS = Path(__file__).with_name("reference_calls.py")


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


def test_blocking_api_calls_observe_the_same_as_with_rocksq_0_3_0(
    reference_python: Path, run_python: RunPython, tmp_path: Path
) -> None:
    script = REFERENCE_CALLS.read_text()
    (tmp_path / "ours").mkdir()
    (tmp_path / "reference").mkdir()

    ours = run_python(script, str(tmp_path / "ours"))
    reference = run_python(script, str(tmp_path / "reference"), python=str(reference_python))

    assert ours.splitlines() == reference.splitlines()
