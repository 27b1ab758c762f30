"""rocksq 0.3.0's blocking API: batches in, lists out.

`from rocksq.blocking import PersistentQueueWithCapacity` works as it did in
rocksq 0.3.0, with the same names, signatures, defaults, results and
exception types. "Blocking" means each call returns when its work is done;
no call waits for items or for room.

Where 0.3.0 misbehaved, this differs: pop(0) returns [] and removes nothing
(0.3.0 removed and returned every item); max_elements=0 raises ValueError;
an item that is not bytes-like raises TypeError (0.3.0 panicked on a str);
array.array and numpy items are stored as their raw bytes and items without
C-contiguous data raise TypeError (0.3.0 iterated over them); a tuple of
items is accepted as well as a list.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._fifo_face import FifoFace

if TYPE_CHECKING:
    from typing_extensions import Buffer

__all__ = ["PersistentQueueWithCapacity"]


class PersistentQueueWithCapacity(FifoFace):
    """A persistent FIFO queue of byte strings holding at most `max_elements` items.

    Items stay on disk in the directory `path` until popped, across restarts;
    `sync=True` (an addition to 0.3.0) also makes every push and pop survive a
    machine crash. No call waits for items or for room: pop() on an empty
    queue returns [] and a push that does not fit raises QueueFull (a
    RuntimeError). push() and pop() release the GIL while the core works
    unless no_gil=False; one object may be shared by any number of threads.
    """

    __slots__ = ()

    def push(self, items: list[Buffer], no_gil: bool = True) -> None:
        """Appends the items in order, all or nothing.

        Raises QueueFull, storing none of them, if they do not all fit.
        """
        self._queue.push_many(items, no_gil)

    def pop(self, max_elements: int = 1, no_gil: bool = True) -> list[bytes]:
        """Removes and returns up to `max_elements` items, oldest first; [] if empty."""
        return self._queue.pop(max_elements, no_gil)

    @property
    def is_empty(self) -> bool:
        """True if no item is stored."""
        return self._queue.is_empty

    @property
    def disk_size(self) -> int:
        """The size of the queue's files on disk, in bytes; it lags behind pops."""
        return self._queue.disk_size

    @property
    def payload_size(self) -> int:
        """The sum of the stored items' sizes, in bytes."""
        return self._queue.payload_size

    @property
    def len(self) -> int:
        """The number of items stored."""
        return self._queue.len
