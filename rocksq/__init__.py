"""RocksQ: persistent in-process queues of byte strings on RocksDB.

Faces over one C++ core, each holding one core queue: rocksq.Queue and
rocksq.aio.Queue (the interfaces of queue.Queue and asyncio.Queue),
rocksq.AckQueue and rocksq.aio.AckQueue (at-least-once delivery),
rocksq.PersistentQueueWithCapacity (the seed's API: one item per call), and
rocksq 0.3.0's API in rocksq.blocking and rocksq.nonblocking, with its
module functions here.
"""

from __future__ import annotations

from importlib import metadata
from typing import TYPE_CHECKING

from . import _cpu

# Before the extension loads: on a processor it cannot run on, an ImportError
# that says why rather than SIGILL at the first checksum.
_cpu.require_supported_processor()

from . import _core, _errors
from ._ack_face import AckQueue, Delivery
from ._core import StartPosition, build_info
from ._errors import *  # noqa: F403 - every exception, as _errors.__all__ lists them
from ._queue import Queue
from ._seed import PersistentQueueWithCapacity

if TYPE_CHECKING:
    import os

# The core's enum (rocksq::StartPosition, which checks and converts it),
# public here: named rocksq.StartPosition in pickles and in the docs.
StartPosition.__module__ = __name__

__all__ = [
    "AckQueue",
    "Delivery",
    "PersistentQueueWithCapacity",
    "Queue",
    "StartPosition",
    "build_info",
    "remove_ack_queue",
    "remove_mpmc_queue",
    "remove_queue",
    "version",
]
__all__ += _errors.__all__


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

    As remove_queue(); raises NotAQueueError if the path holds something
    else (a FIFO queue included).
    """
    _core.MpmcQueue.destroy(path)


def remove_ack_queue(path: str | os.PathLike[str]) -> None:
    """Deletes the ack queue (rocksq.AckQueue) stored in the directory `path`.

    As remove_queue(); raises NotAQueueError if the path holds something else.
    """
    _core.AckQueue.destroy(path)
