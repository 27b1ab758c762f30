"""What every face of the FIFO queue shares: it owns one core queue."""

from __future__ import annotations

import operator
import typing
from types import GenericAlias
from typing import TYPE_CHECKING

from ._core import MAX_ELEMENTS_LIMIT, FifoQueue
from ._defaults import ATTACH, ATTACH_GROUP, MAX_ELEMENTS, SYNC
from ._face import CoreFace, QueueSizes

if TYPE_CHECKING:
    import os
    from typing import Generic

    from typing_extensions import TypeVar


class FifoFace(CoreFace):
    """Opens the core FIFO queue in `path`; subclasses add the API.

    `attach=True`: if another process has the queue open, attach to it
    instead of raising QueueAlreadyOpen; every call then goes to that
    process (see docs/multiprocessing.rst).

    `attach_group` (a group name or gid): while this object owns the queue,
    the members of that group may attach too (docs/multiprocessing.rst).
    """

    __slots__ = ()

    _queue: FifoQueue

    def __init__(
        self,
        path: str | os.PathLike[str],
        max_elements: int = MAX_ELEMENTS,
        *,
        sync: bool = SYNC,
        attach: bool = ATTACH,
        attach_group: str | int | None = ATTACH_GROUP,
    ) -> None:
        self._open(FifoQueue(path, max_elements, sync, attach, attach_group), path)


def _checked_maxsize(maxsize: int) -> int:
    """`maxsize` as an int; TypeError if it is not an integer (a float included)."""
    if not hasattr(type(maxsize), "__index__"):
        raise TypeError(f"maxsize must be an int, not {type(maxsize).__name__}")
    return operator.index(maxsize)


def _core_limit(maxsize: int) -> int:
    # Unbounded is the core's largest limit; the limit asked for is kept
    # apart, so that a maxsize of exactly that limit is not reported as 0.
    return maxsize if maxsize > 0 else MAX_ELEMENTS_LIMIT


# rocksq.Queue[bytes] is a generic alias, as queue.Queue[bytes] is. For type
# checkers the parameter is what get() returns, so bytes (the default) is the
# only one that fits; at run time it is a types.GenericAlias, and the class
# carries no typing machinery.
if TYPE_CHECKING:
    Item = TypeVar("Item", bound=bytes, default=bytes)

    class Subscriptable(Generic[Item]):
        __slots__ = ()

else:
    Item = typing.TypeVar("Item", bound=bytes)

    class Subscriptable:
        __slots__ = ()
        __class_getitem__ = classmethod(GenericAlias)


class QueueFace(FifoFace, QueueSizes, Subscriptable[Item]):
    """What rocksq.Queue and rocksq.aio.Queue share: their sizes, task count and shutdown state.

    `maxsize` <= 0 means no limit, as in queue.Queue.

    The task count starts at the items found on disk at open; each put adds
    its items and task_done() takes one away. After an immediate shutdown
    the items left stored can no longer be got, so unfinished_tasks leaves
    them out. It does so each time it is read, not once at the shutdown: a
    get under way in another thread may still take an item (which then is
    a task again, owed a task_done()), and a put under way may still store
    one (which no get will take).
    """

    __slots__ = ("_is_shutdown", "_maxsize", "_shut_down_immediately", "_tasks_counted")

    def __init__(
        self,
        path: str | os.PathLike[str],
        maxsize: int = 0,
        *,
        sync: bool = SYNC,
        attach: bool = ATTACH,
        attach_group: str | int | None = ATTACH_GROUP,
    ) -> None:
        maxsize = _checked_maxsize(maxsize)
        super().__init__(path, _core_limit(maxsize), sync=sync, attach=attach, attach_group=attach_group)
        self._maxsize = max(maxsize, 0)
        self._tasks_counted = self._queue.len  # Items put or found at open, less task_done()s.
        self._is_shutdown = False
        self._shut_down_immediately = False

    @property
    def maxsize(self) -> int:
        """The most items the queue holds; 0 if unbounded."""
        return self._maxsize

    def _set_maxsize(self, maxsize: int) -> None:
        maxsize = _checked_maxsize(maxsize)
        self._queue.max_elements = _core_limit(maxsize)  # Wakes waiting puts.
        self._maxsize = max(maxsize, 0)

    @property
    def unfinished_tasks(self) -> int:
        """Items put (or found at open) and not yet marked done, as queue.Queue's attribute.

        After an immediate shutdown, only the items got and not yet marked done.
        """
        if not self._shut_down_immediately:
            return self._tasks_counted
        return max(0, self._tasks_counted - self._queue.len)

    @property
    def is_shutdown(self) -> bool:
        """True once shutdown() was called on this object, as queue.Queue's attribute."""
        return self._is_shutdown

    def _shut_down(self, immediate: bool) -> None:
        self._queue.shutdown(bool(immediate))
        self._is_shutdown = True
        self._shut_down_immediately = self._shut_down_immediately or bool(immediate)

    def _count_task_done(self) -> bool:
        """Counts one task_done(); True if that leaves no unfinished task.

        Raises ValueError if no task was unfinished.
        """
        self._queue.check_process()  # The count is the opening process's.
        unfinished = self.unfinished_tasks
        if unfinished <= 0:
            raise ValueError("task_done() called too many times")
        self._tasks_counted -= 1
        return unfinished == 1
