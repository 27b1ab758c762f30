"""rocksq.AckQueue: a persistent queue with at-least-once delivery."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from ._core import AckQueue as _CoreAckQueue
from ._defaults import ATTACH, ATTACH_GROUP, DEDUP_WINDOW, MAX_ELEMENTS, SYNC, VISIBILITY_TIMEOUT
from ._errors import Empty
from ._face import QueueSizes, checked_timeout, item_batch

if TYPE_CHECKING:
    import os
    from collections.abc import Iterable, Sequence

    from typing_extensions import Buffer

__all__ = ["AckQueue", "Delivery"]


class Delivery(NamedTuple):
    """An item handed out by an ack queue's get(): pass it to ack, nack or ack_failed.

    `id` is the item's, for as long as it is stored; `attempt` is 1 on its
    first delivery since the queue was opened, 2 after a nack or an expired
    visibility timeout, and so on. `receipt` names this one hand-out: only
    the item's latest delivery settles it, so one whose visibility timeout
    expired, already settled, handed out before a reopen or by another queue
    raises NotOutstanding.
    """

    id: int
    data: bytes
    attempt: int
    receipt: int


_make_delivery = Delivery._make


class AckFace(QueueSizes):
    """What both faces of the ack queue share: opening, settling, failed items and counts.

    Its sizes count every item stored: ready + unacked + failed_count.

    `attach=True`: if another process has the queue open, attach to it
    instead of raising QueueAlreadyOpen; every call then goes to that
    process, which keeps the deliveries' leases (see docs/multiprocessing.rst).

    `attach_group` (a group name or gid): while this object owns the queue,
    the members of that group may attach too (docs/multiprocessing.rst).
    """

    __slots__ = ()

    _queue: _CoreAckQueue

    def __init__(
        self,
        path: str | os.PathLike[str],
        max_elements: int = MAX_ELEMENTS,
        *,
        sync: bool = SYNC,
        visibility_timeout: float = VISIBILITY_TIMEOUT,
        dedup_window: int = DEDUP_WINDOW,
        attach: bool = ATTACH,
        attach_group: str | int | None = ATTACH_GROUP,
    ) -> None:
        self._open(
            _CoreAckQueue(path, max_elements, sync, visibility_timeout, dedup_window, attach, attach_group),
            path,
        )

    def put_nowait(self, item: Buffer) -> None:
        """Appends `item` if there is room at once; else raises QueueFull (a queue.Full)."""
        self._queue.push(item)

    def put_unique_nowait(self, key: bytes | str, item: Buffer) -> bool:
        """As put_unique(), without waiting: raises QueueFull if a new item does not fit at once."""
        return self._queue.push_unique(key, item)

    def extend(self, delivery: Delivery, visibility_timeout: float | None = None) -> None:
        """Keeps the item `delivery` handed out for `visibility_timeout` seconds from now.

        The same delivery keeps the item (ack, nack and ack_failed of it
        still work) until then instead of its old deadline, sooner or later.
        None means the queue's visibility_timeout, 0 until it is settled or
        the queue closes; in a queue whose visibility_timeout is 0 it only
        checks. Raises NotOutstanding (a KeyError), changing nothing, as
        ack() does. Nothing is written: after a reopen every unsettled item
        is ready again, extended or not.
        """
        self._queue.extend(delivery, visibility_timeout)

    def extend_many(
        self, deliveries: Iterable[Delivery], visibility_timeout: float | None = None
    ) -> None:
        """Extends every delivery or, if one is not outstanding (NotOutstanding), none."""
        self._queue.extend_many(deliveries, visibility_timeout)

    def ack(self, delivery: Delivery) -> None:
        """Removes the item `delivery` handed out, for good.

        The ack is on disk (in the queue's ack log; fsynced with sync=True)
        before this returns. Raises NotOutstanding (a KeyError), changing
        nothing, if the delivery no longer holds the item: already settled,
        expired (even if the item was handed out again since), handed out
        before a reopen or by another queue. Raises StorageError if the
        write fails (the item stays handed out) or, with sync=True, if the
        fsync fails (the ack took effect; whether it would survive a power
        loss is unknown). A bare id raises TypeError.
        """
        self._queue.ack(delivery)

    def ack_many(self, deliveries: Iterable[Delivery]) -> None:
        """Acks every delivery or, if one is not outstanding or an item is listed twice, none."""
        self._queue.ack_many(deliveries)

    def nack(self, delivery: Delivery) -> None:
        """Puts the item `delivery` handed out back at the head of the queue, to go out again."""
        self._queue.nack(delivery)

    def nack_many(self, deliveries: Iterable[Delivery]) -> None:
        """Nacks every delivery or, if one is not outstanding (NotOutstanding), none."""
        self._queue.nack_many(deliveries)

    def ack_failed(self, delivery: Delivery) -> None:
        """Sets the item `delivery` handed out aside among the failed ones (see failed())."""
        self._queue.ack_failed(delivery)

    def ack_failed_many(self, deliveries: Iterable[Delivery]) -> None:
        """Fails every delivery or, if one is not outstanding (NotOutstanding), none."""
        self._queue.ack_failed_many(deliveries)

    def failed(self, max_items: int | None = None) -> list[tuple[int, bytes]]:
        """The failed items as (id, data), smallest id first; at most `max_items` (None: all)."""
        return self._queue.failed(max_items)

    def requeue_failed(self, ids: Iterable[int] | None = None) -> int:
        """Makes the failed items `ids` (None: all) ready again, at the tail, with new ids.

        Ids that are not failed are skipped; returns how many were requeued.
        """
        return self._queue.requeue_failed(None if ids is None else list(ids))

    @property
    def ready(self) -> int:
        """Items ready to be handed out."""
        return self._queue.ready

    @property
    def unacked(self) -> int:
        """Items handed out and neither acked, nacked, failed nor expired."""
        return self._queue.unacked

    @property
    def failed_count(self) -> int:
        """Items set aside by ack_failed()."""
        return self._queue.failed_count

    @property
    def maxsize(self) -> int:
        """The most items the queue holds (ready, unacked and failed together)."""
        return self._queue.max_elements

    @property
    def dedup_window(self) -> int:
        """How many keys of put_unique() the queue remembers: the newest this many."""
        return self._queue.dedup_window

    @property
    def visibility_timeout(self) -> float:
        """Seconds a handed-out item stays handed out before it is delivered again; 0: for ever."""
        return self._queue.visibility_timeout


class AckQueue(AckFace):
    """A persistent queue with at-least-once delivery, for threads.

    Items are bytes-like objects kept on disk in the directory `path`. get()
    hands out the oldest ready item as a Delivery (id, data, attempt,
    receipt) without removing it; ack() of the delivery removes the item for
    good, nack() puts it back at the head, ack_failed() sets it aside
    (failed(), requeue_failed()). An item neither acked, nacked nor failed
    within `visibility_timeout` seconds (0: never) is delivered again, and
    only that new delivery settles it; so is every unsettled item after the
    process ends, at the next open. `max_elements` bounds every stored
    item, failed ones included; only ack() makes room.

    put() and get() block as queue.Queue's do: with block=True and
    timeout=None until they can go on, with a timeout for at most that many
    seconds (then Full or Empty), with block=False not at all. A waiting
    get() also wakes when a handed-out item expires. Waits release the GIL
    and let Ctrl-C through within 100 ms. One object may be shared by any
    threads.
    """

    __slots__ = ()

    def put(
        self, item: Buffer, block: bool = True, timeout: float | None = None
    ) -> None:
        """Appends `item`, waiting for room if the queue is full; raises Full if none came."""
        if block:
            timeout = checked_timeout(timeout)
            self._queue.push_wait(item, timeout)
        else:
            self._queue.push(item)

    def put_many(
        self, items: Sequence[Buffer], block: bool = True, timeout: float | None = None
    ) -> None:
        """Appends all of `items` in order, all or nothing, waiting for room for all."""
        if block:
            timeout = checked_timeout(timeout)
            self._queue.push_many_wait(item_batch(items), timeout)
        else:
            self._queue.push_many(item_batch(items))

    def put_unique(
        self, key: bytes | str, item: Buffer, block: bool = True, timeout: float | None = None
    ) -> bool:
        """Appends `item` unless `key` was put before; returns whether it did.

        For a producer that may repeat a put it cannot tell succeeded (a
        crash, a lost reply): the key check and the put are one atomic
        write (fsynced with sync=True). The queue remembers the newest
        `dedup_window` keys, across reopens and whether or not their items
        were acked; an older key is new again. A str key is its UTF-8
        bytes. Waits for room as put() does, only if the item is new.
        """
        if block:
            return self._queue.push_unique_wait(key, item, checked_timeout(timeout))
        return self._queue.push_unique(key, item)

    def put_many_unique(
        self,
        pairs: Iterable[tuple[bytes | str, Buffer]],
        block: bool = True,
        timeout: float | None = None,
    ) -> list[bool]:
        """Appends, in order and all or nothing, the items of (key, item) `pairs` with new keys.

        Returns whether each pair's item was stored; a key listed twice
        stores its first item only. Waits for room for the new items as
        put_many() does, except that more pairs than maxsize never wait.
        """
        if block:
            return self._queue.push_many_unique_wait(pairs, checked_timeout(timeout))
        return self._queue.push_many_unique(pairs)

    def get(self, block: bool = True, timeout: float | None = None) -> Delivery:
        """Hands out the oldest ready item, waiting for one if none is ready.

        Raises Empty if there is none when block is False, or none came
        within `timeout` seconds.
        """
        if block:
            return self.get_many(1, block, timeout)[0]
        return self.get_nowait()

    def get_nowait(self) -> Delivery:
        """Hands out the oldest ready item if there is one; else raises Empty."""
        got = self._queue.get_one()
        if got is None:
            raise Empty(f"No item is ready: {self._queue.path}")
        return _make_delivery(got)

    def get_many(
        self, max_items: int, block: bool = True, timeout: float | None = None
    ) -> list[Delivery]:
        """Hands out up to `max_items` ready items, oldest first.

        Waits as get() does for the first item, not for more; raises Empty if
        none came (max_items 0 returns []).
        """
        if block:
            timeout = checked_timeout(timeout)
            got = self._queue.get_wait(max_items, timeout)
        else:
            got = self._queue.get(max_items)
        if not got and max_items != 0:
            raise Empty(f"No item is ready: {self._queue.path}")
        return [Delivery._make(entry) for entry in got]
