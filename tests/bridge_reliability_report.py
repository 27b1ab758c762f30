"""Runs the bridge's chaos tests and writes their figures into the forwarding guide.

    python3 tests/bridge_reliability_report.py               # writes docs/generated/bridge-reliability.rst
    python3 tests/bridge_reliability_report.py --out PAGE    # elsewhere
    python3 tests/bridge_reliability_report.py -- -x         # arguments after -- go to pytest

The tests in tests/bridge_reliability/ record what they did and found with
pytest's record_property (items, kills, lost, duplicates, ...); this script
runs them with ROCKSQ_REQUIRE_BROKERS=1 (a missing broker fails, never skips)
and writes one row per test and broker, so docs/forwarding.rst's figures come
from a run, never from a hand count. tests/reliability_report.py does the
same for the queue's own suites. Exits 1 if a test failed (the page is
written anyway, failures included).
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
from pathlib import Path

import pytest
from reliability_report import generated_by

REPO = Path(__file__).resolve().parent.parent
DEFAULT_PAGE = REPO / "docs" / "generated" / "bridge-reliability.rst"
TESTS = REPO / "tests" / "bridge_reliability"
# The failure table's tests, in its order; each runs against both brokers.
FILES = ["test_forward_broker_kills.py", "test_forwarder_kills.py", "test_forward_outage.py",
         "test_puller_kills.py"]
# Shown in their own columns; any other figure a test records goes in the last one.
COLUMNS = ["items", "lost", "duplicates", "out of order"]


class Figures:
    """A pytest plugin that keeps each test's outcome and recorded figures."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, dict[str, object]]] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" or (report.when == "setup" and not report.passed):
            self.rows.append((report.nodeid, report.outcome, dict(report.user_properties)))


def render(figures: Figures, seconds: float) -> str:
    lines = [
        *generated_by("python3 tests/bridge_reliability_report.py", seconds),
        ".. list-table::",
        "   :header-rows: 1",
        "",
        "   * - test",
        "     - broker",
        "     - outcome",
        *[f"     - {column}" for column in COLUMNS],
        "     - what happened",
    ]
    for nodeid, outcome, recorded in figures.rows:
        file_name = nodeid.split("::")[0].rsplit("/", 1)[-1]
        broker = recorded.pop("broker", nodeid.rsplit("[", 1)[-1].rstrip("]"))
        lines += [f"   * - ``{file_name}``", f"     - {broker}", f"     - {outcome}"]
        lines += [f"     - {number(recorded.pop(column, '-'))}" for column in COLUMNS]
        others = "; ".join(f"{name}: {number(value)}" for name, value in recorded.items())
        lines.append(f"     - {others}" if others else "     -")
    return "\n".join(lines) + "\n"


def number(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_PAGE, help="the page to write")
    parser.add_argument("pytest_args", nargs="*", help="after --: arguments for pytest")
    args = parser.parse_args()
    os.environ["ROCKSQ_REQUIRE_BROKERS"] = "1"
    figures = Figures()
    started = datetime.datetime.now()
    status = pytest.main(["-q", "-p", "no:cacheprovider", *args.pytest_args,
                          *[str(TESTS / name) for name in FILES]], plugins=[figures])
    seconds = (datetime.datetime.now() - started).total_seconds()
    page = args.out if args.out.is_absolute() else REPO / args.out
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(render(figures, seconds))
    print(f"wrote {page.relative_to(REPO) if page.is_relative_to(REPO) else page}")
    return 0 if status == pytest.ExitCode.OK else 1


if __name__ == "__main__":
    sys.exit(main())
