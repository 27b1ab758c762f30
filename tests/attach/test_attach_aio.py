"""rocksq.aio faces attached to a queue another process owns (issue 17).

An awaiting coroutine of the attached process wakes when the owner's queue
changes: the owner answers a Watch on the attached queue's event lane, and
no thread of the attached process waits. The workers (aio_workers.py) start
the waiting call, let it wait, and set `waiting`; only then does the test
change the queue. Each await is bounded by a long timeout, so a wake-up
that never comes fails the test rather than passing late.
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ProcessPoolExecutor

import aio_workers
from conftest import WAIT_SECONDS

import rocksq
from rocksq._core import AckQueue, MpmcQueue
from rocksq.inspection import inspect_owner


def wait_until_waiting(waiting: object, worker: Future[object]) -> None:
    """Returns once the worker set `waiting`; raises what it raised if it failed first."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not waiting.wait(0.05):  # type: ignore[attr-defined]
        if worker.done():
            worker.result()
            raise AssertionError("the worker returned without waiting")
        assert time.monotonic() < deadline, "the worker never waited"


def test_an_attached_aio_get_wakes_when_the_owner_puts_with_no_thread_of_its_own(
    queue_path: str, processes: ProcessPoolExecutor, manager: object
) -> None:
    owner = rocksq.Queue(queue_path, attach=True)
    waiting = manager.Event()  # type: ignore[attr-defined]

    got = processes.submit(aio_workers.get_once_put, queue_path, waiting)
    wait_until_waiting(waiting, got)
    owner.put(b"from the owner")

    item, threads_before_open, threads_while_waiting = got.result(WAIT_SECONDS)
    assert item == b"from the owner"
    assert threads_while_waiting == threads_before_open
    owner.close()


def test_an_attached_aio_put_waiting_for_room_wakes_when_the_owner_gets(
    queue_path: str, processes: ProcessPoolExecutor, manager: object
) -> None:
    owner = rocksq.Queue(queue_path, maxsize=1, attach=True)
    owner.put(b"fills the queue")
    waiting = manager.Event()  # type: ignore[attr-defined]

    put = processes.submit(aio_workers.put_once_room, queue_path, waiting)
    wait_until_waiting(waiting, put)
    assert owner.get_nowait() == b"fills the queue"

    assert put.result(WAIT_SECONDS) == 1
    assert owner.get_nowait() == b"put once there was room"
    owner.close()


def test_a_cancelled_attached_aio_get_loses_no_item(
    queue_path: str, processes: ProcessPoolExecutor, manager: object
) -> None:
    owner = rocksq.Queue(queue_path, attach=True)
    waiting = manager.Event()  # type: ignore[attr-defined]
    pushed = manager.Event()  # type: ignore[attr-defined]

    got = processes.submit(aio_workers.cancel_get_then_get, queue_path, waiting, pushed)
    wait_until_waiting(waiting, got)
    owner.put(b"the only item")
    pushed.set()

    assert got.result(WAIT_SECONDS) == ("cancelled", b"the only item")
    assert owner.qsize() == 0
    owner.close()


def test_an_attached_aio_ack_queue_get_wakes_when_the_owner_puts(
    queue_path: str, processes: ProcessPoolExecutor, manager: object
) -> None:
    owner = AckQueue(queue_path, visibility_timeout=aio_workers.ACK_VISIBILITY_TIMEOUT, attach=True)
    waiting = manager.Event()  # type: ignore[attr-defined]

    got = processes.submit(aio_workers.ack_get_once_put, queue_path, waiting)
    wait_until_waiting(waiting, got)
    owner.push(b"for the ack queue")

    assert got.result(WAIT_SECONDS) == b"for the ack queue"
    assert (owner.len, owner.unacked) == (0, 0)
    owner.close()


def test_an_attached_aio_mpmc_next_wakes_when_the_owner_adds(
    queue_path: str, processes: ProcessPoolExecutor, manager: object
) -> None:
    owner = MpmcQueue(queue_path, 3600, attach=True)
    waiting = manager.Event()  # type: ignore[attr-defined]

    read = processes.submit(aio_workers.mpmc_next_once_added, queue_path, 3600, waiting)
    wait_until_waiting(waiting, read)
    owner.add([b"first", b"second"])

    assert read.result(WAIT_SECONDS) == ([b"first", b"second"], False)
    owner.close()


def test_an_attached_aio_get_completes_after_its_owner_is_killed(
    queue_path: str,
    processes: ProcessPoolExecutor,
    manager: object,
    start_process: object,
) -> None:
    ready = manager.Event()  # type: ignore[attr-defined]
    owner = start_process(aio_workers.own_empty_until_killed, queue_path, ready)  # type: ignore[operator]
    assert ready.wait(WAIT_SECONDS)
    waiting = manager.Event()  # type: ignore[attr-defined]

    got = processes.submit(aio_workers.get_once_put, queue_path, waiting)
    wait_until_waiting(waiting, got)
    owner.kill()
    owner.join()
    # The waiting get wakes at the event lane's end and retries: its
    # process takes the queue over. This one then attaches to it and puts.
    deadline = time.monotonic() + WAIT_SECONDS
    while not (inspect_owner(queue_path).answered and inspect_owner(queue_path).pid != owner.pid):
        assert time.monotonic() < deadline, "no process took the queue over"
        time.sleep(0.01)
    attached = rocksq.Queue(queue_path, attach=True)
    attached.put(b"after the hand-over")

    item, _, _ = got.result(WAIT_SECONDS)
    assert item == b"after the hand-over"
    attached.close()
