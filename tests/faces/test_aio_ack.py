"""rocksq.aio.AckQueue: at-least-once delivery for asyncio."""

from __future__ import annotations

import asyncio
import concurrent.futures
import random
import threading
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


def test_an_expired_delivery_cannot_settle_the_item_handed_out_again(queue_path):
    async def main():
        async with AckQueue(queue_path, visibility_timeout=0.1) as q:
            q.put_nowait(b"job")
            first = await q.get()
            second = await q.get()  # Woken by the expiry of `first`.
            assert (second.id, second.attempt) == (first.id, 2)
            for settle in (q.nack, q.ack, q.ack_failed):
                with pytest.raises(rocksq.NotOutstanding, match="another delivery"):
                    settle(first)
            for settle_many in (q.nack_many, q.ack_many, q.ack_failed_many):
                with pytest.raises(rocksq.NotOutstanding):
                    settle_many([first])
            assert (q.ready, q.unacked) == (0, 1)
            with pytest.raises(rocksq.Empty):
                q.get_nowait()
            q.ack(second)
            assert len(q) == 0

    run(main())


def test_a_delivery_settles_once_and_not_after_a_reopen(queue_path):
    async def main():
        async with AckQueue(queue_path) as q:
            q.put_nowait(b"job")
            delivery = await q.get()
            q.nack(delivery)
            with pytest.raises(rocksq.NotOutstanding):
                q.ack(delivery)
            kept = await q.get()
        async with AckQueue(queue_path) as q:
            again = await q.get()
            assert again.id == kept.id
            with pytest.raises(rocksq.NotOutstanding):
                q.ack(kept)
            with pytest.raises(TypeError, match="expected a Delivery"):
                q.ack(again.id)
            assert (q.ready, q.unacked) == (0, 1)
            q.ack(again)

    run(main())


def test_settling_from_threads_while_the_loop_gets_expired_items_again(queue_path):
    # Worker threads settle each delivery at about its expiry while the event
    # loop gets the expired items again: only latest deliveries settle.
    total = 100
    workers = 4

    async def main():
        async with AckQueue(queue_path, visibility_timeout=0.003) as q:
            await q.put_many([b"%d" % i for i in range(total)])
            lock = threading.Lock()
            latest: dict[int, int] = {}  # Id -> receipt of its latest delivery.
            finished: set[bytes] = set()
            stale_accepted = []

            def settle_late(delivery, delay):
                time.sleep(delay)
                with lock:
                    try:
                        q.ack(delivery)
                    except rocksq.NotOutstanding:
                        return
                    if latest[delivery.id] != delivery.receipt:
                        stale_accepted.append(delivery)
                    finished.add(delivery.data)

            loop = asyncio.get_running_loop()
            rng = random.Random(7)
            free = asyncio.Semaphore(workers)  # A delivery waits for no worker.
            pending = set()
            deadline = time.monotonic() + 20
            with concurrent.futures.ThreadPoolExecutor(workers) as executor:
                while len(finished) < total and time.monotonic() < deadline:
                    await free.acquire()
                    try:
                        delivery = await asyncio.wait_for(q.get(), 0.05)
                    except asyncio.TimeoutError:
                        free.release()
                        continue
                    with lock:
                        latest[delivery.id] = delivery.receipt
                    work = loop.run_in_executor(
                        executor, settle_late, delivery, rng.uniform(0, 0.006)
                    )
                    work.add_done_callback(lambda _: free.release())
                    pending.add(work)
                await asyncio.gather(*pending)
            assert not stale_accepted
            assert len(finished) == total
            assert (q.ready, q.unacked, len(q)) == (0, 0, 0)

    run(main())
