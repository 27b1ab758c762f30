"""rocksq.AckQueue.put_unique and put_many_unique: idempotent puts, deduplicated by key."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

import rocksq
import rocksq.aio
from rocksq import AckQueue
from rocksq._defaults import DEDUP_WINDOW


def stored_data(q: AckQueue) -> list[bytes]:
    return [delivery.data for delivery in q.get_many(1000, block=False)] if q.ready else []


def test_a_key_stores_its_item_once_across_ack_and_reopen(queue_path):
    with AckQueue(queue_path) as q:
        assert q.put_unique(b"key", b"first") is True
        assert q.put_unique(b"key", b"second") is False
        q.ack(q.get())
        assert q.put_unique(b"key", b"third") is False  # Seen, though acked.
    with AckQueue(queue_path) as q:
        assert q.put_unique(b"key", b"fourth") is False
        assert len(q) == 0


def test_a_str_key_is_its_utf8_bytes(queue_path):
    with AckQueue(queue_path) as q:
        assert q.put_unique("clé", b"1")
        assert not q.put_unique("clé".encode(), b"2")
        assert q.put_unique(b"", b"3")  # The empty key is a key like any other.
        assert not q.put_unique("", b"4")
        refused = "put_unique\\(\\): a key must be bytes or str, got int"
        with pytest.raises(TypeError, match=refused):
            q.put_unique(7, b"5")
        with pytest.raises(TypeError, match="put_many_unique\\(\\): entry 1 is bytes"):
            q.put_many_unique([(b"a", b"x"), b"not a pair"])
        assert stored_data(q) == [b"1", b"3"]


def test_put_many_unique_stores_the_new_keys_in_order_and_a_repeated_key_once(queue_path):
    with AckQueue(queue_path) as q:
        q.put_unique(b"a", b"a-1")
        pairs = iter(
            [(b"a", b"a-2"), (b"b", b"b-1"), ("b", bytearray(b"b-2")), (b"c", memoryview(b"c-1"))]
        )
        assert q.put_many_unique(pairs) == [False, True, False, True]
        assert q.put_many_unique([]) == []
        assert stored_data(q) == [b"a-1", b"b-1", b"c-1"]


def test_the_window_forgets_the_oldest_keys_first(queue_path):
    assert AckQueue(queue_path).dedup_window == DEDUP_WINDOW == 1_000_000
    with AckQueue(queue_path, dedup_window=2) as q:
        assert q.dedup_window == 2
        assert q.put_many_unique([(b"k0", b""), (b"k1", b""), (b"k2", b"")]) == [True] * 3
        assert not q.put_unique(b"k2", b"")
        assert not q.put_unique(b"k1", b"")
        assert q.put_unique(b"k0", b"")  # Forgotten: new again.
    with pytest.raises(ValueError, match="dedup_window must be at least 1"):
        AckQueue(queue_path, dedup_window=0)


def test_only_new_items_need_room_and_a_full_put_does_not_remember_its_key(queue_path):
    with AckQueue(queue_path, max_elements=1) as q:
        assert q.put_unique(b"a", b"x")
        assert not q.put_unique(b"a", b"x", block=False)  # Nothing to store: no Full.
        with pytest.raises(rocksq.QueueFull):
            q.put_unique(b"b", b"x", block=False)
        with pytest.raises(rocksq.QueueFull):
            q.put_unique_nowait(b"b", b"x")
        with pytest.raises(rocksq.QueueFull):
            q.put_many_unique([(b"a", b"x"), (b"b", b"x")], timeout=0.05)
        q.ack(q.get())
        assert q.put_unique(b"b", b"x")


def test_a_blocking_put_unique_waits_for_an_ack_to_make_room(queue_path):
    with AckQueue(queue_path, max_elements=1) as q:
        q.put(b"held")
        delivery = q.get()
        acker = threading.Timer(0.1, q.ack, (delivery,))
        acker.start()
        started = time.monotonic()
        assert q.put_unique(b"new", b"x", timeout=10)
        assert time.monotonic() - started >= 0.05
        acker.join()
        assert q.put_many_unique([(b"new", b"x")], timeout=0) == [False]


def test_the_asyncio_face_waits_for_room_without_blocking_the_loop(queue_path):
    async def main():
        async with rocksq.aio.AckQueue(queue_path, max_elements=1) as q:
            assert q.put_unique_nowait("a", b"1")
            assert not q.put_unique_nowait("a", b"2")
            with pytest.raises(asyncio.QueueFull):
                q.put_unique_nowait("b", b"2")
            delivery = await q.get()
            waiting = asyncio.ensure_future(q.put_many_unique([("b", b"4")]))
            await asyncio.sleep(0.05)
            assert not waiting.done()
            q.ack(delivery)
            assert await waiting == [True]
            assert not await q.put_unique("b", b"5")
            assert (await q.get()).data == b"4"

    asyncio.run(asyncio.wait_for(main(), 30))
