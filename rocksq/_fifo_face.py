"""What every face of the FIFO queue shares: it owns one core queue."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._core import FifoQueue

if TYPE_CHECKING:
    import os
    from types import TracebackType

    from typing_extensions import Self


class FifoFace:
    """Opens the core queue in `path` and closes it; subclasses add the API."""

    __slots__ = ("_queue",)

    def __init__(
        self,
        path: str | os.PathLike[str],
        max_elements: int = 1_000_000_000,
        *,
        sync: bool = False,
    ) -> None:
        self._queue = FifoQueue(path, max_elements, sync)

    def close(self) -> None:
        """Flushes and closes the queue; later calls raise QueueClosed."""
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
