"""What the faces of the MPMC queue share: each owns one core MPMC queue."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._core import MpmcQueue
from ._defaults import ATTACH, ATTACH_GROUP, SYNC
from ._face import CoreFace

if TYPE_CHECKING:
    import os


class MpmcFace(CoreFace):
    """Opens the core MPMC queue in `path`; subclasses add the API.

    `attach=True`: if another process has the queue open, attach to it
    instead of raising QueueAlreadyOpen; every call then goes to that
    process, whose labels are shared by every process (see
    docs/multiprocessing.rst).

    `attach_group` (a group name or gid): while this object owns the queue,
    the members of that group may attach too (docs/multiprocessing.rst).
    """

    __slots__ = ()

    _queue: MpmcQueue

    def __init__(
        self,
        path: str | os.PathLike[str],
        ttl: int,
        *,
        sync: bool = SYNC,
        attach: bool = ATTACH,
        attach_group: str | int | None = ATTACH_GROUP,
    ) -> None:
        self._open(MpmcQueue(path, ttl, sync, attach, attach_group), path)
