"""What every face of the FIFO queue shares: it owns one core queue."""

from __future__ import annotations

import operator
from types import GenericAlias
from typing import TYPE_CHECKING, Any

from ._core import MAX_ELEMENTS_LIMIT, FifoQueue
from ._defaults import MAX_ELEMENTS, SYNC
from ._errors import warn_if_recovery_dropped
from ._face import CoreFace

if TYPE_CHECKING:
    import os


class FifoFace(CoreFace):
    """Opens the core FIFO queue in `path`; subclasses add the API."""

    __slots__ = ()

    _queue: FifoQueue

    def __init__(
        self,
        path: str | os.PathLike[str],
        max_elements: int = MAX_ELEMENTS,
        *,
        sync: bool = SYNC,
    ) -> None:
        self._queue = FifoQueue(path, max_elements, sync)
        warn_if_recovery_dropped(self._queue, path)



def _checked_maxsize(maxsize: int) -> int:
    """`maxsize` as an int; TypeError if it is not an integer (a float included)."""
    if not hasattr(type(maxsize), "__index__"):
        raise TypeError(f"maxsize must be an int, not {type(maxsize).__name__}")
    return operator.index(maxsize)


def _core_limit(maxsize: int) -> int:
    # Unbounded is the core's largest limit; the limit asked for is kept
    # apart, so that a maxsize of exactly that limit is not reported as 0.
    return maxsize if maxsize > 0 else MAX_ELEMENTS_LIMIT


class SizedFace(FifoFace):
    """The size queries of queue.Queue and asyncio.Queue, shared by their faces.

    `maxsize` <= 0 means no limit, as in queue.Queue.
    """

    __slots__ = ("_maxsize",)

    def __class_getitem__(cls, item: Any) -> GenericAlias:
        """`rocksq.Queue[bytes]`, as `queue.Queue[bytes]`, for annotations; `item` is not checked."""
        return GenericAlias(cls, item)

    def __init__(
        self, path: str | os.PathLike[str], maxsize: int = 0, *, sync: bool = SYNC
    ) -> None:
        maxsize = _checked_maxsize(maxsize)
        super().__init__(path, _core_limit(maxsize), sync=sync)
        self._maxsize = max(maxsize, 0)

    @property
    def maxsize(self) -> int:
        """The most items the queue holds; 0 if unbounded."""
        return self._maxsize

    def _set_maxsize(self, maxsize: int) -> None:
        maxsize = _checked_maxsize(maxsize)
        self._queue.max_elements = _core_limit(maxsize)  # Wakes waiting puts.
        self._maxsize = max(maxsize, 0)

    def qsize(self) -> int:
        """The number of items stored."""
        return self._queue.len

    def __len__(self) -> int:
        return self._queue.len

    def empty(self) -> bool:
        """True if no item is stored."""
        return self._queue.is_empty

    def full(self) -> bool:
        """True if the queue holds maxsize items."""
        return self._queue.len >= self._queue.max_elements

    @property
    def payload_size(self) -> int:
        """The sum of the stored items' sizes, in bytes."""
        return self._queue.payload_size

    @property
    def disk_size(self) -> int:
        """The size of the queue's files on disk, in bytes; it lags behind gets."""
        return self._queue.disk_size
