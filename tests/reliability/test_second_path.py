"""A queue's directory reached by a second path is the same open queue.

The already-open check compares the directory's identity (device and
inode), not the path string: a symlink, a bind mount (root only; skipped
otherwise) or any other spelling of an open queue's directory is refused
with QueueAlreadyOpen, for opening and for removing, in every queue kind,
and no acknowledged put is lost.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import rocksq
import rocksq.blocking

KINDS = {
    "fifo": (
        rocksq.Queue,
        lambda q, items: q.put_many(items),
        lambda q: [q.get_nowait() for _ in range(q.qsize())],
        rocksq.remove_queue,
    ),
    "mpmc": (
        lambda path: rocksq.blocking.MpmcQueue(path, ttl=3600),
        lambda q, items: q.add(items),
        lambda q: q.next("reader", rocksq.StartPosition.Oldest, 1000)[0],
        rocksq.remove_mpmc_queue,
    ),
    "ack": (
        rocksq.AckQueue,
        lambda q, items: q.put_many(items),
        lambda q: [delivery.data for delivery in q.get_many(1000, block=False)],
        rocksq.remove_ack_queue,
    ),
}


@pytest.fixture(params=["symlink", "bind mount", "dot path"])
def second_path(request, tmp_path: Path) -> Iterator[Callable[[Path], Path | str]]:
    """Makes another path to an existing directory (the queue is created first)."""
    mounts: list[Path] = []

    def make(first: Path) -> Path | str:
        if request.param == "dot path":
            return f"{tmp_path}/./{first.name}/."  # A str: pathlib would drop the dots.
        other = tmp_path / "other"
        if request.param == "symlink":
            other.symlink_to(first)
            return other
        other.mkdir()
        mounted = subprocess.run(
            ["mount", "--bind", str(first), str(other)], capture_output=True, timeout=30
        )
        if mounted.returncode != 0:
            pytest.skip(f"bind mount not permitted: {mounted.stderr.decode().strip()}")
        mounts.append(other)
        return other

    try:
        yield make
    finally:
        for other in mounts:
            subprocess.run(["umount", "-l", str(other)], capture_output=True, timeout=30)


@pytest.mark.parametrize("kind", KINDS)
def test_second_path_to_an_open_queue_is_refused(tmp_path, second_path, kind):
    open_queue, put, take_all, remove = KINDS[kind]
    first = tmp_path / "queue"
    open_queue(first).close()
    other = second_path(first)
    items = [b"item %d" % i for i in range(200)]
    for half, (opened, refused) in enumerate(((first, other), (other, first))):
        q = open_queue(opened)
        with pytest.raises(rocksq.QueueAlreadyOpen, match="already opened by this process"):
            open_queue(refused)
        with pytest.raises(rocksq.QueueAlreadyOpen):
            remove(refused)
        put(q, items[half * 100 : half * 100 + 100])
        q.close()
    reopened = open_queue(other)
    assert take_all(reopened) == items
    reopened.close()
