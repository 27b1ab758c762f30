"""A FIFO queue opened with attach=True in another process behaves as in the owner (issue 17, stage 2).

The test process owns each queue (attach=True); the processes of the
`processes` pool attach to it.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import attach_workers
import pytest
from conftest import WAIT_SECONDS

import rocksq
import rocksq.aio
import rocksq.blocking
import rocksq.nonblocking
from rocksq._core import FifoQueue


def test_every_call_gives_the_same_results_attached_as_in_the_owner(
    tmp_path: Path, processes: ProcessPoolExecutor
) -> None:
    in_owner = attach_workers.parity_script(
        FifoQueue(str(tmp_path / "owned"), attach_workers.CAPACITY, attach=True)
    )
    served = FifoQueue(str(tmp_path / "served"), attach_workers.CAPACITY, attach=True)

    attached = processes.submit(
        attach_workers.attached_parity_script, served.path
    ).result(WAIT_SECONDS)

    assert attached == in_owner
    served.close()


def test_attached_calls_go_through_a_shared_memory_lane_that_the_close_unmaps(
    queue_path: str, processes: ProcessPoolExecutor
) -> None:
    """The lanes are a carrier the calls do not show: that they are used is
    seen in the processes' mappings (and in the figures of bench/processes.py)."""
    owner = FifoQueue(queue_path, attach=True)

    before, during, after, items = processes.submit(
        attach_workers.lanes_while_attached, queue_path
    ).result(WAIT_SECONDS)

    assert items == [b"through the lane"]
    assert (before, during, after) == (0, 1, 0)  # One connection, one lane.
    # The owner's goes with the connection, once it sees it end.
    deadline = time.monotonic() + WAIT_SECONDS
    while attach_workers.lane_mappings() != 0:
        assert time.monotonic() < deadline, "the owner kept a closed connection's lane"
        time.sleep(0.01)
    owner.close()


# Synced, the owner runs merged pushes and pops on worker threads, at once
# (AttachHandler::GroupsRunOnWorkers).
@pytest.mark.parametrize("sync", [False, True], ids=["unsynced", "synced"])
def test_items_of_two_producer_processes_reach_two_consumer_processes_once_each_in_order(
    sync: bool, queue_path: str, processes: ProcessPoolExecutor
) -> None:
    owner = FifoQueue(queue_path, sync=sync, attach=True)
    count = 600
    consumers = [processes.submit(attach_workers.consume, queue_path, sync) for _ in range(2)]
    producers = [
        processes.submit(attach_workers.produce, queue_path, producer, count, sync)
        for producer in range(2)
    ]
    for producer in producers:
        producer.result(WAIT_SECONDS)
    owner.push_many([b"stop", b"stop"])
    taken = [consumer.result(WAIT_SECONDS) for consumer in consumers]

    everything = sorted(item for items in taken for item in items)
    assert everything == sorted(b"%d %d" % (p, n) for p in range(2) for n in range(count))
    for items in taken:
        numbers = defaultdict(list)
        for item in items:
            producer, n = item.split()
            numbers[producer].append(int(n))
        assert all(sequence == sorted(sequence) for sequence in numbers.values())
    owner.close()


def test_a_full_queue_refuses_an_attached_push_and_stores_nothing(
    queue_path: str, processes: ProcessPoolExecutor
) -> None:
    owner = FifoQueue(queue_path, 3, attach=True)
    owner.push_many([b"1", b"2", b"3"])

    outcomes = processes.submit(attach_workers.push_to_full_queue, queue_path, 3).result(
        WAIT_SECONDS
    )

    assert outcomes == ["QueueFull", "QueueFull", "3"]
    assert owner.pop(5) == [b"1", b"2", b"3"]
    owner.close()


def test_an_attached_pop_wait_wakes_on_a_push_in_the_owner(
    queue_path: str, processes: ProcessPoolExecutor, manager
) -> None:
    owner = FifoQueue(queue_path, attach=True)
    ready = manager.Event()
    waiting = processes.submit(attach_workers.pop_waiting, queue_path, ready, WAIT_SECONDS)
    assert ready.wait(WAIT_SECONDS)

    owner.push(b"wake up")

    items, elapsed = waiting.result(WAIT_SECONDS)
    assert items == [b"wake up"]
    assert elapsed < WAIT_SECONDS / 2
    owner.close()


def test_an_attached_pop_wait_returns_nothing_at_its_timeout(
    queue_path: str, processes: ProcessPoolExecutor, manager
) -> None:
    owner = FifoQueue(queue_path, attach=True)

    items, elapsed = processes.submit(
        attach_workers.pop_waiting, queue_path, manager.Event(), 0.3
    ).result(WAIT_SECONDS)

    assert items == []
    assert 0.3 <= elapsed < 10
    owner.close()


def test_synced_pop_waits_retried_and_parked_again_keep_waiting_until_their_deadline(
    queue_path: str, processes: ProcessPoolExecutor, manager
) -> None:
    """Synced, a parked pop is retried on the owner's workers after each
    change; the ones that find nothing are parked again, where they were,
    and must neither return early nor miss their deadline."""
    owner = FifoQueue(queue_path, sync=True, attach=True)
    timeout = 2.0
    readies = [manager.Event() for _ in range(3)]
    waiting = [
        processes.submit(attach_workers.pop_waiting, queue_path, ready, timeout, True)
        for ready in readies
    ]
    assert all(ready.wait(WAIT_SECONDS) for ready in readies)
    time.sleep(0.3)  # Their pop_waits reach the owner and are parked.

    owner.push(b"for one of them")

    results = [future.result(WAIT_SECONDS) for future in waiting]
    got = [items for items, _ in results if items]
    assert got == [[b"for one of them"]]
    for items, elapsed in results:
        if not items:
            assert timeout <= elapsed < timeout + WAIT_SECONDS / 2
    owner.close()


@pytest.mark.parametrize(
    ("max_elements", "sync", "message"),
    [
        (5, False, "max_elements 5 differs from the owning process .*'s 10"),
        (10, True, "sync True differs from the owning process .*'s False"),
    ],
)
def test_an_attached_open_with_other_options_than_the_owner_raises_naming_both_values(
    queue_path: str,
    processes: ProcessPoolExecutor,
    max_elements: int,
    sync: bool,
    message: str,
) -> None:
    owner = FifoQueue(queue_path, 10, attach=True)

    outcome = processes.submit(
        attach_workers.open_attached, queue_path, max_elements, sync
    ).result(WAIT_SECONDS)

    assert outcome.startswith("ValueError: ")
    assert re.search(message, outcome), outcome
    owner.close()


def test_a_queue_whose_path_is_too_long_for_a_socket_address_attaches(
    tmp_path: Path, processes: ProcessPoolExecutor
) -> None:
    path = tmp_path / ("d" * 60) / ("e" * 60) / "queue"
    assert len(os.fsencode(path)) > 108
    owner = FifoQueue(str(path), attach=True)
    owner.push(b"from the owner")

    items = processes.submit(attach_workers.push_and_pop, str(path)).result(WAIT_SECONDS)

    assert items == [b"from the owner", b"from the attached process"]
    owner.close()


def test_opening_without_attach_still_raises_queue_already_open_in_another_process(
    queue_path: str, processes: ProcessPoolExecutor
) -> None:
    owner = FifoQueue(queue_path, attach=True)

    outcome = processes.submit(
        attach_workers.open_attached, queue_path, owner.max_elements, False, False
    ).result(WAIT_SECONDS)

    assert outcome.startswith("QueueAlreadyOpen: "), outcome
    assert "another process" in outcome
    owner.close()


def test_opening_a_queue_this_process_owns_with_attach_still_raises_queue_already_open(
    queue_path: str,
) -> None:
    owner = FifoQueue(queue_path, attach=True)

    with pytest.raises(rocksq.QueueAlreadyOpen, match="this process"):
        FifoQueue(queue_path, attach=True)
    owner.close()


FACES = {
    "seed": rocksq.PersistentQueueWithCapacity,
    "blocking": rocksq.blocking.PersistentQueueWithCapacity,
    "nonblocking": rocksq.nonblocking.PersistentQueueWithCapacity,
    "Queue": rocksq.Queue,
}


@pytest.mark.parametrize("face_name", FACES)
def test_each_fifo_face_attaches_when_asked(
    queue_path: str, processes: ProcessPoolExecutor, face_name: str
) -> None:
    owner = FACES[face_name](queue_path, attach=True)

    items = processes.submit(attach_workers.face_push_and_pop, queue_path, face_name).result(
        WAIT_SECONDS
    )

    assert items == [b"from the attached process"]
    owner.close()


@pytest.mark.parametrize("owner_face", [*FACES, "aio"])
def test_every_fifo_face_with_its_defaults_attaches_to_an_owner_opened_with_another_faces_defaults(
    queue_path: str, processes: ProcessPoolExecutor, owner_face: str
) -> None:
    owner = {**FACES, "aio": rocksq.aio.Queue}[owner_face](queue_path)

    outcomes = processes.submit(
        attach_workers.open_every_fifo_face_with_its_defaults, queue_path
    ).result(WAIT_SECONDS)

    assert set(outcomes.values()) == {"attached"}, outcomes
    owner.close()


def is_stopped(pid: int) -> bool:
    """Whether the process `pid` is stopped by a signal (it may not be a child: no waitpid)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "T"


def wait_until_stopped(pid: int) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not is_stopped(pid):
        assert time.monotonic() < deadline, f"process {pid} did not stop"
        time.sleep(0.001)


# Counts that release the GIL while they wait for the owner (AskCore in the
# bindings), each with what it answers for the owner's queue of one item.
COUNTS = {"len": 1, "is_shutdown": False}


@pytest.mark.parametrize("count_name", COUNTS)
def test_an_attached_count_lets_other_threads_run_python_while_it_waits_for_a_stalled_owner(
    queue_path: str, start_process, manager, count_name: str
) -> None:
    ready = manager.Event()
    owner = start_process(attach_workers.own_until_killed, queue_path, ready)
    assert ready.wait(WAIT_SECONDS)
    attached = FifoQueue(queue_path, attach=True)
    os.kill(owner.pid, signal.SIGSTOP)
    wait_until_stopped(owner.pid)
    # Resumes the owner if the test cannot: a len() holding the GIL stops
    # this thread too.
    watchdog = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import os, signal, sys, time; time.sleep(float(sys.argv[1])); "
            "os.kill(int(sys.argv[2]), signal.SIGCONT)",
            str(WAIT_SECONDS),
            str(owner.pid),
        ]
    )
    counted: list[object] = []
    calling = threading.Event()

    def count() -> None:
        calling.set()
        try:
            counted.append(getattr(attached, count_name))
        except Exception as error:  # noqa: BLE001 - reported by the assertion
            counted.append(repr(error))

    counter = threading.Thread(target=count)
    counter.start()
    try:
        calling.wait()
        # Python code, run while the count waits: the owner cannot have
        # answered, since it is still stopped. (A count holding the GIL lets
        # this thread run only once it returned, after the watchdog resumed
        # the owner.)
        counted_while_this_thread_ran = list(counted)
        owner_stopped_while_this_thread_ran = is_stopped(owner.pid)
    finally:
        os.kill(owner.pid, signal.SIGCONT)
        counter.join(WAIT_SECONDS)
        watchdog.kill()
        watchdog.wait()

    assert counted_while_this_thread_ran == []
    assert owner_stopped_while_this_thread_ran
    assert counted == [COUNTS[count_name]]
    attached.close()


# --- is_shutdown: the queue's one state, whoever shut it down -------------------


def test_the_owners_is_shutdown_shows_a_shutdown_made_by_an_attached_process(
    queue_path: str, processes: ProcessPoolExecutor
) -> None:
    owner = rocksq.Queue(queue_path, attach=True)
    assert not owner.is_shutdown

    seen = processes.submit(attach_workers.shut_down_attached, queue_path).result(WAIT_SECONDS)

    assert seen == (False, True)
    assert owner.is_shutdown
    with pytest.raises(rocksq.ShutDown):
        owner.put(b"refused")
    owner.close()



@pytest.mark.parametrize("face_name", ["Queue", "aio"])
@pytest.mark.parametrize("who", ["the owner", "another attached process"])
def test_an_attached_is_shutdown_shows_a_shutdown_made_elsewhere(
    queue_path: str, processes: ProcessPoolExecutor, manager, face_name: str, who: str
) -> None:
    owner = rocksq.Queue(queue_path, attach=True)
    attached, shut_down = manager.Event(), manager.Event()
    seen = processes.submit(
        attach_workers.is_shutdown_before_and_after, queue_path, face_name, attached, shut_down
    )
    assert attached.wait(WAIT_SECONDS)

    if who == "the owner":
        owner.shutdown()
    else:
        assert processes.submit(attach_workers.shut_down_attached, queue_path).result(
            WAIT_SECONDS
        ) == (False, True)
    shut_down.set()

    assert seen.result(WAIT_SECONDS) == (False, True)
    owner.close()
