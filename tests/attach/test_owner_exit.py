"""When the owner of an attached queue leaves (issue 17, stage 2: no hand-over yet).

Its attached processes get QueueClosed naming it, nothing it acknowledged is
lost, and the socket a killed owner leaves never blocks the next open.
"""

from __future__ import annotations

import os
import signal
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import attach_workers
import pytest
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
    queue_path: str, processes: ProcessPoolExecutor, manager
) -> None:
    ready = manager.Event()
    processes.submit(attach_workers.own_until_killed, queue_path, ready)
    assert ready.wait(WAIT_SECONDS)
    owners = [p for p in processes._processes.values() if _holds_lock(p.pid, queue_path)]
    assert len(owners) == 1
    os.kill(owners[0].pid, signal.SIGKILL)
    owners[0].join(WAIT_SECONDS)
    assert (Path(queue_path) / "rocksq.sock").exists()

    queue = FifoQueue(queue_path, attach=True)

    assert queue.pop(5) == [b"stored by the killed owner"]
    queue.close()


def test_an_attached_queue_raises_queue_closed_naming_the_owner_when_it_is_killed(
    queue_path: str, processes: ProcessPoolExecutor, manager
) -> None:
    ready = manager.Event()
    processes.submit(attach_workers.own_until_killed, queue_path, ready)
    assert ready.wait(WAIT_SECONDS)
    queue = FifoQueue(queue_path, attach=True)
    assert queue.pop(5) == [b"stored by the killed owner"]
    queue.push(b"acknowledged by the owner")
    owners = [p for p in processes._processes.values() if _holds_lock(p.pid, queue_path)]
    os.kill(owners[0].pid, signal.SIGKILL)
    owners[0].join(WAIT_SECONDS)

    with pytest.raises(Exception, match=f"the owning process {owners[0].pid} ") as raised:
        queue.len  # noqa: B018 - the call is the test
    assert type(raised.value).__name__ == "QueueClosed"
    queue.close()
    reopened = FifoQueue(queue_path, attach=True)
    assert reopened.pop(5) == [b"acknowledged by the owner"]
    reopened.close()


def _holds_lock(pid: int, queue_path: str) -> bool:
    """Whether process `pid` has the queue's RocksDB LOCK file open (the owner does)."""
    lock = os.path.realpath(os.path.join(queue_path, "LOCK"))
    try:
        descriptors = os.listdir(f"/proc/{pid}/fd")
    except FileNotFoundError:
        return False
    for descriptor in descriptors:
        try:
            if os.readlink(f"/proc/{pid}/fd/{descriptor}") == lock:
                return True
        except FileNotFoundError:
            continue
    return False
