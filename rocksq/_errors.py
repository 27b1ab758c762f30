"""The exceptions RocksQ raises.

Each kind of failure the C++ core reports (rocksq::ErrorKind) has one class
here; the extension module maps them in one place (cpp/python/errors.cc).
An invalid argument raises the builtin ValueError instead. Messages read
"KIND: PATH: DETAIL", e.g. "Queue is full: /data/q: 3 of 3 items stored,
cannot add 1".
"""

from __future__ import annotations

import os
import queue
import sys
import warnings
from types import FrameType
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from ._core import AckQueue, FifoQueue, MpmcQueue

__all__ = [
    "Empty",
    "Full",
    "CorruptionError",
    "ForkedProcessError",
    "NotAQueueError",
    "NotOutstanding",
    "QueueAlreadyOpen",
    "QueueClosed",
    "QueueFull",
    "RecoveryWarning",
    "RocksQError",
    "ShutDown",
    "StorageError",
    "UnsupportedFormatError",
]


class RocksQError(RuntimeError):
    """Base class of the errors a queue raises.

    It derives from RuntimeError because rocksq 0.3.0 raised RuntimeError for
    every queue failure, so `except RuntimeError` keeps working.
    """


class QueueFull(RocksQError, queue.Full):
    """Raised by a push that would exceed the queue's max_elements.

    Nothing of that push was stored; a pop makes room. It is also a
    queue.Full, which rocksq.Queue's put() raises when it gives up waiting.
    """


Full = QueueFull


class Empty(RocksQError, queue.Empty):
    """Raised by rocksq.Queue's get() when no item came in time.

    A subclass of queue.Empty, so code written for queue.Queue catches it.
    """


class StorageError(RocksQError):
    """Raised by any call when RocksDB or the filesystem refuses a read or a write."""


class CorruptionError(RocksQError):
    """Raised by opening a queue, or by a pop, when its files are damaged."""


class QueueAlreadyOpen(RocksQError):
    """Raised by opening or removing a queue that is open.

    The message says whether this process, another one, or the process this
    one was forked from holds it; a second path to an open queue's directory
    (a symlink, a bind mount) counts as the same queue. In this process,
    share the open queue object between threads instead.
    """


class NotAQueueError(RocksQError):
    """Raised by opening or removing a path that holds something other than a RocksQ queue."""


class UnsupportedFormatError(RocksQError):
    """Raised by opening or inspecting a queue stored in a newer on-disk format than this version reads.

    A newer RocksQ wrote it; nothing of it was written or changed. Open it
    with that release or a later one (docs/format.rst: "Format version").
    """


class QueueClosed(RocksQError):
    """Raised by any call on a queue after its close()."""


class NotOutstanding(RocksQError, KeyError):
    """Raised by an ack queue's ack(), nack() or ack_failed() of a delivery not outstanding.

    The delivery was already settled, or expired (its visibility timeout
    passed: the item is ready again, or handed out again by a later delivery,
    which alone settles it now), or was handed out before the queue was
    reopened or by another queue; or a batch lists an item twice. Nothing
    was changed. It is also a KeyError, as a lookup of an unknown key is;
    its message reads as other RocksQ errors do.
    """

    __str__ = RuntimeError.__str__


class ForkedProcessError(RocksQError):
    """Raised by any call on a queue in a child that fork() created after the queue was opened.

    A queue belongs to the process that opened it: the child has a copy of
    the object but none of its threads, and two processes writing one
    queue would damage it. Nothing was read or written. A FIFO queue opened
    with attach=True serves the child instead (it attaches to the owner).
    Otherwise open the queue in the child after the fork, or start workers
    with multiprocessing's "spawn" or "forkserver" method. In the child,
    close() and garbage collection leave the parent's queue untouched.
    """


class RecoveryWarning(UserWarning):
    """Opening a queue found its write-ahead log damaged before its end.

    Recovery kept the records before the damage and dropped the rest: they
    are lost, and nothing can bring them back, but the queue works on. A crash
    only ever cuts a log's tail short (or, after a power loss, leaves garbage
    in its last unsynced records), which drops no intact record and gives no
    warning. The loss is noted in the queue for good: ``rocksq
    check`` and ``rocksq stats`` report it (docs/cli.rst).

    An ack queue also warns when its ack log is damaged before its end: the
    acks after the damage are lost, so their items are delivered again.
    """


def warn_if_recovery_dropped(
    queue: FifoQueue | MpmcQueue | AckQueue, path: str | os.PathLike[str]
) -> None:
    """Warns with RecoveryWarning, from the caller's line, if opening `queue` dropped records."""
    message = queue.recovery_warning
    if not message:
        return
    package = os.path.dirname(__file__) + os.sep
    level = 2  # The caller of this function.
    frame: Optional[FrameType] = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(package):
        level, frame = level + 1, frame.f_back
    try:
        warnings.warn(RecoveryWarning(f"{os.fsdecode(path)}: {message}"), stacklevel=level)
    except BaseException:
        # Warnings turned into errors: the open fails, so let go of the queue now.
        queue.close()
        raise


if sys.version_info >= (3, 13):
    from queue import ShutDown as _StdlibShutDown
else:  # queue.ShutDown is new in Python 3.13.
    _StdlibShutDown = Exception


class ShutDown(RocksQError, _StdlibShutDown):
    """Raised by a put after shutdown(), and by a get once the queue is empty (at once if immediate).

    From Python 3.13 on it is also a queue.ShutDown. A shutdown belongs to
    the open queue object: the items stay stored, and the next open of the
    path starts a queue that is not shut down.
    """
