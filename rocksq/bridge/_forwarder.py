"""The Forwarder: drains a local AckQueue into a broker, at least once, deduplicated."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import TYPE_CHECKING, Any, Optional, Union

from .._errors import Empty, NotOutstanding
from ._endpoint import Auth, open_sink
from ._interface import BrokerError, Confirmed, Message, Refused, Sink
from ._service import POLL_INTERVAL, RETRY_INITIAL, RETRY_MAX, Service, open_queue

if TYPE_CHECKING:
    from collections.abc import Awaitable, Sequence

    import rocksq
    from rocksq import Delivery
    from ._interface import Outcome

__all__ = ["ForwardStats", "Forwarder"]

BATCH_SIZE = 256
"""Items taken from the local queue and sent to the broker as one batch."""

MAX_IN_FLIGHT = 8
"""Batches sent and not yet confirmed, at most."""

MAX_IN_FLIGHT_BYTES = 16 << 20
"""Payload bytes sent and not yet confirmed, at most (give or take one batch's spread of
item sizes): what bounds a Forwarder's memory when items are large."""


@dataclasses.dataclass(frozen=True)
class ForwardStats:
    """A Forwarder's counters, since it was made."""

    forwarded: int
    """Items the broker confirmed and the local queue then acked (duplicates included)."""
    duplicates: int
    """Of those, the ones the broker had already (sent before, confirmation lost)."""
    refused: int
    """Items the broker refused for good, set aside among the local queue's failed items."""
    pending: int
    """Items in the local queue not yet confirmed: ready or handed out (in flight included)."""
    in_flight: int
    """Items sent and not yet confirmed."""
    retries: int
    """Failed attempts: connections, and batches not (entirely) confirmed."""
    last_error: Optional[str]
    """What the last failed attempt said; None if none failed."""
    connected: bool
    """Whether the last attempt to reach the broker succeeded."""


class Forwarder(Service):
    """Forwards the items of a local rocksq.AckQueue to a JetStream stream or a Redis stream.

    `url` is nats://HOST:PORT/SUBJECT (tls://...) or redis://HOST:PORT/STREAM
    (rediss://...), see rocksq.bridge, or a Sink. Each message's payload is
    the item's bytes, unchanged. An item is acked in the local queue only
    after the broker confirmed it, so it is never lost; it carries the dedup
    id "{queue.queue_id}-{item id}", so a resend after a lost confirmation
    or a crash is stored once where the broker deduplicates (see
    docs/forwarding.rst for exactly when).

    Items go out in batches of up to `batch_size`, with up to
    `max_in_flight` batches and about `max_in_flight_bytes` of payload
    unconfirmed at once, in the local queue's order. A batch not entirely confirmed is released (nacked) at once and
    sent again after a backoff (`retry_initial` seconds, doubling up to
    `retry_max`), so while the broker is away nothing is held: the local
    queue keeps buffering. Deliveries in flight are extended while they wait
    for a confirmation, so an ack never meets an expired delivery. An item
    the broker refuses for good (too large for the stream) is set aside with
    ack_failed (queue.failed()); create_stream names a JetStream stream to
    create if none binds the subject. `auth`: credentials and TLS files
    (None: from the environment, see Auth).

    start() runs it in a thread, stop() stops it (also a context manager);
    `await run()` runs it in the caller's loop. Stopping sends nothing new,
    waits for the batches in flight and settles them: afterwards the queue
    holds no delivery of the Forwarder's.
    """

    def __init__(
        self,
        queue: rocksq.AckQueue,
        url: Union[str, Sink],
        *,
        batch_size: int = BATCH_SIZE,
        max_in_flight: int = MAX_IN_FLIGHT,
        max_in_flight_bytes: int = MAX_IN_FLIGHT_BYTES,
        create_stream: Optional[str] = None,
        retry_initial: float = RETRY_INITIAL,
        retry_max: float = RETRY_MAX,
        auth: Optional[Auth] = None,
    ) -> None:
        super().__init__(retry_initial, retry_max)
        if batch_size < 1 or max_in_flight < 1 or max_in_flight_bytes < 1:
            raise ValueError(
                "batch_size, max_in_flight and max_in_flight_bytes must be at least 1: "
                f"{batch_size}, {max_in_flight}, {max_in_flight_bytes}"
            )
        self._queue = open_queue(queue)
        self._sink = url if isinstance(url, Sink) else open_sink(url, auth, create_stream=create_stream)
        self._batch_size = batch_size
        self._max_in_flight = max_in_flight
        self._max_in_flight_bytes = max_in_flight_bytes
        self._queue_id: str = self._queue.queue_id
        self._in_flight: dict[asyncio.Future[list[Outcome]], list[Delivery]] = {}
        self._in_flight_items = 0
        self._in_flight_bytes = 0
        # The size of the items last taken: how many the next batch may take
        # within max_in_flight_bytes (None until a first batch of one item).
        self._item_bytes: Optional[float] = None
        self._forwarded = 0
        self._duplicates = 0
        self._refused = 0
        self._connected = False

    @property
    def queue(self) -> rocksq.AckQueue:
        """The local queue this forwards from."""
        return self._queue

    def describe(self) -> str:
        """Where the items go."""
        return self._sink.describe()

    def stats(self) -> ForwardStats:
        """The counters now (safe from any thread)."""
        return ForwardStats(
            forwarded=self._forwarded,
            duplicates=self._duplicates,
            refused=self._refused,
            pending=self._queue.ready + self._queue.unacked,
            in_flight=self._in_flight_items,
            retries=self.retries,
            last_error=self.last_error,
            connected=self._connected,
        )

    def drained(self) -> bool:
        """True if the local queue holds no item that waits to be confirmed."""
        return self._queue.ready == 0 and self._queue.unacked == 0 and not self._in_flight_items

    def wait_until_drained(self, timeout: Optional[float] = None) -> bool:
        """Waits until the local queue is empty and every item confirmed (True), up to `timeout`.

        Items refused for good are not waited for (they are failed items).
        Raises what stopped the Forwarder if it failed.
        """
        return self.wait_for(self.drained, timeout)

    async def serve(self) -> None:
        try:
            while not self.stopping():
                if not self._connected:
                    try:
                        await self._sink.open()
                    except Exception as error:
                        await self.back_off(error, "connecting")
                        continue
                    self._connected = True
                    self.notify()
                if not await self._forward_until_failure():
                    self._connected = False
                    # A failure leaves the connection in doubt: open() checks it.
                    await self.pause(self._backoff.next_wait())
        finally:
            await self._settle_all()
            await self._sink.close()
            self._connected = False

    async def _forward_until_failure(self) -> bool:
        """Keeps batches in flight until one fails (False) or a stop is asked for (True)."""
        lease_renewal = self._lease_renewal_interval()
        next_renewal = time.monotonic() + lease_renewal
        while not self.stopping():
            while (
                len(self._in_flight) < self._max_in_flight
                and self._in_flight_bytes < self._max_in_flight_bytes
            ):
                deliveries = await self._take(self._next_batch_items(), wait=not self._in_flight)
                if not deliveries:
                    break
                if not await self._send(deliveries):
                    await self._settle_all()
                    return False  # A failed send is a failure: reconnect, after the backoff.
            if not self._in_flight:
                continue
            assert self._stop_event is not None
            stop: asyncio.Future[Any] = asyncio.ensure_future(self._stop_event.wait())
            waiting: list[asyncio.Future[Any]] = [*self._in_flight, stop]
            done, _ = await asyncio.wait(
                waiting, timeout=lease_renewal, return_when=asyncio.FIRST_COMPLETED
            )
            stop.cancel()
            if time.monotonic() >= next_renewal:
                self._renew_leases()
                next_renewal = time.monotonic() + lease_renewal
            confirmed = True
            for batch in done:
                if batch is not stop:
                    confirmed &= self._settle(batch)
            if not confirmed:
                await self._settle_all()
                return False
        return True

    def _next_batch_items(self) -> int:
        """Items the next batch may take: batch_size, fewer if large items would exceed the bytes.

        A batch gets at most its share of max_in_flight_bytes (1/max_in_flight
        of it): a client copies a batch whole while it sends it, so the size of
        one batch, not only the total in flight, sets the memory a send takes.
        """
        if self._item_bytes is None:
            return 1
        room = min(
            self._max_in_flight_bytes - self._in_flight_bytes,
            self._max_in_flight_bytes / self._max_in_flight,
        )
        return max(1, min(self._batch_size, int(room / max(self._item_bytes, 1.0))))

    async def _take(self, max_items: int, wait: bool) -> list[Delivery]:
        """Up to batch_size items from the local queue; with `wait`, waits a little for one."""
        if not wait:
            try:
                return self._queue.get_many(max_items, block=False)
            except Empty:
                return []
        loop = asyncio.get_running_loop()
        taking = loop.run_in_executor(None, self._take_waiting, max_items)
        try:
            return await asyncio.shield(taking)
        except asyncio.CancelledError:
            # The items were handed out all the same: put them back before leaving.
            deliveries = await taking
            if deliveries:
                self._release(deliveries)
            raise

    def _take_waiting(self, max_items: int) -> list[Delivery]:
        try:
            return self._queue.get_many(max_items, timeout=POLL_INTERVAL)
        except Empty:
            return []

    async def _send(self, deliveries: list[Delivery]) -> bool:
        messages = [Message(f"{self._queue_id}-{item.id}", item.data) for item in deliveries]
        try:
            outcomes: Awaitable[list[Outcome]] = await self._sink.send(messages)
        except BrokerError as error:
            self._release(deliveries)
            self.record_error(f"sending: {error}")
            return False
        batch = asyncio.ensure_future(outcomes)
        self._in_flight[batch] = deliveries
        self._in_flight_items += len(deliveries)
        batch_bytes = sum(len(item.data) for item in deliveries)
        self._in_flight_bytes += batch_bytes
        self._item_bytes = batch_bytes / len(deliveries)
        return True

    def _settle(self, batch: asyncio.Future[list[Outcome]]) -> bool:
        """Acks what the broker confirmed and releases the rest; False if anything was not confirmed."""
        deliveries = self._in_flight.pop(batch)
        self._in_flight_items -= len(deliveries)
        self._in_flight_bytes -= sum(len(item.data) for item in deliveries)
        try:
            outcomes: Sequence[Outcome] = batch.result()
        except asyncio.CancelledError:
            outcomes = [BrokerError("cancelled")] * len(deliveries)
        except Exception as error:
            outcomes = [BrokerError(str(error))] * len(deliveries)
        confirmed = [d for d, o in zip(deliveries, outcomes) if isinstance(o, Confirmed)]
        refused = [d for d, o in zip(deliveries, outcomes) if isinstance(o, Refused)]
        unconfirmed = [
            (d, o) for d, o in zip(deliveries, outcomes) if not isinstance(o, (Confirmed, Refused))
        ]
        self._ack(confirmed)
        self._forwarded += len(confirmed)
        self._duplicates += sum(o.duplicate for o in outcomes if isinstance(o, Confirmed))
        if refused:
            self._refuse(refused)
            self.last_error = str(next(o for o in outcomes if isinstance(o, Refused)))
        if unconfirmed:
            self._release([d for d, _ in unconfirmed])
            self.record_error(f"{len(unconfirmed)} of {len(deliveries)} unconfirmed: {unconfirmed[0][1]}")
        else:
            self._backoff.reset()
        self.notify()
        return not unconfirmed

    def _ack(self, deliveries: list[Delivery]) -> None:
        try:
            self._queue.ack_many(deliveries)
        except NotOutstanding:
            # A lease ran out after all (the process was paused longer than
            # the visibility timeout): the item goes out again and the broker
            # deduplicates it. Ack the others one by one.
            for delivery in deliveries:
                try:
                    self._queue.ack(delivery)
                except NotOutstanding:
                    pass

    def _release(self, deliveries: list[Delivery]) -> None:
        """Puts items back at the head of the local queue, to be sent again."""
        try:
            self._queue.nack_many(deliveries)
        except NotOutstanding:
            for delivery in deliveries:
                try:
                    self._queue.nack(delivery)
                except NotOutstanding:
                    pass  # Expired: it is ready again already.

    def _refuse(self, deliveries: list[Delivery]) -> None:
        self._queue.ack_failed_many(deliveries)
        self._refused += len(deliveries)

    async def _settle_all(self) -> bool:
        """Waits for every batch in flight and settles it; False if any was not confirmed."""
        confirmed = True
        while self._in_flight:
            await asyncio.wait(list(self._in_flight), timeout=self._lease_renewal_interval())
            self._renew_leases()
            for batch in [batch for batch in self._in_flight if batch.done()]:
                confirmed &= self._settle(batch)
        return confirmed

    def _lease_renewal_interval(self) -> float:
        timeout = self._queue.visibility_timeout
        return timeout / 3 if timeout > 0 else 60.0

    def _renew_leases(self) -> None:
        """Extends the deliveries in flight by another visibility timeout."""
        if self._queue.visibility_timeout <= 0:
            return
        for deliveries in self._in_flight.values():
            try:
                self._queue.extend_many(deliveries)
            except NotOutstanding:
                pass  # Settled meanwhile or expired: the ack will tell.
