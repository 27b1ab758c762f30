"""A drained queue gives its disk space back by itself."""

from __future__ import annotations

import os
import time

from rocksq.blocking import PersistentQueueWithCapacity

ITEM = os.urandom(256 * 1024)


def wait_for_disk_size(queue, at_most: int, seconds: float) -> int:
    deadline = time.monotonic() + seconds
    while True:
        size = queue.disk_size
        if size <= at_most or time.monotonic() > deadline:
            return size
        time.sleep(0.1)


def test_disk_usage_falls_below_five_percent_of_its_peak_after_a_drain(tmp_path):
    queue = PersistentQueueWithCapacity(tmp_path / "q")
    for _ in range(1024):  # 256 MiB, several memtables' worth.
        queue.push([ITEM])
    peak = queue.disk_size
    assert peak > 200 * 1024 * 1024
    while queue.pop(64):
        pass
    assert wait_for_disk_size(queue, peak // 20, seconds=10.0) <= peak // 20


def test_a_partly_drained_queue_gives_back_the_space_of_what_was_popped(tmp_path):
    queue = PersistentQueueWithCapacity(tmp_path / "q")
    for _ in range(1024):
        queue.push([ITEM])
    peak = queue.disk_size
    for _ in range(768):  # 192 MiB popped, 64 MiB stay.
        queue.pop()
    size = wait_for_disk_size(queue, peak // 2, seconds=10.0)
    assert size <= peak // 2
    assert queue.len == 256
    assert queue.pop(256)[-1] == ITEM
