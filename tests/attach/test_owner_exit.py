"""When the owner of an attached FIFO queue leaves, an attached process takes the queue over.

Its calls under way complete (test_handover.py checks that each does exactly
once), nothing the owner acknowledged is lost, and the socket a killed owner
leaves never blocks the next open.
"""

from __future__ import annotations

import os
import select
import signal
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import attach_workers
import pytest
import rocksq
from conftest import WAIT_SECONDS

from rocksq._core import FifoQueue
from rocksq.inspection import inspect_owner


def test_an_attached_call_after_the_owner_closed_takes_the_queue_over(
    queue_path: str, processes: ProcessPoolExecutor, manager
) -> None:
    owner = FifoQueue(queue_path, attach=True)
    owner.push(b"stored by the owner")
    attached, owner_left = manager.Event(), manager.Event()
    call = processes.submit(
        attach_workers.call_after_owner_left, queue_path, attached, owner_left
    )
    assert attached.wait(WAIT_SECONDS)

    owner.close()
    owner_left.set()

    assert call.result(WAIT_SECONDS) == ("no error", "1", True)


def test_an_attached_pop_wait_goes_on_waiting_when_the_owner_closes(
    queue_path: str, processes: ProcessPoolExecutor, manager
) -> None:
    """The waiting call is sent again to the process that took over (the waiter itself here)."""
    owner = FifoQueue(queue_path, attach=True)
    attached = manager.Event()
    call = processes.submit(attach_workers.wait_when_owner_leaves, queue_path, attached)
    assert attached.wait(WAIT_SECONDS)
    time.sleep(0.2)  # Parked at the owner: nothing to wait on from here.

    owner.close()
    deadline = time.monotonic() + WAIT_SECONDS
    while inspect_owner(queue_path).pid in (None, os.getpid()):
        assert time.monotonic() < deadline, "nobody took the queue over"
        time.sleep(0.01)
    pusher = FifoQueue(queue_path, attach=True)  # Attached to the waiter, which owns it now.
    pusher.push(b"after the hand-over")

    outcome, items, elapsed = call.result(WAIT_SECONDS)
    pusher.close()
    assert (outcome, items) == ("no error", [b"after the hand-over"])
    assert elapsed < 30


def test_a_killed_owner_leaves_a_stale_socket_that_does_not_block_the_next_open(
    queue_path: str, start_process, manager
) -> None:
    ready = manager.Event()
    owner = start_process(attach_workers.own_until_killed, queue_path, ready)
    assert ready.wait(WAIT_SECONDS)
    owner.kill()
    owner.join(WAIT_SECONDS)
    assert (Path(queue_path) / "rocksq.sock").exists()

    queue = FifoQueue(queue_path, attach=True)

    assert queue.pop(5) == [b"stored by the killed owner"]
    queue.close()


def test_an_attached_queue_takes_the_queue_over_when_its_owner_is_killed(
    queue_path: str, start_process, manager
) -> None:
    ready = manager.Event()
    owner = start_process(attach_workers.own_until_killed, queue_path, ready)
    assert ready.wait(WAIT_SECONDS)
    queue = FifoQueue(queue_path, attach=True)
    assert queue.pop(5) == [b"stored by the killed owner"]
    queue.push(b"acknowledged by the owner")
    owner.kill()
    owner.join(WAIT_SECONDS)

    assert queue.len == 1
    assert inspect_owner(queue_path).pid == os.getpid()
    assert queue.pop(5) == [b"acknowledged by the owner"]
    queue.close()


@pytest.mark.filterwarnings("ignore:.*is multi-threaded, use of fork:DeprecationWarning")
def test_an_owner_killed_while_its_forked_child_lives_is_taken_over(
    queue_path: str, start_process, processes: ProcessPoolExecutor, manager
) -> None:
    """The child holds no copy of the owner's connections, which would hide its death."""
    serving, attached, forked = manager.Event(), manager.Event(), manager.Event()
    child_pids = manager.list()
    owner = start_process(
        attach_workers.own_with_a_forked_child_until_killed,
        queue_path,
        serving,
        attached,
        forked,
        child_pids,
    )
    assert serving.wait(WAIT_SECONDS)
    owner_left = manager.Event()
    call = processes.submit(
        attach_workers.call_after_owner_left, queue_path, attached, owner_left
    )
    assert forked.wait(WAIT_SECONDS)
    # Its death, seen through a pidfd: join() would wait for the child too,
    # which inherited the end of the pipe that join() watches (spawn).
    owner_death = os.pidfd_open(owner.pid)
    try:
        owner.kill()
        assert select.select([owner_death], [], [], WAIT_SECONDS)[0]
        owner_left.set()

        outcome, _, owns = call.result(WAIT_SECONDS)
    finally:
        os.kill(child_pids[0], signal.SIGKILL)
        os.close(owner_death)
    assert (outcome, owns) == ("no error", True)


def test_an_attached_process_killed_while_it_waits_gets_nothing_popped_for_it(
    queue_path: str, start_process, manager
) -> None:
    """The owner neither crashes nor pops for a dead client: the item stays for the living.

    rocksq.Queue.get waits in 100 ms pop_waits, so the owner holds a parked
    call of the killed process, which its deadline or the next push would
    run. Both once sent popped items down the closed socket, and the
    owner's server, dropping the connection while it walked its parked
    calls, crashed the process.
    """
    owner = rocksq.Queue(queue_path, attach=True)
    ready = manager.Event()
    waiting = start_process(attach_workers.get_until_killed, queue_path, ready)
    assert ready.wait(WAIT_SECONDS)
    time.sleep(0.3)  # Parked and re-parked a few times: nothing to wait on from here.
    waiting.kill()
    waiting.join(WAIT_SECONDS)

    owner.put(b"precious")
    time.sleep(0.3)  # Past the dead call's deadline.

    assert owner.get_nowait() == b"precious"
    owner.close()



def test_an_owner_closing_while_synced_pushes_sync_on_its_workers_loses_and_repeats_nothing(
    queue_path: str, processes: ProcessPoolExecutor
) -> None:
    """Synced, the owner runs merged pushes on worker threads; its close waits for them."""
    owner = FifoQueue(queue_path, sync=True, attach=True)
    count = 400
    producers = [
        processes.submit(attach_workers.produce, queue_path, producer, count, True)
        for producer in range(2)
    ]
    deadline = time.monotonic() + WAIT_SECONDS
    while owner.len < 40:
        assert time.monotonic() < deadline, "the producers stopped pushing"
        time.sleep(0.001)

    owner.close()  # Mid-stream: a producer takes the queue over.

    for producer in producers:
        producer.result(WAIT_SECONDS)
    reopened = FifoQueue(queue_path, sync=True, attach=True)
    items = [bytes(item) for item in reopened.pop(10 * count)]
    reopened.close()
    assert sorted(items) == sorted(b"%d %d" % (p, n) for p in range(2) for n in range(count))
    for producer in (b"0", b"1"):
        numbers = [int(item.split()[1]) for item in items if item.split()[0] == producer]
        assert numbers == sorted(numbers)
