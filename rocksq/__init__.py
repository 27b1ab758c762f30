"""RocksQ: persistent in-process queues of byte strings on RocksDB.

Two faces over one C++ core: `rocksq.PersistentQueueWithCapacity` (the
seed's API: one item per call) and `rocksq.blocking.PersistentQueueWithCapacity`
(rocksq 0.3.0's API: lists of items), plus rocksq 0.3.0's module functions.
"""

from __future__ import annotations

from importlib import metadata
from typing import TYPE_CHECKING

from . import _core
from ._ack_face import AckQueue, Delivery
from ._core import StartPosition
from ._errors import (
    CorruptionError,
    Empty,
    Full,
    ForkedProcessError,
    NotAQueueError,
    NotOutstanding,
    QueueAlreadyOpen,
    QueueClosed,
    QueueFull,
    RecoveryWarning,
    RocksQError,
    ShutDown,
    StorageError,
)
from ._queue import Queue
from ._seed import PersistentQueueWithCapacity

if TYPE_CHECKING:
    import os

# The core's enum (rocksq::StartPosition, which checks and converts it),
# public here: named rocksq.StartPosition in pickles and in the docs.
StartPosition.__module__ = __name__

__all__ = [
    "AckQueue",
    "CorruptionError",
    "Delivery",
    "Empty",
    "Full",
    "ForkedProcessError",
    "NotAQueueError",
    "NotOutstanding",
    "PersistentQueueWithCapacity",
    "Queue",
    "QueueAlreadyOpen",
    "QueueClosed",
    "QueueFull",
    "RecoveryWarning",
    "RocksQError",
    "ShutDown",
    "StartPosition",
    "StorageError",
    "remove_ack_queue",
    "remove_mpmc_queue",
    "remove_queue",
    "version",
]


def version() -> str:
    """The installed rocksq version, e.g. "0.4.0" (rocksq 0.3.0's spelling)."""
    try:
        return metadata.version(__name__)
    except metadata.PackageNotFoundError:
        # A copy without its distribution's metadata (vendored, frozen by
        # PyInstaller): the version the extension was built as, from the one
        # declaration CMake and the distribution share. (Not in the stub.)
        built: str = getattr(_core, "__version__")  # noqa: B009
        return built


__version__: str = version()


def remove_queue(path: str | os.PathLike[str]) -> None:
    """Deletes the FIFO queue stored in the directory `path`.

    Only the queue's own files go (RocksDB's and the rocksq.* files), then
    the directory if that leaves it empty; other files stay. Does nothing if
    the path does not exist. Raises QueueAlreadyOpen if a
    queue object, in this process or another, has it open.
    """
    _core.FifoQueue.destroy(path)


def remove_mpmc_queue(path: str | os.PathLike[str]) -> None:
    """Deletes the MPMC queue (rocksq.blocking.MpmcQueue) stored in the directory `path`.

    Only the queue's own files go (RocksDB's and the rocksq.* files), then
    the directory if that leaves it empty; other files stay. Does nothing if
    the path does not exist. Raises QueueAlreadyOpen if a
    queue object, in this process or another, has it open, and NotAQueueError
    if the path holds something else (a FIFO queue included).
    """
    _core.MpmcQueue.destroy(path)


def remove_ack_queue(path: str | os.PathLike[str]) -> None:
    """Deletes the ack queue (rocksq.AckQueue) stored in the directory `path`.

    Only the queue's own files go (RocksDB's and the rocksq.* files), then
    the directory if that leaves it empty; other files stay. Does nothing if
    the path does not exist. Raises QueueAlreadyOpen if a
    queue object, in this process or another, has it open, and NotAQueueError
    if the path holds something else.
    """
    _core.AckQueue.destroy(path)
