"""The age of a FIFO queue's oldest item, as its owner tells an inspector (issue 17, item 5).

FIFO records carry no time: the owner (the test process) marks when its writes
commit, and an inspector process asks it. Each age is checked against clock
readings taken around the push in the owner and around the question in the
inspector (both read the monotonic clock the owner's marks use).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import attach_workers
import pytest
from conftest import WAIT_SECONDS

from rocksq._core import FifoQueue

# Past the owner's 10 ms between marks, so the next write leaves a mark of its own.
MARK_INTERVAL = 0.010


@pytest.fixture
def start_method() -> str:
    """Spawned processes: they never inherit the owner's queue."""
    return "spawn"


def ask(processes: ProcessPoolExecutor, path: str) -> tuple[float, Any, bool, float]:
    return processes.submit(attach_workers.timed_oldest_item_age, path).result(WAIT_SECONDS)


def pass_time(seconds: float) -> None:
    """Lets the clock move on (the marks are times: nothing to wait for but the clock)."""
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        time.sleep(seconds / 4)


def test_an_inspector_sees_the_oldest_item_age_between_the_clock_readings(
    queue_path: str, processes: ProcessPoolExecutor
) -> None:
    owner = FifoQueue(queue_path, attach=True)
    before_push = time.monotonic()
    owner.push_many([b"a", b"b"])
    after_push = time.monotonic()

    before_stats, age, lower_bound, after_stats = ask(processes, queue_path)

    owner.close()
    assert age is not None
    assert before_stats - after_push <= age <= after_stats - before_push + 1e-6
    assert not lower_bound


def test_after_the_oldest_items_are_popped_the_age_falls_to_the_next_mark(
    queue_path: str, processes: ProcessPoolExecutor
) -> None:
    owner = FifoQueue(queue_path, attach=True)
    owner.push_many([b"first", b"first too"])
    pass_time(5 * MARK_INTERVAL)
    before_push = time.monotonic()
    owner.push(b"second")
    after_push = time.monotonic()
    pass_time(5 * MARK_INTERVAL)
    owner.push(b"third")  # A mark above the oldest item: not its time.
    assert owner.pop(2) == [b"first", b"first too"]

    before_stats, age, _, after_stats = ask(processes, queue_path)
    owner.pop(2)
    _, age_when_empty, _, _ = ask(processes, queue_path)

    owner.close()
    assert age is not None
    assert before_stats - after_push <= age <= after_stats - before_push + 1e-6
    assert age_when_empty is None


def test_items_stored_before_the_owner_opened_are_at_least_the_open_old(
    queue_path: str, processes: ProcessPoolExecutor
) -> None:
    earlier = FifoQueue(queue_path)
    earlier.push(b"from an earlier open")
    earlier.close()
    before_open = time.monotonic()
    owner = FifoQueue(queue_path, attach=True)
    after_open = time.monotonic()
    owner.push(b"new")

    before_stats, age, lower_bound, after_stats = ask(processes, queue_path)
    stats = json.loads(rocksq_stats(queue_path, "--json"))
    shown = rocksq_stats(queue_path)
    owner.pop(1)
    _, _, lower_bound_once_popped, _ = ask(processes, queue_path)

    owner.close()
    assert age is not None
    assert before_stats - after_open <= age <= after_stats - before_open + 1e-6
    assert lower_bound
    assert stats["oldest_item_age_is_lower_bound"] is True
    assert stats["oldest_item_age_seconds"] >= age
    assert "oldest item age:    at least " in shown
    assert "(stored before the owner opened the queue)" in shown
    assert not lower_bound_once_popped


def test_with_no_owner_the_age_of_fifo_items_is_unknown(queue_path: str) -> None:
    queue = FifoQueue(queue_path, attach=True)
    queue.push(b"x")
    queue.close()

    stats = json.loads(rocksq_stats(queue_path, "--json"))

    assert stats["oldest_item_age_seconds"] is None
    assert stats["oldest_item_age_is_lower_bound"] is False
    assert "unknown (the items of FIFO queues carry no time" in rocksq_stats(queue_path)


def rocksq_stats(path: str, *options: str) -> str:
    finished = subprocess.run(
        [sys.executable, "-m", "rocksq", "stats", path, *options],
        cwd=Path(path).parent,  # Not the checkout, whose rocksq/ has no extension.
        capture_output=True,
        text=True,
        timeout=WAIT_SECONDS,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr
    return finished.stdout
