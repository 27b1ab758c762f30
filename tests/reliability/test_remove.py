"""remove_queue and remove_db delete a queue that nothing has open."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import rocksq
from rocksq.blocking import PersistentQueueWithCapacity


def test_remove_queue_deletes_the_queue_directory(queue_path: str) -> None:
    PersistentQueueWithCapacity(queue_path).close()

    rocksq.remove_queue(queue_path)

    assert not os.path.exists(queue_path)


def test_a_removed_queue_reopens_empty(queue_path: str) -> None:
    queue = PersistentQueueWithCapacity(queue_path)
    queue.push([b"a"])
    queue.close()
    rocksq.remove_queue(queue_path)

    assert PersistentQueueWithCapacity(queue_path).len == 0


def test_remove_queue_of_a_path_that_does_not_exist_does_nothing(queue_path: str) -> None:
    rocksq.remove_queue(queue_path)

    assert not os.path.exists(queue_path)


def test_remove_queue_of_an_open_queue_raises_queue_already_open(queue_path: str) -> None:
    queue = PersistentQueueWithCapacity(queue_path)
    queue.push([b"kept"])

    with pytest.raises(rocksq.QueueAlreadyOpen):
        rocksq.remove_queue(queue_path)
    assert queue.pop() == [b"kept"]


def test_remove_queue_of_a_queue_open_in_another_process_raises_queue_already_open(
    queue_held_by_another_process: str,
) -> None:
    with pytest.raises(rocksq.QueueAlreadyOpen, match="another process"):
        rocksq.remove_queue(queue_held_by_another_process)

    assert os.path.isdir(queue_held_by_another_process)


def test_remove_queue_refuses_a_directory_that_is_not_a_queue(tmp_path: Path) -> None:
    other = tmp_path / "not_a_queue"
    other.mkdir()
    (other / "precious.txt").write_text("keep me")

    with pytest.raises(rocksq.NotAQueueError):
        rocksq.remove_queue(str(other))
    assert (other / "precious.txt").read_text() == "keep me"


def test_remove_db_deletes_the_queue(queue_path: str) -> None:
    rocksq.PersistentQueueWithCapacity(queue_path).close()

    rocksq.PersistentQueueWithCapacity.remove_db(queue_path)

    assert not os.path.exists(queue_path)


def test_remove_db_of_an_open_queue_raises_queue_already_open(queue_path: str) -> None:
    queue = rocksq.PersistentQueueWithCapacity(queue_path)

    with pytest.raises(rocksq.QueueAlreadyOpen):
        rocksq.PersistentQueueWithCapacity.remove_db(queue_path)
    queue.close()
