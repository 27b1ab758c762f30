"""rocksq.Queue's task_done() and join() across processes (issue 17): one count per queue, the owner's.

The test process owns the queue in each test (but the hand-over's); the
others attach (task_workers.py). A join() of an attached process is parked
by the owner until a task_done() of any process leaves no task unfinished.
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ProcessPoolExecutor, wait

import task_workers
from conftest import WAIT_SECONDS

import rocksq


def wait_for_event(event: object, *workers: Future[object]) -> None:
    """Returns once `event` is set; raises what a worker raised if one failed first."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not event.wait(0.05):  # type: ignore[attr-defined]
        for worker in workers:
            if worker.done():
                worker.result()
        assert time.monotonic() < deadline, "the event was never set"


def test_a_producers_join_returns_once_two_consumer_processes_marked_every_item_done(
    queue_path: str, processes: ProcessPoolExecutor, manager: object
) -> None:
    owner = rocksq.Queue(queue_path, attach=True)
    items = [b"item %d" % number for number in range(200)]
    holding = manager.Event()  # type: ignore[attr-defined]
    release = manager.Event()  # type: ignore[attr-defined]

    holder = processes.submit(task_workers.consume_marking_done, queue_path, holding, release)
    other = processes.submit(task_workers.consume_marking_done, queue_path)
    producer = processes.submit(task_workers.produce_and_join, queue_path, items, 2)
    wait_for_event(holding, holder, other, producer)
    got_by_other = other.result(WAIT_SECONDS)

    # Every task is done but the one the holder works on (and the STOP it
    # has not got yet, if that was not the one): the join still waits.
    assert owner.unfinished_tasks in (1, 2)
    done, _ = wait([producer], timeout=0.5)
    assert not done, "join() returned while a consumer had not marked its item done"

    release.set()
    assert producer.result(WAIT_SECONDS) == 0
    assert sorted(holder.result(WAIT_SECONDS) + got_by_other) == sorted(items)
    assert (owner.unfinished_tasks, owner.qsize()) == (0, 0)
    owner.join()
    owner.close()


def test_task_done_called_more_times_than_items_across_processes_raises_value_error(
    queue_path: str, processes: ProcessPoolExecutor
) -> None:
    owner = rocksq.Queue(queue_path, attach=True)
    owner.put(b"the only item")  # Put by this process: counted in the owner's count.

    outcomes = processes.submit(task_workers.task_done_twice_for_one_item, queue_path)

    first, second = outcomes.result(WAIT_SECONDS)
    assert first == "done, 0 left"
    assert second.startswith("ValueError: ") and "task_done() called too many times" in second
    owner.join()
    owner.close()


def test_an_attached_aio_join_wakes_when_the_owner_marks_the_last_item_done(
    queue_path: str, processes: ProcessPoolExecutor, manager: object
) -> None:
    owner = rocksq.Queue(queue_path, attach=True)
    owner.put_many([b"a", b"b"])
    # Got before the join waits: only the task_done() calls change anything then.
    owner.get_many(2)
    waiting = manager.Event()  # type: ignore[attr-defined]

    joined = processes.submit(task_workers.aio_join, queue_path, waiting)
    wait_for_event(waiting, joined)
    owner.task_done()
    done, _ = wait([joined], timeout=0.5)
    assert not done, "the aio join() returned with a task unfinished"
    owner.task_done()

    threads_before_open, threads_while_waiting = joined.result(WAIT_SECONDS)
    assert threads_while_waiting == threads_before_open
    owner.close()


def test_a_join_under_way_when_the_owner_is_killed_counts_the_items_stored_at_the_hand_over(
    queue_path: str, processes: ProcessPoolExecutor, manager: object, start_process: object
) -> None:
    ready = manager.Event()  # type: ignore[attr-defined]
    owner = start_process(  # type: ignore[operator]
        task_workers.own_with_items_until_killed, queue_path, [b"a", b"b", b"c"], ready
    )
    assert ready.wait(WAIT_SECONDS)
    attached = manager.Event()  # type: ignore[attr-defined]
    joined = processes.submit(task_workers.join_attached, queue_path, attached)
    wait_for_event(attached, joined)
    consumer = rocksq.Queue(queue_path, attach=True)
    assert consumer.get_nowait() == b"a"  # Got, never marked done: forgotten with the owner.

    owner.kill()
    owner.join()
    # Whichever process takes over counts the items stored then: "b" and "c".
    assert consumer.unfinished_tasks == 2
    done, _ = wait([joined], timeout=0.5)
    assert not done, "join() returned with the stored items unfinished"
    for expected in (b"b", b"c"):
        assert consumer.get(timeout=WAIT_SECONDS) == expected
        consumer.task_done()

    assert joined.result(WAIT_SECONDS) == "joined"
    consumer.close()
