"""An ack queue survives SIGKILL between get and ack: unacked items come back, acked ones never.

The test fills a queue with numbered items (crash_worker.make_item), then
runs ack_crash_worker.py on it again and again, killing it with
SIGKILL after a seeded random delay. The worker gets items and acks, nacks,
fails or holds them, logging every step to an fsynced file (see the
worker). After every kill the test copies the queue's directory, opens the
copy, and reads out everything ready there (with get, acking nothing), so
the original goes on to the next worker exactly as the kill left it. Set
ROCKSQ_CRASH_SEED to replay another schedule.

Names: ACKED are the numbers whose ack is logged as returned, FAILED those
whose ack_failed is, IN-FLIGHT those of the at most one ack or fail each
killed worker logged as started but not returned. After every kill:
  1. The copy's ready items are exactly ALL - ACKED - FAILED, less any of
     IN-FLIGHT (an ack the kill may have let through), each once, oldest
     first, none torn; nothing is handed out after a reopen.
  2. Its failed() items are FAILED plus possibly in-flight fails.
  3. len, ready, failed_count and payload_size agree with them.
  4. No worker was ever handed an item after its ack had returned (from the
     "G" lines after an "A" line for the same number, across all runs).
At the end the original queue is drained with acks; every item was then
acked exactly once (by a worker, by the test, or by an in-flight ack) or
is failed.
"""

from __future__ import annotations

import os
import random
import shutil
import time
from pathlib import Path

from crash_worker import item_number, make_item
from killed_workers import kill, read_log, start_worker, wait_until_ready

import rocksq
from support.queue_files import copy_queue_directory

WORKER = Path(__file__).with_name("ack_crash_worker.py")
SEED = int(os.environ.get("ROCKSQ_CRASH_SEED", "20240601")) + 8
KILLS = 24
ITEMS = 3000
# A fast machine acks thousands of items between two kills: whenever fewer
# than this many are ready, the test adds ITEMS more, numbered on.
TOP_UP_BELOW = 1500


class History:
    """What the workers logged, run after run."""

    def __init__(self) -> None:
        self.acked: set[int] = set()
        self.failed: set[int] = set()
        self.in_flight: set[int] = (
            set()
        )  # Acks and fails that may or may not have happened.
        self.redelivered_after_ack: list[int] = []

    def record(self, lines: list[list[str]]) -> None:
        started: tuple[str, list[int]] | None = None
        for kind, *args in lines:
            numbers = [int(arg) for arg in args]
            if kind == "G":
                if numbers[0] in self.acked:
                    self.redelivered_after_ack.append(numbers[0])
                # Handed out again: an earlier in-flight ack of it did not happen.
                self.in_flight.discard(numbers[0])
            elif kind in ("T", "U"):
                started = (kind, numbers)
            elif kind in ("A", "X"):
                assert started is not None and started[1] == numbers, (
                    f"log out of step: {kind}"
                )
                (self.acked if kind == "A" else self.failed).update(numbers)
                started = None
        if started is not None:
            self.in_flight.update(started[1])


def run_and_kill(
    path: Path, log: Path, seed: int, rng: random.Random, cwd: Path
) -> None:
    worker = start_worker(WORKER, str(path), str(log), str(seed), cwd=cwd)
    wait_until_ready(worker)
    time.sleep(rng.uniform(0.02, 0.4))
    kill(worker)


def read_out(path: Path) -> tuple[list[int], list[int], tuple[int, int, int, int, int]]:
    """The ready items' numbers in delivery order, the failed ones', and the counters."""
    with rocksq.AckQueue(path) as queue:
        counters = (
            len(queue),
            queue.ready,
            queue.unacked,
            queue.failed_count,
            queue.payload_size,
        )
        ready = [delivery.data for delivery in queue.get_many(len(queue) + 1, block=False)
                 ] if queue.ready else []
        failed = [data for _, data in queue.failed()]
    numbers = [item_number(item) for item in ready]
    failed_numbers = [item_number(item) for item in failed]
    assert None not in numbers and None not in failed_numbers, "torn items"
    payload = sum(map(len, ready)) + sum(map(len, failed))
    assert counters == (
        len(ready) + len(failed),
        len(ready),
        0,
        len(failed),
        payload,
    ), (
        f"counters {counters} disagree with {len(ready)} ready, {len(failed)} failed items"
    )
    return numbers, failed_numbers, counters  # type: ignore[return-value]


def check(path: Path, scratch: Path, history: History, pushed: int, when: str) -> int:
    """Checks a copy of the queue against the history; returns how many are ready."""
    copy = scratch / "copy"
    shutil.rmtree(copy, ignore_errors=True)
    copy_queue_directory(path, copy)
    ready, failed, _ = read_out(copy)
    shutil.rmtree(copy)

    assert not history.redelivered_after_ack, (
        f"{when}: acked items handed out again: {history.redelivered_after_ack[:10]}"
    )
    assert ready == sorted(set(ready)), f"{when}: ready items out of order or twice"
    everything = set(range(pushed))
    settled = history.acked | history.failed
    expected = everything - settled
    missing = expected - set(ready)
    assert missing <= history.in_flight, (
        f"{when}: unacked items lost: {sorted(missing - history.in_flight)[:10]}"
    )
    assert not set(ready) & history.acked, (
        f"{when}: acked items ready again: {sorted(set(ready) & history.acked)[:10]}"
    )
    assert set(failed) >= history.failed, f"{when}: failed items lost"
    assert set(failed) - history.failed <= history.in_flight, (
        f"{when}: unexplained failed items"
    )
    return len(ready)


def add_items(path: Path, first: int, count: int) -> None:
    with rocksq.AckQueue(path) as queue:
        for start in range(first, first + count, 500):
            queue.put_many(
                [make_item(n) for n in range(start, min(start + 500, first + count))]
            )


def test_sigkill_between_get_and_ack_redelivers_exactly_the_unacked_items(
    tmp_path: Path,
) -> None:
    rng = random.Random(SEED)
    path, logs = tmp_path / "queue", tmp_path / "logs"
    logs.mkdir()
    add_items(path, 0, ITEMS)
    pushed = ITEMS
    history = History()
    started = time.monotonic()
    for run in range(1, KILLS + 1):
        log = logs / f"run{run:04d}.log"
        run_and_kill(path, log, rng.getrandbits(32), rng, tmp_path)
        history.record(read_log(log))
        ready = check(path, tmp_path, history, pushed, f"after kill {run}")
        if ready < TOP_UP_BELOW:
            add_items(path, pushed, ITEMS)
            pushed += ITEMS
    assert len(history.acked) > 100, "the workers acked too little to test anything"
    assert time.monotonic() - started < 60

    # The end: drain the original with acks. Each item is acked exactly once
    # over the whole test, or failed.
    with rocksq.AckQueue(path) as queue:
        while True:
            got = queue.get_many(500, block=False) if queue.ready else []
            if not got:
                break
            numbers = [item_number(delivery.data) for delivery in got]
            assert not set(numbers) & history.acked, "acked items delivered again"
            history.acked.update(numbers)  # type: ignore[arg-type]
            queue.ack_many(got)
        failed = {item_number(data) for _, data in queue.failed()}
        assert len(queue) == len(failed)
    unaccounted = set(range(pushed)) - history.acked - failed
    assert unaccounted <= history.in_flight, f"items lost: {sorted(unaccounted)[:10]}"
    assert not history.acked & failed
