"""Threads share one MpmcQueue: adders and labelled readers at once."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from support.threads import SpinMeter, run_threads, runs_of_other_threads_during

from rocksq import StartPosition
from rocksq.blocking import MpmcQueue

OLDEST = StartPosition.Oldest
PRODUCERS = 4
LABELS = 3
PER_PRODUCER = 1000


def test_concurrent_adds_reach_every_label_once_each_in_add_order(queue_path: str) -> None:
    queue = MpmcQueue(queue_path, 3600)
    producers_done = threading.Event()
    finished = Counter()
    lock = threading.Lock()
    seen: list[list[bytes]] = [[] for _ in range(LABELS)]

    def produce(producer: int) -> None:
        for sequence in range(0, PER_PRODUCER, 2):
            queue.add([b"%d:%d" % (producer, sequence), b"%d:%d" % (producer, sequence + 1)])
        with lock:
            finished["producers"] += 1
            if finished["producers"] == PRODUCERS:
                producers_done.set()

    def read(label: int) -> None:
        while True:
            done = producers_done.is_set()
            items, expired = queue.next(f"label-{label}", OLDEST, label * 5 + 1)
            assert expired is False
            seen[label].extend(items)
            if done and not items:
                return

    run_threads(
        [lambda p=p: produce(p) for p in range(PRODUCERS)]
        + [lambda label=label: read(label) for label in range(LABELS)],
        timeout=60,
    )

    for label in range(LABELS):
        assert len(seen[label]) == PRODUCERS * PER_PRODUCER
        assert seen[label] == seen[0]  # The one add order, for every label.
        for producer in range(PRODUCERS):
            sequences = [
                int(item.split(b":")[1]) for item in seen[label] if item.startswith(b"%d:" % producer)
            ]
            assert sequences == list(range(PER_PRODUCER))


def test_threads_sharing_a_label_get_each_element_once(queue_path: str) -> None:
    queue = MpmcQueue(queue_path, 3600)
    elements = [b"%d" % n for n in range(5000)]
    queue.add(elements)
    received: list[list[bytes]] = [[] for _ in range(4)]

    def read(reader: int) -> None:
        while True:
            items, _ = queue.next("shared", OLDEST, 3)
            if not items:
                return
            received[reader].extend(items)

    run_threads([lambda r=r: read(r) for r in range(4)])

    assert sorted(item for part in received for item in part) == sorted(elements)


def test_removing_a_label_while_threads_read_it_is_safe(queue_path: str) -> None:
    queue = MpmcQueue(queue_path, 3600)
    queue.add([b"%d" % n for n in range(200)])
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            queue.next("racer", OLDEST, 1)

    def remove() -> None:
        for _ in range(300):
            queue.remove_label("racer")
        stop.set()

    run_threads([read, read, remove])

    in_memory = queue.labels
    queue.close()
    assert MpmcQueue(queue_path, 3600).labels == in_memory


@pytest.mark.usefixtures("short_switch_interval")
def test_add_lets_other_threads_run(queue_path: str) -> None:
    queue = MpmcQueue(queue_path, 3600)

    share = SpinMeter().longest_stall_share(lambda: queue.add([bytes(1 << 20)] * 64))

    assert share < 0.5


def test_add_holds_the_gil_when_no_gil_is_false(queue_path: str) -> None:
    queue = MpmcQueue(queue_path, 3600)

    assert (
        runs_of_other_threads_during(lambda: queue.add([bytes(1 << 20)] * 64, no_gil=False)) == 0
    )


@pytest.mark.usefixtures("short_switch_interval")
def test_next_lets_other_threads_run(queue_path: str) -> None:
    queue = MpmcQueue(queue_path, 3600)
    # Enough elements that the read takes about 0.1 s: a shorter one is
    # mostly the hand-back of the GIL at its end, which a busy machine delays.
    queue.add([b"%015d" % n for n in range(500_000)])

    share = SpinMeter().longest_stall_share(lambda: queue.next("reader", OLDEST, 500_000))

    assert share < 0.5
