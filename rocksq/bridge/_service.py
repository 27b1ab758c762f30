"""What the Forwarder and the Puller share: a thread or an asyncio task, stopping, backoff."""

from __future__ import annotations

import abc
import asyncio
import threading
import time
from typing import TYPE_CHECKING, Any, Optional

from .._ack_face import AckQueue
from .._face import checked_timeout

if TYPE_CHECKING:
    from types import TracebackType

    from typing_extensions import Self

__all__ = ["Backoff", "Service"]

RETRY_INITIAL = 0.1
"""Seconds to wait after the first failure in a row before trying again."""

RETRY_MAX = 5.0
"""The longest wait between two attempts; each failure in a row doubles the wait up to it."""

POLL_INTERVAL = 0.1
"""How often waits that depend on another thread look again, at least (seconds)."""


class Backoff:
    """Waits that double after each failure in a row, from `initial` up to `maximum`."""

    def __init__(self, initial: float, maximum: float) -> None:
        if not 0 < initial <= maximum:
            raise ValueError(
                f"retry_initial must be positive and at most retry_max: {initial}, {maximum}"
            )
        self._initial = initial
        self._maximum = maximum
        self._next = initial

    def next_wait(self) -> float:
        """The wait after one more failure in a row."""
        wait, self._next = self._next, min(self._next * 2, self._maximum)
        return wait

    def reset(self) -> None:
        """A success ends the run of failures."""
        self._next = self._initial


def open_queue(queue: Any) -> AckQueue:
    """`queue` itself if it is an AckQueue; checks the type, for a clear error."""
    if not isinstance(queue, AckQueue):
        raise TypeError(
            f"expected a rocksq.AckQueue, got {type(queue).__name__} "
            "(open one with rocksq.AckQueue(path))"
        )
    return queue


class Service(abc.ABC):
    """Runs serve() in its own thread (start/stop, a context manager) or as run() in a loop.

    request_stop() asks serve() to finish what it is doing and return; it
    may be called from any thread, before or while the service runs.
    """

    def __init__(self, retry_initial: float, retry_max: float) -> None:
        self._backoff = Backoff(retry_initial, retry_max)
        self._stop_requested = threading.Event()
        self._stop_event: Optional[asyncio.Event] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._thread: Optional[threading.Thread] = None
        self._failure: Optional[BaseException] = None
        self._running = False
        self._changed = threading.Condition()
        self.last_error: Optional[str] = None
        self.retries = 0

    @abc.abstractmethod
    async def serve(self) -> None:
        """The work, until stopping() is true."""

    async def run(self) -> None:
        """Runs in the calling asyncio loop until cancelled or asked to stop."""
        if self._running:
            raise RuntimeError(f"this {type(self).__name__} is already running")
        self._running = True
        self._loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        if self._stop_requested.is_set():
            self._stop_event.set()
        try:
            await self.serve()
        except BaseException as error:
            self._failure = error
            raise
        finally:
            self._running = False
            self._loop = None
            self.notify()

    def start(self) -> None:
        """Runs in a new thread (with its own event loop) until stop()."""
        if self._thread is not None:
            raise RuntimeError(f"this {type(self).__name__} was started already")
        self._thread = threading.Thread(
            target=self._thread_main, name=f"rocksq-{type(self).__name__.lower()}", daemon=True
        )
        self._thread.start()

    def _thread_main(self) -> None:
        try:
            asyncio.run(self.run())
        except BaseException:  # Kept in _failure, raised by stop().
            pass

    def request_stop(self) -> None:
        """Asks the service to stop, from any thread; returns at once."""
        self._stop_requested.set()
        loop, event = self._loop, self._stop_event
        if loop is not None and event is not None:
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # The loop closed meanwhile: it stopped anyway.
                pass

    def stop(self, timeout: Optional[float] = None) -> bool:
        """Asks the service to stop and waits up to `timeout` seconds (None: for ever).

        Returns True once it stopped. Raises what stopped it if it failed.
        """
        self.request_stop()
        if self._thread is not None:
            self._thread.join(checked_timeout(timeout))
            if self._thread.is_alive():
                return False
        if self._failure is not None and not isinstance(self._failure, asyncio.CancelledError):
            raise self._failure
        return True

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        self.stop()

    def stopping(self) -> bool:
        """True once a stop was asked for."""
        return self._stop_requested.is_set()

    async def pause(self, seconds: float) -> None:
        """Sleeps `seconds`, or less if a stop is asked for meanwhile."""
        assert self._stop_event is not None
        try:
            await asyncio.wait_for(self._stop_event.wait(), seconds)
        except asyncio.TimeoutError:
            pass

    async def back_off(self, error: BaseException, what: str) -> None:
        """Records a failure of `what` and waits before the next attempt."""
        self.record_error(f"{what}: {error}")
        await self.pause(self._backoff.next_wait())

    def record_error(self, text: str) -> None:
        self.retries += 1
        self.last_error = text
        self.notify()

    def notify(self) -> None:
        """Wakes the threads waiting in wait_for()."""
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, condition: Any, timeout: Optional[float]) -> bool:
        """Waits until `condition()` is true (True) or `timeout` passed (False).

        Raises what stopped the service if it failed while waiting.
        """
        timeout = checked_timeout(timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            while True:
                if self._failure is not None and not isinstance(
                    self._failure, asyncio.CancelledError
                ):
                    raise self._failure
                if condition():
                    return True
                remaining = POLL_INTERVAL if deadline is None else deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(min(remaining, POLL_INTERVAL))
