"""rocksq.aio.MpmcQueue: awaiting next() until a label has something to read.

Each test runs its coroutine with plain asyncio.run, bounded by a deadline so
a missed wake-up fails the test instead of hanging the run.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import threading
import time
from typing import Any

import pytest
from support.aio import cancel_waiters_at_random, run, settle

import rocksq
import rocksq.aio
from rocksq import StartPosition

OLDEST = StartPosition.Oldest
NEWEST = StartPosition.Newest
TTL = 3600


def test_next_returns_what_is_there_without_waiting(queue_path: str) -> None:
    async def main() -> tuple[list[bytes], bool]:
        async with rocksq.aio.MpmcQueue(queue_path, TTL) as aq:
            await aq.add([b"a", b"b", b"c"])
            return await aq.next("reader", OLDEST, 2)

    assert run(main()) == ([b"a", b"b"], False)


def test_a_waiting_next_wakes_when_another_task_adds(queue_path: str) -> None:
    async def main() -> None:
        async with rocksq.aio.MpmcQueue(queue_path, TTL) as aq:
            reader = asyncio.ensure_future(aq.next("reader", NEWEST, 10))
            await settle()
            assert not reader.done(), "next did not wait for an element"

            await aq.add([b"hello", b"world"])

            assert await asyncio.wait_for(reader, 1) == ([b"hello", b"world"], False)

    run(main())


def test_a_waiting_next_wakes_within_50_ms_of_an_add_from_another_thread(
    queue_path: str,
) -> None:
    async def main() -> list[float]:
        latencies = []
        async with rocksq.aio.MpmcQueue(queue_path, TTL) as aq:
            for attempt in range(9):
                added_at: list[float] = []

                def add_soon(attempt: int = attempt, added_at: list[float] = added_at) -> None:
                    time.sleep(0.03)
                    added_at.append(time.perf_counter())
                    aq.add_nowait([b"wake %d" % attempt])

                adder = threading.Thread(target=add_soon, daemon=True)
                adder.start()
                read = await asyncio.wait_for(aq.next("reader", OLDEST), 2)
                read_at = time.perf_counter()
                adder.join()

                assert read == ([b"wake %d" % attempt], False)
                latencies.append(read_at - added_at[0])
        return latencies

    latencies = run(main())

    assert statistics.median(latencies) < 0.05, latencies


class AddsRightAfterTheFirstLook:
    """A core queue whose first next() is followed by an add from another thread.

    The add lands between next()'s look and its wait: the one moment a
    design that looked, then armed, would miss the wake-up forever.
    """

    def __init__(self, core: Any) -> None:
        self._core = core
        self._looked = False

    def next(self, *arguments: Any) -> tuple[list[bytes], bool]:
        result = self._core.next(*arguments)
        if not self._looked:
            self._looked = True
            adder = threading.Thread(target=self._core.add, args=([b"raced"],))
            adder.start()
            adder.join()
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._core, name)


def test_an_add_between_the_look_and_the_wait_still_wakes_next(queue_path: str) -> None:
    async def main() -> tuple[list[bytes], bool]:
        async with rocksq.aio.MpmcQueue(queue_path, TTL) as aq:
            aq._queue = AddsRightAfterTheFirstLook(aq._queue)  # type: ignore[misc]
            return await asyncio.wait_for(aq.next("reader", OLDEST), 1)

    assert run(main()) == ([b"raced"], False)


def test_next_waits_for_its_own_label_not_for_any_add(queue_path: str) -> None:
    async def main() -> None:
        async with rocksq.aio.MpmcQueue(queue_path, TTL) as aq:
            await aq.add([b"old"])
            assert await aq.next("caught-up", OLDEST) == ([b"old"], False)
            reader = asyncio.ensure_future(aq.next("caught-up", OLDEST))
            await settle()
            await aq.next("another", OLDEST)  # Moves another label only.
            await settle()
            assert not reader.done(), "next returned with nothing to read"

            await aq.add([b"new"])

            assert await asyncio.wait_for(reader, 1) == ([b"new"], False)

    run(main())


def test_removing_a_label_wakes_its_waiting_next_which_starts_it_afresh(queue_path: str) -> None:
    async def main() -> None:
        async with rocksq.aio.MpmcQueue(queue_path, TTL) as aq:
            await aq.add([b"a", b"b"])
            await aq.next("reader", OLDEST, 10)
            reader = asyncio.ensure_future(aq.next("reader", OLDEST, 10))
            await settle()
            assert not reader.done()

            assert aq.remove_label("reader")

            assert await asyncio.wait_for(reader, 1) == ([b"a", b"b"], False)

    run(main())


def test_next_nowait_and_max_elements_zero_never_wait(queue_path: str) -> None:
    async def main() -> None:
        async with rocksq.aio.MpmcQueue(queue_path, TTL) as aq:
            assert aq.next_nowait("reader", OLDEST) == ([], False)
            assert await asyncio.wait_for(aq.next("placed", NEWEST, 0), 1) == ([], False)
            assert aq.labels == ["placed", "reader"]

    run(main())


def test_the_expired_flag_reports_elements_that_expired_while_next_waited(
    queue_path: str,
) -> None:
    async def main() -> tuple[list[bytes], bool]:
        async with rocksq.aio.MpmcQueue(queue_path, 1) as aq:
            await aq.next("reader", OLDEST, 0)
            await aq.add([b"expires"])
            await asyncio.sleep(1.05)
            reader = asyncio.ensure_future(aq.next("reader", OLDEST))
            await settle()
            assert not reader.done()
            await aq.add([b"fresh"])
            return await asyncio.wait_for(reader, 1)

    assert run(main()) == ([b"fresh"], True)


LABELS = 4
READERS_PER_LABEL = 3
PRODUCERS = 4
ELEMENTS_PER_PRODUCER = 150


def test_many_tasks_on_several_labels_each_label_sees_every_element_once_in_order(
    queue_path: str,
) -> None:
    rng = random.Random(20240612)

    async def main() -> dict[str, list[list[bytes]]]:
        reads: dict[str, list[list[bytes]]] = {
            f"label {n}": [[] for _ in range(READERS_PER_LABEL)] for n in range(LABELS)
        }
        aq = rocksq.aio.MpmcQueue(queue_path, TTL)
        for label in reads:
            await aq.next(label, OLDEST, 0)  # Every label starts before the first add.
        unread = {label: PRODUCERS * ELEMENTS_PER_PRODUCER for label in reads}

        async def produce(producer: int) -> None:
            for sequence in range(ELEMENTS_PER_PRODUCER):
                await aq.add([b"%d:%d" % (producer, sequence)])
                if sequence % 7 == 0:
                    await asyncio.sleep(0)

        async def read(label: str, reader: int) -> None:
            try:
                while True:
                    elements, expired = await aq.next(label, OLDEST, rng.randint(1, 5))
                    assert elements and not expired
                    reads[label][reader].extend(elements)
                    unread[label] -= len(elements)
                    await asyncio.sleep(0)  # Lets the label's other readers take turns.
            except rocksq.QueueClosed:
                pass  # How the test ends the readers left waiting.

        readers = [
            asyncio.ensure_future(read(label, r))
            for label in reads
            for r in range(READERS_PER_LABEL)
        ]
        await asyncio.gather(*(produce(p) for p in range(PRODUCERS)))
        while any(unread.values()) and not any(reader.done() for reader in readers):
            await asyncio.sleep(0.01)
        aq.close()
        await asyncio.gather(*readers)
        return reads

    reads = run(main(), deadline=30)

    expected = [b"%d:%d" % (p, s) for p in range(PRODUCERS) for s in range(ELEMENTS_PER_PRODUCER)]
    for per_reader in reads.values():
        assert sorted(e for part in per_reader for e in part) == sorted(expected)  # Each once.
        assert sum(map(bool, per_reader)) >= 2, "the label's readers did not share the work"
        for part in per_reader:  # Each reader's share in add order.
            for producer in range(PRODUCERS):
                sequences = [int(e.split(b":")[1]) for e in part if e.startswith(b"%d:" % producer)]
                assert sequences == sorted(sequences)


def test_cancelled_next_calls_never_lose_elements_for_their_label(queue_path: str) -> None:
    rng = random.Random(20240611)

    async def main() -> tuple[list[bytes], list[bytes], list[bytes], int]:
        added: list[bytes] = []
        received: list[bytes] = []

        async def read_one(aq: rocksq.aio.MpmcQueue) -> None:
            elements, _ = await aq.next("reader", OLDEST, rng.randint(1, 2))
            received.extend(elements)

        async with rocksq.aio.MpmcQueue(queue_path, TTL) as aq:

            def add_some() -> None:
                for _ in range(rng.randint(0, 3)):
                    element = b"%06d" % len(added)
                    aq.add_nowait([element])
                    added.append(element)

            cancelled = await cancel_waiters_at_random(rng, lambda: read_one(aq), add_some)
            left, _ = aq.next_nowait("reader", OLDEST, 1_000_000)
        return added, received, left, cancelled

    added, received, left, cancelled = run(main(), deadline=30)

    assert sorted(received + left) == added  # None lost, none read twice.
    assert cancelled > 100 and len(received) > 100, (cancelled, len(received))


def test_waiting_tasks_create_no_threads(queue_path: str) -> None:
    async def main() -> tuple[int, int, list[tuple[list[bytes], bool]]]:
        async with rocksq.aio.MpmcQueue(queue_path, TTL) as aq:
            before = threading.active_count()
            readers = [asyncio.ensure_future(aq.next(f"label {n}", NEWEST)) for n in range(100)]
            await settle()
            during = threading.active_count()
            assert not any(reader.done() for reader in readers)

            await aq.add([b"for everyone"])

            got = await asyncio.wait_for(asyncio.gather(*readers), 5)
        return before, during, got

    before, during, got = run(main())

    assert during == before
    assert got == [([b"for everyone"], False)] * 100


def test_a_waiting_next_does_not_block_the_event_loop(queue_path: str) -> None:
    async def main() -> int:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        async with rocksq.aio.MpmcQueue(queue_path, TTL) as aq:
            ticker = asyncio.ensure_future(tick())
            reader = asyncio.ensure_future(aq.next("reader", OLDEST))
            await asyncio.sleep(0.3)
            ticks_while_waiting = ticks
            aq.add_nowait([b"done"])
            assert await asyncio.wait_for(reader, 1) == ([b"done"], False)
            ticker.cancel()
        return ticks_while_waiting

    assert run(main()) >= 10  # About 30 if the loop ran freely.


def test_close_makes_waiting_next_calls_raise_queue_closed(queue_path: str) -> None:
    async def main() -> list[BaseException | None]:
        aq = rocksq.aio.MpmcQueue(queue_path, TTL)
        readers = [asyncio.ensure_future(aq.next(f"label {n % 2}", OLDEST)) for n in range(6)]
        await settle()
        assert not any(reader.done() for reader in readers)

        aq.close()

        return await asyncio.wait_for(asyncio.gather(*readers, return_exceptions=True), 1)

    results = run(main())

    assert [type(result) for result in results] == [rocksq.QueueClosed] * 6


def test_the_async_context_manager_closes_the_queue(queue_path: str) -> None:
    async def main() -> rocksq.aio.MpmcQueue:
        async with rocksq.aio.MpmcQueue(queue_path, TTL) as aq:
            await aq.add([b"kept"])
            aq.close()  # And again on leaving the block: does nothing.
        return aq

    aq = run(main())

    with pytest.raises(rocksq.QueueClosed):
        aq.next_nowait("reader", OLDEST)
    with rocksq.aio.MpmcQueue(queue_path, TTL) as reopened:  # Would raise QueueAlreadyOpen.
        assert (reopened.len, reopened.next_nowait("reader", OLDEST)) == (1, ([b"kept"], False))


def test_sizes_and_labels_are_the_blocking_faces(queue_path: str) -> None:
    with rocksq.aio.MpmcQueue(queue_path, TTL) as aq:
        assert (aq.len, aq.is_empty, aq.payload_size, aq.labels) == (0, True, 0, [])
        aq.add_nowait([b"ab", b"cde"])
        aq.next_nowait("reader", OLDEST)

        assert (aq.len, aq.is_empty, aq.payload_size, aq.labels) == (2, False, 5, ["reader"])
        assert aq.disk_size > 0
        assert (aq.remove_label("reader"), aq.remove_label("reader")) == (True, False)


def test_a_start_position_that_is_not_one_raises_type_error(queue_path: str) -> None:
    async def main() -> None:
        async with rocksq.aio.MpmcQueue(queue_path, TTL) as aq:
            with pytest.raises(TypeError, match="start_position"):
                await aq.next("reader", 0)  # type: ignore[arg-type]
            with pytest.raises(TypeError, match="start_position"):
                aq.next_nowait("reader", 1)  # type: ignore[arg-type]

    run(main())


def test_a_queue_keeps_waking_waiters_in_a_second_event_loop(queue_path: str) -> None:
    async def wait_for_an_add(aq: rocksq.aio.MpmcQueue, element: bytes) -> tuple[list[bytes], bool]:
        reader = asyncio.ensure_future(aq.next("reader", OLDEST))
        await settle()
        aq.add_nowait([element])
        return await asyncio.wait_for(reader, 1)

    with rocksq.aio.MpmcQueue(queue_path, TTL) as aq:
        assert run(wait_for_an_add(aq, b"first loop")) == ([b"first loop"], False)
        assert run(wait_for_an_add(aq, b"second loop")) == ([b"second loop"], False)
