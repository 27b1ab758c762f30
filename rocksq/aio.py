"""asyncio faces: await put() and get(), or next(), without blocking the event loop.

A waiting coroutine holds no thread: the event loop watches the core
queue's change fd, which turns readable when a push or pop (an add, for the
MPMC queue) changes the queue while someone waits, and each waiter then
retries in its own task. In the owning process the fd is a pipe the queue
writes to; in an attached one (attach=True, another process owns the queue)
it is a connection the owner answers after its next change, or closes when
it goes away: the waiters then retry, and a FIFO queue's retry hands over. Because an item is taken only by the task that returns it, a cancelled
get() never loses an item, a cancelled next() never moves its label, and a
cancelled put() has either stored its item or not (never half).
"""

from __future__ import annotations

import asyncio
import collections
import os
import sys
import weakref
from typing import TYPE_CHECKING, Any, TypeVar

from ._ack_face import AckFace, Delivery
from ._errors import Empty, ShutDown
from ._errors import QueueFull as _CoreQueueFull
from ._face import CoreFace, StoredSizes, item_batch
from ._fifo_face import Item, QueueFace
from ._mpmc_face import MpmcFace

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from typing_extensions import Buffer, Self

    from ._core import AckQueue as _CoreAckQueue
    from ._core import FifoQueue as _CoreFifoQueue
    from ._core import MpmcQueue as _CoreMpmcQueue
    from ._core import StartPosition

__all__ = ["AckQueue", "MpmcQueue", "Queue", "QueueEmpty", "QueueFull", "QueueShutDown"]

T = TypeVar("T")


class QueueEmpty(Empty, asyncio.QueueEmpty):
    """Raised by get_nowait() when no item is ready: an asyncio.QueueEmpty and a rocksq.Empty."""


class QueueFull(_CoreQueueFull, asyncio.QueueFull):
    """Raised by put_nowait() when there is no room: an asyncio.QueueFull and a rocksq.QueueFull."""


if sys.version_info >= (3, 13):

    class QueueShutDown(ShutDown, asyncio.QueueShutDown):
        """Raised by put and get after shutdown(): an asyncio.QueueShutDown and a rocksq.ShutDown."""

else:  # asyncio.QueueShutDown is new in Python 3.13.
    QueueShutDown = ShutDown


def _set_done(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def _for_asyncio(error: Exception) -> Exception:
    """The core's QueueFull or ShutDown `error` as the asyncio face raises it."""
    kind = QueueFull if isinstance(error, _CoreQueueFull) else QueueShutDown
    return kind(*error.args)


def _runs_in(loop: asyncio.AbstractEventLoop) -> bool:
    """True if the calling thread is the one running `loop`."""
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


class _ChangeWaiters:
    """Futures of the tasks waiting for a queue to change, woken together by its change fd."""

    __slots__ = ("__weakref__", "_fd", "_loop", "_queue", "_waiters")

    def __init__(self, queue: _CoreFifoQueue | _CoreMpmcQueue | _CoreAckQueue) -> None:
        self._queue = queue
        # None in a fork() child until its first wait (forget_parents).
        self._fd: int | None = queue.change_fd()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        _all_change_waiters.add(self)

    def forget_parents(self) -> None:
        """In a fork() child: drops the parent's loop, waiters and change fd, untouched.

        The child's copy of the parent's loop shares its selector (an epoll
        set is shared across fork), so unregistering the fd there would make
        the parent's loop deaf; and the parent's fd watches the parent's
        queue. The child's first wait takes a change fd of its own, which
        watches the queue the child's calls reach (they attach).
        """
        if not self.closed:
            self._loop = None
            self._waiters = collections.deque()
            self._fd = None

    def add(self) -> asyncio.Future[None]:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            if self._fd is None:  # Forgotten at a fork, with the loop.
                self._fd = self._queue.change_fd()
            elif self._loop is not None:
                self._loop.remove_reader(self._fd)
            loop.add_reader(self._fd, self._wake_all)
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
        return self._fd is not None and self._fd < 0

    def arm(self) -> None:
        """Asks for a wake-up after the queue's next change (at once if it changed since the last)."""
        self._queue.arm_change_fd()

    def wake_here(self) -> None:
        """Wakes the waiters now if called in their loop's thread, after a change made there.

        The change fd would wake them too, but only once the loop next
        polls: two iterations later. From another thread the fd does it.
        """
        if self._waiters and self._loop is not None and _runs_in(self._loop):
            self._wake_all()

    def _wake_all(self) -> None:
        if self.closed:
            return
        self._queue.consume_change_fd()
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    def close(self) -> None:
        """Wakes every waiter and closes the change fd; a second call does nothing.

        From a thread other than the one running the event loop that watches
        the fd, this only asks that loop to do it: futures and readers may
        be touched in their loop's thread alone (a future completed from
        elsewhere would not wake its task), and the fd is closed only once
        no loop watches it (its number may be reused at once).
        """
        if self.closed:
            return
        loop = self._loop
        if loop is not None and loop.is_running() and not _runs_in(loop):
            try:
                loop.call_soon_threadsafe(self.close)
                return
            except RuntimeError:  # The loop was closed meanwhile: no one waits.
                pass
        if self._fd is not None:  # None: a fork() child's that never waited.
            self._wake_all()
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(self._fd)
        self._loop = None
        self._queue.close_change_fd()
        # Marked closed so no later call touches fds the process may reuse.
        self._fd = -1


# Every _ChangeWaiters alive in this process, for forget_parents() in a fork() child.
_all_change_waiters: weakref.WeakSet[_ChangeWaiters] = weakref.WeakSet()


def _forget_parents_in_child() -> None:
    for changes in list(_all_change_waiters):
        changes.forget_parents()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_parents_in_child)


class _WaitsForChanges(CoreFace):
    """What the asyncio faces share: waiting for their core queue to change.

    Mixed in before the face that opens the core queue (every core queue has
    a change fd: change_fd(), arm_change_fd()); the concrete class declares the
    `_changes` slot (a slot of a class with several bases must be declared
    by the class that combines them).
    """

    __slots__ = ()
    _changes: _ChangeWaiters

    def _open(
        self, queue: _CoreFifoQueue | _CoreMpmcQueue | _CoreAckQueue, path: str | os.PathLike[str]
    ) -> None:
        super()._open(queue, path)
        self._changes = _ChangeWaiters(queue)  # type: ignore[misc]

    async def _retry(self, attempt: Callable[[], T | None]) -> T:
        """Returns attempt()'s first result that is not None, waiting for a change between tries.

        `attempt` runs in the calling task, without awaiting: whatever it
        takes from the queue is returned, so cancelling the wait loses
        nothing.
        """
        while True:
            result = attempt()
            if result is not None:
                return result
            # Arm first, then try again: a change after the try makes the
            # fd readable, so the wake-up cannot fall between try and wait.
            waiter = self._changes.add()
            self._changes.arm()
            try:
                result = attempt()
                if result is not None:
                    return result
                await waiter
            finally:
                self._changes.discard(waiter)

    def close(self) -> None:
        """Closes the queue; waiting tasks raise QueueClosed when they retry.

        Any thread may call it, the event loop's or another. A second call
        does nothing.
        """
        if self._changes.closed:
            return
        super().close()  # The face's close().
        self._changes.close()

    def __del__(self) -> None:
        # Dropped without close(): the core queue closes itself when freed,
        # as in the other faces, and its change fd with it; the loop must
        # stop watching that fd first.
        changes = getattr(self, "_changes", None)
        if changes is not None and not changes.closed:
            changes.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()


class Queue(_WaitsForChanges, QueueFace[Item]):
    """A persistent FIFO queue for asyncio, with the interface of asyncio.Queue.

    Items are bytes-like objects, kept on disk in the directory `path` until
    taken, across restarts; get() returns bytes. `maxsize` <= 0 means no
    limit. `await put()` waits for room and `await get()` for an item without
    blocking the event loop; any number of tasks may wait at once, and a
    change made on the loop resumes them in its next iteration, as
    asyncio.Queue's does. Pushes and pops themselves are short disk writes
    done on the loop's thread (the GIL released meanwhile). Cancelling a
    waiting call loses nothing.

    task_done() and join() count as rocksq.Queue's do, for the whole queue
    in every process; join() waits without a thread (woken through the
    change fd when a task_done() leaves no unfinished task), and raises
    QueueClosed once the queue is closed. shutdown() is Python 3.13's, as
    rocksq.Queue's: the items stay stored. As rocksq.Queue, it also has len(), is_shutdown (the
    queue's, whoever shut it down) and unfinished_tasks. The errors of get_nowait() and put_nowait() are
    asyncio's (QueueEmpty, QueueFull) and RocksQ's (Empty, QueueFull) at once.
    """

    __slots__ = ("_changes",)

    async def put(self, item: Buffer) -> None:
        """Appends `item`, waiting for room if the queue is full; QueueShutDown after shutdown()."""
        await self.put_many((item,))

    async def put_many(self, items: Sequence[Buffer]) -> None:
        """Appends `items` in order, all or nothing, waiting for room for all."""

        def attempt() -> bool | None:
            try:
                self._stored(self._queue.push_many, item_batch(items))
                return True
            except QueueFull:
                if len(items) > self._queue.max_elements:
                    raise
                return None

        await self._retry(attempt)

    def put_nowait(self, item: Buffer) -> None:
        """Appends `item` if there is room; else raises QueueFull (an asyncio.QueueFull)."""
        self._stored(self._queue.push_many, (item,))

    def _stored(self, push: Callable[[Any], None], items: Sequence[Buffer]) -> None:
        # Pushes, and wakes the getters waiting here.
        try:
            push(items)
        except (_CoreQueueFull, ShutDown) as error:
            raise _for_asyncio(error) from None
        self._changes.wake_here()

    async def get(self) -> bytes:
        """Removes and returns the oldest item, waiting for one if the queue is empty."""
        return (await self.get_many(1))[0]

    async def get_many(self, max_items: int) -> list[bytes]:
        """Removes and returns up to `max_items` items, waiting for the first."""

        def attempt() -> list[bytes] | None:
            items = self._taken(max_items)
            return items if items or max_items == 0 else None

        return await self._retry(attempt)

    def get_nowait(self) -> bytes:
        """Removes and returns the oldest item if there is one; else raises QueueEmpty."""
        items = self._taken(1)
        if not items:
            raise QueueEmpty(f"Queue is empty: {self._queue.path}")
        return items[0]

    def _taken(self, max_items: int) -> list[bytes]:
        # Pops, and wakes the putters waiting here if that made room.
        try:
            items = self._queue.pop(max_items)
        except ShutDown as error:
            raise _for_asyncio(error) from None
        if items:
            self._changes.wake_here()
        return items

    def task_done(self) -> None:
        """Marks one item taken by get() as processed, as asyncio.Queue.task_done.

        Counts for the whole queue: it may mark an item another process put.
        Raises ValueError if called more times than there were items.
        """
        if self._queue.task_done() == 0:
            self._changes.wake_here()

    async def join(self) -> None:
        """Waits until every item has been taken and marked done with task_done().

        Raises QueueClosed if the queue is closed, before or while it waits.
        """

        def attempt() -> bool | None:
            # A closed queue raises QueueClosed here.
            return True if self._queue.unfinished_tasks == 0 else None

        await self._retry(attempt)

    def shutdown(self, immediate: bool = False) -> None:
        """Shuts the queue down, as Python 3.13's asyncio.Queue.shutdown().

        put() then raises QueueShutDown, and get() once the queue is empty
        (at once with immediate=True, when join() also stops waiting for the
        items left). Waiting calls wake and do the same. The items are not
        deleted: they stay stored for the next open, which gives a queue that
        is not shut down.
        """
        self._shut_down(immediate)
        self._changes.wake_here()


class MpmcQueue(_WaitsForChanges, MpmcFace, StoredSizes):
    """The persistent MPMC queue of rocksq.blocking.MpmcQueue, for asyncio.

    Elements are bytes-like objects, kept in the directory `path` for `ttl`
    seconds after they were added, read by labelled consumers that each see
    every element alive, in add order. `await next()` waits until its label
    has an element to read, without blocking the event loop; any number of
    tasks may wait at once, for the same label or different ones. Adds and
    reads themselves are short disk writes done on the loop's thread (the
    GIL released meanwhile). Cancelling a waiting next() leaves its label
    where it was.
    """

    __slots__ = ("_changes",)

    async def add(self, items: Sequence[Buffer]) -> None:
        """Appends `items` in order, all or nothing; never waits for anything else."""
        self.add_nowait(items)

    def add_nowait(self, items: Sequence[Buffer]) -> None:
        """Appends `items` in order, all or nothing; for code outside a coroutine."""
        self._queue.add(item_batch(items))
        self._changes.wake_here()

    async def next(
        self, label: str, start_position: StartPosition, max_elements: int = 1
    ) -> tuple[list[bytes], bool]:
        """Returns up to `max_elements` elements `label` has not read yet, waiting for the first.

        The bool is True if elements the label had not read expired before
        it got to them, during this call's waits included. `start_position`
        only places a label that does not exist yet; with max_elements 0 this
        places it and returns ([], False) at once. Closing the queue makes a
        waiting call raise QueueClosed.
        """
        expired = False

        def attempt() -> tuple[list[bytes], bool] | None:
            nonlocal expired
            items, skipped = self._queue.next(label, start_position, max_elements)
            expired = expired or skipped
            return (items, expired) if items or max_elements == 0 else None

        return await self._retry(attempt)

    def next_nowait(
        self, label: str, start_position: StartPosition, max_elements: int = 1
    ) -> tuple[list[bytes], bool]:
        """Like rocksq.blocking.MpmcQueue.next(): ([], expired) if `label` has read everything."""
        return self._queue.next(label, start_position, max_elements)

    def remove_label(self, label: str) -> bool:
        """Deletes the label and its position; False if there was no such label."""
        return self._queue.remove_label(label)

    @property
    def labels(self) -> list[str]:
        """The labels, sorted."""
        return self._queue.labels


class AckQueue(_WaitsForChanges, AckFace):
    """The at-least-once queue of rocksq.AckQueue, for asyncio.

    `await get()` waits for a ready item without blocking the event loop: for
    a put, a nack, a requeue, or a handed-out item whose visibility timeout
    expires. `await put()` waits for an ack to make room. ack(), nack() and
    ack_failed() are short calls that never wait. Cancelling a waiting get()
    hands nothing out; a cancelled put() stored its item or not.
    """

    __slots__ = ("_changes",)

    async def put(self, item: Buffer) -> None:
        """Appends `item`, waiting for room if the queue is full."""
        await self.put_many((item,))

    async def put_many(self, items: Sequence[Buffer]) -> None:
        """Appends `items` in order, all or nothing, waiting for room for all."""

        def attempt() -> bool | None:
            try:
                self._queue.push_many(item_batch(items))
            except _CoreQueueFull as error:
                if len(items) > self._queue.max_elements:
                    raise _for_asyncio(error) from None
                return None
            self._changes.wake_here()
            return True

        await self._retry(attempt)

    def put_nowait(self, item: Buffer) -> None:
        """Appends `item` if there is room at once; else raises QueueFull (an asyncio.QueueFull)."""
        try:
            self._queue.push(item)
        except _CoreQueueFull as error:
            raise _for_asyncio(error) from None
        self._changes.wake_here()

    async def put_unique(self, key: bytes | str, item: Buffer) -> bool:
        """As rocksq.AckQueue.put_unique(), waiting for room if the item is new and does not fit."""
        return (await self.put_many_unique(((key, item),)))[0]

    async def put_many_unique(self, pairs: Iterable[tuple[bytes | str, Buffer]]) -> list[bool]:
        """As rocksq.AckQueue.put_many_unique(): stores the items with new keys, all or none."""
        pairs = tuple(pairs)

        def attempt() -> list[bool] | None:
            try:
                stored = self._queue.push_many_unique(pairs)
            except _CoreQueueFull as error:
                if len(pairs) > self._queue.max_elements:
                    raise _for_asyncio(error) from None
                return None
            self._changes.wake_here()
            return stored

        return await self._retry(attempt)

    def put_unique_nowait(self, key: bytes | str, item: Buffer) -> bool:
        """As rocksq.AckQueue.put_unique_nowait(); raises QueueFull (an asyncio.QueueFull)."""
        try:
            stored = self._queue.push_unique(key, item)
        except _CoreQueueFull as error:
            raise _for_asyncio(error) from None
        self._changes.wake_here()
        return stored

    # Settling makes room for putters (ack, ack_failed) or an item ready for
    # getters (nack, requeue_failed): the waiters of this loop wake at once.

    def ack(self, delivery: Delivery) -> None:
        """As rocksq.AckQueue.ack(); a put waiting for room resumes in the next loop iteration."""
        super().ack(delivery)
        self._changes.wake_here()

    def ack_many(self, deliveries: Iterable[Delivery]) -> None:
        """As rocksq.AckQueue.ack_many(): every delivery or, if one is not outstanding, none."""
        super().ack_many(deliveries)
        self._changes.wake_here()

    def nack(self, delivery: Delivery) -> None:
        """As rocksq.AckQueue.nack(); a waiting get resumes in the next loop iteration."""
        super().nack(delivery)
        self._changes.wake_here()

    def nack_many(self, deliveries: Iterable[Delivery]) -> None:
        """As rocksq.AckQueue.nack_many(): every delivery or, if one is not outstanding, none."""
        super().nack_many(deliveries)
        self._changes.wake_here()

    def ack_failed(self, delivery: Delivery) -> None:
        """As rocksq.AckQueue.ack_failed(): sets the item handed out aside among the failed."""
        super().ack_failed(delivery)
        self._changes.wake_here()

    def ack_failed_many(self, deliveries: Iterable[Delivery]) -> None:
        """As rocksq.AckQueue.ack_failed_many(): every delivery or, if one is not outstanding, none."""
        super().ack_failed_many(deliveries)
        self._changes.wake_here()

    def requeue_failed(self, ids: Iterable[int] | None = None) -> int:
        """As rocksq.AckQueue.requeue_failed(): makes failed items ready again; returns how many."""
        requeued = super().requeue_failed(ids)
        self._changes.wake_here()
        return requeued

    async def get(self) -> Delivery:
        """Hands out the oldest ready item, waiting for one."""
        return (await self.get_many(1))[0]

    async def get_many(self, max_items: int) -> list[Delivery]:
        """Hands out up to `max_items` ready items, waiting for the first."""
        while True:
            got = self._queue.get(max_items)
            if got or max_items == 0:
                return [Delivery._make(entry) for entry in got]
            # As _retry: arm, try again, then wait for a change, but no
            # longer than until the next handed-out item expires (an expiry
            # is no call, so it does not make the change fd readable).
            waiter = self._changes.add()
            self._changes.arm()
            expiry = None
            try:
                got = self._queue.get(max_items)
                if got:
                    return [Delivery._make(entry) for entry in got]
                # Awaited directly, not through asyncio.wait(), which would
                # resume this task one loop iteration after the wake-up.
                wait = self._expiry_wait()
                if wait is not None:
                    expiry = waiter.get_loop().call_later(wait, _set_done, waiter)
                await waiter
            finally:
                if expiry is not None:
                    expiry.cancel()
                self._changes.discard(waiter)

    def _expiry_wait(self) -> float | None:
        # With nothing handed out, an item another task takes meanwhile
        # expires one timeout from now at the earliest.
        wait = self._queue.time_to_next_expiry
        timeout = self._queue.visibility_timeout
        return timeout if wait is None and timeout > 0 else wait

    def get_nowait(self) -> Delivery:
        """Hands out the oldest ready item if there is one; else raises QueueEmpty (an asyncio.QueueEmpty)."""
        got = self._queue.get(1)
        if not got:
            raise QueueEmpty(f"No item is ready: {self._queue.path}")
        return Delivery._make(got[0])
