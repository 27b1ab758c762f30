"""What the bridge's chaos tests share: waiting on a condition, feeding queues, recording figures."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import rocksq
from tally import Tally, item

# How long a condition the chaos tests wait for may take before the test fails.
PATIENCE_SECONDS = 120.0


def wait_until(condition: Callable[[], bool], what: str, timeout: float = PATIENCE_SECONDS,
               interval: float = 0.001) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"after {timeout} s, still not: {what}")
        time.sleep(interval)


class Producer:
    """A thread putting `source`'s items into `queue` at about `rate` items a second until stop()."""

    BATCH = 50

    def __init__(self, queue: rocksq.AckQueue, source: str, rate: float, size: int = 32) -> None:
        self.queue, self.source, self.size = queue, source, size
        self.pushed = 0
        self._pause = self.BATCH / rate
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"producer-{source}")
        self._thread.start()

    def _run(self) -> None:
        while not self._stopping.wait(self._pause):
            batch = [item(self.source, index, self.size)
                     for index in range(self.pushed, self.pushed + self.BATCH)]
            self.queue.put_many(batch)
            self.pushed += len(batch)

    def stop(self) -> int:
        """Stops the thread; returns how many items it pushed."""
        self._stopping.set()
        self._thread.join()
        return self.pushed


def fill(path: Path, source: str, count: int, size: int = 32, first: int = 0) -> None:
    """Puts `source`'s items first..first+count-1 into the ack queue at `path`, creating it if need be."""
    end = first + count
    queue = rocksq.AckQueue(path, max_elements=max(end, 1))
    for start in range(first, end, 1000):
        queue.put_many([item(source, index, size) for index in range(start, min(start + 1000, end))])
    queue.close()


def record(record_property: Callable[[str, object], None], broker: str, counted: Tally,
           **figures: object) -> None:
    """Keeps a test's figures with its report (tests/bridge_reliability_report.py shows them)."""
    record_property("broker", broker)
    for name, value in {"items": counted.items, "lost": counted.lost,
                        "duplicates": counted.duplicates, "out of order": counted.out_of_order,
                        **figures}.items():
        record_property(name, value)


def assert_clean(counted: Tally) -> None:
    """Every item arrived, once, in its source's order, and nothing else did."""
    assert counted.lost == 0 and counted.duplicates == 0 and counted.out_of_order == 0 \
        and counted.unexpected == 0, counted

