"""The parts of queue.Queue's and asyncio.Queue's interfaces the other tests leave out.

rocksq.Queue and rocksq.aio.Queue claim those interfaces; CPython's own suites
check what is tested here: a settable maxsize, subscripting for annotations,
task_done()/join() on the asyncio face, asyncio's exception classes, when a
waiting task resumes (counted in event-loop iterations), cancellation races,
and Python 3.13's shutdown(). Also rocksq 0.3.0's str(StartPosition).
"""

from __future__ import annotations

import asyncio
import queue
import sys
import threading
import time
import types
from collections.abc import Awaitable, Coroutine
from typing import Any, Callable

import pytest
from support.aio import run

import rocksq
import rocksq.aio


class Outcome:
    """Runs `call` in a daemon thread and keeps what it returned or raised."""

    def __init__(self, call: Callable[[], object]) -> None:
        self.value: object = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(call,), daemon=True)
        self._thread.start()

    def _run(self, call: Callable[[], object]) -> None:
        try:
            self.value = call()
        except BaseException as error:  # noqa: BLE001 - handed to the test
            self.error = error

    def waiting(self, seconds: float = 0.2) -> bool:
        """True if the call is still running after `seconds`."""
        self._thread.join(seconds)
        return self._thread.is_alive()

    def finish(self, timeout: float = 5) -> None:
        """Fails the test unless the call ends within `timeout` seconds."""
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the call is still waiting"


# --- rocksq.Queue.maxsize is settable, as queue.Queue's ------------------------


def test_lowering_maxsize_keeps_the_items_and_refuses_puts_until_below_it(
    queue_path: str,
) -> None:
    with rocksq.Queue(queue_path, maxsize=3) as q:
        q.put_many([b"1", b"2", b"3"])
        q.maxsize = 2

        assert (q.maxsize, q.qsize(), q.full()) == (2, 3, True)
        with pytest.raises(queue.Full):
            q.put_nowait(b"4")
        q.get_many(2)
        q.put_nowait(b"4")
        assert q.get_many(5) == [b"3", b"4"]


def test_raising_maxsize_wakes_a_blocked_put_at_once(queue_path: str) -> None:
    with rocksq.Queue(queue_path, maxsize=1) as q:
        q.put(b"fills it")
        putter = Outcome(lambda: q.put(b"waits", timeout=30))
        assert putter.waiting()

        q.maxsize = 2
        putter.finish()

        assert putter.error is None
        assert q.get_many(5) == [b"fills it", b"waits"]


@pytest.mark.parametrize("maxsize", [0, -1])
def test_maxsize_set_to_zero_or_less_means_unbounded(queue_path: str, maxsize: int) -> None:
    with rocksq.Queue(queue_path, maxsize=1) as q:
        q.put(b"a")
        q.maxsize = maxsize

        q.put_nowait(b"b")
        assert (q.maxsize, q.full()) == (0, False)


@pytest.mark.parametrize("maxsize", [1.5, "2", None])
def test_setting_maxsize_to_a_non_int_raises_type_error_and_keeps_the_limit(
    queue_path: str, maxsize: object
) -> None:
    with rocksq.Queue(queue_path, maxsize=1) as q:
        with pytest.raises(TypeError, match="maxsize"):
            q.maxsize = maxsize  # type: ignore[assignment]
        q.put(b"a")
        assert q.maxsize == 1
        with pytest.raises(queue.Full):
            q.put_nowait(b"b")


def test_a_maxsize_set_on_an_open_queue_is_not_kept_by_the_next_open(queue_path: str) -> None:
    with rocksq.Queue(queue_path, maxsize=1) as q:
        q.maxsize = 5
    with rocksq.Queue(queue_path, maxsize=2) as reopened:
        assert reopened.maxsize == 2


# --- Subscripting, for annotations --------------------------------------------


@pytest.mark.parametrize("kind", [rocksq.Queue, rocksq.aio.Queue])
def test_the_queue_classes_are_subscriptable_as_the_standard_library_s(kind: type) -> None:
    alias = kind[bytes]

    assert isinstance(alias, types.GenericAlias)
    assert (alias.__origin__, alias.__args__) == (kind, (bytes,))


# --- rocksq.StartPosition prints as in rocksq 0.3.0 ---------------------------


def test_str_of_a_start_position_names_its_class_and_member() -> None:
    assert str(rocksq.StartPosition.Newest) == "StartPosition.Newest"
    assert str(rocksq.StartPosition.Oldest) == "StartPosition.Oldest"
    assert rocksq.StartPosition.Newest == 1


# --- rocksq.aio: asyncio's exceptions --------------------------------------------


def test_aio_nowait_errors_are_asyncio_s_and_rocksq_s(queue_path: str) -> None:
    async def main() -> None:
        async with rocksq.aio.Queue(queue_path, maxsize=1) as q:
            with pytest.raises(asyncio.QueueEmpty) as empty:
                q.get_nowait()
            q.put_nowait(b"a")
            with pytest.raises(asyncio.QueueFull) as full:
                q.put_nowait(b"b")
            with pytest.raises(asyncio.QueueFull):
                await q.put_many([b"b", b"c"])  # Could never fit: raises at once.
        assert isinstance(empty.value, rocksq.Empty) and isinstance(empty.value, queue.Empty)
        assert isinstance(full.value, rocksq.QueueFull) and isinstance(full.value, queue.Full)
        assert "1 of 1 items stored" in str(full.value)

    run(main())


def test_aio_ack_queue_nowait_errors_are_asyncio_s_and_rocksq_s(queue_path: str) -> None:
    async def main() -> None:
        async with rocksq.aio.AckQueue(queue_path, max_elements=1) as q:
            with pytest.raises(asyncio.QueueEmpty) as empty:
                q.get_nowait()
            q.put_nowait(b"a")
            with pytest.raises(asyncio.QueueFull) as full:
                q.put_nowait(b"b")
            with pytest.raises(asyncio.QueueFull):
                await q.put_many([b"b", b"c"])
        assert isinstance(empty.value, rocksq.Empty)
        assert isinstance(full.value, rocksq.QueueFull)

    run(main())


# --- rocksq.aio: a waiting task resumes one loop iteration after the change ------


async def iterations_until_done(task: Awaitable[object]) -> int:
    """The loop iterations (sleep(0) of the caller) until `task` is done."""
    count = 0
    while not task.done():  # type: ignore[attr-defined]
        count += 1
        assert count < 100, "the task never resumed"
        await asyncio.sleep(0)
    return count


async def getter_resumes_after(q: Any) -> int:
    getter = asyncio.ensure_future(q.get())
    await asyncio.sleep(0)  # Let it start waiting.
    await asyncio.sleep(0)
    assert not getter.done()
    q.put_nowait(b"x")
    count = await iterations_until_done(getter)
    assert getter.result() in (b"x", "x")
    return count


async def putter_resumes_after(q: Any) -> int:
    q.put_nowait(b"fills it")
    putter = asyncio.ensure_future(q.put(b"waits"))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert not putter.done()
    q.get_nowait()
    return await iterations_until_done(putter)


@pytest.mark.parametrize("measure", [getter_resumes_after, putter_resumes_after])
def test_a_waiting_task_resumes_in_the_loop_iteration_after_the_change_as_asyncio_s(
    queue_path: str, measure: Callable[[Any], Coroutine[Any, Any, int]]
) -> None:
    async def main() -> tuple[int, int]:
        reference = await measure(asyncio.Queue(maxsize=1))
        async with rocksq.aio.Queue(queue_path, maxsize=1) as q:
            return reference, await measure(q)

    assert run(main()) == (1, 1)


# --- rocksq.aio: task_done() and join() -------------------------------------------


def test_aio_join_on_an_empty_queue_returns_at_once_and_twice(queue_path: str) -> None:
    async def main() -> None:
        async with rocksq.aio.Queue(queue_path) as q:
            await q.join()
            await q.join()

    run(main())


def test_aio_task_done_called_more_times_than_items_raises_value_error(queue_path: str) -> None:
    async def main() -> None:
        async with rocksq.aio.Queue(queue_path) as q:
            with pytest.raises(ValueError, match="too many"):
                q.task_done()
            q.put_nowait(b"a")
            await q.get()
            q.task_done()
            with pytest.raises(ValueError, match="too many"):
                q.task_done()

    run(main())


def test_aio_join_returns_once_workers_marked_every_item_done(queue_path: str) -> None:
    async def main() -> None:
        async with rocksq.aio.Queue(queue_path) as q:
            for number in range(100):
                await q.put(str(number).encode())
            total = 0

            async def worker() -> None:
                nonlocal total
                while True:
                    item = await q.get()
                    total += int(item)
                    q.task_done()

            workers = [asyncio.ensure_future(worker()) for _ in range(2)]
            await q.join()
            assert total == sum(range(100))
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    run(main())


def test_aio_join_waits_for_items_found_on_disk_at_open(queue_path: str) -> None:
    with rocksq.Queue(queue_path) as q:
        q.put_many([b"a", b"b"])

    async def main() -> None:
        async with rocksq.aio.Queue(queue_path) as q:
            joined = asyncio.ensure_future(q.join())
            await q.get_many(2)
            q.task_done()
            await asyncio.sleep(0.05)
            assert not joined.done()
            q.task_done()
            await asyncio.wait_for(joined, 5)

    run(main())


def test_aio_a_put_that_fails_adds_no_unfinished_task(queue_path: str) -> None:
    async def main() -> None:
        async with rocksq.aio.Queue(queue_path, maxsize=1) as q:
            q.put_nowait(b"a")
            with pytest.raises(asyncio.QueueFull):
                q.put_nowait(b"b")
            await q.get()
            q.task_done()
            await asyncio.wait_for(q.join(), 5)

    run(main())


def test_aio_join_raises_queue_closed_when_the_queue_is_closed(queue_path: str) -> None:
    async def main() -> None:
        q = rocksq.aio.Queue(queue_path)
        q.put_nowait(b"never done")
        joined = asyncio.ensure_future(q.join())
        await asyncio.sleep(0.05)
        q.close()
        with pytest.raises(rocksq.QueueClosed):
            await asyncio.wait_for(joined, 5)
        with pytest.raises(rocksq.QueueClosed):
            await q.join()

    run(main())


# --- rocksq.aio: cancellation races, as asyncio.Queue's tests try them ------------


def test_aio_a_getter_cancelled_after_its_wake_up_loses_no_item(queue_path: str) -> None:
    async def main() -> None:
        async with rocksq.aio.Queue(queue_path) as q:
            reader = asyncio.ensure_future(q.get())
            await asyncio.sleep(0)
            q.put_nowait(b"1")
            q.put_nowait(b"2")
            reader.cancel()
            with pytest.raises(asyncio.CancelledError):
                await reader
            assert await q.get() == b"1"

    run(main())


def test_aio_a_putter_cancelled_after_its_wake_up_stores_nothing(queue_path: str) -> None:
    async def main() -> None:
        async with rocksq.aio.Queue(queue_path, maxsize=1) as q:
            q.put_nowait(b"1")
            writer = asyncio.ensure_future(q.put(b"2"))
            await asyncio.sleep(0)
            assert q.get_nowait() == b"1"
            writer.cancel()
            with pytest.raises(asyncio.CancelledError):
                await writer
            assert q.qsize() == 0

    run(main())


def test_aio_cancelling_one_of_two_waiting_putters_lets_the_other_in_next(
    queue_path: str,
) -> None:
    async def main() -> None:
        async with rocksq.aio.Queue(queue_path, maxsize=1) as q:
            put_a = asyncio.ensure_future(q.put(b"a"))
            put_b = asyncio.ensure_future(q.put(b"b"))
            put_c = asyncio.ensure_future(q.put(b"X"))
            await asyncio.sleep(0)
            assert put_a.done() and not put_b.done()
            put_c.cancel()
            await asyncio.sleep(0)
            assert q.get_nowait() == b"a"
            await asyncio.sleep(0)
            assert q.get_nowait() == b"b"
            await put_b

    run(main())


def test_aio_a_producer_and_a_consumer_through_a_queue_of_one_never_stall(
    queue_path: str,
) -> None:
    async def main() -> None:
        async with rocksq.aio.Queue(queue_path, maxsize=1) as q:

            async def produce() -> None:
                for number in range(50):
                    await q.put(b"%d" % number)

            async def consume() -> list[bytes]:
                return [await q.get() for _ in range(50)]

            _, got = await asyncio.gather(produce(), consume())
            assert got == [b"%d" % number for number in range(50)]

    run(main())


# --- shutdown(), as Python 3.13's queue.Queue and asyncio.Queue -----------------


def test_shut_down_is_a_rocksq_error_and_the_standard_library_s_where_it_exists() -> None:
    assert issubclass(rocksq.ShutDown, rocksq.RocksQError)
    assert issubclass(rocksq.aio.QueueShutDown, rocksq.ShutDown)
    if sys.version_info >= (3, 13):
        assert issubclass(rocksq.ShutDown, queue.ShutDown)  # type: ignore[attr-defined]
        assert issubclass(
            rocksq.aio.QueueShutDown, asyncio.QueueShutDown  # type: ignore[attr-defined]
        )


def test_after_shutdown_put_raises_and_get_drains_the_queue_then_raises(queue_path: str) -> None:
    with rocksq.Queue(queue_path) as q:
        q.put_many([b"a", b"b"])
        assert (q.is_shutdown, q.unfinished_tasks) == (False, 2)
        q.shutdown()
        assert q.is_shutdown

        with pytest.raises(rocksq.ShutDown):
            q.put(b"c")
        with pytest.raises(rocksq.ShutDown):
            q.put_many([b"c"], block=False)
        assert q.get() == b"a"
        assert q.get_nowait() == b"b"
        with pytest.raises(rocksq.ShutDown):
            q.get()
        with pytest.raises(rocksq.ShutDown):
            q.get(block=False)


def test_an_immediate_shutdown_keeps_the_items_for_the_next_open(queue_path: str) -> None:
    with rocksq.Queue(queue_path) as q:
        q.put_many([b"a", b"b"])
        q.shutdown(immediate=True)

        with pytest.raises(rocksq.ShutDown):
            q.get()
        assert q.qsize() == 2  # Still stored.
        assert q.unfinished_tasks == 0
        with pytest.raises(ValueError):
            q.task_done()
        q.shutdown(immediate=False)  # Cannot undo it.
        with pytest.raises(rocksq.ShutDown):
            q.get_nowait()
        joiner = Outcome(q.join)  # Does not wait for items no get() can take.
        joiner.finish()
        assert joiner.error is None

    with rocksq.Queue(queue_path) as reopened:  # Not shut down.
        reopened.put(b"c")
        assert reopened.get_many(5) == [b"a", b"b", b"c"]


def test_shutdown_wakes_a_blocked_put_and_a_blocked_get(queue_path: str) -> None:
    with rocksq.Queue(queue_path, maxsize=1) as full, rocksq.Queue(queue_path + "-empty") as empty:
        full.put(b"fills it")
        putter = Outcome(lambda: full.put(b"waits", timeout=30))
        getter = Outcome(lambda: empty.get(timeout=30))
        assert putter.waiting() and getter.waiting()

        full.shutdown()
        empty.shutdown()
        putter.finish()
        getter.finish()

        assert isinstance(putter.error, rocksq.ShutDown)
        assert isinstance(getter.error, rocksq.ShutDown)
        assert full.get_many(5) == [b"fills it"]


def test_an_immediate_shutdown_releases_a_waiting_join(queue_path: str) -> None:
    with rocksq.Queue(queue_path) as q:
        q.put_many([b"a", b"b"])
        q.get()
        joiner = Outcome(q.join)
        assert joiner.waiting()

        q.shutdown(immediate=True)
        assert joiner.waiting(0.1)  # b"a" was taken and is not done yet.
        q.task_done()
        joiner.finish()
        assert joiner.error is None


def test_aio_shutdown_raises_queue_shut_down_from_put_and_from_get_once_empty(
    queue_path: str,
) -> None:
    async def main() -> None:
        async with rocksq.aio.Queue(queue_path) as q:
            q.put_nowait(b"a")
            q.shutdown()
            with pytest.raises(rocksq.aio.QueueShutDown):
                await q.put(b"b")
            with pytest.raises(rocksq.aio.QueueShutDown):
                q.put_nowait(b"b")
            assert await q.get() == b"a"
            with pytest.raises(rocksq.aio.QueueShutDown):
                await q.get()
            with pytest.raises(rocksq.aio.QueueShutDown):
                q.get_nowait()

    run(main())


def test_aio_shutdown_wakes_waiting_getters_and_putters(queue_path: str) -> None:
    async def main() -> None:
        async with rocksq.aio.Queue(queue_path, maxsize=1) as full, rocksq.aio.Queue(
            queue_path + "-empty"
        ) as empty:
            full.put_nowait(b"fills it")
            putter = asyncio.ensure_future(full.put(b"waits"))
            getter = asyncio.ensure_future(empty.get())
            await asyncio.sleep(0.05)
            assert not putter.done() and not getter.done()

            full.shutdown()
            empty.shutdown()
            for task in (putter, getter):
                with pytest.raises(rocksq.aio.QueueShutDown):
                    await asyncio.wait_for(task, 5)

    run(main())


def test_aio_immediate_shutdown_keeps_the_items_and_releases_join(queue_path: str) -> None:
    async def main() -> None:
        async with rocksq.aio.Queue(queue_path) as q:
            q.put_nowait(b"a")
            joined = asyncio.ensure_future(q.join())
            await asyncio.sleep(0)
            q.shutdown(immediate=True)
            await asyncio.wait_for(joined, 5)
            with pytest.raises(rocksq.aio.QueueShutDown):
                q.get_nowait()
            assert q.qsize() == 1

    run(main())
    with rocksq.Queue(queue_path) as reopened:
        assert reopened.get_nowait() == b"a"


# --- The other asyncio faces resume their waiters as promptly --------------------


def test_aio_mpmc_a_waiting_next_resumes_in_the_loop_iteration_after_an_add(
    queue_path: str,
) -> None:
    async def main() -> int:
        async with rocksq.aio.MpmcQueue(queue_path, ttl=60) as log:
            reader = asyncio.ensure_future(log.next("audit", rocksq.StartPosition.Oldest))
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            assert not reader.done()
            log.add_nowait([b"e"])
            return await iterations_until_done(reader)

    assert run(main()) == 1


def test_aio_ack_queue_a_waiting_get_resumes_in_the_loop_iteration_after_a_put(
    queue_path: str,
) -> None:
    async def main() -> int:
        async with rocksq.aio.AckQueue(queue_path) as q:
            getter = asyncio.ensure_future(q.get())
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            assert not getter.done()
            q.put_nowait(b"x")
            return await iterations_until_done(getter)

    assert run(main()) == 1


def test_maxsize_too_large_for_the_core_raises_a_clear_error_naming_max_elements(
    queue_path: str,
) -> None:
    with rocksq.Queue(queue_path, maxsize=1) as q:
        with pytest.raises(OverflowError, match="max_elements"):
            q.maxsize = 2**70
        with pytest.raises(ValueError, match="max_elements must be between"):
            q.maxsize = 2**62 + 1
        assert q.maxsize == 1


def test_shutdown_takes_any_truth_value_for_immediate_as_queue_queue_s(queue_path: str) -> None:
    with rocksq.Queue(queue_path) as q:
        q.put(b"a")
        q.shutdown(1)  # type: ignore[arg-type]
        with pytest.raises(rocksq.ShutDown):
            q.get_nowait()


# --- shutdown(): the rest of what Python 3.13's suites check --------------------


def test_a_shutdown_can_be_made_immediate_later_but_not_undone(queue_path: str) -> None:
    with rocksq.Queue(queue_path) as q:
        q.put_many([b"a", b"b"])
        assert not q.is_shutdown
        q.shutdown()
        assert q.get() == b"a"  # Not immediate: the items can still be got.

        q.shutdown(immediate=True)
        with pytest.raises(rocksq.ShutDown):
            q.get_nowait()
        q.shutdown(immediate=False)
        assert q.is_shutdown
        for call in (q.get, q.get_nowait, lambda: q.put(b"c"), lambda: q.put_nowait(b"c")):
            with pytest.raises(rocksq.ShutDown):
                call()


def test_after_a_shutdown_a_get_with_a_timeout_on_the_emptied_queue_raises_shut_down(
    queue_path: str,
) -> None:
    with rocksq.Queue(queue_path) as q:
        q.put(b"a")
        q.shutdown()
        q.get()
        with pytest.raises(rocksq.ShutDown):
            q.get(True, 1.0)
        with pytest.raises(rocksq.ShutDown):
            q.get_many(5, timeout=1.0)


def test_a_shutdown_that_is_not_immediate_leaves_join_waiting_for_the_items(
    queue_path: str,
) -> None:
    with rocksq.Queue(queue_path) as q:
        q.put_many([b"a", b"b"])
        joiner = Outcome(q.join)
        q.shutdown()
        assert joiner.waiting()

        q.get_many(2)
        q.task_done()
        assert joiner.waiting(0.1)
        q.task_done()
        joiner.finish()
        assert joiner.error is None


def test_getters_racing_an_immediate_shutdown_each_owe_task_done_for_what_they_got(
    queue_path: str,
) -> None:
    # The items still stored when the shutdown comes are no task any more,
    # but a get under way then may take one after all: it must be counted
    # as a task (task_done() for it must not raise), and join() must end.
    for _ in range(3):
        with rocksq.Queue(queue_path) as q:
            q.put_many([b"x"] * 20_000)
            started = threading.Barrier(5)

            def get_until_shut_down() -> None:
                started.wait()
                while True:
                    try:
                        q.get_nowait()
                    except rocksq.ShutDown:
                        return
                    q.task_done()

            getters = [Outcome(get_until_shut_down) for _ in range(4)]
            started.wait()
            while q.qsize() > 15_000:  # Shut down while the getters are busy.
                time.sleep(0.001)
            q.shutdown(immediate=True)
            for getter in getters:
                getter.finish()
                assert getter.error is None, repr(getter.error)
            assert q.unfinished_tasks == 0
            joiner = Outcome(q.join)
            joiner.finish()
        rocksq.remove_queue(queue_path)


def test_aio_a_shutdown_that_is_not_immediate_leaves_join_waiting_for_the_items(
    queue_path: str,
) -> None:
    async def main() -> None:
        async with rocksq.aio.Queue(queue_path, maxsize=1) as q:
            q.put_nowait(b"a")
            joined = asyncio.ensure_future(q.join())
            putter = asyncio.ensure_future(q.put(b"waits for room"))
            await asyncio.sleep(0)
            assert not q.is_shutdown
            q.shutdown()
            assert q.is_shutdown

            with pytest.raises(rocksq.aio.QueueShutDown):
                await asyncio.wait_for(putter, 5)
            assert await q.get() == b"a"
            await asyncio.sleep(0)
            assert not joined.done()
            q.task_done()
            await asyncio.wait_for(joined, 5)
            with pytest.raises(ValueError):
                q.task_done()

    run(main())


def test_aio_an_immediate_shutdown_leaves_join_waiting_only_for_items_got(
    queue_path: str,
) -> None:
    async def main() -> None:
        async with rocksq.aio.Queue(queue_path) as q:
            q.put_nowait(b"a")
            q.put_nowait(b"b")
            joined = asyncio.ensure_future(q.join())
            assert await q.get() == b"a"
            q.shutdown(immediate=True)
            assert q.unfinished_tasks == 1  # b"a": got, not done; b"b" can no longer be got.
            await asyncio.sleep(0)
            assert not joined.done()

            for call in (q.get_nowait, lambda: q.put_nowait(b"c")):
                with pytest.raises(rocksq.aio.QueueShutDown):
                    call()
            for waiting in (q.get(), q.put(b"c")):
                with pytest.raises(rocksq.aio.QueueShutDown):
                    await waiting
            q.task_done()
            await asyncio.wait_for(joined, 5)
            with pytest.raises(ValueError):
                q.task_done()

    run(main())


# --- rocksq.aio: what asyncio.Queue's suite checks besides -----------------------


def test_aio_putters_waiting_for_room_store_in_the_order_they_began_waiting(
    queue_path: str,
) -> None:
    async def main() -> list[bytes]:
        async with rocksq.aio.Queue(queue_path, maxsize=1) as q:
            putters = [asyncio.ensure_future(q.put(item)) for item in (b"a", b"b", b"c")]
            got = [await q.get() for _ in putters]
            await asyncio.gather(*putters)
            return got

    assert run(main()) == [b"a", b"b", b"c"]


def test_aio_putters_waiting_on_a_full_queue_all_get_in_as_a_task_drains_it(
    queue_path: str,
) -> None:
    async def main() -> list[bytes]:
        async with rocksq.aio.Queue(queue_path, maxsize=2) as q:
            putters = [asyncio.ensure_future(q.put(b"%d" % i)) for i in range(4)]
            got: list[bytes] = []
            while len(got) < 4:
                await asyncio.sleep(0)
                got += [q.get_nowait() for _ in range(q.qsize())]
            await asyncio.wait_for(asyncio.gather(*putters), 5)
            return got

    assert run(main()) == [b"0", b"1", b"2", b"3"]


def test_aio_sizes_follow_puts_and_gets(queue_path: str) -> None:
    async def main() -> list[tuple[int, int, bool, bool]]:
        async with rocksq.aio.Queue(queue_path, maxsize=1) as q:
            states = [(q.qsize(), q.len(), q.empty(), q.full())]
            await q.put(b"a")
            states.append((q.qsize(), q.len(), q.empty(), q.full()))
            await q.get()
            states.append((q.qsize(), q.len(), q.empty(), q.full()))
            return states

    assert run(main()) == [(0, 0, True, False), (1, 1, False, True), (0, 0, True, False)]


def test_ack_queue_full_counts_every_stored_item_against_maxsize(queue_path: str) -> None:
    with rocksq.AckQueue(queue_path, max_elements=2) as q:
        q.put(b"a")
        assert not q.full()
        q.put(b"b")
        assert q.full()
        q.ack_failed(q.get())
        q.nack(q.get())
        assert q.full()  # Failed and ready items hold their room; only an ack frees it.
        q.ack(q.get())
        assert not q.full()
