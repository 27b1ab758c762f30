"""MpmcQueue behaves as rocksq 0.3.0's does, checked against 0.3.0 itself.

The same script of calls (reference_mpmc_calls.py) runs under both packages;
rocksq 0.3.0 comes from test_reference.py's fixture, which installs it into
its own virtual environment or skips without network access.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from test_reference import reference_python  # noqa: F401 - the fixture

if TYPE_CHECKING:
    from conftest import RunPython

pytestmark = pytest.mark.reference

REFERENCE_CALLS = Path(__file__).with_name("reference_mpmc_calls.py")


def test_mpmc_queue_calls_observe_the_same_as_with_rocksq_0_3_0(
    reference_python: Path,  # noqa: F811 - the imported fixture
    run_python: RunPython,
    tmp_path: Path,
) -> None:
    script = REFERENCE_CALLS.read_text()
    (tmp_path / "ours").mkdir()
    (tmp_path / "reference").mkdir()

    ours = run_python(script, str(tmp_path / "ours"))
    reference = run_python(script, str(tmp_path / "reference"), python=str(reference_python))

    assert ours.splitlines() == reference.splitlines()
