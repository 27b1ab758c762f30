"""What every Python face shares: it owns exactly one core queue object."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from types import TracebackType

    from typing_extensions import Self


class CoreFace:
    """Holds the core queue in `_queue`; closes it on close() and on leaving a with block."""

    __slots__ = ("_queue",)

    _queue: Any

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
