"""Forwarder: at least once, in order per source, deduplicated, never confirmed by a refusal."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Sequence

import pytest
from bridge_support import DRAIN_TIMEOUT, STREAM, forward_options, items
from support.brokers import Broker

import rocksq
from rocksq.bridge import BrokerError, Confirmed, Forwarder, Message, Outcome, Sink
from rocksq.bridge._endpoint import Auth, open_sink


def forward_all(queue: rocksq.AckQueue, broker: Broker, **options: object) -> Forwarder:
    with Forwarder(queue, broker.url(STREAM), **forward_options(broker, **options)) as forwarder:
        assert forwarder.wait_until_drained(DRAIN_TIMEOUT), forwarder.stats()
    return forwarder


def test_forwarded_items_arrive_once_each_in_order(broker: Broker, make_queue) -> None:
    queue = make_queue()
    queue.put_many(items(3000))
    # Small batches and a wide window: many batches in flight at once.
    forwarder = forward_all(queue, broker, batch_size=7, max_in_flight=16)
    assert broker.payloads(STREAM) == items(3000)
    assert (queue.ready, queue.unacked, queue.failed_count) == (0, 0, 0)
    stats = forwarder.stats()
    assert (stats.forwarded, stats.duplicates, stats.refused, stats.in_flight) == (3000, 0, 0, 0)


def test_items_pushed_while_forwarding_arrive_too(broker: Broker, make_queue) -> None:
    queue = make_queue()
    with Forwarder(queue, broker.url(STREAM), **forward_options(broker)) as forwarder:
        for start in range(0, 1000, 100):
            queue.put_many(items(1000)[start : start + 100])
        assert forwarder.wait_until_drained(DRAIN_TIMEOUT)
    assert broker.payloads(STREAM) == items(1000)


def test_a_recreated_local_queue_is_not_taken_for_the_old_one(
    broker: Broker, make_queue, tmp_path
) -> None:
    # The new queue's item ids start again at the old ones': only the queue
    # id tells them apart, and a match would confirm items never stored.
    first = make_queue("again")
    old_id = first.queue_id
    first.put_many(items(50, "old"))
    forward_all(first, broker)
    first.close()
    rocksq.remove_ack_queue(tmp_path / "again")
    second = make_queue("again")
    assert second.queue_id != old_id
    second.put_many(items(50, "new"))
    forwarder = forward_all(second, broker)
    assert forwarder.stats().duplicates == 0
    assert broker.payloads(STREAM) == items(50, "old") + items(50, "new")


def test_two_sources_into_one_stream_both_arrive_whole_in_order(
    broker: Broker, make_queue
) -> None:
    sources = {name: make_queue(name) for name in ("a", "b")}
    for name, queue in sources.items():
        queue.put_many(items(1500, name))
    forwarders = [
        Forwarder(queue, broker.url(STREAM), batch_size=10, **forward_options(broker))
        for queue in sources.values()
    ]
    for forwarder in forwarders:
        forwarder.start()
    for forwarder in forwarders:
        assert forwarder.wait_until_drained(DRAIN_TIMEOUT)
        forwarder.stop()
        assert forwarder.stats().duplicates == 0
    arrived = broker.payloads(STREAM)
    assert len(arrived) == 3000
    for name in sources:
        assert [item for item in arrived if item.startswith(name.encode())] == items(1500, name)


def send_batches(broker: Broker, batches: Sequence[Sequence[Message]]) -> list[list[Outcome]]:
    """Sends each batch through the URL's sink in turn, waiting for its outcomes."""

    async def send_all() -> list[list[Outcome]]:
        sink = open_sink(broker.url(STREAM), Auth(), **forward_options(broker))
        await sink.open()
        try:
            return [await (await sink.send(batch)) for batch in batches]
        finally:
            await sink.close()

    return asyncio.run(send_all())


def messages(source: str, ids: range) -> list[Message]:
    return [Message(f"{source}-{item_id}", f"{source}:{item_id}".encode()) for item_id in ids]


def test_a_batch_retried_after_a_later_one_succeeded_is_stored(broker: Broker) -> None:
    # Batch 1-10 was lost; 11-20 went through; then 1-10 is sent again. A
    # "highest id seen" watermark would wrongly drop it as old.
    later, retried = messages("q", range(11, 21)), messages("q", range(1, 11))
    outcomes = send_batches(broker, [later, retried])
    assert outcomes == [[Confirmed(False)] * 10, [Confirmed(False)] * 10]
    assert broker.payloads(STREAM) == [m.payload for m in later + retried]


def test_a_batch_sent_again_is_confirmed_as_duplicates_and_stored_once(broker: Broker) -> None:
    batch = messages("q", range(1, 21))
    outcomes = send_batches(broker, [batch, batch[5:15]])
    assert outcomes == [[Confirmed(False)] * 20, [Confirmed(True)] * 10]
    assert broker.payloads(STREAM) == [m.payload for m in batch]


class FirstBatchLost(Sink):
    """A sink whose first batch goes to the broker but whose outcomes are lost (a timeout)."""

    def __init__(self, inner: Sink) -> None:
        self.inner = inner
        self.lost = threading.Event()
        self.lost_messages = 0

    async def open(self) -> None:
        await self.inner.open()

    async def send(self, messages: Sequence[Message]) -> Awaitable[list[Outcome]]:
        outcomes = await self.inner.send(messages)
        if self.lost.is_set():
            return outcomes
        self.lost_messages = len(messages)
        self.lost.set()

        async def lost() -> list[Outcome]:
            await outcomes
            await asyncio.sleep(0.2)  # Later batches are confirmed meanwhile.
            return [BrokerError("no reply")] * len(messages)

        return lost()

    async def close(self) -> None:
        await self.inner.close()


def test_a_lost_confirmation_is_sent_again_and_stored_once(broker: Broker, make_queue) -> None:
    queue = make_queue()
    queue.put_many(items(100))
    sink = FirstBatchLost(open_sink(broker.url(STREAM), None, **forward_options(broker)))
    with Forwarder(queue, sink, batch_size=10, max_in_flight=4, retry_initial=0.01) as forwarder:
        assert forwarder.wait_until_drained(DRAIN_TIMEOUT)
    stats = forwarder.stats()
    assert stats.retries >= 1 and "no reply" in str(stats.last_error)
    # The first batch (one item: the Forwarder learns the items' size from it),
    # confirmed on its resend.
    assert sink.lost_messages >= 1 and stats.duplicates == sink.lost_messages
    assert sorted(broker.payloads(STREAM)) == items(100)


def test_an_item_jetstream_refuses_is_set_aside_never_acked(nats_server: Broker, make_queue) -> None:
    async def small_stream() -> None:
        import nats

        client = await nats.connect(nats_server.address)
        await client.jetstream().add_stream(name=STREAM, subjects=[STREAM], max_msg_size=100)
        await client.close()

    asyncio.run(small_stream())
    queue = make_queue()
    queue.put_many([b"small-1", b"x" * 101, b"small-2"])
    with Forwarder(queue, nats_server.url(STREAM)) as forwarder:
        assert forwarder.wait_until_drained(DRAIN_TIMEOUT)
    stats = forwarder.stats()
    assert (stats.forwarded, stats.refused) == (2, 1)
    assert "exceeds maximum" in str(stats.last_error)
    assert [data for _id, data in queue.failed()] == [b"x" * 101]
    assert nats_server.payloads(STREAM) == [b"small-1", b"small-2"]


def test_jetstream_without_a_stream_confirms_nothing(nats_server: Broker, make_queue) -> None:
    queue = make_queue()
    queue.put_many(items(5))
    with Forwarder(queue, nats_server.url(STREAM), retry_initial=0.01, retry_max=0.05) as forwarder:
        assert not forwarder.wait_until_drained(1.0)
        stats = forwarder.stats()
    assert stats.forwarded == 0 and stats.retries > 0
    assert "no JetStream stream binds" in str(stats.last_error)
    assert (queue.ready, queue.unacked) == (5, 0)  # Nothing held after stop().


def test_a_redis_key_of_the_wrong_type_confirms_nothing(redis_server: Broker, make_queue) -> None:
    client = redis_server.client()
    client.set(STREAM, b"not a stream")  # type: ignore[attr-defined]
    queue = make_queue()
    queue.put_many(items(5))
    with Forwarder(queue, redis_server.url(STREAM), retry_initial=0.01, retry_max=0.05) as forwarder:
        assert not forwarder.wait_until_drained(1.0)
        stats = forwarder.stats()
        assert stats.forwarded == 0 and stats.retries > 0
        assert "WRONGTYPE" in str(stats.last_error)
        assert queue.ready + queue.unacked == 5
        client.delete(STREAM)  # type: ignore[attr-defined]
        client.close()  # type: ignore[attr-defined]
        assert forwarder.wait_until_drained(DRAIN_TIMEOUT)
    assert redis_server.payloads(STREAM) == items(5)


def test_a_broker_that_comes_late_gets_everything(broker: Broker, make_queue) -> None:
    broker.kill()
    queue = make_queue()
    queue.put_many(items(200))
    with Forwarder(
        queue, broker.url(STREAM), retry_initial=0.01, retry_max=0.1, **forward_options(broker)
    ) as forwarder:
        assert not forwarder.wait_until_drained(0.5)
        assert not forwarder.stats().connected and forwarder.stats().retries > 0
        assert queue.unacked == 0  # Nothing is held while the broker is away.
        broker.start()
        assert forwarder.wait_until_drained(DRAIN_TIMEOUT)
    assert broker.payloads(STREAM) == items(200)


def test_run_in_the_callers_loop_until_stopped(broker: Broker, make_queue) -> None:
    queue = make_queue()
    queue.put_many(items(100))
    forwarder = Forwarder(queue, broker.url(STREAM), **forward_options(broker))

    async def main() -> None:
        running = asyncio.ensure_future(forwarder.run())
        while not forwarder.drained():
            await asyncio.sleep(0.01)
        forwarder.request_stop()
        await asyncio.wait_for(running, DRAIN_TIMEOUT)

    asyncio.run(main())
    assert broker.payloads(STREAM) == items(100)


def test_bad_options_are_refused(make_queue) -> None:
    queue = make_queue()
    with pytest.raises(ValueError, match="batch_size"):
        Forwarder(queue, "redis://127.0.0.1:1/s", batch_size=0)
    with pytest.raises(ValueError, match="retry_initial"):
        Forwarder(queue, "redis://127.0.0.1:1/s", retry_initial=2, retry_max=1)
    with pytest.raises(TypeError, match="AckQueue"):
        Forwarder(object(), "redis://127.0.0.1:1/s")  # type: ignore[arg-type]


class Unreachable(Sink):
    """A sink that connects but fails every send, as a broker that drops each connection."""

    def __init__(self) -> None:
        self.sends = 0

    async def open(self) -> None:
        pass

    async def send(self, messages: Sequence[Message]) -> Awaitable[list[Outcome]]:
        self.sends += 1
        raise BrokerError("connection reset")

    async def close(self) -> None:
        pass


def test_items_whose_send_failed_are_released_during_the_backoff(make_queue) -> None:
    queue = make_queue()
    queue.put_many(items(20))
    sink = Unreachable()
    with Forwarder(queue, sink, batch_size=5, retry_initial=0.05, retry_max=0.05) as forwarder:
        assert forwarder.wait_for(lambda: sink.sends >= 3, DRAIN_TIMEOUT)
        assert (queue.ready, queue.unacked) == (20, 0)
        assert forwarder.stats().retries >= 3
        assert "connection reset" in str(forwarder.stats().last_error)
    assert queue.get(block=False).data == items(20)[0]  # Still first: order kept.


class SlowConfirmations(Sink):
    """A sink that confirms each batch a little later and records the most bytes it held unconfirmed."""

    def __init__(self) -> None:
        self.unconfirmed_bytes = 0
        self.most_unconfirmed_bytes = 0

    async def open(self) -> None:
        pass

    async def send(self, messages: Sequence[Message]) -> Awaitable[list[Outcome]]:
        batch_bytes = sum(len(message.payload) for message in messages)
        self.unconfirmed_bytes += batch_bytes
        self.most_unconfirmed_bytes = max(self.most_unconfirmed_bytes, self.unconfirmed_bytes)

        async def confirm() -> list[Outcome]:
            await asyncio.sleep(0.01)
            self.unconfirmed_bytes -= batch_bytes
            return [Confirmed()] * len(messages)

        return confirm()

    async def close(self) -> None:
        pass


def test_large_items_in_flight_stay_within_max_in_flight_bytes(make_queue) -> None:
    item_bytes, limit = 256 << 10, 1 << 20
    queue = make_queue()
    queue.put_many([bytes([n]) * item_bytes for n in range(64)])  # 16 MiB: one default batch
    sink = SlowConfirmations()
    with Forwarder(queue, sink, max_in_flight_bytes=limit) as forwarder:
        assert forwarder.wait_until_drained(DRAIN_TIMEOUT), forwarder.stats()
    assert forwarder.stats().forwarded == 64
    assert sink.most_unconfirmed_bytes <= limit
