"""max_elements bounds the number of stored items; a push that does not fit stores nothing."""

from __future__ import annotations

import pytest

import rocksq
from rocksq.blocking import PersistentQueueWithCapacity


def test_exactly_max_elements_items_fit(queue_path: str) -> None:
    queue = PersistentQueueWithCapacity(queue_path, max_elements=3)
    queue.push([b"a", b"b"])
    queue.push([b"c"])

    assert queue.len == 3


def test_push_into_a_full_queue_raises_queue_full(queue_path: str) -> None:
    queue = PersistentQueueWithCapacity(queue_path, max_elements=2)
    queue.push([b"a", b"b"])

    with pytest.raises(rocksq.QueueFull, match="Queue is full"):
        queue.push([b"c"])


def test_queue_full_is_a_runtime_error_as_in_rocksq_0_3_0(queue_path: str) -> None:
    queue = PersistentQueueWithCapacity(queue_path, max_elements=1)
    queue.push([b"a"])

    with pytest.raises(RuntimeError, match="Queue is full"):
        queue.push([b"b"])


def test_a_batch_that_does_not_fit_stores_none_of_its_items(queue_path: str) -> None:
    queue = PersistentQueueWithCapacity(queue_path, max_elements=3)
    queue.push([b"a", b"b"])

    with pytest.raises(rocksq.QueueFull):
        queue.push([b"c", b"d"])

    assert queue.len == 2
    assert queue.payload_size == 2
    assert queue.pop(10) == [b"a", b"b"]


def test_a_pop_makes_room_for_another_push(queue_path: str) -> None:
    queue = PersistentQueueWithCapacity(queue_path, max_elements=2)
    queue.push([b"a", b"b"])
    queue.pop()

    queue.push([b"c"])

    assert queue.pop(2) == [b"b", b"c"]


def test_seed_push_into_a_full_queue_raises_queue_full(queue_path: str) -> None:
    queue = rocksq.PersistentQueueWithCapacity(queue_path, max_elements=1)
    queue.push(b"a")

    with pytest.raises(rocksq.QueueFull, match="Queue is full"):
        queue.push(b"b")
    assert queue.len() == 1


def test_a_capacity_of_zero_raises_value_error(queue_path: str) -> None:
    # rocksq 0.3.0 accepted it and then refused every push.
    with pytest.raises(ValueError, match="max_elements"):
        PersistentQueueWithCapacity(queue_path, max_elements=0)


def test_a_negative_capacity_raises_overflow_error(queue_path: str) -> None:
    with pytest.raises(OverflowError, match="can't convert negative int to unsigned"):
        PersistentQueueWithCapacity(queue_path, max_elements=-1)
