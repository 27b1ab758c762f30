"""Processes of the hand-over tests (test_handover.py): each reports what it did to a file of its own.

A report is written with one os.write per line, right after the call it
reports returned, so a process killed at any moment leaves every line of
the calls it reported whole.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from rocksq._core import FifoQueue

# What a producer pushes: "<producer>:<number>", in order.
def item(producer: str, number: int) -> bytes:
    return f"{producer}:{number}".encode()


def _report(path: Path) -> int:
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)


def produce_until_stopped(queue_path: str, producer: str, reports: str, stop: str) -> None:
    """Pushes numbered items, reporting each once push() returned, until the file `stop` exists.

    A file, not a multiprocessing.Event: these processes are SIGKILLed, and
    one killed inside Event.is_set() would hold the Event's lock for ever,
    hanging every other process (and the test) at its next is_set() or set().
    """
    queue = FifoQueue(queue_path, attach=True)
    acked = _report(Path(reports) / f"pushed.{producer}")
    number = 0
    while not os.path.exists(stop):
        queue.push(item(producer, number))
        os.write(acked, f"{number}\n".encode())
        number += 1
    queue.close()


def consume_until_stopped(queue_path: str, consumer: str, reports: str, stop: str) -> None:
    """Pops items one call at a time, reporting each once the call returned, until the file
    `stop` exists (see produce_until_stopped)."""
    queue = FifoQueue(queue_path, attach=True)
    got = _report(Path(reports) / f"popped.{consumer}")
    while not os.path.exists(stop):
        for popped in queue.pop_wait(1, 0.05):
            os.write(got, popped + b"\n")
    queue.close()


def own_until_killed(queue_path: str, ready: Any) -> None:
    """Owns the queue (its first opener), signals, and waits to be killed."""
    queue = FifoQueue(queue_path, attach=True)
    ready.set()
    import time

    while True:
        time.sleep(60)
    del queue
