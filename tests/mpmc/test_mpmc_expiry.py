"""MpmcQueue's elements expire ttl seconds after they were added, for real.

Expired elements are never returned, stop counting in len and payload_size,
and their disk space is reclaimed by the queue itself, with no call from
anyone. Tests use ttl=1 (the smallest) and wait a little past the promise.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from rocksq import StartPosition
from rocksq.blocking import MpmcQueue

OLDEST = StartPosition.Oldest
NEWEST = StartPosition.Newest
TTL = 1
PAST_TTL = 1.3  # Seconds: ttl, plus ttl/1000 for len, plus scheduling slack.


def directory_bytes(path: str) -> int:
    """The size of the files below `path`, measured without asking the queue.

    A compaction may delete a file between listing and measuring it: such a
    file counts as gone.
    """
    total = 0
    for entry in Path(path).rglob("*"):
        try:
            if entry.is_file():
                total += entry.stat().st_size
        except FileNotFoundError:
            pass
    return total


def wait_until(condition, timeout: float) -> bool:  # noqa: ANN001 - a plain callable
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_an_expired_element_is_never_returned(queue_path: str) -> None:
    queue = MpmcQueue(queue_path, TTL)
    queue.add([b"old"])
    time.sleep(PAST_TTL)

    assert queue.next("new label", OLDEST, 10) == ([], False)
    assert queue.next("newest label", NEWEST, 10) == ([], False)


def test_expired_elements_stop_counting_in_len_and_payload_size(queue_path: str) -> None:
    queue = MpmcQueue(queue_path, TTL)
    queue.add([b"a", b"bb"])
    assert (queue.len, queue.payload_size, queue.is_empty) == (2, 3, False)

    time.sleep(PAST_TTL)

    assert (queue.len, queue.payload_size, queue.is_empty) == (0, 0, True)


def test_elements_expire_one_by_one_in_add_order(queue_path: str) -> None:
    queue = MpmcQueue(queue_path, 2)
    queue.add([b"first"])
    time.sleep(1.0)
    queue.add([b"second"])
    time.sleep(1.4)  # "first" is 2.4 s old, "second" 1.4 s.

    assert (queue.len, queue.payload_size) == (1, 6)
    assert queue.next("reader", OLDEST, 10) == ([b"second"], False)


def test_a_reader_before_the_expired_range_gets_the_live_elements_and_is_told(
    queue_path: str,
) -> None:
    queue = MpmcQueue(queue_path, TTL)
    queue.next("reader", OLDEST, 0)  # Placed before anything was added.
    queue.add([b"old-1", b"old-2"])
    time.sleep(PAST_TTL)
    queue.add([b"new"])

    assert queue.next("reader", OLDEST, 10) == ([b"new"], True)
    assert queue.next("reader", OLDEST, 10) == ([], False)  # Told once.


def test_a_reader_inside_the_expired_range_gets_the_live_elements_and_is_told(
    queue_path: str,
) -> None:
    queue = MpmcQueue(queue_path, TTL)
    queue.add([b"old-1", b"old-2", b"old-3"])
    assert queue.next("reader", OLDEST, 1) == ([b"old-1"], False)
    time.sleep(PAST_TTL)
    queue.add([b"new"])

    assert queue.next("reader", OLDEST, 10) == ([b"new"], True)


def test_a_reader_after_the_expired_range_is_not_told(queue_path: str) -> None:
    queue = MpmcQueue(queue_path, TTL)
    queue.add([b"old-1", b"old-2"])
    queue.next("reader", OLDEST, 10)
    time.sleep(PAST_TTL)
    queue.add([b"new"])

    assert queue.next("reader", OLDEST, 10) == ([b"new"], False)


def test_a_reader_is_told_even_when_nothing_live_is_left(queue_path: str) -> None:
    queue = MpmcQueue(queue_path, TTL)
    queue.add([b"old-1", b"old-2"])
    queue.next("reader", OLDEST, 1)
    time.sleep(PAST_TTL)

    assert queue.next("reader", OLDEST, 10) == ([], True)


def test_elements_expire_while_the_queue_is_closed(queue_path: str) -> None:
    with MpmcQueue(queue_path, TTL) as queue:
        queue.add([b"a", b"b"])
        queue.next("reader", OLDEST, 1)
    time.sleep(PAST_TTL)

    queue = MpmcQueue(queue_path, TTL)
    assert (queue.len, queue.payload_size) == (0, 0)
    queue.add([b"c"])
    assert queue.next("reader", OLDEST, 10) == ([b"c"], True)


def test_positions_go_on_after_every_element_expired_and_was_deleted(queue_path: str) -> None:
    with MpmcQueue(queue_path, TTL) as queue:
        queue.add([b"a", b"b", b"c"])
        queue.next("reader", OLDEST, 10)
        time.sleep(PAST_TTL + 0.5)  # Give the queue's thread time to delete them.

    queue = MpmcQueue(queue_path, 3600)
    queue.add([b"d"])
    assert queue.next("reader", OLDEST, 10) == ([b"d"], False)
    assert queue.next("new label", OLDEST, 10) == ([b"d"], False)


def test_expired_data_disk_space_is_reclaimed_without_any_call(queue_path: str) -> None:
    queue = MpmcQueue(queue_path, TTL)
    item = os.urandom(1 << 20)
    for _ in range(64):
        queue.add([item])
    full = directory_bytes(queue_path)
    assert full > 60 << 20

    # Nothing touches the queue from here on; the directory is measured directly.
    shrunk = wait_until(lambda: directory_bytes(queue_path) < 1 << 20, timeout=TTL + 5)

    assert shrunk, f"{directory_bytes(queue_path)} bytes on disk, {full} when full"
    assert queue.disk_size < 1 << 20
    assert (queue.len, queue.payload_size) == (0, 0)


def test_reclaiming_keeps_the_live_elements(queue_path: str) -> None:
    queue = MpmcQueue(queue_path, 2)
    start = time.monotonic()
    old = os.urandom(1 << 20)
    for _ in range(32):
        queue.add([old])
    time.sleep(max(0.0, start + 1.7 - time.monotonic()))
    queue.add([b"live"])  # Expires 2 s from now, 1.7 s after the old ones.

    assert wait_until(lambda: directory_bytes(queue_path) < 8 << 20, timeout=1.9)
    assert (queue.len, queue.payload_size) == (1, 4)
    assert queue.next("reader", OLDEST, 100) == ([b"live"], False)
