"""The seed's API: one item per push and per pop."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._core import FifoQueue
from ._fifo_face import FifoFace

if TYPE_CHECKING:
    import os

    from typing_extensions import Buffer

__all__ = ["PersistentQueueWithCapacity"]


class PersistentQueueWithCapacity(FifoFace):
    """A persistent FIFO queue of byte strings holding at most `max_elements` items.

    Items stay on disk in the directory `path` until popped, across restarts;
    `sync=True` also makes every push and pop survive a machine crash. No call
    waits for items or for room: pop() on an empty queue returns None and
    push() on a full one raises QueueFull. push() and pop() release the GIL
    while the core works unless no_gil=False; one object may be shared by any
    number of threads.

    `attach=True`: if another process has the queue open, attach to it instead
    of raising QueueAlreadyOpen; a fork() child that inherits this object
    attaches too (docs: Processes and fork()).
    """

    __slots__ = ()

    def push(self, item: Buffer, no_gil: bool = True) -> None:
        """Appends one bytes-like item; raises QueueFull if the queue is full."""
        self._queue.push(item, no_gil)

    def pop(self, no_gil: bool = True) -> bytes | None:
        """Removes and returns the oldest item, or None if the queue is empty."""
        return self._queue.pop_one(no_gil)

    def size(self) -> int:
        """The size of the queue's files on disk, in bytes; it lags behind pops."""
        return self._queue.disk_size

    def len(self) -> int:
        """The number of items stored."""
        return self._queue.len

    def is_empty(self) -> bool:
        """True if no item is stored."""
        return self._queue.is_empty

    @staticmethod
    def remove_db(path: str | os.PathLike[str]) -> None:
        """Deletes the queue stored in `path`; does nothing if it does not exist.

        Only the queue's own files go, then the directory if that leaves it
        empty.

        Raises QueueAlreadyOpen if a queue object (in any process) has it open.
        """
        FifoQueue.destroy(path)
