"""An ack queue opened with attach=True in another process behaves as in the owner (issue 17).

The test process owns each queue (attach=True); the processes of the
`processes` pool attach to it.
"""

from __future__ import annotations

import re
import time
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import ack_workers
import pytest
from conftest import WAIT_SECONDS

import rocksq
from rocksq._core import AckQueue


def test_every_call_gives_the_same_results_attached_as_in_the_owner(
    tmp_path: Path, processes: ProcessPoolExecutor
) -> None:
    in_owner = ack_workers.parity_script(
        AckQueue(str(tmp_path / "owned"), ack_workers.CAPACITY, attach=True)
    )
    served = AckQueue(str(tmp_path / "served"), ack_workers.CAPACITY, attach=True)

    attached = processes.submit(ack_workers.attached_parity_script, served.path).result(
        WAIT_SECONDS
    )

    assert attached == in_owner
    served.close()


def test_items_of_two_producer_processes_are_acked_once_each_by_two_consumer_processes_in_order(
    queue_path: str, processes: ProcessPoolExecutor
) -> None:
    owner = AckQueue(queue_path, attach=True)
    count = 600
    consumers = [processes.submit(ack_workers.consume, queue_path) for _ in range(2)]
    producers = [
        processes.submit(ack_workers.produce, queue_path, producer, count)
        for producer in range(2)
    ]
    for producer in producers:
        producer.result(WAIT_SECONDS)
    owner.push_many([b"stop", b"stop"])
    acked = [consumer.result(WAIT_SECONDS) for consumer in consumers]

    every_ack = Counter(item for items in acked for item in items)
    assert every_ack == Counter(b"%d %d" % (p, n) for p in range(2) for n in range(count))
    for items in acked:
        numbers = defaultdict(list)
        for item in items:
            producer, n = item.split()
            numbers[producer].append(int(n))
        assert all(sequence == sorted(sequence) for sequence in numbers.values())
    assert owner.len == 0
    owner.close()


@pytest.mark.parametrize("visibility_timeout", [0, 600.0], ids=["leases-never-expire", "10-minute-leases"])
def test_items_an_attached_consumer_held_when_killed_are_delivered_again_at_once(
    queue_path: str, start_process, manager, visibility_timeout: float
) -> None:
    # The leases end with the process that held them, as a crash and reopen
    # would end them: not at their timeout (10 minutes, far past WAIT_SECONDS), and
    # not never (a zero timeout).
    owner = AckQueue(queue_path, visibility_timeout=visibility_timeout, attach=True)
    owner.push_many([b"1", b"2", b"3"])
    holding = manager.Event()
    consumer = start_process(
        ack_workers.hold_until_killed, queue_path, visibility_timeout, 2, holding
    )
    assert holding.wait(WAIT_SECONDS)
    assert owner.unacked == 2

    consumer.kill()
    consumer.join()

    # The owner nacks the held items one by one: a get_wait may wake between.
    again: list = []
    deadline = time.monotonic() + WAIT_SECONDS
    while len(again) < 3 and time.monotonic() < deadline:
        again += owner.get_wait(3 - len(again), deadline - time.monotonic())
    assert sorted(ack_workers.without_receipts(again)) == [(0, b"1", 2), (1, b"2", 2), (2, b"3", 1)]
    owner.close()


def test_items_an_attached_consumer_held_when_it_closed_the_queue_are_delivered_again(
    queue_path: str, processes: ProcessPoolExecutor
) -> None:
    owner = AckQueue(queue_path, visibility_timeout=0, attach=True)
    owner.push_many([b"1", b"2", b"3", b"4"])

    settled = processes.submit(ack_workers.settle_some_then_close, queue_path).result(WAIT_SECONDS)

    assert settled == {"acked": [0], "nacked": [1], "failed": [2], "held": [3]}
    again = owner.get_wait(2, WAIT_SECONDS)
    if len(again) < 2:
        again += owner.get_wait(1, WAIT_SECONDS)
    # The nacked one and the held one; the acked and failed ones stay settled.
    assert sorted(ack_workers.without_receipts(again)) == [(1, b"2", 2), (3, b"4", 2)]
    assert (owner.ready, owner.unacked, owner.failed_count) == (0, 2, 1)
    owner.close()


def test_an_attached_get_wait_wakes_on_a_push_from_another_process(
    queue_path: str, processes: ProcessPoolExecutor, manager
) -> None:
    owner = AckQueue(queue_path, attach=True)
    ready = manager.Event()
    waiting = processes.submit(ack_workers.get_waiting, queue_path, ready, WAIT_SECONDS)
    assert ready.wait(WAIT_SECONDS)

    processes.submit(ack_workers.push, queue_path, b"wake up").result(WAIT_SECONDS)

    deliveries, elapsed = waiting.result(WAIT_SECONDS)
    assert deliveries == [(0, b"wake up", 1)]
    assert elapsed < WAIT_SECONDS / 2
    assert owner.len == 0
    owner.close()


def test_an_attached_get_wait_wakes_when_a_lease_in_the_owner_expires(
    queue_path: str, processes: ProcessPoolExecutor, manager
) -> None:
    owner = AckQueue(queue_path, visibility_timeout=0.3, attach=True)
    owner.push(b"never acked by the owner")
    assert len(owner.get()) == 1

    deliveries, elapsed = processes.submit(
        ack_workers.get_waiting, queue_path, manager.Event(), WAIT_SECONDS, 0.3
    ).result(WAIT_SECONDS)

    assert deliveries == [(0, b"never acked by the owner", 2)]
    assert elapsed < WAIT_SECONDS / 2
    owner.close()


def test_an_attached_get_wait_returns_nothing_at_its_timeout(
    queue_path: str, processes: ProcessPoolExecutor, manager
) -> None:
    owner = AckQueue(queue_path, attach=True)

    deliveries, elapsed = processes.submit(
        ack_workers.get_waiting, queue_path, manager.Event(), 0.3
    ).result(WAIT_SECONDS)

    assert deliveries == []
    assert 0.3 <= elapsed < 10
    owner.close()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_elements": 5}, "max_elements 5 differs from the owning process .*'s 10"),
        ({"max_elements": 10, "sync": True}, "sync True differs from the owning process .*'s False"),
        (
            {"max_elements": 10, "visibility_timeout": 2.5},
            "visibility_timeout 2.5 differs from the owning process .*'s 1.25",
        ),
        (
            {"max_elements": 10, "dedup_window": 7},
            "dedup_window 7 differs from the owning process .*'s 1000000",
        ),
    ],
)
def test_an_attached_open_with_other_options_than_the_owner_raises_naming_both_values(
    queue_path: str, processes: ProcessPoolExecutor, options: dict, message: str
) -> None:
    owner = AckQueue(queue_path, 10, visibility_timeout=1.25, attach=True)
    options.setdefault("visibility_timeout", 1.25)

    outcome = processes.submit(ack_workers.open_attached, queue_path, **options).result(
        WAIT_SECONDS
    )

    assert outcome.startswith("ValueError: "), outcome
    assert re.search(message, outcome), outcome
    owner.close()


def test_attaching_to_an_ack_queue_as_a_fifo_queue_raises_not_a_queue(
    queue_path: str, processes: ProcessPoolExecutor
) -> None:
    owner = AckQueue(queue_path, attach=True)

    outcome = processes.submit(ack_workers.open_fifo_attached, queue_path).result(WAIT_SECONDS)

    assert outcome.startswith("NotAQueueError: "), outcome
    assert "ack queue, not a FIFO queue" in outcome, outcome
    owner.close()


def test_opening_without_attach_still_raises_queue_already_open_in_another_process(
    queue_path: str, processes: ProcessPoolExecutor
) -> None:
    owner = AckQueue(queue_path, attach=True)

    outcome = processes.submit(
        ack_workers.open_attached, queue_path, attach=False
    ).result(WAIT_SECONDS)

    assert outcome.startswith("QueueAlreadyOpen: "), outcome
    owner.close()


def test_rocksq_ack_queue_attaches_when_asked(
    queue_path: str, processes: ProcessPoolExecutor
) -> None:
    owner = rocksq.AckQueue(queue_path, attach=True)
    owner.put(b"from the owner")

    taken = processes.submit(ack_workers.face_put_get_ack, queue_path).result(WAIT_SECONDS)

    assert taken == [b"from the owner", b"from the attached process"]
    assert owner.qsize() == 0
    owner.close()
