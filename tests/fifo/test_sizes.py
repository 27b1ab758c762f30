"""len, payload_size, disk_size and is_empty describe what is stored."""

from __future__ import annotations

import rocksq
from rocksq._core import FifoQueue
from rocksq.blocking import PersistentQueueWithCapacity


def test_len_counts_the_stored_items(queue_path: str) -> None:
    queue = PersistentQueueWithCapacity(queue_path)
    queue.push([b"a", b"b", b"c"])
    queue.pop()

    assert queue.len == 2


def test_payload_size_is_the_sum_of_the_stored_items_sizes(queue_path: str) -> None:
    queue = PersistentQueueWithCapacity(queue_path)
    queue.push([b"a", b"bb", b"cccc"])
    assert queue.payload_size == 7

    queue.pop()

    assert queue.payload_size == 6


def test_is_empty_is_true_only_without_items(queue_path: str) -> None:
    queue = PersistentQueueWithCapacity(queue_path)
    assert queue.is_empty

    queue.push([b"a"])
    assert not queue.is_empty

    queue.pop()
    assert queue.is_empty


def test_disk_size_covers_the_pushed_payload(queue_path: str) -> None:
    queue = PersistentQueueWithCapacity(queue_path)
    empty_size = queue.disk_size
    queue.push([bytes(1 << 20)] * 4)

    assert queue.disk_size >= empty_size + 4 * (1 << 20)


def test_seed_len_size_and_is_empty_are_methods(queue_path: str) -> None:
    queue = rocksq.PersistentQueueWithCapacity(queue_path)
    queue.push(bytes(1 << 20))

    assert queue.len() == 1
    assert queue.size() >= 1 << 20
    assert queue.is_empty() is False


def test_core_reports_its_capacity_and_path(queue_path: str) -> None:
    queue = FifoQueue(queue_path, 7)

    assert (queue.max_elements, queue.path) == (7, queue_path)
