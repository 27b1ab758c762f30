"""The blocking API behaves as rocksq 0.3.0 does, checked against 0.3.0 itself.

The same script of calls (reference_calls.py) runs under both packages
(see conftest.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from compat.conftest import RunUnderBoth

pytestmark = pytest.mark.reference


def test_blocking_api_calls_observe_the_same_as_with_rocksq_0_3_0(
    run_under_both: RunUnderBoth,
) -> None:
    ours, reference = run_under_both("reference_calls.py")

    assert ours.splitlines() == reference.splitlines()
