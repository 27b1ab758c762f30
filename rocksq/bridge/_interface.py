"""What a broker has to offer the Forwarder (a Sink) and the Puller (a Source).

Each broker is one small class of each kind (rocksq.bridge._nats, _redis);
the Forwarder and the Puller hold all the retrying, batching, leasing and
counting, so a new broker (Kafka, say) only has to map these few calls onto
its client library.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, NamedTuple, Union

if TYPE_CHECKING:
    from collections.abc import Awaitable, Sequence

__all__ = [
    "BrokerError",
    "Confirmed",
    "Incoming",
    "Message",
    "Outcome",
    "Refused",
    "Sink",
    "Source",
]


class BrokerError(RuntimeError):
    """The broker did not confirm a message: unreachable, timed out, or an error reply.

    Nothing is known about the message: it may or may not be stored, so it
    is sent again (with the same deduplication id) after a backoff.
    """


class Refused(BrokerError):
    """The broker refused this one message for good (too large for the stream, say).

    Sending it again would be refused again: the Forwarder sets the item
    aside among the local queue's failed items (AckQueue.failed()).
    """


def describe_error(error: BaseException) -> str:
    """"Kind: text" of a client library's exception, for BrokerError messages."""
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


class Message(NamedTuple):
    """One item on its way out: its stable identity and its bytes, unchanged."""

    dedup_id: str
    """"{queue_id}-{item_id}": the same for every attempt to send this item."""
    payload: bytes


class Confirmed(NamedTuple):
    """The broker stored the message; `duplicate` if it had it already (a resend)."""

    duplicate: bool = False


Outcome = Union[Confirmed, BrokerError]
"""What became of one message: Confirmed, or the BrokerError (Refused or not) that says why not."""


class Incoming(NamedTuple):
    """One message from the broker on its way in."""

    key: str
    """The broker's stable identity of the message (stream and sequence or entry id)."""
    payload: bytes | None
    """None when the broker no longer has it (a Redis pending entry deleted since it was
    read): the Puller acknowledges it and stores nothing."""
    handle: object
    """What the Source needs to acknowledge the message (its own type)."""


class Sink(abc.ABC):
    """Where a Forwarder sends messages. Used by one asyncio task at a time."""

    @abc.abstractmethod
    async def open(self) -> None:
        """Connects, if not connected; raises BrokerError (or OSError) if that fails.

        Called before the first send and again after any failure, so it
        must also notice a connection that broke and make a new one.
        """

    @abc.abstractmethod
    async def send(self, messages: Sequence[Message]) -> Awaitable[list[Outcome]]:
        """Hands `messages` to the broker in order and returns the wait for their outcomes.

        Returning before the outcomes are known lets the Forwarder keep
        several batches in flight; the order of the calls is the order the
        broker stores them in. The awaitable gives one outcome per message,
        within the sink's own timeout. Raises BrokerError if the batch could
        not be handed over at all (then some messages may have gone out).
        """

    @abc.abstractmethod
    async def close(self) -> None:
        """Disconnects; outcomes still awaited fail with BrokerError. Idempotent."""

    def describe(self) -> str:
        """Where the messages go, for progress lines and errors."""
        return type(self).__name__


class Source(abc.ABC):
    """Where a Puller takes messages from. Used by one asyncio task at a time."""

    @abc.abstractmethod
    async def open(self) -> None:
        """Connects and joins the consumer (creating it if needed); raises on failure."""

    @abc.abstractmethod
    async def fetch(self, max_messages: int, wait: float) -> list[Incoming]:
        """Up to `max_messages` messages, waiting up to `wait` seconds for the first.

        Messages delivered before and never acknowledged (this consumer
        crashed) come again first. Returns [] when none came.
        """

    @abc.abstractmethod
    async def acknowledge(self, messages: Sequence[Incoming]) -> None:
        """Tells the broker these messages are stored and need not come again."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Disconnects. Idempotent."""

    def describe(self) -> str:
        """Where the messages come from, for progress lines and errors."""
        return type(self).__name__
