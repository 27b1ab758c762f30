"""queue_id: every kind and face reports the identity chosen when the queue was created."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import rocksq
import rocksq.aio
import rocksq.blocking
import rocksq.inspection
import rocksq.nonblocking

QUEUE_ID = re.compile(r"[0-9a-f]{32}")

# Each kind's faces, opened on a path, and how the kind's queue is removed.
FACES = {
    "fifo": (
        [
            rocksq.Queue,
            rocksq.PersistentQueueWithCapacity,
            rocksq.blocking.PersistentQueueWithCapacity,
            rocksq.nonblocking.PersistentQueueWithCapacity,
        ],
        rocksq.remove_queue,
    ),
    "mpmc": (
        [
            lambda path: rocksq.blocking.MpmcQueue(path, ttl=60),
            lambda path: rocksq.nonblocking.MpmcQueue(path, ttl=60),
        ],
        rocksq.remove_mpmc_queue,
    ),
    "ack": ([rocksq.AckQueue], rocksq.remove_ack_queue),
}


@pytest.mark.parametrize("kind", sorted(FACES))
def test_every_face_reports_the_id_the_queue_was_created_with(tmp_path: Path, kind: str) -> None:
    faces, remove = FACES[kind]
    path = str(tmp_path / kind)
    ids = set()
    for face in faces:
        queue = face(path)
        ids.add(queue.queue_id)
        queue.close()
    (queue_id,) = ids
    assert QUEUE_ID.fullmatch(queue_id)
    assert rocksq.inspection.inspect_queue(path).queue_id == queue_id
    # Another queue, and the same path after a removal, get other ids.
    other = faces[0](str(tmp_path / "other"))
    assert other.queue_id != queue_id
    other.close()
    remove(path)
    again = faces[0](path)
    assert again.queue_id != queue_id
    again.close()


def test_the_asyncio_ack_queue_reports_it_too(queue_path: str) -> None:
    with rocksq.AckQueue(queue_path) as q:
        queue_id = q.queue_id

    async def main() -> str:
        async with rocksq.aio.AckQueue(queue_path) as q:
            return q.queue_id

    assert asyncio.run(main()) == queue_id


def test_rocksq_stats_shows_it(queue_path: str, tmp_path: Path) -> None:
    with rocksq.AckQueue(queue_path) as q:
        queue_id = q.queue_id
    command = [sys.executable, "-m", "rocksq", "stats", queue_path]
    shown = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, check=True)
    assert f"queue id:           {queue_id}\n" in shown.stdout
    as_json = subprocess.run(
        [*command, "--json"], capture_output=True, text=True, cwd=tmp_path, check=True
    )
    assert json.loads(as_json.stdout)["queue_id"] == queue_id
