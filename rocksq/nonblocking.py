"""rocksq 0.3.0's nonblocking API: operations return responses to collect later.

`from rocksq.nonblocking import PersistentQueueWithCapacity, MpmcQueue` works
as it did in rocksq 0.3.0. Each operation is queued to a worker thread of the
queue's own (C++, no GIL) that runs them one at a time in submission order,
and returns a Response (an MpmcResponse) at once; `get()` waits for its
result, `try_get()` does not. At most `max_inflight_ops` operations wait unfinished: submitting
another waits until one finishes, as in 0.3.0.

close() (and leaving a `with` block) first runs every operation submitted
before it, so their responses hold their results, then closes the queue. An
operation submitted once close() began, including one still waiting for a
free slot, is not run: its response's get() raises QueueClosed.

Unlike 0.3.0, which returned an empty ResponseVariant for a failed operation
(a push to a full queue was silently dropped), get() and try_get() raise the
operation's error: QueueFull, StorageError, ...
"""

from __future__ import annotations

import operator
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar

from ._defaults import ATTACH, ATTACH_GROUP, MAX_ELEMENTS, MAX_INFLIGHT_OPS, SYNC
from ._fifo_face import FifoFace
from ._mpmc_face import MpmcFace

if TYPE_CHECKING:
    import os

    from typing_extensions import Buffer

    from ._core import StartPosition
    from collections.abc import Callable

    from ._core import FifoQueue as _CoreFifoQueue
    from ._core import MpmcQueue as _CoreMpmcQueue
    from ._core import PendingOperation

__all__ = [
    "MpmcQueue",
    "MpmcResponse",
    "MpmcResponseVariant",
    "PersistentQueueWithCapacity",
    "Response",
    "ResponseVariant",
]


class ResponseVariant:
    """The result of one operation: the attribute its kind fills, the others None.

    push: all None; pop: `data` (list of bytes); len: `len`; disk_size and
    payload_size: `size`.
    """

    __slots__ = ("_data", "_len", "_size")

    def __init__(
        self, data: list[bytes] | None = None, len: int | None = None, size: int | None = None
    ) -> None:
        self._data = data
        self._len = len
        self._size = size

    @property
    def data(self) -> list[bytes] | None:
        return self._data

    @property
    def len(self) -> int | None:
        return self._len

    @property
    def size(self) -> int | None:
        return self._size

    def __repr__(self) -> str:
        return f"ResponseVariant(data={self._data!r}, len={self._len!r}, size={self._size!r})"


class MpmcResponseVariant:
    """The result of one MPMC operation: the attribute its kind fills, the others None.

    add: all None; next: `data`, (elements, whether unread elements
    expired); labels: `labels`; remove_label: `removed_label`; len: `len`;
    disk_size and payload_size: `size`.
    """

    __slots__ = ("_data", "_labels", "_len", "_removed_label", "_size")

    def __init__(
        self,
        data: tuple[list[bytes], bool] | None = None,
        labels: list[str] | None = None,
        removed_label: bool | None = None,
        len: int | None = None,
        size: int | None = None,
    ) -> None:
        self._data = data
        self._labels = labels
        self._removed_label = removed_label
        self._len = len
        self._size = size

    @property
    def data(self) -> tuple[list[bytes], bool] | None:
        return self._data

    @property
    def labels(self) -> list[str] | None:
        return self._labels

    @property
    def removed_label(self) -> bool | None:
        return self._removed_label

    @property
    def len(self) -> int | None:
        return self._len

    @property
    def size(self) -> int | None:
        return self._size

    def __repr__(self) -> str:
        return (
            f"MpmcResponseVariant(data={self._data!r}, labels={self._labels!r}, "
            f"removed_label={self._removed_label!r}, len={self._len!r}, size={self._size!r})"
        )


Variant = TypeVar("Variant", ResponseVariant, MpmcResponseVariant)


class _Response(Generic[Variant]):
    """A submitted operation's result, to collect once with get() or try_get()."""

    __slots__ = ("_field", "_pending")
    _variant: type[Variant]  # What get() returns; set by each subclass.

    def __init__(self, pending: PendingOperation, field: str | None) -> None:
        self._pending = pending
        self._field = field  # The variant's attribute the result fills.

    @property
    def is_ready(self) -> bool:
        """True once the operation finished."""
        return self._pending.is_ready

    def try_get(self) -> Variant | None:
        """The result if the operation finished, else None, without waiting.

        Raises the operation's error; raises RuntimeError if the result was
        already collected.
        """
        ready, value = self._pending.take(False)
        return self._variant_of(value) if ready else None

    def get(self) -> Variant:
        """Waits for the operation to finish and returns its result.

        Releases the GIL while waiting; Ctrl-C interrupts it within 100 ms.
        Raises as try_get() does.
        """
        _, value = self._pending.take(True)
        return self._variant_of(value)

    def _variant_of(self, value: object) -> Variant:
        # Each variant takes its result as one keyword argument, `_field`.
        make: Callable[..., Variant] = self._variant
        return make(**{self._field: value}) if self._field else make()


class Response(_Response[ResponseVariant]):
    """A FIFO operation's result, to collect once with get() or try_get()."""

    __slots__ = ()
    _variant = ResponseVariant


class MpmcResponse(_Response[MpmcResponseVariant]):
    """An MPMC operation's result, to collect once with get() or try_get()."""

    __slots__ = ()
    _variant = MpmcResponseVariant


class _SubmitsSizes(Protocol):
    """What _SubmittedSizes needs of the face it is mixed into."""

    @property
    def _queue(self) -> _CoreFifoQueue | _CoreMpmcQueue: ...

    @property
    def _response(self) -> type[_Response[Any]]: ...


class _SubmittedSizes:
    """The size properties both nonblocking queues submit, answered in `_response`s.

    For an MPMC queue the items are the alive elements. Listed before the
    face that opens the queue, so that these replace the sizes every other
    face reads directly.
    """

    __slots__ = ()

    _response: ClassVar[type[_Response[Any]]]

    @property
    def inflight_ops(self: _SubmitsSizes) -> int:
        """Operations submitted and not finished."""
        return self._queue.inflight_ops

    @property
    def disk_size(self: _SubmitsSizes) -> Any:
        """Submits reading the size of the queue's files; the response's `size`."""
        return self._response(self._queue.submit_disk_size(), "size")

    @property
    def payload_size(self: _SubmitsSizes) -> Any:
        """Submits reading the stored items' total size; the response's `size`."""
        return self._response(self._queue.submit_payload_size(), "size")

    @property
    def len(self: _SubmitsSizes) -> Any:
        """Submits reading the number of items stored; the response's `len`."""
        return self._response(self._queue.submit_len(), "len")


def _inflight_limit(max_inflight_ops: int) -> int:
    """`max_inflight_ops` checked before the queue is opened, so that a wrong one creates nothing.

    Raises as the core's count options do (0.3.0's types), naming it.
    """
    try:
        limit = operator.index(max_inflight_ops)
    except TypeError as error:
        raise TypeError(f"max_inflight_ops: {error}") from None
    if not 0 <= limit < 2**64:
        raise OverflowError(f"max_inflight_ops must be between 0 and 2**64 - 1, got {limit}")
    return limit


class PersistentQueueWithCapacity(_SubmittedSizes, FifoFace):
    """A persistent FIFO queue whose operations run on a worker thread.

    The same queue as rocksq.blocking.PersistentQueueWithCapacity (the two
    can open the same directory, one at a time); each method returns a
    Response instead of the result.

    `attach=True`: if another process has the queue open, attach to it instead
    of raising QueueAlreadyOpen; a fork() child that inherits this object
    attaches too (docs: Processes and fork()).
    """

    __slots__ = ()
    _response = Response

    def __init__(
        self,
        path: str | os.PathLike[str],
        max_elements: int = MAX_ELEMENTS,
        max_inflight_ops: int = MAX_INFLIGHT_OPS,
        *,
        sync: bool = SYNC,
        attach: bool = ATTACH,
        attach_group: str | int | None = ATTACH_GROUP,
    ) -> None:
        limit = _inflight_limit(max_inflight_ops)
        super().__init__(path, max_elements, sync=sync, attach=attach, attach_group=attach_group)
        self._queue.start_worker(limit)

    def push(self, items: list[Buffer], no_gil: bool = True) -> Response:
        """Submits appending the items in order, all or nothing.

        The items' buffers stay pinned (a bytearray cannot be resized) until
        the operation finished. `no_gil` is accepted for 0.3.0 code: the
        worker never holds the GIL.
        """
        return Response(self._queue.submit_push_many(items), None)

    def pop(self, max_elements: int = 1, no_gil: bool = True) -> Response:
        """Submits removing up to `max_elements` items; the response's `data`."""
        return Response(self._queue.submit_pop(max_elements), "data")


class MpmcQueue(_SubmittedSizes, MpmcFace):
    """A persistent MPMC queue whose operations run on a worker thread.

    The same queue as rocksq.blocking.MpmcQueue (the two can open the same
    directory, one at a time); each method returns an MpmcResponse instead
    of the result. A label or start_position of the wrong type raises
    TypeError at once; the core's errors are raised by the response's get().
    """

    __slots__ = ()
    _response = MpmcResponse

    def __init__(
        self,
        path: str | os.PathLike[str],
        ttl: int,
        max_inflight_ops: int = MAX_INFLIGHT_OPS,
        *,
        sync: bool = SYNC,
        attach: bool = ATTACH,
        attach_group: str | int | None = ATTACH_GROUP,
    ) -> None:
        limit = _inflight_limit(max_inflight_ops)
        super().__init__(path, ttl, sync=sync, attach=attach, attach_group=attach_group)
        self._queue.start_worker(limit)

    def add(self, items: list[Buffer], no_gil: bool = True) -> MpmcResponse:
        """Submits appending the items in order, all or nothing.

        The items' buffers stay pinned until the operation finished. `no_gil`
        is accepted for 0.3.0 code: the worker never holds the GIL.
        """
        return MpmcResponse(self._queue.submit_add(items), None)

    def next(
        self,
        label: str,
        start_position: StartPosition,
        max_elements: int = 1,
        no_gil: bool = True,
    ) -> MpmcResponse:
        """Submits reading up to `max_elements` elements `label` has not read.

        The response's `data` is (elements, whether unread elements expired),
        as rocksq.blocking.MpmcQueue.next() returns it.
        """
        return MpmcResponse(self._queue.submit_next(label, start_position, max_elements), "data")

    def remove_label(self, label: str, no_gil: bool = True) -> MpmcResponse:
        """Submits deleting the label; the response's `removed_label`."""
        return MpmcResponse(self._queue.submit_remove_label(label), "removed_label")

    @property
    def labels(self) -> MpmcResponse:
        """Submits reading the labels, sorted; the response's `labels`."""
        return MpmcResponse(self._queue.submit_labels(), "labels")
