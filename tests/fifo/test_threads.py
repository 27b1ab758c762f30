"""Threads share one queue object, and push and pop let other threads run."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

import pytest
from support.ordering import assert_each_item_once_in_producer_order
from support.threads import SpinMeter, run_threads, runs_of_other_threads_during

import rocksq
from rocksq._core import FifoQueue
from rocksq.blocking import PersistentQueueWithCapacity

if TYPE_CHECKING:
    from conftest import RunPython

PRODUCERS = 4
CONSUMERS = 4
ITEMS_PER_PRODUCER = 1000


def test_concurrent_producers_and_consumers_deliver_every_item_once_in_producer_order(
    queue_path: str,
) -> None:
    queue = PersistentQueueWithCapacity(queue_path)
    producers_done = threading.Event()
    produced = threading.Semaphore(0)
    received: list[list[tuple[int, int]]] = [[] for _ in range(CONSUMERS)]

    def produce(producer: int) -> None:
        sequence = 0
        while sequence < ITEMS_PER_PRODUCER:
            batch_size = min(1 + sequence % 7, ITEMS_PER_PRODUCER - sequence)
            queue.push([f"{producer}:{sequence + n}".encode() for n in range(batch_size)])
            sequence += batch_size
        produced.release()

    def consume(consumer: int) -> None:
        while True:
            items = queue.pop(max_elements=1 + consumer * 3)
            for item in items:
                producer, sequence = item.decode().split(":")
                received[consumer].append((int(producer), int(sequence)))
            if not items:
                if producers_done.is_set() and queue.is_empty:
                    return
                time.sleep(0.0001)

    def wait_for_producers() -> None:
        for _ in range(PRODUCERS):
            produced.acquire()
        producers_done.set()

    run_threads(
        [lambda p=p: produce(p) for p in range(PRODUCERS)]
        + [lambda c=c: consume(c) for c in range(CONSUMERS)]
        + [wait_for_producers]
    )

    assert_each_item_once_in_producer_order(received, PRODUCERS, ITEMS_PER_PRODUCER)
    assert queue.len == 0


# Calls long enough (0.1 s to 1 s) that the switch intervals around them are
# a small part: a push writes 64 MiB; a pop reads many small items, so that
# building the bytes objects (with the GIL) is a small part of it too.
BIG_PUSH = [bytes(1 << 20)] * 64
MANY_SMALL_ITEMS = [b"%015d" % n for n in range(500_000)]


@pytest.mark.usefixtures("short_switch_interval")
def test_push_lets_other_threads_run_when_no_gil_is_true(queue_path: str) -> None:
    queue = FifoQueue(queue_path)

    share = SpinMeter().longest_stall_share(lambda: queue.push_many(BIG_PUSH, no_gil=True))

    assert share < 0.5


def test_push_holds_the_gil_when_no_gil_is_false(queue_path: str) -> None:
    queue = FifoQueue(queue_path)

    assert runs_of_other_threads_during(lambda: queue.push_many(BIG_PUSH, no_gil=False)) == 0


@pytest.mark.usefixtures("short_switch_interval")
def test_seed_push_of_one_big_item_lets_other_threads_run(queue_path: str) -> None:
    queue = rocksq.PersistentQueueWithCapacity(queue_path)
    item = bytes(64 << 20)

    share = SpinMeter().longest_stall_share(lambda: queue.push(item))

    assert share < 0.5


@pytest.mark.usefixtures("short_switch_interval")
def test_pop_lets_other_threads_run_when_no_gil_is_true(queue_path: str) -> None:
    queue = FifoQueue(queue_path)
    queue.push_many(MANY_SMALL_ITEMS)

    share = SpinMeter().longest_stall_share(
        lambda: queue.pop(len(MANY_SMALL_ITEMS), no_gil=True)
    )

    assert share < 0.5


def test_pop_holds_the_gil_when_no_gil_is_false(queue_path: str) -> None:
    queue = FifoQueue(queue_path)
    queue.push_many(MANY_SMALL_ITEMS)

    assert (
        runs_of_other_threads_during(lambda: queue.pop(len(MANY_SMALL_ITEMS), no_gil=False)) == 0
    )


def test_daemon_threads_inside_push_and_pop_at_exit_let_the_process_exit_cleanly(
    queue_path: str, run_python: RunPython
) -> None:
    output = run_python(
        """
        import sys, threading, time
        import rocksq
        queue = rocksq.PersistentQueueWithCapacity(sys.argv[1])

        def push_forever():
            while True:
                queue.push(bytes(1 << 20))

        def pop_forever():
            while True:
                queue.pop()

        for target in (push_forever, pop_forever):
            threading.Thread(target=target, daemon=True).start()
        time.sleep(0.2)
        print("exiting")
        """,
        queue_path,
    )

    assert output == "exiting\n"
