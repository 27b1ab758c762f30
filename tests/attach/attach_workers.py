"""What the processes of the attach tests run: importable by spawned and forkserver children."""

from __future__ import annotations

import os
import signal
import time
from typing import Any, Callable

import rocksq
import rocksq.aio
from rocksq._core import FifoOptions, FifoQueue

CAPACITY = 4


def recorder(results: list[tuple[str, Any]]) -> Callable[[str, Callable[[], Any]], None]:
    """record(name, call) appends (name, call's result), or (name, its error's type), to `results`."""

    def record(name: str, call: Callable[[], Any]) -> None:
        try:
            results.append((name, call()))
        except Exception as error:  # noqa: BLE001 - the error's type is the result
            results.append((name, type(error).__name__))

    return record


def outcome(call: Callable[[], object]) -> str:
    """"attached" if call() returns, else its error's type and message (reported to the test)."""
    try:
        call()
    except Exception as error:  # noqa: BLE001 - reported to the test
        return f"{type(error).__name__}: {error}"
    return "attached"


def parity_script(queue: FifoQueue) -> list[tuple[str, Any]]:
    """Every FifoQueue call, on a fresh queue of CAPACITY items: each result, or its error's type."""
    results: list[tuple[str, Any]] = []
    record = recorder(results)

    def set_max_elements(value: int) -> None:
        queue.max_elements = value

    record("len of an empty queue", lambda: queue.len)
    record("is_empty", lambda: queue.is_empty)
    record("pop of an empty queue", lambda: queue.pop(3))
    record("pop_one of an empty queue", queue.pop_one)
    record("pop_wait timing out", lambda: queue.pop_wait(2, 0.05))
    record("push", lambda: queue.push(b"a"))
    record("push_many", lambda: queue.push_many([b"bb", bytearray(b"ccc")]))
    record("push_many of nothing", lambda: queue.push_many([]))
    record("len", lambda: queue.len)
    record("payload_size", lambda: queue.payload_size)
    record("disk_size is a count", lambda: isinstance(queue.disk_size, int))
    record("push_many past the capacity", lambda: queue.push_many([b"x", b"y"]))
    record("push_wait with room", lambda: queue.push_wait(b"dddd", 0.05))
    record("push_wait timing out", lambda: queue.push_wait(b"e", 0.05))
    record("push_many_wait that can never fit", lambda: queue.push_many_wait([b"z"] * 5, 30))
    record("pop of two", lambda: queue.pop(2))
    record("pop_one", queue.pop_one)
    record("pop_wait of what is there", lambda: queue.pop_wait(5, 1))
    record("pop of none", lambda: queue.pop(0))
    record("max_elements", lambda: queue.max_elements)
    record("setting max_elements to 1", lambda: set_max_elements(1))
    record("max_elements after setting it", lambda: queue.max_elements)
    record("setting max_elements to 0", lambda: set_max_elements(0))
    record("push_many past the new limit", lambda: queue.push_many([b"1", b"2"]))
    record("push under the new limit", lambda: queue.push(b"1"))
    record("queue_id is 32 hex digits", lambda: len(queue.queue_id) == 32)
    record("recovery_warning", lambda: queue.recovery_warning)
    record("last_background_error", lambda: queue.last_background_error)
    record("shutdown", queue.shutdown)
    record("push after shutdown", lambda: queue.push(b"2"))
    record("pop after shutdown", lambda: queue.pop(5))
    record("pop of an empty queue after shutdown", lambda: queue.pop(5))
    record("pop_wait after shutdown", lambda: queue.pop_wait(1, 1))
    record("close", queue.close)
    record("len after close", lambda: queue.len)
    record("push after close", lambda: queue.push(b"3"))
    record("second close", queue.close)
    return results


def attached_parity_script(path: str) -> list[tuple[str, Any]]:
    return parity_script(FifoQueue(path, CAPACITY, attach=True))


def produce(path: str, producer: int, count: int, sync: bool = False) -> None:
    push_numbered(FifoQueue(path, sync=sync, attach=True), producer, count)


def push_numbered(queue: Any, producer: int, count: int) -> None:
    """Pushes (producer, n) for n in range(count), singly and in batches, then closes `queue`."""
    n = 0
    while n < count:
        batch = [b"%d %d" % (producer, i) for i in range(n, min(count, n + n % 7 + 1))]
        if len(batch) == 1:
            queue.push(batch[0])
        else:
            queue.push_many(batch)
        n += len(batch)
    queue.close()


def consume(path: str, sync: bool = False) -> list[bytes]:
    """Pops until it takes the item b"stop"; returns what it took before, in order.

    One item at a time: a batch could take the other consumer's b"stop".
    """
    queue = FifoQueue(path, sync=sync, attach=True)
    taken: list[bytes] = []
    while True:
        for item in queue.pop_wait(1, 30):
            if item == b"stop":
                queue.close()
                return taken
            taken.append(item)


def push_to_full_queue(path: str, capacity: int) -> list[str]:
    queue = FifoQueue(path, capacity, attach=True)
    outcomes = []
    for push in (lambda: queue.push(b"more"), lambda: queue.push_wait(b"more", 0.05)):
        try:
            push()
            outcomes.append("stored")
        except Exception as error:  # noqa: BLE001 - the error's type is the outcome
            outcomes.append(type(error).__name__)
    outcomes.append(str(queue.len))
    queue.close()
    return outcomes


def pop_waiting(path: str, ready: Any, timeout: float, sync: bool = False) -> tuple[list[bytes], float]:
    """Signals `ready` once attached, then pop_wait(1, timeout): the items and the seconds it took."""
    queue = FifoQueue(path, sync=sync, attach=True)
    ready.set()
    started = time.monotonic()
    items = queue.pop_wait(1, timeout)
    elapsed = time.monotonic() - started
    queue.close()
    return items, elapsed


def open_attached(path: str, max_elements: int, sync: bool, attach: bool = True) -> str:
    """Opens the queue; the error's type and message, or "attached"."""
    return outcome(lambda: FifoQueue(path, max_elements, sync, attach).close())


def open_attached_as_user(path: str, uid: int) -> str:
    """Becomes user `uid` (the process runs as root), then opens the queue with attach=True."""
    os.setuid(uid)
    return open_attached(path, FifoOptions().max_elements, FifoOptions().sync)


def push_and_pop(path: str) -> list[bytes]:
    queue = FifoQueue(path, attach=True)
    queue.push(b"from the attached process")
    items = queue.pop(5)
    queue.close()
    return items


def lane_mappings() -> int:
    """How many shared-memory lanes (docs/format.rst) this process maps."""
    with open("/proc/self/maps") as maps:
        return sum("memfd:rocksq-lane" in line for line in maps)


def lanes_while_attached(path: str) -> tuple[int, int, int, list[bytes]]:
    """Lanes mapped before attaching, after a push and a pop, and after the close; and the items."""
    before = lane_mappings()
    queue = FifoQueue(path, attach=True)
    queue.push(b"through the lane")
    items = queue.pop(5)
    during = lane_mappings()
    queue.close()
    return before, during, lane_mappings(), items


def face_push_and_pop(path: str, face_name: str) -> list[bytes]:
    """Opens the queue through the face `face_name` with attach=True; pushes and pops through it."""
    import rocksq
    import rocksq.blocking
    import rocksq.nonblocking

    face = {
        "seed": rocksq.PersistentQueueWithCapacity,
        "blocking": rocksq.blocking.PersistentQueueWithCapacity,
        "nonblocking": rocksq.nonblocking.PersistentQueueWithCapacity,
        "Queue": rocksq.Queue,
    }[face_name]
    queue = face(path, attach=True)
    queue._queue.push(b"from the attached process")
    items = queue._queue.pop(5)
    queue.close()
    return items


def open_every_fifo_face_with_its_defaults(path: str) -> dict[str, str]:
    """Opens the queue through each FIFO face in turn, passing only the path: each one's outcome()."""
    import rocksq
    import rocksq.aio
    import rocksq.blocking
    import rocksq.nonblocking

    faces = [
        rocksq.PersistentQueueWithCapacity,
        rocksq.blocking.PersistentQueueWithCapacity,
        rocksq.nonblocking.PersistentQueueWithCapacity,
        rocksq.Queue,
        rocksq.aio.Queue,
    ]
    return {
        f"{face.__module__}.{face.__name__}": outcome(lambda face=face: face(path).close())
        for face in faces
    }


def own_until_killed(path: str, ready: Any) -> None:
    """Owns the queue (attach=True), pushes one item, signals `ready`, and waits to be killed."""
    queue = FifoQueue(path, attach=True)
    queue.push(b"stored by the killed owner")
    ready.set()
    while True:
        signal.pause()
    queue.close()  # pragma: no cover - killed first


def own_with_a_forked_child_until_killed(
    path: str, serving: Any, attached: Any, forked: Any, child_pids: Any
) -> None:
    """Owns the queue (then sets `serving`); once `attached` is set, fork()s a child that outlives it.

    The child inherits the connection of the process that attached; its pid
    goes to `child_pids`, then `forked` is set.
    """
    queue = FifoQueue(path, attach=True)
    serving.set()
    attached.wait(30)
    child = os.fork()
    if child == 0:
        while True:
            signal.pause()
    child_pids.append(child)
    forked.set()
    while True:
        signal.pause()
    queue.close()  # pragma: no cover - killed first


def call_after_owner_left(path: str, attached: Any, owner_left: Any) -> tuple[str, str, bool]:
    """Attaches, signals, waits for the owner to leave, then calls.

    Returns the call's error type and message ("no error", the length), and
    whether this process owns the queue afterwards.
    """
    from rocksq.inspection import inspect_owner

    queue = FifoQueue(path, attach=True)
    attached.set()
    owner_left.wait(30)
    try:
        outcome = ("no error", str(queue.len))
    except Exception as error:  # noqa: BLE001 - reported to the test
        outcome = (type(error).__name__, str(error))
    owns = inspect_owner(path).pid == os.getpid()
    queue.close()
    return (*outcome, owns)


def wait_when_owner_leaves(path: str, attached: Any) -> tuple[str, list[bytes], float]:
    """Attaches and waits in pop_wait while the owner leaves: the outcome, the items, the seconds."""
    queue = FifoQueue(path, attach=True)
    attached.set()
    started = time.monotonic()
    try:
        items = [bytes(item) for item in queue.pop_wait(1, 60)]
    except Exception as error:  # noqa: BLE001 - reported to the test
        return f"{type(error).__name__}: {error}", [], time.monotonic() - started
    elapsed = time.monotonic() - started
    queue.close()
    return "no error", items, elapsed


def get_until_killed(path: str, ready: Any) -> None:
    """Signals `ready` once attached, then waits in rocksq.Queue.get (100 ms pop_waits) until killed."""
    import rocksq

    queue = rocksq.Queue(path, attach=True)
    ready.set()
    queue.get(timeout=60)


def attach_until_released(path: str, attached: Any, release: Any, kind: str = "fifo") -> None:
    """Attaches to a queue of `kind` (one connection), sets `attached`, and stays attached
    until `release` is set."""
    from rocksq._core import AckQueue, MpmcQueue

    if kind == "mpmc":
        queue: Any = MpmcQueue(path, 3600, attach=True)  # The owner's ttl (test_stats.py).
    else:
        queue = {"fifo": FifoQueue, "ack": AckQueue}[kind](path, attach=True)
    queue.len  # The first call after the open: the connection is made and welcomed.
    attached.set()
    release.wait(60)
    queue.close()


def inspect_owner_as_user(path: str, uid: int) -> tuple[Any, bool, Any]:
    """Becomes user `uid` (the process runs as root), then asks who owns the queue."""
    import rocksq.inspection

    os.setuid(uid)
    owner = rocksq.inspection.inspect_owner(path)
    return owner.pid, owner.answered, owner.refusal


def timed_oldest_item_age(path: str) -> tuple[float, Any, bool, float]:
    """Asks the owner for its oldest item's age: (monotonic clock before, age in seconds or
    None, whether it is a lower bound, monotonic clock after)."""
    import rocksq.inspection

    before = time.monotonic()
    owner = rocksq.inspection.inspect_owner(path)
    after = time.monotonic()
    age = None if owner.oldest_age is None else owner.oldest_age.total_seconds()
    return before, age, owner.oldest_age_is_lower_bound, after



def push_and_pop_as(path: str, uid: int, gid: int, groups: list[int]) -> str:
    """Becomes user `uid` of group `gid` with the supplementary `groups` (the process
    runs as root), attaches to the queue without a group of its own, pushes and pops:
    "popped [...]", or the error's type and message."""
    os.setgroups(groups)
    os.setgid(gid)
    os.setuid(uid)
    popped: list[bytes] = []

    def attach_push_and_pop() -> None:
        queue = FifoQueue(path, attach=True)
        try:
            queue.push(b"from a member of the group")
            popped.extend(queue.pop(5))
        finally:
            queue.close()

    result = outcome(attach_push_and_pop)
    return f"popped {popped}" if result == "attached" else result



def shut_down_attached(path: str) -> tuple[bool, bool]:
    """Attaches a rocksq.aio.Queue and shuts the queue down: is_shutdown before and after."""
    queue = rocksq.aio.Queue(path, attach=True)
    before = queue.is_shutdown
    queue.shutdown()
    after = queue.is_shutdown
    queue.close()
    return before, after


def is_shutdown_before_and_after(
    path: str, face_name: str, attached: Any, shut_down: Any
) -> tuple[bool, bool]:
    """Attaches rocksq.Queue or rocksq.aio.Queue (`face_name` "Queue" or "aio"), sets
    `attached`, waits for `shut_down`: is_shutdown before and after."""
    face = {"Queue": rocksq.Queue, "aio": rocksq.aio.Queue}[face_name]
    queue = face(path, attach=True)
    before = queue.is_shutdown
    attached.set()
    assert shut_down.wait(60)
    after = queue.is_shutdown
    queue.close()
    return before, after
