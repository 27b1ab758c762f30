"""Hand-over (issue 17): when the owner of a FIFO queue closes it or dies, an attached process takes it over.

The calls under way when the owner went away are sent again to the process
that took over, which answers each from what its first run did (the call
ledger), so that each completes exactly once: a push is never stored
twice, and a pop whose reply was lost with the owner gets its items again.
"""

from __future__ import annotations

import collections
import multiprocessing
import os
import signal
import time
from pathlib import Path

import handover_workers
import pytest
from conftest import WAIT_SECONDS

from rocksq._core import FifoQueue
from rocksq.inspection import inspect_owner

KILLS = 20


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines() if path.exists() else []


def _owner_among(queue_path: str, candidates: dict[int, object], deadline: float) -> int:
    """The pid of the process of `candidates` that owns the queue now, once one does."""
    while time.monotonic() < deadline:
        owner = inspect_owner(queue_path)
        if owner.answered and owner.pid in candidates:
            return owner.pid
        time.sleep(0.01)
    raise AssertionError("no process took the queue over")


def _pushed_count(reports: Path) -> int:
    return sum(len(_lines(path)) for path in reports.glob("pushed.*"))


def test_owners_killed_mid_stream_twenty_times_lose_and_duplicate_nothing(
    queue_path: str, tmp_path: Path
) -> None:
    context = multiprocessing.get_context("spawn")
    reports = tmp_path / "reports"
    reports.mkdir()
    stop = tmp_path / "stop"  # The workers stop once it exists (handover_workers.py).
    ready = context.Event()
    first_owner = context.Process(target=handover_workers.own_until_killed, args=(queue_path, ready))
    first_owner.start()
    assert ready.wait(WAIT_SECONDS)

    # pid -> (process, role, name); every process a test starts is reaped below.
    running: dict[int, tuple[multiprocessing.process.BaseProcess, str, str]] = {
        first_owner.pid: (first_owner, "owner", "first")
    }
    names = collections.Counter()
    killed: list[tuple[str, str]] = []

    def start(role: str) -> None:
        names[role] += 1
        name = f"{role[0]}{names[role]}"
        target = (
            handover_workers.produce_until_stopped
            if role == "producer"
            else handover_workers.consume_until_stopped
        )
        process = context.Process(target=target, args=(queue_path, name, str(reports), str(stop)))
        process.start()
        running[process.pid] = (process, role, name)

    try:
        for role in ("producer", "producer", "consumer", "consumer"):
            start(role)
        for _ in range(KILLS):
            # Mid-stream: producers pushed since the last kill.
            pushed_before = _pushed_count(reports)
            deadline = time.monotonic() + WAIT_SECONDS
            while _pushed_count(reports) < pushed_before + 20:
                assert time.monotonic() < deadline, "the producers stopped pushing"
                time.sleep(0.005)
            owner = _owner_among(queue_path, running, time.monotonic() + WAIT_SECONDS)
            process, role, name = running.pop(owner)
            os.kill(owner, signal.SIGKILL)
            process.join(WAIT_SECONDS)
            killed.append((role, name))
            if role != "owner":
                start(role)  # Under a new name: its numbers start again.
        stop.touch()
        for process, _, _ in list(running.values()):
            process.join(WAIT_SECONDS)
            assert process.exitcode == 0, f"a worker failed with exit code {process.exitcode}"
    finally:
        stop.touch()
        for process, _, _ in running.values():
            process.kill()
            process.join()

    queue = FifoQueue(queue_path, attach=True)
    left = [bytes(item) for item in queue.pop(1_000_000)]
    queue.close()

    popped = [line for path in reports.glob("popped.*") for line in _lines(path)] + left
    duplicates = [item for item, count in collections.Counter(popped).items() if count > 1]
    assert duplicates == [], "items were delivered twice"
    acknowledged = {
        handover_workers.item(path.name.split(".", 1)[1], int(line))
        for path in reports.glob("pushed.*")
        for line in _lines(path)
    }
    killed_producers = {name for role, name in killed if role == "producer"}
    killed_consumers = [name for role, name in killed if role == "consumer"]
    # A killed producer's last push may have been stored and not reported.
    unreported = set(popped) - acknowledged
    for extra in unreported:
        producer, number = extra.decode().split(":")
        assert producer in killed_producers, f"{extra!r} was never pushed"
        assert int(number) == len(_lines(reports / f"pushed.{producer}"))
    # A killed consumer's last pop (one item) may have been taken and not reported.
    missing = acknowledged - set(popped)
    assert len(missing) <= len(killed_consumers), f"acknowledged items lost: {sorted(missing)[:10]}"
    # Each consumer got each producer's items in order.
    for path in reports.glob("popped.*"):
        last: dict[str, int] = {}
        for line in _lines(path):
            producer, number = line.decode().split(":")
            assert int(number) > last.get(producer, -1), f"{path.name} got {producer}'s out of order"
            last[producer] = int(number)
    assert len(killed) == KILLS
    assert sum(1 for role, _ in killed if role != "owner") >= KILLS - 1  # The workers took over.
