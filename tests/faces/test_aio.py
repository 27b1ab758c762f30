"""rocksq.aio.Queue: awaiting put() and get() without blocking the event loop.

Each test runs its coroutine with plain asyncio.run, bounded by a deadline so
a missed wake-up fails the test instead of hanging the run.
"""

from __future__ import annotations

import asyncio
import queue
import random
import statistics
import threading
import time

import pytest
from support.aio import cancel_waiters_at_random, run, settle
from support.ordering import assert_each_item_once_in_producer_order

import rocksq
import rocksq.aio


def test_get_returns_items_in_put_order(queue_path: str) -> None:
    async def main() -> list[bytes]:
        async with rocksq.aio.Queue(queue_path) as aq:
            for n in range(10):
                await aq.put(b"item %d" % n)
            return [await aq.get() for _ in range(10)]

    assert run(main()) == [b"item %d" % n for n in range(10)]


def test_get_nowait_on_an_empty_queue_raises_empty(queue_path: str) -> None:
    with rocksq.aio.Queue(queue_path) as aq, pytest.raises(queue.Empty):
        aq.get_nowait()


def test_put_nowait_on_a_full_queue_raises_full(queue_path: str) -> None:
    with rocksq.aio.Queue(queue_path, maxsize=1) as aq:
        aq.put_nowait(b"fills it")

        with pytest.raises(queue.Full):
            aq.put_nowait(b"no room")
        assert (aq.qsize(), aq.full(), aq.get_nowait()) == (1, True, b"fills it")


def test_maxsize_zero_means_unbounded(queue_path: str) -> None:
    with rocksq.aio.Queue(queue_path) as aq:
        for _ in range(100):
            aq.put_nowait(b"x")

        assert (aq.maxsize, aq.full(), len(aq)) == (0, False, 100)


def test_a_waiting_get_wakes_when_another_task_puts(queue_path: str) -> None:
    async def main() -> None:
        async with rocksq.aio.Queue(queue_path) as aq:
            getter = asyncio.ensure_future(aq.get())
            await settle()
            assert not getter.done(), "get did not wait for an item"

            await aq.put(b"hello")

            assert await asyncio.wait_for(getter, 1) == b"hello"

    run(main())


def test_a_waiting_get_wakes_within_50_ms_of_a_put_from_another_thread(queue_path: str) -> None:
    async def main() -> list[float]:
        latencies = []
        async with rocksq.aio.Queue(queue_path) as aq:
            for attempt in range(9):
                put_at: list[float] = []

                def put_soon(attempt: int = attempt, put_at: list[float] = put_at) -> None:
                    time.sleep(0.03)
                    put_at.append(time.perf_counter())
                    aq.put_nowait(b"wake %d" % attempt)

                putter = threading.Thread(target=put_soon, daemon=True)
                putter.start()
                item = await asyncio.wait_for(aq.get(), 2)
                got_at = time.perf_counter()
                putter.join()

                assert item == b"wake %d" % attempt
                latencies.append(got_at - put_at[0])
        return latencies

    latencies = run(main())

    assert statistics.median(latencies) < 0.05, latencies


def test_a_waiting_put_on_a_full_queue_wakes_when_a_task_gets(queue_path: str) -> None:
    async def main() -> None:
        async with rocksq.aio.Queue(queue_path, maxsize=1) as aq:
            await aq.put(b"first")
            putter = asyncio.ensure_future(aq.put(b"second"))
            await settle()
            assert not putter.done(), "put did not wait for room"

            assert await aq.get() == b"first"

            await asyncio.wait_for(putter, 1)
            assert aq.get_nowait() == b"second"

    run(main())


def test_get_many_waits_only_for_the_first_item(queue_path: str) -> None:
    async def main() -> None:
        async with rocksq.aio.Queue(queue_path) as aq:
            getter = asyncio.ensure_future(aq.get_many(10))
            await settle()

            aq.put_nowait(b"only")

            assert await asyncio.wait_for(getter, 1) == [b"only"]

    run(main())


def test_put_many_of_more_items_than_maxsize_raises_full_at_once(queue_path: str) -> None:
    async def main() -> None:
        async with rocksq.aio.Queue(queue_path, maxsize=3) as aq:
            with pytest.raises(rocksq.Full):
                await asyncio.wait_for(aq.put_many([b"x"] * 4), 1)
            assert aq.empty()

    run(main())


def test_a_waiting_put_many_stores_all_its_items_once_there_is_room_for_all(
    queue_path: str,
) -> None:
    async def main() -> None:
        async with rocksq.aio.Queue(queue_path, maxsize=3) as aq:
            await aq.put_many([b"old 1", b"old 2", b"old 3"])
            putter = asyncio.ensure_future(aq.put_many([b"new 1", b"new 2"]))

            assert await aq.get() == b"old 1"
            await settle()
            assert not putter.done(), "put_many went on with room for one of two items"
            assert aq.qsize() == 2

            assert await aq.get() == b"old 2"
            await asyncio.wait_for(putter, 1)
            assert await aq.get_many(10) == [b"old 3", b"new 1", b"new 2"]

    run(main())


PRODUCERS = 8
CONSUMERS = 8
ITEMS_PER_PRODUCER = 250


def test_many_producer_and_consumer_tasks_deliver_every_item_once(queue_path: str) -> None:
    async def main() -> list[list[tuple[int, int]]]:
        received: list[list[tuple[int, int]]] = [[] for _ in range(CONSUMERS)]
        async with rocksq.aio.Queue(queue_path, maxsize=16) as aq:

            async def produce(producer: int) -> None:
                for sequence in range(ITEMS_PER_PRODUCER):
                    await aq.put(f"{producer}:{sequence}".encode())
                    if sequence % 10 == 0:
                        await asyncio.sleep(0)

            async def consume(consumer: int) -> None:
                while (item := await aq.get()) != b"stop":
                    producer, sequence = item.decode().split(":")
                    received[consumer].append((int(producer), int(sequence)))

            consumers = [asyncio.ensure_future(consume(c)) for c in range(CONSUMERS)]
            await asyncio.gather(*(produce(p) for p in range(PRODUCERS)))
            for _ in range(CONSUMERS):
                await aq.put(b"stop")
            await asyncio.gather(*consumers)
            assert aq.empty()
        return received

    received = run(main(), deadline=30)

    assert_each_item_once_in_producer_order(received, PRODUCERS, ITEMS_PER_PRODUCER)


def test_cancelled_gets_lose_no_item(queue_path: str) -> None:
    rng = random.Random(20240607)

    async def main() -> tuple[list[bytes], list[bytes], list[bytes], int]:
        put: list[bytes] = []
        received: list[bytes] = []

        async def get_one(aq: rocksq.aio.Queue) -> None:
            received.append(await aq.get())

        async with rocksq.aio.Queue(queue_path) as aq:

            def put_some() -> None:
                for _ in range(rng.randint(0, 3)):
                    item = b"item %d" % len(put)
                    aq.put_nowait(item)
                    put.append(item)

            cancelled = await cancel_waiters_at_random(rng, lambda: get_one(aq), put_some)
            left = []
            while not aq.empty():
                left.append(aq.get_nowait())
        return put, received, left, cancelled

    put, received, left, cancelled = run(main(), deadline=30)

    assert sorted(received + left) == sorted(put)
    assert cancelled > 100 and len(received) > 100, (cancelled, len(received))


def test_a_waiting_get_does_not_block_the_event_loop(queue_path: str) -> None:
    async def main() -> int:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        async with rocksq.aio.Queue(queue_path) as aq:
            ticker = asyncio.ensure_future(tick())
            getter = asyncio.ensure_future(aq.get())
            await asyncio.sleep(0.3)
            ticks_while_waiting = ticks
            aq.put_nowait(b"done")
            assert await asyncio.wait_for(getter, 1) == b"done"
            ticker.cancel()
        return ticks_while_waiting

    assert run(main()) >= 10  # About 30 if the loop ran freely.


def test_waiting_tasks_create_no_threads(queue_path: str) -> None:
    async def main() -> tuple[int, int, list[bytes]]:
        async with rocksq.aio.Queue(queue_path) as aq:
            before = threading.active_count()
            getters = [asyncio.ensure_future(aq.get()) for _ in range(100)]
            await settle()
            during = threading.active_count()
            assert not any(getter.done() for getter in getters)
            for n in range(100):
                aq.put_nowait(b"%03d" % n)
            got = await asyncio.wait_for(asyncio.gather(*getters), 5)
        return before, during, got

    before, during, got = run(main())

    assert during == before
    assert sorted(got) == [b"%03d" % n for n in range(100)]


def test_close_makes_waiting_getters_and_putters_raise_queue_closed(queue_path: str) -> None:
    async def main() -> list[BaseException | None]:
        empty = rocksq.aio.Queue(queue_path + "-empty")
        full = rocksq.aio.Queue(queue_path + "-full", maxsize=1)
        full.put_nowait(b"fills it")
        getters = [asyncio.ensure_future(empty.get()) for _ in range(5)]
        putters = [asyncio.ensure_future(full.put(b"waits")) for _ in range(5)]
        await settle()
        assert not any(task.done() for task in getters + putters)

        empty.close()
        full.close()

        results = await asyncio.wait_for(
            asyncio.gather(*getters, *putters, return_exceptions=True), 1
        )
        return results

    results = run(main())

    assert [type(result) for result in results] == [rocksq.QueueClosed] * 10


def test_the_async_context_manager_closes_the_queue(queue_path: str) -> None:
    async def main() -> rocksq.aio.Queue:
        async with rocksq.aio.Queue(queue_path) as aq:
            await aq.put(b"kept")
        return aq

    aq = run(main())

    with pytest.raises(rocksq.QueueClosed):
        aq.get_nowait()
    with rocksq.aio.Queue(queue_path) as reopened:  # Would raise QueueAlreadyOpen.
        assert reopened.get_nowait() == b"kept"


def test_close_twice_does_nothing_the_second_time(queue_path: str) -> None:
    async def main() -> None:
        async with rocksq.aio.Queue(queue_path) as aq:
            await aq.put(b"kept")
            aq.close()  # And again on leaving the block.

    run(main())

    with rocksq.aio.Queue(queue_path) as reopened:
        assert reopened.get_nowait() == b"kept"


def test_a_queue_keeps_waking_waiters_in_a_second_event_loop(queue_path: str) -> None:
    async def wait_for_a_put(aq: rocksq.aio.Queue, item: bytes) -> bytes:
        getter = asyncio.ensure_future(aq.get())
        await settle()
        aq.put_nowait(item)
        return await asyncio.wait_for(getter, 1)

    with rocksq.aio.Queue(queue_path) as aq:
        assert run(wait_for_a_put(aq, b"first loop")) == b"first loop"
        assert run(wait_for_a_put(aq, b"second loop")) == b"second loop"
