"""The Puller: takes messages from a broker into a local AckQueue, without duplicates."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import TYPE_CHECKING, Optional, Union

from .._errors import Full
from ._endpoint import Auth, open_source
from ._interface import Source
from ._service import RETRY_INITIAL, RETRY_MAX, Service, open_queue

if TYPE_CHECKING:
    import rocksq
    from ._interface import Incoming

__all__ = ["PullStats", "Puller"]

BATCH_SIZE = 256
"""Messages fetched from the broker and pushed into the local queue in one write."""

CONSUMER = "rocksq"
"""The JetStream durable consumer, or the Redis consumer group and member, unless told otherwise."""

FETCH_WAIT = 0.5
"""Seconds one fetch waits for the broker's first message (and a stop waits at most)."""


@dataclasses.dataclass(frozen=True)
class PullStats:
    """A Puller's counters, since it was made."""

    pulled: int
    """Messages stored in the local queue and then acknowledged to the broker."""
    duplicates: int
    """Messages the broker delivered again that the local queue had already (not stored twice)."""
    skipped: int
    """Redis entries without a data field (not written by a Forwarder), acknowledged unstored."""
    retries: int
    """Failed attempts: connections, fetches, acknowledgements, pushes into a full queue."""
    last_error: Optional[str]
    """What the last failed attempt said; None if none failed."""
    connected: bool
    """Whether the last attempt to reach the broker succeeded."""
    idle_seconds: float
    """Seconds since the last message came (or since connecting), 0 while not connected."""


class Puller(Service):
    """Pulls messages from a JetStream stream or a Redis stream into a local rocksq.AckQueue.

    `url` as the Forwarder's, or a Source. JetStream: a durable pull
    consumer named `consumer` on the stream that binds the subject (created
    if missing, delivering the whole stream). Redis: the consumer group
    `consumer` (created at the stream's start if missing), read as member
    `consumer`; after a crash the member's pending entries come first.

    Each fetched batch is pushed with queue.put_many_unique(), keyed by the
    broker's identity of each message (stream and sequence, stream and entry
    id), and acknowledged to the broker only after that returned (with a
    queue opened sync=True: after it was fsynced). A crash between the two
    makes the broker deliver the batch again, and the keys keep it from being
    stored twice: unless the queue took in more than its dedup_window other
    keys in between, or was re-created. When the local queue is
    full, nothing is acknowledged: the push is retried with backoff.

    Whether the push is fsynced before the broker's ack is the queue's own
    sync option: open it with AckQueue(path, sync=True) to survive a power
    loss too (`rocksq pull --sync`). start()/stop()/run() as the Forwarder's.
    """

    def __init__(
        self,
        url: Union[str, Source],
        queue: rocksq.AckQueue,
        *,
        consumer: str = CONSUMER,
        batch_size: int = BATCH_SIZE,
        retry_initial: float = RETRY_INITIAL,
        retry_max: float = RETRY_MAX,
        auth: Optional[Auth] = None,
    ) -> None:
        super().__init__(retry_initial, retry_max)
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1: {batch_size}")
        if not consumer:
            raise ValueError("consumer must not be empty")
        self._queue = open_queue(queue)
        self._source = url if isinstance(url, Source) else open_source(url, auth, consumer=consumer)
        self._batch_size = batch_size
        self._pulled = 0
        self._duplicates = 0
        self._skipped = 0
        self._connected = False
        self._last_activity = time.monotonic()

    @property
    def queue(self) -> rocksq.AckQueue:
        """The local queue this pulls into."""
        return self._queue

    def describe(self) -> str:
        """Where the messages come from."""
        return self._source.describe()

    def stats(self) -> PullStats:
        """The counters now (safe from any thread)."""
        return PullStats(
            pulled=self._pulled,
            duplicates=self._duplicates,
            skipped=self._skipped,
            retries=self.retries,
            last_error=self.last_error,
            connected=self._connected,
            idle_seconds=self._idle_seconds(),
        )

    def _idle_seconds(self) -> float:
        return time.monotonic() - self._last_activity if self._connected else 0.0

    def wait_until_idle(self, seconds: float, timeout: Optional[float] = None) -> bool:
        """Waits until `seconds` passed, connected, with no new message (True), up to `timeout`."""
        return self.wait_for(lambda: self._idle_seconds() >= seconds, timeout)

    async def serve(self) -> None:
        try:
            while not self.stopping():
                if not self._connected:
                    try:
                        await self._source.open()
                    except Exception as error:
                        await self.back_off(error, "connecting")
                        continue
                    self._connected = True
                    self._last_activity = time.monotonic()
                    self.notify()
                try:
                    messages = await self._source.fetch(self._batch_size, FETCH_WAIT)
                    if messages and await self._store(messages):
                        await self._source.acknowledge(messages)
                        self._backoff.reset()
                except Exception as error:
                    self._connected = False
                    await self.back_off(error, "pulling")
                self.notify()
        finally:
            self._connected = False
            await self._source.close()

    async def _store(self, messages: list[Incoming]) -> bool:
        """Pushes the messages into the local queue; False if a stop came while it was full."""
        pairs = [(message.key, message.payload) for message in messages if message.payload is not None]
        while True:
            try:
                stored = await asyncio.to_thread(
                    self._queue.put_many_unique, pairs, True, FETCH_WAIT
                )
                break
            except Full as error:
                self.record_error(f"storing: {error}")
                await self.pause(self._backoff.next_wait())
                if self.stopping():
                    return False
        new = sum(stored)
        self._pulled += new
        self._duplicates += len(stored) - new
        self._skipped += len(messages) - len(pairs)
        self._last_activity = time.monotonic()
        return True
