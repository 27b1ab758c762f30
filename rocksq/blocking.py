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

from ._face import StoredSizes
from ._fifo_face import FifoFace
from ._mpmc_face import MpmcFace

if TYPE_CHECKING:
    from typing_extensions import Buffer

    from ._core import StartPosition

__all__ = ["MpmcQueue", "PersistentQueueWithCapacity"]


class PersistentQueueWithCapacity(FifoFace, StoredSizes):
    """A persistent FIFO queue of byte strings holding at most `max_elements` items.

    Items stay on disk in the directory `path` until popped, across restarts;
    `sync=True` (an addition to 0.3.0) also makes every push and pop survive a
    machine crash. No call waits for items or for room: pop() on an empty
    queue returns [] and a push that does not fit raises QueueFull (a
    RuntimeError). push() and pop() release the GIL while the core works
    unless no_gil=False; one object may be shared by any number of threads.

    `attach=True`: if another process has the queue open, attach to it instead
    of raising QueueAlreadyOpen; a fork() child that inherits this object
    attaches too (docs: Processes and fork()).
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


class MpmcQueue(MpmcFace, StoredSizes):
    """A persistent log of byte strings read by labelled consumers, with a ttl (rocksq 0.3.0).

    add() appends elements. Each consumer names itself with a label and reads
    with next() from its own position, in add order; reading removes nothing,
    so every label sees every element alive when it gets there. A new label
    starts at the `start_position` of its first next(): StartPosition.Oldest
    (the oldest element alive) or StartPosition.Newest (the newest element
    alive, or the next one added if none is). Labels and positions survive
    restarts.

    An element expires `ttl` seconds (an int, at least 1) after it was added:
    next() never returns it and tells the label it missed elements, len and
    payload_size stop counting it (within ttl/1000 s), and a thread of the
    queue deletes it from disk within ttl/10 s (at most 10 s) more, with no
    call needed. `sync=True` (an addition to 0.3.0) makes adds and label moves
    survive a machine crash. No call waits for elements. add(), next() and
    remove_label() release the GIL while the core works unless no_gil=False;
    one object may be shared by any number of threads.
    """

    __slots__ = ()

    def add(self, items: list[Buffer], no_gil: bool = True) -> None:
        """Appends the items in order, all or nothing."""
        self._queue.add(items, no_gil)

    def next(
        self,
        label: str,
        start_position: StartPosition,
        max_elements: int = 1,
        no_gil: bool = True,
    ) -> tuple[list[bytes], bool]:
        """Returns up to `max_elements` elements `label` has not read yet, oldest first.

        Returns ([], False) if the label has read everything. The bool is True
        if elements the label had not read expired before it got to them; it
        is never True on a label's first call. `start_position` only places a
        label that does not exist yet; the label is stored even if
        max_elements is 0.
        """
        return self._queue.next(label, start_position, max_elements, no_gil)

    def remove_label(self, label: str, no_gil: bool = True) -> bool:
        """Deletes the label and its position; False if there was no such label."""
        return self._queue.remove_label(label, no_gil)

    @property
    def labels(self) -> list[str]:
        """The labels, sorted."""
        return self._queue.labels
