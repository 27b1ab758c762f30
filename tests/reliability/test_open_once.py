"""A queue directory is open in at most one queue object of a process; other processes attach to it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import rocksq
from rocksq.blocking import PersistentQueueWithCapacity
from rocksq.inspection import inspect_owner


def test_opening_a_queue_this_process_has_open_raises_queue_already_open(
    queue_path: str,
) -> None:
    queue = PersistentQueueWithCapacity(queue_path)

    with pytest.raises(rocksq.QueueAlreadyOpen, match="this process"):
        PersistentQueueWithCapacity(queue_path)
    queue.close()


def test_opening_a_queue_open_under_another_spelling_of_its_path_raises_queue_already_open(
    queue_path: str,
) -> None:
    queue = PersistentQueueWithCapacity(queue_path)
    other_spelling = os.path.join(queue_path, "..", os.path.basename(queue_path))

    with pytest.raises(rocksq.QueueAlreadyOpen):
        rocksq.PersistentQueueWithCapacity(other_spelling)
    queue.close()


def test_opening_a_queue_another_process_has_open_attaches_to_it(
    queue_held_by_another_process: str,
) -> None:
    queue = PersistentQueueWithCapacity(queue_held_by_another_process)
    queue.push([b"through the owner"])

    assert queue.len == 1
    assert inspect_owner(queue_held_by_another_process).pid != os.getpid()
    queue.close()


def test_opening_a_queue_another_process_has_open_without_attach_raises_queue_already_open(
    queue_held_by_another_process: str,
) -> None:
    with pytest.raises(rocksq.QueueAlreadyOpen, match="another process"):
        PersistentQueueWithCapacity(queue_held_by_another_process, attach=False)


def test_queue_already_open_is_a_runtime_error_as_in_rocksq_0_3_0(queue_path: str) -> None:
    queue = PersistentQueueWithCapacity(queue_path)

    with pytest.raises(RuntimeError):
        PersistentQueueWithCapacity(queue_path)
    queue.close()


def test_opening_a_directory_that_holds_other_files_raises_not_a_queue_error(
    tmp_path: Path,
) -> None:
    (tmp_path / "notes.txt").write_text("not a queue")

    with pytest.raises(rocksq.NotAQueueError):
        PersistentQueueWithCapacity(str(tmp_path))


def test_a_failed_open_leaves_the_path_free_to_open(queue_path: str) -> None:
    with pytest.raises(ValueError):
        PersistentQueueWithCapacity(queue_path, max_elements=0)

    PersistentQueueWithCapacity(queue_path).close()
