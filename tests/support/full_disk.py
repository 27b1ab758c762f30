"""A disk full to the last byte: what tests/reliability/test_full_disk.py and
tests/attach/test_hostile.py fill (the `small_disk` fixture, tests/conftest.py,
mounts it).

Items are numbered 64 KiB payloads, so that what a drained queue returns can
be checked item by item.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

import rocksq

ITEM_BYTES = 64 * 1024
MiB = 1 << 20
# The tmpfs `small_disk` mounts, and what make_room() grows it to.
SMALL_DISK_BYTES = 8 * MiB


def item(number: int) -> bytes:
    return number.to_bytes(8, "big") * (ITEM_BYTES // 8)


def item_number(data: bytes) -> int:
    """The number item() made `data` from."""
    assert len(data) == ITEM_BYTES and data == item(int.from_bytes(data[:8], "big"))
    return int.from_bytes(data[:8], "big")


def fill(disk: Path, push: Any) -> int:
    """Pushes numbered items until a push raises, then fills what is left
    with a ballast file; returns how many items were stored."""
    stored = 0
    with pytest.raises(rocksq.StorageError, match="No space left on device"):
        while True:
            push(item(stored))
            stored += 1
    fd = os.open(disk / "ballast", os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        for chunk in (MiB, 4096, 1):
            try:
                while True:
                    os.write(fd, bytes(chunk))
            except OSError:
                pass
    finally:
        os.close(fd)
    assert os.statvfs(disk).f_bavail == 0
    assert stored > 0
    return stored


def make_room(disk: Path, size: int = 2 * SMALL_DISK_BYTES) -> None:
    """Grows the filesystem to `size` bytes: space returns, whatever RocksDB's
    retries took. RocksDB resumes writing by itself only once 64 MiB are free
    (docs/durability.rst); less calls for a reopen."""
    subprocess.run(
        ["mount", "-o", f"remount,size={size}", str(disk)],
        check=True,
        capture_output=True,
    )


def close_regardless(queue: Any) -> None:
    """close() repeats RocksDB's write error on a full disk; it closes regardless."""
    try:
        queue.close()
    except rocksq.StorageError:
        pass
