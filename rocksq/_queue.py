"""rocksq.Queue: the interface of the standard library's queue.Queue, persistent."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._errors import Empty
from ._face import checked_timeout, item_batch
from ._fifo_face import Item, QueueFace

if TYPE_CHECKING:
    from collections.abc import Sequence

    from typing_extensions import Buffer

__all__ = ["Queue"]


class Queue(QueueFace[Item]):
    """A persistent FIFO queue with the interface of queue.Queue.

    Items are bytes-like objects, kept on disk in the directory `path` until
    taken, across restarts; get() returns bytes. `maxsize` <= 0 means no
    limit. put() and get() block as queue.Queue's do: with block=True and
    timeout=None until they can proceed, with a timeout for at most that many
    seconds (then Full or Empty), with block=False not at all. A waiting
    call wakes as soon as another thread makes room or adds an item, releases
    the GIL while it waits, and lets Ctrl-C through within 100 ms; close()
    wakes it with QueueClosed. One object may be shared by any threads.

    task_done() and join() count for the whole queue, as queue.Queue's do for
    its threads: every process that opens the path shares one count, kept
    by the process that owns the queue. It starts at the items stored when
    that process opened it; every put adds its items, and a task_done() in
    any process takes one away. An item taken but not marked done before
    the process ends is gone all the same: this queue delivers at most once.
    When another process takes the queue over, the count starts again at
    the items stored (tasks taken and not yet done are forgotten with the
    owner, as after a crash). join() after close(), or waiting when close()
    is called, raises QueueClosed.

    maxsize may be changed on the open queue, as queue.Queue's; a larger one
    wakes waiting puts at once. shutdown() is Python 3.13's, for the open
    object only (see its docstring); put() and get() then raise ShutDown.

    `attach=True`: if another process has the queue open, attach to it instead
    of raising QueueAlreadyOpen; a fork() child that inherits this object
    attaches too (docs: Processes and fork()).
    """

    __slots__ = ()

    @property
    def maxsize(self) -> int:
        """The most items the queue holds; 0 if unbounded. Settable, as queue.Queue's.

        Setting it applies to this open queue (the next open takes its own
        maxsize). Items already stored stay even above a smaller limit; puts
        then wait or fail until gets make room. A larger limit wakes waiting
        puts. TypeError if it is not an int.
        """
        return self._maxsize

    @maxsize.setter
    def maxsize(self, maxsize: int) -> None:
        self._set_maxsize(maxsize)

    def shutdown(self, immediate: bool = False) -> None:
        """Shuts the queue down, as Python 3.13's queue.Queue.shutdown().

        Then put() raises ShutDown, and get() raises it once the queue is
        empty; waiting calls wake and do the same. With immediate=True, get()
        raises ShutDown at once, and join() stops waiting for the items left
        in the queue. Unlike queue.Queue's, an immediate shutdown does not
        delete those items: they stay stored (qsize() counts them) for the
        next open of the path. The shutdown belongs to this open object and is
        not stored: reopening the path gives a queue that is not shut down.
        """
        self._shut_down(immediate)

    def put(self, item: Buffer, block: bool = True, timeout: float | None = None) -> None:
        """Appends `item`, waiting for room if the queue is full.

        Raises Full if there is no room when block is False, or none came
        within `timeout` seconds.
        """
        if block:
            self._queue.push_wait(item, checked_timeout(timeout))
        else:
            self._queue.push(item)

    def put_nowait(self, item: Buffer) -> None:
        """Appends `item` if there is room at once; else raises Full."""
        self.put(item, block=False)

    def put_many(
        self, items: Sequence[Buffer], block: bool = True, timeout: float | None = None
    ) -> None:
        """Appends all of `items` in order, all or nothing, waiting for room for all."""
        if block:
            self._queue.push_many_wait(item_batch(items), checked_timeout(timeout))
        else:
            self._queue.push_many(item_batch(items))

    def get(self, block: bool = True, timeout: float | None = None) -> bytes:
        """Removes and returns the oldest item, waiting for one if the queue is empty.

        Raises Empty if there is none when block is False, or none came
        within `timeout` seconds.
        """
        return self.get_many(1, block, timeout)[0]

    def get_nowait(self) -> bytes:
        """Removes and returns the oldest item if there is one; else raises Empty."""
        return self.get(block=False)

    def get_many(
        self, max_items: int, block: bool = True, timeout: float | None = None
    ) -> list[bytes]:
        """Removes and returns up to `max_items` items, oldest first.

        Waits as get() does for the first item, not for more; raises Empty if
        none came.
        """
        if block:
            timeout = checked_timeout(timeout)
            items = self._queue.pop_wait(max_items, timeout)
        else:
            items = self._queue.pop(max_items)
        if not items and max_items != 0:
            raise Empty(f"Queue is empty: {self._queue.path}")
        return items

    def task_done(self) -> None:
        """Marks one item taken by get() as processed, as queue.Queue.task_done.

        Counts for the whole queue: it may mark an item another process put.
        Raises ValueError if called more times than there were items.
        """
        self._queue.task_done()

    def join(self) -> None:
        """Blocks until every item has been taken and marked done with task_done().

        Wakes when a task_done() of any process leaves no unfinished task.
        Raises QueueClosed if the queue is closed, before or while it waits:
        no task_done() can be counted for items no one can take any more.
        """
        self._queue.join_wait(None)
