"""Items come out in the order they went in, whatever the batching."""

from __future__ import annotations

from rocksq.blocking import PersistentQueueWithCapacity


def test_pop_returns_items_in_push_order_across_batches(queue_path: str) -> None:
    queue = PersistentQueueWithCapacity(queue_path)
    pushed = [f"item {n}".encode() for n in range(100)]
    for start, end in [(0, 1), (1, 4), (4, 40), (40, 41), (41, 100)]:
        queue.push(pushed[start:end])

    popped = []
    for batch_size in [3, 1, 50, 7, 100]:
        popped += queue.pop(batch_size)

    assert popped == pushed


def test_pop_returns_items_in_push_order_across_reopen(queue_path: str) -> None:
    queue = PersistentQueueWithCapacity(queue_path)
    queue.push([b"first", b"second", b"third"])
    assert queue.pop() == [b"first"]
    queue.close()

    reopened = PersistentQueueWithCapacity(queue_path)
    reopened.push([b"fourth"])

    assert reopened.pop(10) == [b"second", b"third", b"fourth"]


def test_pop_returns_at_most_max_elements_items(queue_path: str) -> None:
    queue = PersistentQueueWithCapacity(queue_path)
    queue.push([b"a", b"b", b"c"])

    assert queue.pop(max_elements=2) == [b"a", b"b"]


def test_pop_returns_only_the_items_stored_when_asked_for_more(queue_path: str) -> None:
    queue = PersistentQueueWithCapacity(queue_path)
    queue.push([b"a", b"b"])

    assert queue.pop(max_elements=1000) == [b"a", b"b"]


def test_pop_on_an_empty_queue_returns_an_empty_list(queue_path: str) -> None:
    queue = PersistentQueueWithCapacity(queue_path)

    assert queue.pop() == []


def test_pop_of_zero_items_returns_an_empty_list_and_keeps_the_items(queue_path: str) -> None:
    queue = PersistentQueueWithCapacity(queue_path)
    queue.push([b"kept"])

    assert queue.pop(max_elements=0) == []
    assert queue.pop() == [b"kept"]


def test_popped_items_are_bytes_whatever_was_pushed(queue_path: str) -> None:
    queue = PersistentQueueWithCapacity(queue_path)
    queue.push([bytearray(b"from bytearray"), memoryview(b"from memoryview")])

    popped = queue.pop(2)

    assert [type(item) for item in popped] == [bytes, bytes]


def test_push_returns_none(queue_path: str) -> None:
    queue = PersistentQueueWithCapacity(queue_path)

    assert queue.push([b"a", b"bb"]) is None


def test_push_of_an_empty_list_stores_nothing(queue_path: str) -> None:
    queue = PersistentQueueWithCapacity(queue_path)

    assert queue.push([]) is None
    assert queue.len == 0


def test_push_and_pop_without_releasing_the_gil_keep_order(queue_path: str) -> None:
    queue = PersistentQueueWithCapacity(queue_path)
    queue.push([b"a", b"b"], no_gil=False)
    queue.push([b"c"], no_gil=False)

    assert queue.pop(3, no_gil=False) == [b"a", b"b", b"c"]


def test_an_empty_item_round_trips(queue_path: str) -> None:
    queue = PersistentQueueWithCapacity(queue_path)
    queue.push([b"", b"x", b""])

    assert queue.pop(3) == [b"", b"x", b""]
