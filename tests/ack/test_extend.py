"""rocksq.AckQueue.extend and extend_many: a delivery kept past its visibility timeout."""

from __future__ import annotations

import asyncio
import time

import pytest

import rocksq
import rocksq.aio
from rocksq import AckQueue


def test_an_extended_delivery_outlives_its_timeout_and_still_settles(queue_path):
    with AckQueue(queue_path, visibility_timeout=0.3) as q:
        q.put_many([b"a", b"b"])
        first, second = q.get_many(2)
        q.extend(first, 60)
        q.extend_many([second], visibility_timeout=60)
        time.sleep(0.6)  # Twice the queue's timeout.
        assert (q.ready, q.unacked) == (0, 2)
        q.ack(first)
        q.nack(second)
        assert q.get().attempt == 2


def test_none_means_the_queues_timeout_and_zero_never(queue_path):
    with AckQueue(queue_path, visibility_timeout=0.3) as q:
        q.put_many([b"a", b"b"])
        by_default, for_ever = q.get_many(2)
        q.extend(by_default)
        q.extend(for_ever, 0)
        assert 0 < q._queue.time_to_next_expiry <= 0.3
        time.sleep(0.6)
        assert (q.ready, q.unacked) == (1, 1)
        q.ack(for_ever)
        assert q._queue.time_to_next_expiry is None


def test_a_delivery_no_longer_outstanding_raises_and_nothing_is_extended(queue_path):
    with AckQueue(queue_path, visibility_timeout=0.3) as q:
        q.put_many([b"a", b"b"])
        settled, held = q.get_many(2)
        q.ack(settled)
        with pytest.raises(rocksq.NotOutstanding):
            q.extend(settled, 60)
        with pytest.raises(KeyError):
            q.extend_many([held, settled], 60)
        time.sleep(0.6)  # `held` kept its deadline: it expired.
        assert (q.ready, q.unacked) == (1, 0)
        with pytest.raises(rocksq.NotOutstanding):
            q.extend(held)
        with pytest.raises(TypeError):
            q.extend(held.id)
        with pytest.raises(ValueError):
            q.extend(q.get(), -1)


def test_a_delivery_from_before_a_reopen_is_not_outstanding(queue_path):
    with AckQueue(queue_path) as q:
        q.put(b"a")
        before = q.get()
    with AckQueue(queue_path) as q:
        again = q.get()
        with pytest.raises(rocksq.NotOutstanding):
            q.extend(before)
        q.extend(again)


def test_the_asyncio_face_extends_without_awaiting(queue_path):
    async def main():
        async with rocksq.aio.AckQueue(queue_path, visibility_timeout=0.3) as q:
            await q.put(b"a")
            delivery = await q.get()
            q.extend(delivery, 60)
            await asyncio.sleep(0.6)
            assert q.unacked == 1
            q.extend_many([delivery], None)
            q.ack(delivery)

    asyncio.run(asyncio.wait_for(main(), 30))
