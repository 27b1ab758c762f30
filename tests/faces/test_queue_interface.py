"""rocksq.Queue behaves as queue.Queue does, with its items kept on disk.

Timing assertions are loose on purpose: they tell a condition-variable
wake-up (well under a millisecond) from a polling loop or a missed wake-up
(tens of milliseconds to forever), and must hold on a busy two-core machine.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import statistics
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import pytest
from support.ordering import assert_each_item_once_in_producer_order
from support.threads import run_threads, start_thread

import rocksq

if TYPE_CHECKING:
    from conftest import RunPython


def elapsed(call: Callable[[], object]) -> float:
    """Seconds `call` took."""
    start = time.monotonic()
    call()
    return time.monotonic() - start


# --- Order, nowait, sizes ----------------------------------------------------


def test_get_returns_items_in_put_order(queue_path: str) -> None:
    with rocksq.Queue(queue_path) as q:
        for n in range(10):
            q.put(b"item %d" % n)

        assert [q.get() for _ in range(10)] == [b"item %d" % n for n in range(10)]


def test_get_accepts_any_bytes_like_item_and_returns_bytes(queue_path: str) -> None:
    with rocksq.Queue(queue_path) as q:
        q.put(bytearray(b"array"))
        q.put(memoryview(b"view"))

        assert [q.get(), q.get()] == [b"array", b"view"]


def test_full_and_empty_are_the_standard_library_exceptions_subclasses() -> None:
    assert issubclass(rocksq.Full, queue.Full)
    assert issubclass(rocksq.Empty, queue.Empty)


def test_get_nowait_on_an_empty_queue_raises_empty(queue_path: str) -> None:
    with rocksq.Queue(queue_path) as q, pytest.raises(queue.Empty):
        q.get_nowait()


def test_put_nowait_on_a_full_queue_raises_full_and_stores_nothing(queue_path: str) -> None:
    with rocksq.Queue(queue_path, maxsize=2) as q:
        q.put_nowait(b"one")
        q.put_nowait(b"two")

        with pytest.raises(queue.Full):
            q.put_nowait(b"three")
        assert q.get_many(10, block=False) == [b"one", b"two"]


def test_qsize_len_empty_and_full_follow_puts_and_gets(queue_path: str) -> None:
    with rocksq.Queue(queue_path, maxsize=2) as q:
        states = [(q.qsize(), len(q), q.len(), q.empty(), q.full())]
        q.put(b"a")
        states.append((q.qsize(), len(q), q.len(), q.empty(), q.full()))
        q.put(b"b")
        states.append((q.qsize(), len(q), q.len(), q.empty(), q.full()))
        q.get()
        states.append((q.qsize(), len(q), q.len(), q.empty(), q.full()))

        assert states == [
            (0, 0, 0, True, False),
            (1, 1, 1, False, False),
            (2, 2, 2, False, True),
            (1, 1, 1, False, False),
        ]


def test_maxsize_reports_the_limit_given(queue_path: str) -> None:
    with rocksq.Queue(queue_path, maxsize=7) as q:
        assert q.maxsize == 7


@pytest.mark.parametrize("maxsize", [0, -1])
def test_maxsize_zero_or_negative_means_unbounded(queue_path: str, maxsize: int) -> None:
    with rocksq.Queue(queue_path, maxsize=maxsize) as q:
        q.put_many([b"x"] * 10_000, block=False)
        q.put_nowait(b"one more")

        assert (q.maxsize, q.full(), q.qsize()) == (0, False, 10_001)


# --- Timeouts ----------------------------------------------------------------


def test_get_with_a_timeout_raises_empty_after_about_the_timeout(queue_path: str) -> None:
    timeout = 0.3
    with rocksq.Queue(queue_path) as q:
        start = time.monotonic()
        with pytest.raises(rocksq.Empty):
            q.get(timeout=timeout)
        waited = time.monotonic() - start

    assert 0.9 * timeout <= waited < timeout + 1


def test_put_with_a_timeout_on_a_full_queue_raises_full_after_about_the_timeout(
    queue_path: str,
) -> None:
    timeout = 0.3
    with rocksq.Queue(queue_path, maxsize=1) as q:
        q.put(b"fills it")
        start = time.monotonic()
        with pytest.raises(rocksq.Full):
            q.put(b"no room", timeout=timeout)
        waited = time.monotonic() - start

        assert 0.9 * timeout <= waited < timeout + 1
        assert q.get_many(10, block=False) == [b"fills it"]


def test_get_many_with_a_timeout_raises_empty_after_about_the_timeout(queue_path: str) -> None:
    timeout = 0.3
    with rocksq.Queue(queue_path) as q:
        start = time.monotonic()
        with pytest.raises(rocksq.Empty):
            q.get_many(5, timeout=timeout)
        waited = time.monotonic() - start

    assert 0.9 * timeout <= waited < timeout + 1


@pytest.mark.parametrize(
    "call",
    [
        lambda q: q.get(timeout=-0.5),
        lambda q: q.put(b"item", timeout=-0.5),
        lambda q: q.get_many(3, timeout=-0.5),
        lambda q: q.put_many([b"item"], timeout=-0.5),
    ],
    ids=["get", "put", "get_many", "put_many"],
)
def test_a_negative_timeout_raises_value_error(
    queue_path: str, call: Callable[[rocksq.Queue], object]
) -> None:
    with rocksq.Queue(queue_path) as q:
        q.put(b"present")  # So a get that ignored the timeout would succeed.

        with pytest.raises(ValueError, match="timeout"):
            call(q)
        assert q.qsize() == 1


def test_get_with_block_false_ignores_the_timeout(queue_path: str) -> None:
    with rocksq.Queue(queue_path) as q:
        start = time.monotonic()
        with pytest.raises(rocksq.Empty):
            q.get(block=False, timeout=5)

        assert time.monotonic() - start < 0.5
        q.put(b"item")
        assert q.get(block=False, timeout=-1) == b"item"


def test_put_with_block_false_ignores_the_timeout(queue_path: str) -> None:
    with rocksq.Queue(queue_path, maxsize=1) as q:
        q.put(b"item", block=False, timeout=-1)
        start = time.monotonic()
        with pytest.raises(rocksq.Full):
            q.put(b"no room", block=False, timeout=5)

        assert time.monotonic() - start < 0.5


# --- Waking up ---------------------------------------------------------------


def test_a_blocked_get_wakes_within_50_ms_of_a_put_from_another_thread(queue_path: str) -> None:
    latencies = []
    with rocksq.Queue(queue_path) as q:
        for attempt in range(9):
            put_at: list[float] = []

            def put_soon(attempt: int = attempt, put_at: list[float] = put_at) -> None:
                time.sleep(0.03)  # Long enough for the getter to be asleep.
                put_at.append(time.perf_counter())
                q.put(b"wake %d" % attempt)

            putter = start_thread(put_soon)
            item = q.get(timeout=5)
            got_at = time.perf_counter()
            putter.join()

            assert item == b"wake %d" % attempt
            latencies.append(got_at - put_at[0])

    assert statistics.median(latencies) < 0.05, latencies


def test_a_blocked_put_wakes_when_another_thread_gets(queue_path: str) -> None:
    with rocksq.Queue(queue_path, maxsize=1) as q:
        q.put(b"first")
        putter = start_thread(lambda: q.put(b"second", timeout=10))
        time.sleep(0.1)
        assert putter.is_alive(), "put did not wait for room"

        assert q.get() == b"first"
        putter.join(1)

        assert not putter.is_alive()
        assert q.get_many(10, block=False) == [b"second"]


def test_get_releases_the_gil_while_it_waits(queue_path: str) -> None:
    ticks = 0
    stop = threading.Event()

    def tick() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            time.sleep(0.001)

    with rocksq.Queue(queue_path) as q:
        ticker = start_thread(tick)
        time.sleep(0.01)
        before = ticks
        with pytest.raises(rocksq.Empty):
            q.get(timeout=1)
        during = ticks - before
        stop.set()
        ticker.join()

    # About 900 ticks when the GIL is free; about 10 (one per 100 ms slice)
    # if the wait held it.
    assert during > 200


# --- Many at once ------------------------------------------------------------


def test_get_many_returns_up_to_max_items_oldest_first(queue_path: str) -> None:
    with rocksq.Queue(queue_path) as q:
        q.put_many([b"a", b"b", b"c", b"d", b"e"])

        assert q.get_many(3) == [b"a", b"b", b"c"]
        assert q.get_many(3) == [b"d", b"e"]
        assert q.empty()


def test_get_many_waits_only_for_the_first_item(queue_path: str) -> None:
    with rocksq.Queue(queue_path) as q:

        def put_one_soon() -> None:
            time.sleep(0.1)
            q.put(b"only")

        start_thread(put_one_soon)
        start = time.monotonic()
        items = q.get_many(10, timeout=5)

        assert items == [b"only"]
        assert time.monotonic() - start < 1


def test_get_many_on_an_empty_queue_with_block_false_raises_empty(queue_path: str) -> None:
    with rocksq.Queue(queue_path) as q, pytest.raises(rocksq.Empty):
        q.get_many(5, block=False)


def test_put_many_that_does_not_fit_raises_full_and_stores_none(queue_path: str) -> None:
    with rocksq.Queue(queue_path, maxsize=3) as q:
        q.put(b"old")

        with pytest.raises(rocksq.Full):
            q.put_many([b"a", b"b", b"c"], block=False)
        assert q.get_many(10) == [b"old"]


def test_put_many_with_a_timeout_stores_none_when_room_for_all_never_comes(
    queue_path: str,
) -> None:
    with rocksq.Queue(queue_path, maxsize=3) as q:
        q.put_many([b"old 1", b"old 2"])

        with pytest.raises(rocksq.Full):
            q.put_many([b"a", b"b"], timeout=0.2)
        assert q.get_many(10) == [b"old 1", b"old 2"]


def test_put_many_of_more_items_than_maxsize_raises_full_at_once(queue_path: str) -> None:
    with rocksq.Queue(queue_path, maxsize=3) as q:
        start = time.monotonic()
        with pytest.raises(rocksq.Full):
            q.put_many([b"x"] * 4, timeout=5)

        assert time.monotonic() - start < 1
        assert q.empty()


def test_a_blocked_put_many_waits_for_room_for_all_its_items(queue_path: str) -> None:
    with rocksq.Queue(queue_path, maxsize=3) as q:
        q.put_many([b"old 1", b"old 2", b"old 3"])
        putter = start_thread(lambda: q.put_many([b"new 1", b"new 2"], timeout=10))

        assert q.get() == b"old 1"
        time.sleep(0.1)
        assert putter.is_alive(), "put_many went on with room for one of two items"
        assert q.qsize() == 2

        assert q.get() == b"old 2"
        putter.join(1)
        assert not putter.is_alive()
        assert q.get_many(10) == [b"old 3", b"new 1", b"new 2"]


# --- task_done and join ------------------------------------------------------


def test_join_on_a_new_empty_queue_returns_at_once(queue_path: str) -> None:
    with rocksq.Queue(queue_path) as q:
        joiner = start_thread(q.join)
        joiner.join(1)

        assert not joiner.is_alive()


def test_join_returns_only_after_every_item_is_got_and_marked_done(queue_path: str) -> None:
    with rocksq.Queue(queue_path) as q:
        q.put_many([b"a", b"b"])
        joiner = start_thread(q.join)

        q.get_many(2)
        q.task_done()
        time.sleep(0.1)
        assert joiner.is_alive(), "join returned with one item not marked done"

        q.task_done()
        joiner.join(1)
        assert not joiner.is_alive()


def test_join_waits_for_items_found_on_disk_when_the_queue_was_opened(queue_path: str) -> None:
    with rocksq.Queue(queue_path) as q:
        q.put_many([b"from", b"before"])

    with rocksq.Queue(queue_path) as q:
        joiner = start_thread(q.join)
        time.sleep(0.1)
        assert joiner.is_alive(), "join ignored the items found on disk"

        for _ in range(2):
            q.get()
            q.task_done()
        joiner.join(1)
        assert not joiner.is_alive()


def test_a_put_that_fails_adds_no_unfinished_task(queue_path: str) -> None:
    with rocksq.Queue(queue_path, maxsize=1) as q:
        q.put(b"stored")
        with pytest.raises(rocksq.Full):
            q.put_nowait(b"refused")
        with pytest.raises(rocksq.Full):
            q.put_many([b"refused", b"too"], block=False)

        q.get()
        q.task_done()
        joiner = start_thread(q.join)
        joiner.join(1)

        assert not joiner.is_alive()


def test_task_done_called_more_times_than_items_raises_value_error(queue_path: str) -> None:
    with rocksq.Queue(queue_path) as q:
        q.put(b"one")
        q.get()
        q.task_done()

        with pytest.raises(ValueError, match="too many"):
            q.task_done()


# --- Closing -----------------------------------------------------------------


def wait_and_record(call: Callable[[], object], errors: list[BaseException]) -> Callable[[], None]:
    """A thread target that runs `call` and records what it raised."""

    def run() -> None:
        try:
            call()
        except BaseException as error:  # noqa: BLE001 - handed to the test
            errors.append(error)

    return run


def test_close_wakes_every_blocked_getter_with_queue_closed(queue_path: str) -> None:
    errors: list[BaseException] = []
    q = rocksq.Queue(queue_path)
    getters = [start_thread(wait_and_record(q.get, errors)) for _ in range(4)]
    time.sleep(0.2)
    assert all(getter.is_alive() for getter in getters)

    start = time.monotonic()
    q.close()
    for getter in getters:
        getter.join(max(0.0, start + 1 - time.monotonic()))

    assert not any(getter.is_alive() for getter in getters), "close() left a getter waiting"
    assert [type(error) for error in errors] == [rocksq.QueueClosed] * 4


def test_close_wakes_every_blocked_putter_with_queue_closed(queue_path: str) -> None:
    errors: list[BaseException] = []
    q = rocksq.Queue(queue_path, maxsize=1)
    q.put(b"fills it")
    putters = [start_thread(wait_and_record(lambda: q.put(b"waits"), errors)) for _ in range(3)]
    putters.append(start_thread(wait_and_record(lambda: q.put_many([b"w"]), errors)))
    time.sleep(0.2)
    assert all(putter.is_alive() for putter in putters)

    start = time.monotonic()
    q.close()
    for putter in putters:
        putter.join(max(0.0, start + 1 - time.monotonic()))

    assert not any(putter.is_alive() for putter in putters), "close() left a putter waiting"
    assert [type(error) for error in errors] == [rocksq.QueueClosed] * 4


def test_calls_after_close_raise_queue_closed(queue_path: str) -> None:
    q = rocksq.Queue(queue_path)
    q.close()

    with pytest.raises(rocksq.QueueClosed):
        q.get(timeout=5)
    with pytest.raises(rocksq.QueueClosed):
        q.put(b"item")


def test_the_context_manager_closes_the_queue(queue_path: str) -> None:
    with rocksq.Queue(queue_path) as q:
        q.put(b"kept")

    with pytest.raises(rocksq.QueueClosed):
        q.get_nowait()
    with rocksq.Queue(queue_path) as reopened:  # Would raise QueueAlreadyOpen.
        assert reopened.get_nowait() == b"kept"


# --- Threads -----------------------------------------------------------------

PRODUCERS = 4
CONSUMERS = 4
ITEMS_PER_PRODUCER = 750
STOP = b"stop"


def test_blocking_producers_and_consumers_deliver_every_item_once_in_producer_order(
    queue_path: str,
) -> None:
    received: list[list[tuple[int, int]]] = [[] for _ in range(CONSUMERS)]

    with rocksq.Queue(queue_path, maxsize=8) as q:

        def produce(producer: int) -> None:
            for sequence in range(ITEMS_PER_PRODUCER):
                q.put(f"{producer}:{sequence}".encode(), timeout=20)

        def consume(consumer: int) -> None:
            while (item := q.get(timeout=20)) != STOP:
                producer, sequence = item.decode().split(":")
                received[consumer].append((int(producer), int(sequence)))

        def produce_all_then_stop_consumers() -> None:
            run_threads([lambda p=p: produce(p) for p in range(PRODUCERS)])
            for _ in range(CONSUMERS):
                q.put(STOP, timeout=20)

        run_threads(
            [lambda c=c: consume(c) for c in range(CONSUMERS)] + [produce_all_then_stop_consumers]
        )
        assert q.empty()

    assert_each_item_once_in_producer_order(received, PRODUCERS, ITEMS_PER_PRODUCER)


# --- Persistence and Ctrl-C --------------------------------------------------


def test_items_put_are_got_in_order_by_a_fresh_process(
    queue_path: str, run_python: RunPython
) -> None:
    with rocksq.Queue(queue_path) as q:
        q.put_many([b"one", b"two"])
        q.put(b"three")
        q.put(b"four")
        q.get()

    got = json.loads(
        run_python(
            """
            import json, sys, rocksq
            with rocksq.Queue(sys.argv[1]) as q:
                items = []
                while not q.empty():
                    items.append(q.get(timeout=1).decode())
            print(json.dumps(items))
            """,
            queue_path,
        )
    )

    assert got == ["two", "three", "four"]


def interrupt_when_blocked(script: str, queue_path: str, cwd: Path) -> tuple[float, str]:
    """Runs `script` in a child until it prints "blocking", then sends it SIGINT.

    Returns the seconds from the signal to the child's exit, and its stderr.
    """
    # A child started from a shell's background job inherits SIGINT ignored,
    # and Python then installs no KeyboardInterrupt handler: restore it, as
    # an interactive program has it.
    prologue = "import signal\nsignal.signal(signal.SIGINT, signal.default_int_handler)\n"
    child = subprocess.Popen(
        [sys.executable, "-c", prologue + textwrap.dedent(script), queue_path],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "blocking\n"
        time.sleep(0.3)  # Into the wait, past its first 100 ms slice.
        assert child.poll() is None, "the child did not block"
        signalled = time.monotonic()
        os.kill(child.pid, signal.SIGINT)
        child.wait(timeout=10)
        took = time.monotonic() - signalled
        _, stderr = child.communicate()
    finally:
        if child.poll() is None:
            child.kill()
        child.communicate()  # Reaps it and closes its pipes.
    return took, stderr


def test_sigint_ends_a_process_blocked_in_get_promptly_with_no_item_lost(
    queue_path: str, tmp_path: Path
) -> None:
    took, stderr = interrupt_when_blocked(
        """
        import sys, rocksq
        q = rocksq.Queue(sys.argv[1])
        q.put_many([b"got 1", b"got 2", b"got 3", b"got 4"])
        for _ in range(4):
            q.get()
        print("blocking", flush=True)
        q.get()
        """,
        queue_path,
        tmp_path,
    )

    assert "KeyboardInterrupt" in stderr
    assert took < 1
    with rocksq.Queue(queue_path) as q:
        # Nothing got came back; the queue still works where it left off.
        assert q.qsize() == 0
        q.put(b"after")
        assert q.get_many(10, block=False) == [b"after"]


def test_sigint_ends_a_process_blocked_in_put_promptly_with_its_items_intact(
    queue_path: str, tmp_path: Path
) -> None:
    took, stderr = interrupt_when_blocked(
        """
        import sys, rocksq
        q = rocksq.Queue(sys.argv[1], maxsize=3)
        q.put_many([b"got", b"kept 1", b"kept 2"])
        q.get()
        q.put(b"kept 3")
        print("blocking", flush=True)
        q.put(b"never stored")
        """,
        queue_path,
        tmp_path,
    )

    assert "KeyboardInterrupt" in stderr
    assert took < 1
    with rocksq.Queue(queue_path) as q:
        assert q.get_many(10, block=False) == [b"kept 1", b"kept 2", b"kept 3"]
