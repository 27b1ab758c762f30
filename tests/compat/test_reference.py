"""rocksq's 0.3.0 APIs behave as rocksq 0.3.0 does, checked against 0.3.0 itself.

Each script of calls beside this file (the blocking FIFO API, MpmcQueue,
the nonblocking MpmcQueue) runs under both packages and prints what a
caller can observe; the outputs must match line by line (see conftest.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from compat.conftest import RunUnderBoth

pytestmark = pytest.mark.reference


@pytest.mark.parametrize(
    ("script", "printed"),
    [
        ("reference_calls.py", None),
        ("reference_mpmc_calls.py", None),
        # Shows the script reached a read that returned elements.
        (
            "reference_nonblocking_mpmc_calls.py",
            "next MpmcResponse MpmcResponseVariant ([b'a', b'b'], False)",
        ),
    ],
)
def test_the_same_calls_observe_the_same_as_with_rocksq_0_3_0(
    run_under_both: RunUnderBoth, script: str, printed: str | None
) -> None:
    ours, reference = run_under_both(script)

    assert ours.splitlines() == reference.splitlines()
    if printed is not None:
        assert printed in ours
