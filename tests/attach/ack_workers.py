"""What the processes of the ack queue's attach tests run: importable by spawned and forkserver children."""

from __future__ import annotations

import signal
import time
from typing import Any

from attach_workers import outcome, push_numbered, recorder

from rocksq._core import AckQueue

CAPACITY = 4


def without_receipts(deliveries: list[tuple[int, bytes, int, int]]) -> list[tuple[int, bytes, int]]:
    """Deliveries as (id, data, attempt): receipts differ from one hand-out to the next."""
    return [(item_id, data, attempt) for item_id, data, attempt, _receipt in deliveries]


def parity_script(queue: AckQueue) -> list[tuple[str, Any]]:
    """Every AckQueue call, on a fresh queue of CAPACITY items: each result, or its error's type."""
    results: list[tuple[str, Any]] = []
    record = recorder(results)
    held: dict[str, Any] = {}

    def hand_out(name: str, max_items: int) -> list[tuple[int, bytes, int]]:
        held[name] = queue.get(max_items)
        return without_receipts(held[name])

    def counts() -> tuple[int, int, int, int, bool]:
        return (queue.len, queue.ready, queue.unacked, queue.failed_count, queue.is_empty)

    record("counts of an empty queue", counts)
    record("get of an empty queue", lambda: queue.get(3))
    record("get_one of an empty queue", queue.get_one)
    record("get_wait timing out", lambda: queue.get_wait(2, 0.05))
    record("time_to_next_expiry with nothing handed out", queue.time_to_next_expiry)
    record("push", lambda: queue.push(b"a"))
    record("push_many", lambda: queue.push_many([b"bb", bytearray(b"ccc")]))
    record("push_many of nothing", lambda: queue.push_many([]))
    record("push_unique of a new key", lambda: queue.push_unique("k1", b"u"))
    record("push_unique of a known key", lambda: queue.push_unique(b"k1", b"u again"))
    record("push past the capacity", lambda: queue.push(b"x"))
    record("push_wait timing out", lambda: queue.push_wait(b"x", 0.05))
    record("push_many_wait that can never fit", lambda: queue.push_many_wait([b"z"] * 5, 30))
    record(
        "push_many_unique past the capacity",
        lambda: queue.push_many_unique([("k1", b"dup"), ("k2", b"new")]),
    )
    record("counts when full", counts)
    record("get of two", lambda: hand_out("first", 2))
    record("counts with two handed out", counts)
    record(
        "time_to_next_expiry is at most the visibility timeout",
        lambda: 0 < queue.time_to_next_expiry() <= queue.visibility_timeout,
    )
    record("ack", lambda: queue.ack(held["first"][0]))
    record("ack of an acked delivery", lambda: queue.ack(held["first"][0]))
    record(
        "nack of an unknown receipt",
        lambda: queue.nack(held["first"][1][:3] + (held["first"][1][3] + 1,)),
    )
    record("extend", lambda: queue.extend(held["first"][1], 10))
    record("extend_many with the queue's timeout", lambda: queue.extend_many([held["first"][1]]))
    record("nack", lambda: queue.nack(held["first"][1]))
    record("nack of a nacked delivery", lambda: queue.nack(held["first"][1]))
    record("get of what is there, the nacked first", lambda: hand_out("second", 5))
    record(
        "ack_many listing an item twice",
        lambda: queue.ack_many([held["second"][0], held["second"][0]]),
    )
    record("ack_failed", lambda: queue.ack_failed(held["second"][0]))
    record("failed", queue.failed)
    record("failed of none", lambda: queue.failed(0))
    record("nack_many", lambda: queue.nack_many(held["second"][1:]))
    record("ack_failed_many of nacked ones", lambda: queue.ack_failed_many(held["second"][1:]))
    record("counts with one failed", counts)
    record("push_unique_wait with room", lambda: queue.push_unique_wait("k3", b"w", 0.05))
    record(
        "push_many_unique_wait timing out",
        lambda: queue.push_many_unique_wait([("k3", b"dup"), ("k4", b"v")], 0.05),
    )
    record("requeue_failed of a failed id and an unknown one", lambda: queue.requeue_failed([1, 99]))
    record("requeue_failed of all, none left", queue.requeue_failed)
    record("get_one", lambda: without_receipts([queue.get_one()]))
    record("get_wait of what is there", lambda: hand_out("third", 10))
    record("ack_many", lambda: queue.ack_many(held["third"]))
    record("get of none", lambda: queue.get(0))
    record("payload_size", lambda: queue.payload_size)
    record("disk_size is a count", lambda: isinstance(queue.disk_size, int))
    record("max_elements", lambda: queue.max_elements)
    record("visibility_timeout", lambda: queue.visibility_timeout)
    record("dedup_window", lambda: queue.dedup_window)
    record("queue_id is 32 hex digits", lambda: len(queue.queue_id) == 32)
    record("recovery_warning", lambda: queue.recovery_warning)
    record("last_background_error", lambda: queue.last_background_error)
    record("counts at the end", counts)
    record("close", queue.close)
    record("len after close", lambda: queue.len)
    record("push after close", lambda: queue.push(b"3"))
    record("second close", queue.close)
    return results


def attached_parity_script(path: str) -> list[tuple[str, Any]]:
    return parity_script(AckQueue(path, CAPACITY, attach=True))


def produce(path: str, producer: int, count: int) -> None:
    push_numbered(AckQueue(path, attach=True), producer, count)


def consume(path: str) -> list[bytes]:
    """Gets and acks one item at a time until it takes b"stop"; returns what it acked before, in order.

    One at a time: a batch could take the other consumer's b"stop".
    """
    queue = AckQueue(path, attach=True)
    acked: list[bytes] = []
    while True:
        for delivery in queue.get_wait(1, 30):
            queue.ack(delivery)
            if delivery[1] == b"stop":
                queue.close()
                return acked
            acked.append(delivery[1])


def push(path: str, item: bytes) -> None:
    queue = AckQueue(path, attach=True)
    queue.push(item)
    queue.close()


def hold_until_killed(path: str, visibility_timeout: float, count: int, holding: Any) -> None:
    """Gets `count` items, sets `holding`, and waits to be killed without settling them."""
    queue = AckQueue(path, visibility_timeout=visibility_timeout, attach=True)
    queue.get(count)
    holding.set()
    while True:
        signal.pause()


def settle_some_then_close(path: str) -> dict[str, list[int]]:
    """Gets 4 items; acks the first, nacks the second, fails the third, keeps the
    fourth; closes the queue with it still handed out. The ids of each."""
    queue = AckQueue(path, visibility_timeout=0, attach=True)
    first, second, third, fourth = queue.get(4)
    queue.ack(first)
    queue.nack(second)
    queue.ack_failed(third)
    queue.close()
    return {"acked": [first[0]], "nacked": [second[0]], "failed": [third[0]], "held": [fourth[0]]}


def get_waiting(path: str, ready: Any, timeout: float, visibility_timeout: float = 30.0) -> tuple[
    list[tuple[int, bytes, int]], float
]:
    """Signals `ready` once attached, then get_wait(1, timeout): the deliveries and the seconds it took."""
    queue = AckQueue(path, visibility_timeout=visibility_timeout, attach=True)
    ready.set()
    started = time.monotonic()
    deliveries = queue.get_wait(1, timeout)
    elapsed = time.monotonic() - started
    queue.ack_many(deliveries)
    queue.close()
    return without_receipts(deliveries), elapsed


def open_attached(path: str, **options: Any) -> str:
    """Opens the ack queue with `options` (attach=True unless told); the error's type and message, or "attached"."""
    options.setdefault("attach", True)
    return outcome(lambda: AckQueue(path, **options).close())


def open_fifo_attached(path: str) -> str:
    """Opens the queue as a FIFO queue with attach=True; the error's type and message, or "attached"."""
    from rocksq._core import FifoQueue

    return outcome(lambda: FifoQueue(path, attach=True).close())


def face_put_get_ack(path: str) -> list[bytes]:
    """Through rocksq.AckQueue(attach=True): puts one item, then gets and acks everything there."""
    import rocksq

    queue = rocksq.AckQueue(path, attach=True)
    queue.put(b"from the attached process")
    taken = []
    while queue.ready:
        delivery = queue.get(timeout=5)
        queue.ack(delivery)
        taken.append(delivery.data)
    queue.close()
    return taken
