"""What each queue kind still does on a disk full to the last byte.

A small tmpfs (mounted by the test: root on a machine that allows mounts,
skipped elsewhere, saying why) is filled by pushes until one raises, then by
a ballast file until not one more byte fits. Then:

- a FIFO queue drains completely, even if it was never popped before (its
  read cursor's bytes are written when the queue is opened, so a pop
  rewrites them in place and needs no new space);
- an ack queue hands out items and takes nacks (both live in memory), while
  an ack, which appends to the ack log, raises StorageError until space is
  freed and then succeeds without a reopen;
- an MPMC queue answers len(), while a read, which stores the label's new
  position in RocksDB, raises StorageError and moves nothing.

test_write_failures.py covers what the failed pushes leave.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import rocksq
from rocksq import StartPosition
from rocksq.blocking import MpmcQueue, PersistentQueueWithCapacity
from support.full_disk import close_regardless, fill, item, make_room

@pytest.mark.parametrize("history", ["new", "reopened-with-an-empty-cursor-file"])
def test_a_fifo_queue_never_popped_drains_on_a_full_disk(history: str, small_disk: Path) -> None:
    path = small_disk / "queue"
    queue = PersistentQueueWithCapacity(path)
    if history != "new":
        # A queue that was never popped, written before the cursor's bytes
        # were written at open, has an empty cursor file.
        queue.close()
        os.truncate(path / "rocksq.read_cursor", 0)
        queue = PersistentQueueWithCapacity(path)
    stored = fill(small_disk, lambda data: queue.push([data]))

    popped = []
    while queue.len:
        popped.extend(queue.pop(1))

    assert popped == [item(number) for number in range(stored)]
    close_regardless(queue)


def test_an_ack_queue_on_a_full_disk_hands_out_and_nacks_but_refuses_acks_until_space_returns(
    small_disk: Path,
) -> None:
    path = small_disk / "queue"
    queue = rocksq.AckQueue(path)
    stored = fill(small_disk, queue.put_nowait)

    first = queue.get(timeout=1)
    second = queue.get(timeout=1)
    assert (first.data, second.data) == (item(0), item(1))
    queue.nack(first)
    with pytest.raises(rocksq.StorageError, match="ack log.*No space left on device"):
        queue.ack(second)

    make_room(small_disk)
    queue.ack(second)  # The same delivery, no reopen.
    acked = [second.data]
    while len(queue):
        delivery = queue.get(timeout=1)
        acked.append(delivery.data)
        queue.ack(delivery)
    close_regardless(queue)

    assert sorted(acked) == [item(number) for number in range(stored)]
    reopened = rocksq.AckQueue(path)
    assert len(reopened) == 0
    reopened.close()


def test_an_mpmc_queue_on_a_full_disk_counts_but_refuses_reads_and_moves_nothing(
    small_disk: Path,
) -> None:
    path = small_disk / "queue"
    queue = MpmcQueue(path, ttl=86400)
    stored = fill(small_disk, lambda data: queue.add([data]))

    assert queue.len == stored
    with pytest.raises(rocksq.StorageError, match="No space left on device"):
        queue.next("reader", StartPosition.Oldest, 1)
    close_regardless(queue)

    make_room(small_disk)
    queue = MpmcQueue(path, ttl=86400)
    try:
        elements, _ = queue.next("reader", StartPosition.Oldest, stored)
        assert elements == [item(number) for number in range(stored)]
    finally:
        queue.close()


@pytest.mark.parametrize("kind", ["fifo", "mpmc", "ack"])
def test_a_disk_too_full_to_create_a_queue_raises_storage_error_and_leaves_no_unfinished_queue(
    kind: str, small_disk: Path
) -> None:
    """Creation fails at different steps as the free space grows; each time
    the call raises StorageError and takes back what it wrote, or leaves a
    complete queue. In a child: RocksDB aborted the process when the format
    key could not be written (a column family handle outlived its database)."""
    script = textwrap.dedent(
        """
        import os, sys
        import rocksq
        from rocksq.blocking import MpmcQueue, PersistentQueueWithCapacity
        kind, path = sys.argv[1:]
        try:
            if kind == "fifo":
                queue = PersistentQueueWithCapacity(path)
            elif kind == "mpmc":
                queue = MpmcQueue(path, ttl=86400)
            else:
                queue = rocksq.AckQueue(path)
        except rocksq.StorageError as error:
            print("refused", sorted(os.listdir(path)), error)
        else:
            queue.close()
            print("created")
        """
    )
    outcomes = set()
    for free_kib in (4, 12, 24, 40, 64, 128, 256, 1024):
        path = small_disk / f"q{free_kib}"
        path.mkdir()
        # Leave `free_kib` KiB free: a ballast file takes the rest.
        ballast = small_disk / "ballast"
        ballast.unlink(missing_ok=True)
        room = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
        with open(ballast, "wb") as file:
            file.write(bytes(max(0, room - free_kib * 1024)))
        child = subprocess.run(
            [sys.executable, "-c", script, kind, str(path)],
            cwd=small_disk.parent,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert child.returncode == 0, f"{free_kib} KiB free: {child.stderr}"
        outcome = child.stdout.split(" ", 1)[0]
        outcomes.add(outcome)
        if outcome == "refused":
            # Refused while creating: nothing left. Refused by the open that
            # follows a finished creation: a complete, empty queue.
            left = os.listdir(path)
            assert left == [] or ("rocksq.queue" in left and "rocksq.creating" not in left), (
                child.stdout
            )
        ballast.unlink()
        if outcome == "refused":
            open_queue(kind, path).close()  # There is room now: it opens as new.
    assert "refused" in outcomes


def open_queue(kind: str, path: Path) -> Any:
    if kind == "fifo":
        return PersistentQueueWithCapacity(path)
    if kind == "mpmc":
        return MpmcQueue(path, ttl=86400)
    return rocksq.AckQueue(path)
