"""asyncio faces: await put() and get() without blocking the event loop.

A waiting coroutine holds no thread: the queue writes a byte to a pipe the
event loop watches whenever a push or pop changes it while someone waits, and
each waiter then retries in its own task. Because an item is taken only by
the task that returns it, a cancelled get() never loses an item, and a
cancelled put() has either stored its item or not (never half).
"""

from __future__ import annotations

import asyncio
import collections
import os
from typing import TYPE_CHECKING

from ._errors import Empty, QueueFull
from ._fifo_face import SizedFace

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from typing_extensions import Buffer

__all__ = ["Queue"]


class _ChangeWaiters:
    """Futures of the tasks waiting for a queue to change, woken together."""

    __slots__ = ("_loop", "_read_fd", "_waiters", "_write_fd")

    def __init__(self) -> None:
        self._read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._read_fd, False)
        os.set_blocking(self._write_fd, False)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    @property
    def write_fd(self) -> int:
        return self._write_fd

    def add(self) -> asyncio.Future[None]:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            if self._loop is not None:
                self._loop.remove_reader(self._read_fd)
            loop.add_reader(self._read_fd, self._wake_all)
            self._loop = loop
        waiter = loop.create_future()
        self._waiters.append(waiter)
        return waiter

    def discard(self, waiter: asyncio.Future[None]) -> None:
        try:
            self._waiters.remove(waiter)
        except ValueError:
            pass

    @property
    def closed(self) -> bool:
        return self._read_fd < 0

    def _wake_all(self) -> None:
        if self.closed:
            return
        try:
            while os.read(self._read_fd, 4096):
                pass
        except BlockingIOError:
            pass
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    def close(self) -> None:
        """Wakes every waiter and closes the pipe; a second call does nothing."""
        if self.closed:
            return
        self._wake_all()
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(self._read_fd)
        self._loop = None
        os.close(self._read_fd)
        os.close(self._write_fd)
        # Marked closed so no later call touches fds the process may reuse.
        self._read_fd = self._write_fd = -1


class Queue(SizedFace):
    """A persistent FIFO queue for asyncio, with the interface of asyncio.Queue.

    Items are bytes-like objects, kept on disk in the directory `path` until
    taken, across restarts; get() returns bytes. `maxsize` <= 0 means no
    limit. `await put()` waits for room and `await get()` for an item without
    blocking the event loop; any number of tasks may wait at once. Pushes and
    pops themselves are short disk writes done on the loop's thread (the GIL
    released meanwhile). Cancelling a waiting call loses nothing.
    """

    __slots__ = ("_changes",)

    def __init__(self, path: str | os.PathLike[str], maxsize: int = 0, *, sync: bool = False):
        super().__init__(path, maxsize, sync=sync)
        self._changes = _ChangeWaiters()
        self._queue.set_change_fd(self._changes.write_fd)

    async def put(self, item: Buffer) -> None:
        """Appends `item`, waiting for room if the queue is full."""
        await self.put_many((item,))

    async def put_many(self, items: Sequence[Buffer]) -> None:
        """Appends `items` in order, all or nothing, waiting for room for all."""
        while True:
            try:
                self._queue.push_many(items)
                return
            except QueueFull:
                if len(items) > self._queue.max_elements:
                    raise
            await self._wait_for_change(lambda: self._has_room(len(items)))

    def put_nowait(self, item: Buffer) -> None:
        """Appends `item` if there is room; else raises QueueFull (a queue.Full)."""
        self._queue.push(item)

    async def get(self) -> bytes:
        """Removes and returns the oldest item, waiting for one if the queue is empty."""
        return (await self.get_many(1))[0]

    async def get_many(self, max_items: int) -> list[bytes]:
        """Removes and returns up to `max_items` items, waiting for the first."""
        while True:
            items = self._queue.pop(max_items)
            if items or max_items == 0:
                return items
            await self._wait_for_change(lambda: not self._queue.is_empty)

    def get_nowait(self) -> bytes:
        """Removes and returns the oldest item if there is one; else raises Empty."""
        item = self._queue.pop_one()
        if item is None:
            raise Empty(f"Queue is empty: {self._queue.path}")
        return item

    def close(self) -> None:
        """Closes the queue; waiting tasks raise QueueClosed when they retry.

        A second call does nothing.
        """
        if self._changes.closed:
            return
        # Detached first: once this returns, the core writes to no fd.
        self._queue.set_change_fd(None)
        super().close()
        self._changes.close()

    async def __aenter__(self) -> Queue:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()

    def _has_room(self, count: int) -> bool:
        return self._queue.len + count <= self._queue.max_elements

    async def _wait_for_change(self, ready: Callable[[], bool]) -> None:
        # Arm first, then look again: a change after the look writes to the
        # pipe, so the wake-up cannot fall between the look and the wait.
        waiter = self._changes.add()
        self._queue.arm_change_fd()
        try:
            if not ready():
                await waiter
        finally:
            self._changes.discard(waiter)
