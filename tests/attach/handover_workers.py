"""Processes of the hand-over tests (test_handover.py): each reports what it did to a file of its own.

A report is written with one os.write per line, right after the call it
reports returned, so a process killed at any moment leaves every line of
the calls it reported whole, but for the one it was writing: Linux checks
for a kill between the pages a write covers, so a line that straddles a
page boundary of the file may be cut after its first bytes. The readers
(test_handover.py) leave out such an unterminated last line, as a call
that was not reported. Each function takes the kind of queue it uses:
"fifo", "fifo-synced" (a FIFO queue opened with sync=True), "fifo-blocking"
(synced, of BLOCKING_CAPACITY items, its producers waiting for room in
push_wait), "ack", "mpmc" or "mpmc-synced". Workers stop once the file `stop` exists: a
multiprocessing Event would not do, as a process killed inside is_set()
leaves its lock held for every other one.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from mpmc_workers import TTL

from rocksq import NotOutstanding, QueueFull
from rocksq._core import AckQueue, FifoQueue, MpmcQueue, StartPosition

FIFO_KINDS = ("fifo", "fifo-synced", "fifo-blocking")
MPMC_KINDS = ("mpmc", "mpmc-synced")
# So small that the producers wait for room most of the time: their calls
# are parked at the owner, and retried on its workers, when it is killed.
BLOCKING_CAPACITY = 8


# What a producer pushes: "<producer>:<number>", in order.
def item(producer: str, number: int) -> bytes:
    return f"{producer}:{number}".encode()


def open_attached(kind: str, queue_path: str) -> Any:
    if kind == "fifo-blocking":
        return FifoQueue(queue_path, BLOCKING_CAPACITY, sync=True, attach=True)
    if kind in FIFO_KINDS:
        return FifoQueue(queue_path, sync=kind == "fifo-synced", attach=True)
    if kind == "ack":
        return AckQueue(queue_path, attach=True)
    return MpmcQueue(queue_path, TTL, sync=kind == "mpmc-synced", attach=True)


def _report(path: Path) -> int:
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)


def produce_until_stopped(kind: str, queue_path: str, producer: str, reports: str, stop: str) -> None:
    """Pushes numbered items, reporting each once the push returned, until `stop` exists."""
    queue = open_attached(kind, queue_path)
    acked = _report(Path(reports) / f"pushed.{producer}")
    number = 0
    while not os.path.exists(stop):
        if kind in MPMC_KINDS:
            queue.add([item(producer, number)])
        elif kind == "fifo-blocking":
            try:
                queue.push_wait(item(producer, number), 0.05)
            except QueueFull:
                continue  # The same item again: this push stored nothing.
        else:
            queue.push(item(producer, number))
        os.write(acked, f"{number}\n".encode())
        number += 1
    queue.close()


def consume_until_stopped(kind: str, queue_path: str, consumer: str, reports: str, stop: str) -> None:
    """Takes items one call at a time, reporting each once the call returned, until `stop` exists.

    FIFO: pops ("popped."). Ack: gets ("popped."), then acks, reporting the
    acks that returned ("acked."); an ack under way at a hand-over raises
    NotOutstanding, and its item was acked or is delivered again. MPMC:
    reads the label named after the consumer ("popped.").
    """
    queue = open_attached(kind, queue_path)
    got = _report(Path(reports) / f"popped.{consumer}")
    acked = _report(Path(reports) / f"acked.{consumer}") if kind == "ack" else None
    while not os.path.exists(stop):
        if kind in FIFO_KINDS:
            for popped in queue.pop_wait(1, 0.05):
                os.write(got, popped + b"\n")
        elif kind == "ack":
            for delivery in queue.get_wait(1, 0.05):
                os.write(got, delivery[1] + b"\n")
                try:
                    queue.ack(delivery)
                except NotOutstanding:
                    continue
                os.write(acked, delivery[1] + b"\n")
        else:
            items, _expired = queue.next(consumer, StartPosition.Oldest, 1)
            for read in items:
                os.write(got, read + b"\n")
            if not items:
                time.sleep(0.001)  # Nothing to wait on: an MPMC queue has no waiting call.
    queue.close()


def own_until_killed(kind: str, queue_path: str, ready: Any) -> None:
    """Owns the queue (its first opener), signals, and waits to be killed."""
    queue = open_attached(kind, queue_path)
    ready.set()
    while True:
        time.sleep(60)
    del queue
