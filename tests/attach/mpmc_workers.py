"""What the processes of the MPMC queue's attach tests run: importable by spawned and forkserver children."""

from __future__ import annotations

import time
from typing import Any

from attach_workers import outcome, recorder

from rocksq._core import MpmcQueue, StartPosition

TTL = 3600
# How long a reader polls (an MPMC queue has no waiting call) before giving up.
POLL_SECONDS = 60


def parity_script(queue: MpmcQueue) -> list[tuple[str, Any]]:
    """Every MpmcQueue call, on a fresh queue: each result, or its error's type."""
    results: list[tuple[str, Any]] = []
    record = recorder(results)

    oldest, newest = StartPosition.Oldest, StartPosition.Newest
    record("len of an empty queue", lambda: queue.len)
    record("is_empty", lambda: queue.is_empty)
    record("labels of a new queue", lambda: queue.labels)
    record("next of an empty queue", lambda: queue.next("a", oldest, 3))
    record("next of none, creating a label", lambda: queue.next("zero", newest, 0))
    record("add", lambda: queue.add([b"1"]))
    record("add of several", lambda: queue.add([b"22", bytearray(b"333"), b"4444"]))
    record("add of nothing", lambda: queue.add([]))
    record("len", lambda: queue.len)
    record("payload_size", lambda: queue.payload_size)
    record("disk_size is a count", lambda: isinstance(queue.disk_size, int))
    record("next of two from the oldest", lambda: queue.next("a", oldest, 2))
    record("next of the rest", lambda: queue.next("a", newest, 10))
    record("next past the end", lambda: queue.next("a", oldest, 10))
    record("a new label at the newest", lambda: queue.next("b", newest, 10))
    record("a label made by a next of none", lambda: queue.next("zero", oldest, 10))
    record("the empty label", lambda: queue.next("", oldest, 1))
    record("labels", lambda: queue.labels)
    record("remove_label", lambda: queue.remove_label("a"))
    record("remove_label of a removed label", lambda: queue.remove_label("a"))
    record("a removed label starts afresh", lambda: queue.next("a", oldest, 1))
    record("next with a bad start position", lambda: queue.next("c", 7, 1))
    record("ttl", lambda: queue.ttl)
    record("queue_id is 32 hex digits", lambda: len(queue.queue_id) == 32)
    record("recovery_warning", lambda: queue.recovery_warning)
    record("last_background_error", lambda: queue.last_background_error)
    record("close", queue.close)
    record("len after close", lambda: queue.len)
    record("add after close", lambda: queue.add([b"5"]))
    record("second close", queue.close)
    return results


def attached_parity_script(path: str) -> list[tuple[str, Any]]:
    return parity_script(MpmcQueue(path, TTL, attach=True))


def produce(path: str, producer: int, count: int, sync: bool = False) -> None:
    """Adds (producer, n) for n in range(count), in batches of 1 to 7."""
    queue = MpmcQueue(path, TTL, sync, attach=True)
    n = 0
    while n < count:
        batch = [b"%d %d" % (producer, i) for i in range(n, min(count, n + n % 7 + 1))]
        queue.add(batch)
        n += len(batch)
    queue.close()


def read_label(path: str, label: str, sync: bool = False) -> list[bytes]:
    """Reads `label` one element at a time until it reads b"stop"; returns what it read before."""
    queue = MpmcQueue(path, TTL, sync, attach=True)
    read: list[bytes] = []
    give_up = time.monotonic() + POLL_SECONDS
    while time.monotonic() < give_up:
        items, _expired = queue.next(label, StartPosition.Oldest, 1)
        if not items:
            time.sleep(0.001)  # Nothing to wait on: an MPMC queue has no waiting call.
            continue
        if items[0] == b"stop":
            break
        read.append(items[0])
    queue.close()
    return read


def next_attached(path: str, label: str, max_items: int) -> list[bytes]:
    queue = MpmcQueue(path, TTL, attach=True)
    items, _expired = queue.next(label, StartPosition.Oldest, max_items)
    queue.close()
    return items


def open_attached(path: str, ttl: int, sync: bool) -> str:
    """Opens the MPMC queue with attach=True; the error's type and message, or "attached"."""
    return outcome(lambda: MpmcQueue(path, ttl, sync, attach=True).close())


def face_add_and_read(path: str, face_name: str) -> list[bytes]:
    """Opens the queue through the face `face_name` with attach=True; adds, then reads label "f"."""
    import rocksq.blocking
    import rocksq.nonblocking

    if face_name == "blocking":
        queue = rocksq.blocking.MpmcQueue(path, TTL, attach=True)
        queue.add([b"from the attached process"])
        items, _expired = queue.next("f", StartPosition.Oldest, 10)
    else:
        queue = rocksq.nonblocking.MpmcQueue(path, TTL, attach=True)
        queue.add([b"from the attached process"]).get()
        items, _expired = queue.next("f", StartPosition.Oldest, 10).get().data
    queue.close()
    return items
