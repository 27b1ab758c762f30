"""What every Python face shares: it owns exactly one core queue object."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Union, cast

from ._errors import warn_if_recovery_dropped

if TYPE_CHECKING:
    import os
    from collections.abc import Sequence
    from types import TracebackType

    from typing_extensions import Buffer, Self

    from ._core import AckQueue, FifoQueue, MpmcQueue


def item_batch(items: Sequence[Buffer]) -> list[Buffer] | tuple[Buffer, ...]:
    """`items` as the core takes a batch: a list or tuple as it is, any other sequence copied."""
    return items if isinstance(items, (list, tuple)) else list(items)


def checked_timeout(timeout: float | None) -> float | None:
    """`timeout` as the core's waits take it: None (no limit) or seconds, at least 0.

    TypeError if it is neither None nor a number float() takes (a str is
    not one), ValueError if it is negative or NaN. An int too large for a
    float waits without limit.
    """
    if timeout is None:
        return None
    kind = type(timeout)
    if isinstance(timeout, bool) or not (hasattr(kind, "__float__") or hasattr(kind, "__index__")):
        raise TypeError(
            f"'timeout' must be None or a number of seconds, not {type(timeout).__name__}"
        )
    try:
        seconds = float(timeout)
    except OverflowError:
        seconds = math.inf
    if not seconds >= 0:
        raise ValueError("'timeout' must be a non-negative number")
    return seconds


class CoreFace:
    """Holds the core queue in `_queue`; closes it on close() and on leaving a with block.

    Every face has these, except the nonblocking ones, whose sizes are
    submitted operations (they override payload_size and disk_size);
    last_background_error is read at once on every face.
    """

    __slots__ = ("_queue",)

    # Each kind's faces narrow it to their own core class.
    _queue: Union[FifoQueue, MpmcQueue, AckQueue]

    def _open(self, queue: FifoQueue | MpmcQueue | AckQueue, path: str | os.PathLike[str]) -> None:
        """Takes `queue`, just opened at `path`; warns if its recovery dropped records.

        Each kind's face calls it from __init__; a face that must set up more
        once the queue is open (the asyncio faces) extends it.
        """
        self._queue = queue
        warn_if_recovery_dropped(queue, path)

    def close(self) -> None:
        """Flushes and closes the queue; later calls raise QueueClosed. A second call does nothing."""
        self._queue.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def payload_size(self) -> int:
        """The sum of the stored items' sizes, in bytes."""
        return self._queue.payload_size

    @property
    def disk_size(self) -> int:
        """The size of the queue's files on disk, in bytes.

        It lags behind removals (pops, acks, expiry): RocksDB frees the
        space of deleted items in the background. While a queue opened with
        ``sync=True`` is open, it also counts up to 1 MiB of zeros laid
        down ahead of the write-ahead log, so that synced writes change no
        file size.
        """
        return self._queue.disk_size

    @property
    def queue_id(self) -> str:
        """The queue's identity: 32 lowercase hex digits (128 random bits).

        Chosen when the queue was created and the same at every open; a
        queue removed and created again at the same path gets another, so
        (queue_id, item id) names an item across every queue and machine.
        A queue an earlier release created gets its identity at its first
        open by this one.
        """
        return self._queue.queue_id

    @property
    def last_background_error(self) -> str:
        """Empty, or the last failure of background work since the queue opened, and when (UTC).

        Background work reclaims the disk space of removed items (and, for
        an MPMC queue, deletes expired elements). A failure there (a full
        disk, say) is retried; each one is also written to the LOG file in
        the queue's directory, where ``rocksq stats`` finds it, and a write
        that fails after it names it in its error.
        """
        return self._queue.last_background_error


class QueueSizes(CoreFace):
    """queue.Queue's size queries, for the faces that claim its interface.

    For an ack queue "stored" counts every item: ready, handed out and failed.
    """

    __slots__ = ()

    def qsize(self) -> int:
        """The number of items stored."""
        return self._queue.len

    def __len__(self) -> int:
        return self._queue.len

    def len(self) -> int:
        """The number of items stored."""
        return self._queue.len

    def empty(self) -> bool:
        """True if no item is stored."""
        return self._queue.is_empty

    def full(self) -> bool:
        """True if the queue holds maxsize items."""
        queue = cast("FifoQueue | AckQueue", self._queue)  # No MPMC face has these sizes.
        return queue.len >= queue.max_elements


class StoredSizes(CoreFace):
    """rocksq 0.3.0's size properties, for its faces that return values directly.

    For an MPMC queue "stored" means alive: added and not yet expired.
    """

    __slots__ = ()

    @property
    def is_empty(self) -> bool:
        """True if no item is stored."""
        return self._queue.is_empty

    @property
    def len(self) -> int:
        """The number of items stored."""
        return self._queue.len
