"""What the attached processes of test_attach_aio.py run: rocksq.aio faces awaiting in an event loop.

Each worker starts the waiting call as a task, lets it run to its first
wait, then sets `waiting`, so that the test changes the queue only once the
task waits on the owner's event lane (set() blocks the loop meanwhile, so
the task cannot run on).
"""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any, Awaitable, Callable, TypeVar

import rocksq.aio
import rocksq
from rocksq._core import StartPosition

# Long enough never to fire when the wake-up works; a broken wake-up fails
# the test instead of hanging it.
AWAIT_SECONDS = 30

T = TypeVar("T")


def _threads() -> int:
    """The threads of this process, native ones included."""
    return len(os.listdir("/proc/self/task"))


async def _await_once_waiting(call: Awaitable[T], waiting: Any) -> tuple[T, int]:
    """Runs `call` as a task until it waits, sets `waiting`, and returns its result and the threads meanwhile."""
    task = asyncio.ensure_future(call)
    await asyncio.sleep(0)  # The task tries, arms the change fd, tries again, and waits.
    assert not task.done(), "the call did not wait"
    threads = _threads()
    waiting.set()
    return await asyncio.wait_for(task, AWAIT_SECONDS), threads


def _run(main: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(main())


def get_once_put(path: str, waiting: Any) -> tuple[bytes, int, int]:
    """Awaits get() on an attached rocksq.aio.Queue: the item, the threads before opening and while waiting."""

    async def main() -> tuple[bytes, int, int]:
        before = _threads()
        async with rocksq.aio.Queue(path, attach=True) as q:
            item, waiting_threads = await _await_once_waiting(q.get(), waiting)
        return item, before, waiting_threads

    return _run(main)


def put_once_room(path: str, waiting: Any) -> int:
    """Awaits put() on an attached rocksq.aio.Queue of one item, which is full; returns qsize() after."""

    async def main() -> int:
        async with rocksq.aio.Queue(path, maxsize=1, attach=True) as q:
            await _await_once_waiting(q.put(b"put once there was room"), waiting)
            return q.qsize()

    return _run(main)


def cancel_get_then_get(path: str, waiting: Any, pushed: Any) -> tuple[str, bytes]:
    """Cancels a get() that waited until an item came, then gets: whether it was cancelled, and the item."""

    async def main() -> tuple[str, bytes]:
        async with rocksq.aio.Queue(path, attach=True) as q:
            task = asyncio.ensure_future(q.get())
            await asyncio.sleep(0)
            waiting.set()
            pushed.wait(AWAIT_SECONDS)  # Blocks the loop: the task cannot take the item.
            task.cancel()
            try:
                await task
                cancelled = "not cancelled"
            except asyncio.CancelledError:
                cancelled = "cancelled"
            return cancelled, await asyncio.wait_for(q.get(), AWAIT_SECONDS)

    return _run(main)


# An ack queue's waiting get() also wakes when a handed-out item may expire,
# with nothing handed out one visibility timeout from now: longer than any
# await here, so that only the owner's answer can wake it.
ACK_VISIBILITY_TIMEOUT = 3600


def ack_get_once_put(path: str, waiting: Any) -> bytes:
    """Awaits get() on an attached rocksq.aio.AckQueue, acks the delivery and returns its payload."""

    async def main() -> bytes:
        async with rocksq.aio.AckQueue(
            path, visibility_timeout=ACK_VISIBILITY_TIMEOUT, attach=True
        ) as q:
            delivery, _ = await _await_once_waiting(q.get(), waiting)
            q.ack(delivery)
            return delivery.data

    return _run(main)


def mpmc_next_once_added(path: str, ttl: int, waiting: Any) -> tuple[list[bytes], bool]:
    """Awaits next() of a new label on an attached rocksq.aio.MpmcQueue; returns what it read."""

    async def main() -> tuple[list[bytes], bool]:
        async with rocksq.aio.MpmcQueue(path, ttl, attach=True) as q:
            read, _ = await _await_once_waiting(
                q.next("reader", StartPosition.Oldest, 10), waiting
            )
            return read

    return _run(main)


def own_empty_until_killed(path: str, ready: Any) -> None:
    """Owns the empty queue (attach=True), signals `ready`, and waits to be killed."""
    queue = rocksq.Queue(path, attach=True)
    ready.set()
    while True:
        signal.pause()
    queue.close()  # pragma: no cover - killed first
