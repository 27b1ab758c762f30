"""What the processes of test_attach_tasks.py run: task_done() and join() of rocksq.Queue across processes."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

import rocksq
import rocksq.aio

# Every wait on another process is bounded, so a regression fails instead of
# hanging the test.
WAIT_SECONDS = 60
STOP = b"stop"


def produce_and_join(path: str, items: list[bytes], consumers: int) -> int:
    """Attaches, puts `items` and a STOP per consumer, and joins; returns the unfinished tasks after."""
    queue = rocksq.Queue(path, attach=True)
    queue.put_many([*items, *[STOP] * consumers])
    queue.join()
    unfinished = queue.unfinished_tasks
    queue.close()
    return unfinished


def consume_marking_done(path: str, holding: Any = None, release: Any = None) -> list[bytes]:
    """Attaches, gets items until STOP, marking each done; returns what it got.

    With `holding` and `release`: marks its first item done only once
    `release` is set, after setting `holding` (a consumer still working on
    it).
    """
    queue = rocksq.Queue(path, attach=True)
    got = []
    while True:
        item = queue.get(timeout=WAIT_SECONDS)
        if holding is not None and not got:
            holding.set()
            assert release.wait(WAIT_SECONDS)
        queue.task_done()
        if item == STOP:
            break
        got.append(item)
    queue.close()
    return got


def task_done_twice_for_one_item(path: str) -> list[str]:
    """Attaches, gets the one item and calls task_done() twice: each call's outcome."""
    queue = rocksq.Queue(path, attach=True)
    queue.get(timeout=WAIT_SECONDS)
    outcomes = []
    for _ in range(2):
        try:
            queue.task_done()
            outcomes.append(f"done, {queue.unfinished_tasks} left")
        except ValueError as error:
            outcomes.append(f"ValueError: {error}")
    queue.close()
    return outcomes


def aio_join(path: str, waiting: Any) -> tuple[int, int]:
    """Awaits join() on an attached rocksq.aio.Queue: the threads before opening and while waiting."""

    async def main() -> tuple[int, int]:
        before = len(os.listdir("/proc/self/task"))
        async with rocksq.aio.Queue(path, attach=True) as q:
            joined = asyncio.ensure_future(q.join())
            await asyncio.sleep(0)  # join() tries, arms the change fd, tries again, and waits.
            assert not joined.done(), "join() did not wait"
            threads = len(os.listdir("/proc/self/task"))
            waiting.set()
            await asyncio.wait_for(joined, WAIT_SECONDS)
        return before, threads

    return asyncio.run(main())


def own_with_items_until_killed(path: str, items: list[bytes], ready: Any) -> None:
    """Owns the queue (attach=True), puts `items`, signals `ready`, and waits to be killed."""
    queue = rocksq.Queue(path, attach=True)
    queue.put_many(items)
    ready.set()
    while True:
        signal.pause()
    queue.close()  # pragma: no cover - killed first


def join_attached(path: str, attached: Any) -> str:
    """Attaches, sets `attached`, and joins: "joined", or the error's type and message."""
    queue = rocksq.Queue(path, attach=True)
    attached.set()
    try:
        queue.join()
    except Exception as error:  # noqa: BLE001 - reported to the test
        return f"{type(error).__name__}: {error}"
    queue.close()
    return "joined"
