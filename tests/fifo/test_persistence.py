"""Items stay on disk until popped: across close, reopen and process exit."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

import rocksq
from rocksq.blocking import PersistentQueueWithCapacity

if TYPE_CHECKING:
    from conftest import RunPython

READ_QUEUE_IN_CHILD = """
    import json, sys
    from rocksq.blocking import PersistentQueueWithCapacity
    queue = PersistentQueueWithCapacity(sys.argv[1])
    state = {"len": queue.len, "payload_size": queue.payload_size}
    state["items"] = [item.decode() for item in queue.pop(1000)]
    print(json.dumps(state))
"""


def test_items_len_and_payload_size_survive_reopen_in_a_fresh_process(
    queue_path: str, run_python: RunPython
) -> None:
    queue = PersistentQueueWithCapacity(queue_path)
    queue.push([b"one", b"two", b"three", b"four"])
    queue.pop()
    queue.close()

    state = json.loads(run_python(READ_QUEUE_IN_CHILD, queue_path))

    assert state == {"len": 3, "payload_size": 12, "items": ["two", "three", "four"]}


def test_pushes_survive_a_process_that_exits_without_closing(
    queue_path: str, run_python: RunPython
) -> None:
    run_python(
        """
        import os, sys
        from rocksq.blocking import PersistentQueueWithCapacity
        queue = PersistentQueueWithCapacity(sys.argv[1])
        queue.push([b"pushed", b"before", b"exit"])
        queue.pop()
        os._exit(0)  # No close, no destructor: as if the process crashed.
        """,
        queue_path,
    )

    queue = PersistentQueueWithCapacity(queue_path)

    assert (queue.len, queue.payload_size, queue.pop(10)) == (2, 10, [b"before", b"exit"])


def test_a_synced_queue_keeps_its_items_across_reopen(queue_path: str) -> None:
    queue = PersistentQueueWithCapacity(queue_path, sync=True)
    queue.push([b"durable"])
    queue.close()

    assert PersistentQueueWithCapacity(queue_path, sync=True).pop() == [b"durable"]


def test_a_queue_reopened_with_a_smaller_capacity_keeps_its_items(queue_path: str) -> None:
    queue = PersistentQueueWithCapacity(queue_path, max_elements=3)
    queue.push([b"a", b"b", b"c"])
    queue.close()

    smaller = PersistentQueueWithCapacity(queue_path, max_elements=1)

    with pytest.raises(rocksq.QueueFull):
        smaller.push([b"d"])
    assert smaller.pop(3) == [b"a", b"b", b"c"]


def test_close_lets_the_queue_be_opened_again(queue_path: str) -> None:
    queue = PersistentQueueWithCapacity(queue_path)
    queue.close()

    PersistentQueueWithCapacity(queue_path).close()


def test_dropping_the_last_reference_closes_the_queue(queue_path: str) -> None:
    queue = PersistentQueueWithCapacity(queue_path)
    queue.push([b"a"])
    del queue

    assert PersistentQueueWithCapacity(queue_path).pop() == [b"a"]


def test_leaving_a_with_block_closes_the_queue(queue_path: str) -> None:
    with PersistentQueueWithCapacity(queue_path) as queue:
        queue.push([b"a"])

    with pytest.raises(rocksq.QueueClosed):
        queue.pop()


def test_calls_after_close_raise_queue_closed(queue_path: str) -> None:
    queue = rocksq.PersistentQueueWithCapacity(queue_path)
    queue.close()

    with pytest.raises(rocksq.QueueClosed, match="closed"):
        queue.push(b"a")


def test_closing_twice_is_harmless(queue_path: str) -> None:
    queue = PersistentQueueWithCapacity(queue_path)
    queue.close()

    queue.close()
