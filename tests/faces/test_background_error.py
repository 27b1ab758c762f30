"""Every face reports the last failure of its queue's background work.

A failure needs a disk that refuses a compaction (item_log_test.cc makes
one in C++); here every face shows the core's value, empty while nothing
failed, and ``rocksq stats`` reads failures back from the LOG
(tests/cli/test_cli.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import rocksq
import rocksq.aio
import rocksq.blocking
import rocksq.nonblocking

FACES: list[tuple[Any, dict[str, Any]]] = [
    (rocksq.Queue, {}),
    (rocksq.PersistentQueueWithCapacity, {}),
    (rocksq.AckQueue, {}),
    (rocksq.blocking.PersistentQueueWithCapacity, {}),
    (rocksq.blocking.MpmcQueue, {"ttl": 60}),
    (rocksq.nonblocking.PersistentQueueWithCapacity, {}),
    (rocksq.nonblocking.MpmcQueue, {"ttl": 60}),
    (rocksq.aio.Queue, {}),
    (rocksq.aio.MpmcQueue, {"ttl": 60}),
    (rocksq.aio.AckQueue, {}),
]


@pytest.mark.parametrize(
    ("face", "options"), FACES, ids=[f"{face.__module__}.{face.__name__}" for face, _ in FACES]
)
def test_every_face_shows_no_background_error_while_none_happened(
    face: Any, options: dict[str, Any], tmp_path: Path
) -> None:
    queue = face(str(tmp_path / "queue"), **options)
    try:
        assert queue.last_background_error == ""
        assert queue.last_background_error == queue._queue.last_background_error
    finally:
        queue.close()
