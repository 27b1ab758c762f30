"""What every face of the FIFO queue shares: it owns one core queue."""

from __future__ import annotations

import operator
import typing
from types import GenericAlias
from typing import TYPE_CHECKING

from ._core import FifoQueue
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
    # Unbounded is the core's default limit (its largest), the one every
    # face opens with unless told otherwise, so that another process's face
    # opened with its defaults attaches to this one's. The limit asked for is
    # kept apart, so that a maxsize of exactly that limit is not reported as 0.
    return maxsize if maxsize > 0 else MAX_ELEMENTS


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

    The task count is the core queue's, one for the queue however many
    processes use it (rocksq.FifoQueue's task_done, in the C++ header
    rocksq/fifo_queue.h): it starts at the items stored when the owning
    process opened the queue; each put adds its items and task_done() takes
    one away, in any process. After an immediate shutdown the items left
    stored can no longer be got, so unfinished_tasks leaves them out.
    """

    __slots__ = ("_maxsize",)

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
        super().__init__(
            path, _core_limit(maxsize), sync=sync, attach=attach, attach_group=attach_group
        )
        self._maxsize = max(maxsize, 0)

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

        Counted for the whole queue, in every process that uses it. After an
        immediate shutdown, only the items got and not yet marked done.
        """
        return self._queue.unfinished_tasks

    @property
    def is_shutdown(self) -> bool:
        """True once the queue is shut down, as queue.Queue's attribute.

        The queue's state, not this object's: shutdown() called on any object
        or in any process that uses the queue shows here.
        """
        return self._queue.is_shutdown

    def _shut_down(self, immediate: bool) -> None:
        self._queue.shutdown(bool(immediate))
