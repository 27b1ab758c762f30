"""Puller: every message once, in order; acknowledged only after the local push; no duplicates."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from bridge_support import DRAIN_TIMEOUT, STREAM, items
from support.brokers import Broker

from rocksq.bridge import BrokerError, Incoming, Puller, Source
from rocksq.bridge._endpoint import open_source

IDLE = 0.5
"""Seconds without a message after which a test takes the puller to be done."""


def local_items(queue) -> list[bytes]:
    return [delivery.data for delivery in queue.get_many(queue.ready + 1, block=False)] if queue.ready else []


def test_pulled_messages_arrive_once_each_in_order(broker: Broker, make_queue) -> None:
    broker.publish(STREAM, items(2000))
    queue = make_queue()
    with Puller(broker.url(STREAM), queue, batch_size=64) as puller:
        assert puller.wait_until_idle(IDLE, DRAIN_TIMEOUT)
    assert local_items(queue) == items(2000)
    assert puller.stats().pulled == 2000
    assert broker.consumer_counts(STREAM, "rocksq")[1] == 0


def test_a_second_run_of_the_same_consumer_takes_only_new_messages(
    broker: Broker, make_queue
) -> None:
    broker.publish(STREAM, items(10, "first"))
    queue = make_queue()
    with Puller(broker.url(STREAM), queue, consumer="reader") as puller:
        assert puller.wait_until_idle(IDLE, DRAIN_TIMEOUT)
    broker.publish(STREAM, items(10, "second"))
    with Puller(broker.url(STREAM), queue, consumer="reader") as puller:
        assert puller.wait_until_idle(IDLE, DRAIN_TIMEOUT)
    assert puller.stats().pulled == 10 and puller.stats().duplicates == 0
    assert local_items(queue) == items(10, "first") + items(10, "second")


class AckLostOnce(Source):
    """A source whose first acknowledgement never reaches the broker (a crash right after the push)."""

    def __init__(self, inner: Source) -> None:
        self.inner = inner
        self.lost = False

    async def open(self) -> None:
        await self.inner.open()

    async def fetch(self, max_messages: int, wait: float) -> list[Incoming]:
        return await self.inner.fetch(max_messages, wait)

    async def acknowledge(self, messages: Sequence[Incoming]) -> None:
        if not self.lost:
            self.lost = True
            # Forget the connection, as a crashed process would: the broker
            # delivers the unacknowledged batch again to the consumer.
            await self.inner.close()
            raise BrokerError("lost")
        await self.inner.acknowledge(messages)

    async def close(self) -> None:
        await self.inner.close()


def test_a_batch_delivered_again_after_a_lost_ack_is_not_stored_twice(
    broker: Broker, make_queue
) -> None:
    broker.publish(STREAM, items(30))
    queue = make_queue()
    source = AckLostOnce(open_source(broker.url(STREAM), None, consumer="rocksq"))
    if broker.kind == "nats":
        # JetStream redelivers after the consumer's ack wait: shorten it.
        asyncio.run(_durable_with_short_ack_wait(broker))
    with Puller(source, queue, batch_size=10, retry_initial=0.01) as puller:
        assert puller.wait_until_idle(3.0, DRAIN_TIMEOUT)
    stats = puller.stats()
    assert stats.duplicates == 10 and stats.pulled == 30, stats
    assert local_items(queue) == items(30)
    assert broker.consumer_counts(STREAM, "rocksq")[1] == 0


async def _durable_with_short_ack_wait(broker: Broker) -> None:
    import nats
    from nats.js.api import ConsumerConfig

    client = await nats.connect(broker.address)
    await client.jetstream().add_consumer(
        STREAM, ConsumerConfig(durable_name="rocksq", ack_wait=1.0)
    )
    await client.close()


def test_redis_entries_read_before_a_crash_come_first(redis_server: Broker, make_queue) -> None:
    redis_server.publish(STREAM, items(20))
    client = redis_server.client()
    client.xgroup_create(STREAM, "rocksq", id="0")  # type: ignore[attr-defined]
    # The puller's member read 5 entries and died before acknowledging them.
    client.xreadgroup("rocksq", "rocksq", {STREAM: ">"}, count=5)  # type: ignore[attr-defined]
    client.close()  # type: ignore[attr-defined]
    queue = make_queue()
    with Puller(redis_server.url(STREAM), queue) as puller:
        assert puller.wait_until_idle(IDLE, DRAIN_TIMEOUT)
    assert local_items(queue) == items(20)
    assert redis_server.consumer_counts(STREAM, "rocksq")[1] == 0


def test_redis_entries_without_a_data_field_are_skipped(redis_server: Broker, make_queue) -> None:
    client = redis_server.client()
    client.xadd(STREAM, {b"data": b"one"})  # type: ignore[attr-defined]
    client.xadd(STREAM, {b"other": b"x"})  # type: ignore[attr-defined]
    client.xadd(STREAM, {b"data": b"two"})  # type: ignore[attr-defined]
    client.close()  # type: ignore[attr-defined]
    queue = make_queue()
    with Puller(redis_server.url(STREAM), queue) as puller:
        assert puller.wait_until_idle(IDLE, DRAIN_TIMEOUT)
    assert local_items(queue) == [b"one", b"two"]
    assert puller.stats().skipped == 1
