"""What the faces of the MPMC queue share: each owns one core MPMC queue."""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

from ._core import MpmcQueue
from ._face import CoreFace

if TYPE_CHECKING:
    import os


class StartPosition(enum.IntEnum):
    """Where a new reader of a multi-consumer queue starts (rocksq 0.3.0)."""

    # Public as rocksq.StartPosition: named so in pickles and in the docs.
    __module__ = "rocksq"

    Oldest = 0
    Newest = 1

    # 'StartPosition.Newest', as rocksq 0.3.0 printed it; IntEnum prints
    # the number from Python 3.11 on.
    __str__ = enum.Enum.__str__


def start_position_value(start_position: StartPosition, function: str) -> int:
    """The core's number for `start_position`; TypeError (naming `function`) if it is not one.

    rocksq 0.3.0 accepted only StartPosition members, not plain ints.
    """
    if not isinstance(start_position, StartPosition):
        raise TypeError(
            f"{function}(): start_position must be rocksq.StartPosition.Oldest or "
            f".Newest, not {type(start_position).__name__}"
        )
    return int(start_position)


class MpmcFace(CoreFace):
    """Opens the core MPMC queue in `path`; subclasses add the API."""

    __slots__ = ()

    _queue: MpmcQueue

    def __init__(self, path: str | os.PathLike[str], ttl: int, *, sync: bool = False) -> None:
        self._open(MpmcQueue(path, ttl, sync), path)
