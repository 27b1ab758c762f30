"""rocksq.aio.AckQueue: at-least-once delivery for asyncio."""

from __future__ import annotations

import asyncio
import time

import pytest

import rocksq
from rocksq.aio import AckQueue


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, 30))


def test_get_ack_and_nack(queue_path):
    async def main():
        async with AckQueue(queue_path) as q:
            await q.put(b"a")
            await q.put_many([b"b"])
            first = await q.get()
            q.nack(first)
            again = await q.get_many(5)
            assert [(d.data, d.attempt) for d in again] == [(b"a", 2), (b"b", 1)]
            q.ack_many(again)
            assert len(q) == 0
            with pytest.raises(rocksq.NotOutstanding):
                q.ack(first)

    run(main())


def test_get_waits_for_a_put_without_blocking_the_loop(queue_path):
    async def main():
        async with AckQueue(queue_path) as q:
            getter = asyncio.create_task(q.get())
            await asyncio.sleep(0.05)
            assert not getter.done()
            q.put_nowait(b"late")
            delivery = await getter
            assert delivery.data == b"late"

    run(main())


def test_get_wakes_when_a_visibility_timeout_expires(queue_path):
    async def main():
        async with AckQueue(queue_path, visibility_timeout=0.2) as q:
            q.put_nowait(b"a")
            first = await q.get()
            start = time.monotonic()
            second = await q.get()  # No put, no nack: only the expiry wakes it.
            assert time.monotonic() - start >= 0.15
            assert (second.id, second.attempt) == (first.id, 2)

    run(main())


def test_a_waiting_get_wakes_for_an_item_handed_out_while_it_waited(queue_path):
    async def main():
        async with AckQueue(queue_path, visibility_timeout=0.3) as q:
            waiter = asyncio.create_task(q.get())
            await asyncio.sleep(0.05)
            q.put_nowait(b"a")
            taken = await waiter
            # Taken by this task, never settled: a second waiter gets it on expiry.
            again = await asyncio.wait_for(q.get(), 5)
            assert again.id == taken.id and again.attempt == 2

    run(main())


def test_put_waits_for_an_ack_to_make_room(queue_path):
    async def main():
        async with AckQueue(queue_path, max_elements=1) as q:
            await q.put(b"a")
            delivery = await q.get()
            putter = asyncio.create_task(q.put(b"b"))
            await asyncio.sleep(0.05)
            assert not putter.done()
            q.ack(delivery)
            await putter
            assert (await q.get()).data == b"b"

    run(main())


def test_cancelled_get_hands_nothing_out(queue_path):
    async def main():
        async with AckQueue(queue_path) as q:
            getter = asyncio.create_task(q.get())
            await asyncio.sleep(0.05)
            getter.cancel()
            with pytest.raises(asyncio.CancelledError):
                await getter
            q.put_nowait(b"a")
            assert (q.ready, q.unacked) == (1, 0)

    run(main())


def test_close_wakes_a_waiting_get_with_queue_closed(queue_path):
    async def main():
        q = AckQueue(queue_path)
        getter = asyncio.create_task(q.get())
        await asyncio.sleep(0.05)
        q.close()
        with pytest.raises(rocksq.QueueClosed):
            await getter

    run(main())


def test_get_nowait_raises_empty(queue_path):
    async def main():
        async with AckQueue(queue_path) as q:
            with pytest.raises(rocksq.Empty):
                q.get_nowait()

    run(main())
