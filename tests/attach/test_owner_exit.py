"""When the owner of an attached queue leaves (issue 17, stage 2: no hand-over yet).

Its attached processes get QueueClosed naming it, nothing it acknowledged is
lost, and the socket a killed owner leaves never blocks the next open.
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


def test_an_attached_call_after_the_owner_closed_raises_queue_closed_naming_it(
    queue_path: str, processes: ProcessPoolExecutor, manager
) -> None:
    owner = FifoQueue(queue_path, attach=True)
    attached, owner_left = manager.Event(), manager.Event()
    call = processes.submit(
        attach_workers.call_after_owner_left, queue_path, attached, owner_left
    )
    assert attached.wait(WAIT_SECONDS)

    owner.close()
    owner_left.set()

    error, message = call.result(WAIT_SECONDS)
    assert error == "QueueClosed"
    assert f"the owning process {os.getpid()} closed the queue" in message


def test_an_attached_pop_wait_raises_queue_closed_when_the_owner_closes(
    queue_path: str, processes: ProcessPoolExecutor, manager
) -> None:
    owner = FifoQueue(queue_path, attach=True)
    attached = manager.Event()
    call = processes.submit(attach_workers.wait_when_owner_leaves, queue_path, attached)
    assert attached.wait(WAIT_SECONDS)

    owner.close()

    error, message, elapsed = call.result(WAIT_SECONDS)
    assert error == "QueueClosed"
    assert str(os.getpid()) in message
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


def test_an_attached_queue_raises_queue_closed_naming_the_owner_when_it_is_killed(
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

    with pytest.raises(Exception, match=f"the owning process {owner.pid} ") as raised:
        queue.len  # noqa: B018 - the call is the test
    assert type(raised.value).__name__ == "QueueClosed"
    queue.close()
    reopened = FifoQueue(queue_path, attach=True)
    assert reopened.pop(5) == [b"acknowledged by the owner"]
    reopened.close()


@pytest.mark.filterwarnings("ignore:.*is multi-threaded, use of fork:DeprecationWarning")
def test_an_owner_killed_while_its_forked_child_lives_still_ends_the_attached_calls(
    queue_path: str, start_process, processes: ProcessPoolExecutor, manager
) -> None:
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

        # The child holds no copy of the owner's connections: the call ends.
        error, message = call.result(WAIT_SECONDS)
    finally:
        os.kill(child_pids[0], signal.SIGKILL)
        os.close(owner_death)
    assert error == "QueueClosed"
    assert f"the owning process {owner.pid} " in message


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

