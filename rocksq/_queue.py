"""rocksq.Queue: the interface of the standard library's queue.Queue, persistent."""

from __future__ import annotations

import os
import threading
import weakref
from typing import TYPE_CHECKING, Any

from ._defaults import ATTACH, ATTACH_GROUP, SYNC
from ._errors import Empty, QueueClosed
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

    task_done() and join() count the items of this open queue object: those
    it found on disk when opened and those put since. An item taken but not
    marked done before the process ends is gone all the same: this queue
    delivers at most once. join() after close(), or waiting when close() is
    called, raises QueueClosed.

    maxsize may be changed on the open queue, as queue.Queue's; a larger one
    wakes waiting puts at once. shutdown() is Python 3.13's, for the open
    object only (see its docstring); put() and get() then raise ShutDown.

    `attach=True`: if another process has the queue open, attach to it instead
    of raising QueueAlreadyOpen; a fork() child that inherits this object
    attaches too (docs: Processes and fork()).
    """

    __slots__ = ("__weakref__", "_all_tasks_done", "_closed")

    def __init__(
        self,
        path: str | os.PathLike[str],
        maxsize: int = 0,
        *,
        sync: bool = SYNC,
        attach: bool = ATTACH,
        attach_group: str | int | None = ATTACH_GROUP,
    ) -> None:
        super().__init__(path, maxsize, sync=sync, attach=attach, attach_group=attach_group)
        # Guards the task count and _closed; join() waits on it.
        self._all_tasks_done = threading.Condition()
        self._closed = False
        _open_queues.add(self)

    def close(self) -> None:
        """Flushes and closes the queue; later calls, and join() waiting now, raise QueueClosed."""
        with self._all_tasks_done:
            self._closed = True
            self._all_tasks_done.notify_all()
        super().close()

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
        with self._all_tasks_done:
            self._shut_down(immediate)
            if not self.unfinished_tasks:
                self._all_tasks_done.notify_all()

    def put(self, item: Buffer, block: bool = True, timeout: float | None = None) -> None:
        """Appends `item`, waiting for room if the queue is full.

        Raises Full if there is no room when block is False, or none came
        within `timeout` seconds.
        """
        if block:
            timeout = checked_timeout(timeout)
        self._add_tasks(1)
        try:
            if block:
                self._queue.push_wait(item, timeout)
            else:
                self._queue.push(item)
        except BaseException:
            self._add_tasks(-1)
            raise
        if self._is_shutdown:
            self._add_tasks(0)

    def put_nowait(self, item: Buffer) -> None:
        """Appends `item` if there is room at once; else raises Full."""
        self.put(item, block=False)

    def put_many(
        self, items: Sequence[Buffer], block: bool = True, timeout: float | None = None
    ) -> None:
        """Appends all of `items` in order, all or nothing, waiting for room for all."""
        if block:
            timeout = checked_timeout(timeout)
        self._add_tasks(len(items))
        try:
            if block:
                self._queue.push_many_wait(item_batch(items), timeout)
            else:
                self._queue.push_many(item_batch(items))
        except BaseException:
            self._add_tasks(-len(items))
            raise
        if self._is_shutdown:
            self._add_tasks(0)

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

        Raises ValueError if called more times than there were items.
        """
        with self._all_tasks_done:
            if self._count_task_done():
                self._all_tasks_done.notify_all()

    def join(self) -> None:
        """Blocks until every item has been taken and marked done with task_done().

        Raises QueueClosed if the queue is closed, before or while it waits:
        no task_done() can be counted for items no one can take any more.
        """
        # In a fork() child nothing would ever mark the parent's items done.
        self._queue.check_process()
        with self._all_tasks_done:
            while True:
                if self._closed:
                    raise QueueClosed(f"Queue closed: {self._queue.path}: the queue was closed")
                if not self.unfinished_tasks:
                    return
                self._all_tasks_done.wait()

    def _add_tasks(self, count: int) -> None:
        # A put counts its items before storing them (a consumer may take
        # them and call task_done() before the put returns), and takes them
        # back if it fails. After a shutdown a put that succeeds calls this
        # with 0: it was under way when an immediate shutdown came and stored
        # an item no get can take, which may leave no unfinished task.
        with self._all_tasks_done:
            self._tasks_counted += count
            if count <= 0 and not self.unfinished_tasks:
                self._all_tasks_done.notify_all()


# The rocksq.Queue objects alive in this process. A fork() child gets each
# one's Condition as it was at the fork, held for ever if a parent thread
# held it then; a queue opened with attach=True serves the child, whose
# put() and get() take that Condition, so the child gets new ones.
_open_queues: weakref.WeakSet[Queue[Any]] = weakref.WeakSet()


def _new_conditions_in_child() -> None:
    for queue in list(_open_queues):
        queue._all_tasks_done = threading.Condition()  # noqa: SLF001 - this module's own


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_conditions_in_child)
