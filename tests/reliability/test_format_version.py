"""The on-disk format version (docs/format.rst): written when a queue is created,
a newer one refused with the directory left unwritten, and a marker that a crash
cut short made whole by the next open.

The marker file `rocksq.queue` repeats the version held in the database, so a
queue of a newer format is refused before RocksDB opens (and writes) anything.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

import rocksq
import rocksq.inspection
from rocksq.blocking import MpmcQueue, PersistentQueueWithCapacity

KINDS = ["fifo", "mpmc", "ack"]


def open_queue(kind: str, path: Path) -> Any:
    if kind == "fifo":
        return PersistentQueueWithCapacity(str(path))
    if kind == "mpmc":
        return MpmcQueue(str(path), ttl=86400)
    return rocksq.AckQueue(str(path))


def make_queue_with_one_item(kind: str, path: Path) -> None:
    queue = open_queue(kind, path)
    if kind == "fifo":
        queue.push([b"item"])
    elif kind == "mpmc":
        queue.add([b"item"])
    else:
        queue.put(b"item")
    queue.close()


def marker(kind: str, version: int = 1) -> str:
    return f"RocksQ queue\nkind: {kind}\nformat: {version}\n"


def snapshot(path: Path) -> dict[str, tuple[int, int]]:
    return {entry.name: (entry.stat().st_size, entry.stat().st_mtime_ns) for entry in os.scandir(path)}


@pytest.mark.parametrize("kind", KINDS)
def test_a_new_queue_is_marked_with_format_version_1(tmp_path: Path, kind: str) -> None:
    make_queue_with_one_item(kind, tmp_path / "q")
    assert (tmp_path / "q" / "rocksq.queue").read_text() == marker(kind)


@pytest.mark.parametrize("kind", KINDS)
def test_a_queue_of_a_newer_format_is_refused_and_left_unwritten(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "q"
    make_queue_with_one_item(kind, path)
    (path / "rocksq.queue").write_text(marker(kind, version=2))
    before = snapshot(path)

    refusal = f"Unsupported format: {path}: written in on-disk format version 2 by a newer RocksQ"
    with pytest.raises(rocksq.UnsupportedFormatError, match=refusal):
        open_queue(kind, path)
    with pytest.raises(rocksq.UnsupportedFormatError, match=refusal):
        rocksq.inspection.inspect_queue(path)

    assert snapshot(path) == before


@pytest.mark.parametrize("kind", KINDS)
def test_a_marker_cut_short_by_a_crash_is_made_whole_by_the_next_open(
    tmp_path: Path, kind: str
) -> None:
    path = tmp_path / "q"
    make_queue_with_one_item(kind, path)
    (path / "rocksq.queue").write_text("RocksQ qu")

    open_queue(kind, path).close()

    assert (path / "rocksq.queue").read_text() == marker(kind)
    assert rocksq.inspection.inspect_queue(path).len == 1


def test_a_marker_rewrite_interrupted_before_its_rename_leaves_a_queue_that_opens(
    tmp_path: Path,
) -> None:
    # The new marker is written to rocksq.queue.new, then renamed over the old.
    path = tmp_path / "q"
    make_queue_with_one_item("fifo", path)
    (path / "rocksq.queue").write_text("RocksQ queue\nkind: fifo\n")  # Names no format.
    (path / "rocksq.queue.new").write_text("RocksQ queue\nki")

    queue = open_queue("fifo", path)
    assert queue.pop(1) == [b"item"]
    queue.close()

    assert (path / "rocksq.queue").read_text() == marker("fifo")
    assert not (path / "rocksq.queue.new").exists()
