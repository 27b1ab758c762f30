"""`rocksq stats` names a queue's owner and the processes attached to it (issue 17, item 5).

The owner is the test process; the attached processes are spawned; `rocksq
stats` runs as a process of its own, as monitoring runs it.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.managers import SyncManager
from pathlib import Path
from typing import Any

import attach_workers
import pytest
from conftest import WAIT_SECONDS

import rocksq
import rocksq.blocking
import rocksq.inspection
from rocksq._core import FifoQueue

NOBODY = 65534

# The keys of `stats --json`, documented in docs/cli.rst.
DOCUMENTED_KEYS = {
    "schema", "path", "kind", "format_version", "queue_id", "owner", "attached", "counted_by",
    "len", "payload_size", "disk_size", "oldest_item_age_seconds", "oldest_item_age_is_lower_bound",
    "first_position", "end_position",
    "oldest_added", "newest_added", "labels", "failed_len", "failed_payload_size",
    "dropped_records", "last_background_failure",
}


@pytest.fixture
def start_method() -> str:
    """Spawned processes: they never inherit the owner's queue."""
    return "spawn"


def stats_process(path: str, *options: str) -> subprocess.Popen[str]:
    """`rocksq stats PATH` started in a fresh interpreter (its pid is known before it connects)."""
    return subprocess.Popen(
        [sys.executable, "-m", "rocksq", "stats", path, *options],
        cwd=Path(path).parent,  # Not the checkout, whose rocksq/ has no extension.
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str]) -> str:
    stdout, stderr = process.communicate(timeout=WAIT_SECONDS)
    assert process.returncode == 0, stderr
    return stdout


def stats_json(path: str) -> dict[str, Any]:
    return json.loads(finish(stats_process(path, "--json")))


def test_stats_names_the_owner_and_its_two_attached_processes_but_not_itself(
    queue_path: str,
    start_process: Callable[..., Any],
    manager: SyncManager,
) -> None:
    owner = FifoQueue(queue_path, attach=True)
    owner.push_many([b"a", b"bb", b"ccc"])
    release = manager.Event()
    attached_events = [manager.Event() for _ in range(2)]
    attached = [
        start_process(attach_workers.attach_until_released, queue_path, event, release)
        for event in attached_events
    ]
    for event in attached_events:
        assert event.wait(WAIT_SECONDS)

    inspector = stats_process(queue_path, "--json")
    stats = json.loads(finish(inspector))
    shown = finish(stats_process(queue_path))

    release.set()
    for process in attached:
        process.join(WAIT_SECONDS)
    owner.close()
    assert set(stats) == DOCUMENTED_KEYS
    assert stats["schema"] == 1
    assert stats["owner"] == {
        "pid": os.getpid(), "attach": True, "version": rocksq.__version__, "refusal": None
    }
    assert stats["attached"] == [  # By pid.
        {"pid": pid, "uid": os.getuid(), "connections": 1}
        for pid in sorted(process.pid for process in attached)
    ]
    assert inspector.pid not in {entry["pid"] for entry in stats["attached"]}
    assert (stats["counted_by"], stats["len"], stats["payload_size"]) == ("owner", 3, 6)
    assert stats["oldest_item_age_seconds"] >= 0  # The owner's marks (test_stats_age.py).
    assert f"owner:              process {os.getpid()} (RocksQ" in shown
    assert "attached:           2 processes\n" in shown


@pytest.mark.parametrize("kind", ["ack", "mpmc"])
def test_stats_of_an_ack_or_mpmc_queue_names_its_owner_its_attached_process_and_its_age(
    queue_path: str, start_process: Callable[..., Any], manager: SyncManager, kind: str
) -> None:
    from rocksq._core import AckQueue, MpmcQueue

    if kind == "ack":
        owner: Any = AckQueue(queue_path, attach=True)
        owner.push_many([b"a", b"bb"])
        owner.get(1)  # Handed out, not acked: still the oldest item.
    else:
        owner = MpmcQueue(queue_path, 3600, attach=True)
        owner.add([b"a", b"bb"])
    release, attached_event = manager.Event(), manager.Event()
    attached = start_process(
        attach_workers.attach_until_released, queue_path, attached_event, release, kind
    )
    assert attached_event.wait(WAIT_SECONDS)

    stats = stats_json(queue_path)

    release.set()
    attached.join(WAIT_SECONDS)
    owner.close()
    assert stats["kind"] == kind
    assert stats["owner"]["pid"] == os.getpid() and stats["owner"]["attach"] is True
    assert stats["attached"] == [{"pid": attached.pid, "uid": os.getuid(), "connections": 1}]
    assert (stats["counted_by"], stats["len"], stats["payload_size"]) == ("owner", 2, 3)
    assert stats["oldest_item_age_seconds"] is not None and stats["oldest_item_age_seconds"] >= 0
    assert stats["oldest_item_age_is_lower_bound"] is False


def test_stats_finds_an_owner_without_attach_by_its_lock_and_leaves_the_lock_held(
    queue_path: str,
) -> None:
    owner = FifoQueue(queue_path, attach=False)  # No socket.
    owner.push(b"x")
    # Asked in the owning process first: closing a descriptor of LOCK here
    # would drop RocksDB's lock, and the stats process would see no owner.
    in_owner = rocksq.inspection.inspect_owner(queue_path)

    stats = stats_json(queue_path)

    owner.close()
    assert stats["owner"] == {"pid": os.getpid(), "attach": False, "version": None, "refusal": None}
    assert (stats["attached"], stats["counted_by"], stats["len"]) == ([], "files", 1)
    assert (in_owner.pid, in_owner.answered) == (os.getpid(), False)


def test_stats_of_a_queue_nobody_has_open_has_no_owner(queue_path: str) -> None:
    FifoQueue(queue_path, attach=True).close()

    stats = stats_json(queue_path)

    assert (stats["owner"], stats["attached"], stats["counted_by"]) == (None, [], "files")
    assert "owner:              none (no process has the queue open)\n" in finish(
        stats_process(queue_path)
    )


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root")
def test_an_owner_refuses_stats_to_another_user_who_still_learns_its_pid_from_the_lock() -> None:
    with tempfile.TemporaryDirectory() as directory:
        os.chmod(directory, 0o777)
        queue_path = Path(directory) / "queue"
        owner = FifoQueue(str(queue_path), attach=True)
        # Every file open to every user, the socket included: only the owner's
        # check of its peer's credentials is left to refuse.
        for entry in [queue_path, *queue_path.iterdir()]:
            os.chmod(entry, 0o777 if entry.is_dir() else 0o666)
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as other_user:
            pid, answered, refusal = other_user.submit(
                attach_workers.inspect_owner_as_user, str(queue_path), NOBODY
            ).result(WAIT_SECONDS)
        owner.close()

    assert (pid, answered) == (os.getpid(), False)
    assert "(65534) may not attach (same user only, unless the owner sets attach_group)" in refusal


def test_the_oldest_mpmc_elements_age_follows_the_clock(tmp_path: Path) -> None:
    path = str(tmp_path / "mpmc")
    with rocksq.blocking.MpmcQueue(path, ttl=3600) as queue:
        before_push = time.time()
        queue.add([b"oldest"])
        after_push = time.time()
        queue.add([b"newer"])
    ages = []
    for _ in range(2):
        before_stats = time.time()
        age = stats_json(path)["oldest_item_age_seconds"]
        after_stats = time.time()
        # The age is "now" in the stats process minus the time of the push;
        # its clock read lies between ours. Added-at times are whole microseconds.
        assert before_stats - after_push - 1e-6 <= age <= after_stats - before_push + 1e-6
        ages.append(age)

    assert ages[1] > ages[0]
