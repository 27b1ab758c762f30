"""Items are bytes-like objects with C-contiguous data; anything else is a TypeError."""

from __future__ import annotations

import array
from typing import Any

import pytest

import rocksq
from rocksq._core import FifoQueue
from rocksq.blocking import PersistentQueueWithCapacity

NOT_BYTES_LIKE = [
    pytest.param("text", "str", id="str"),
    pytest.param(42, "int", id="int"),
    pytest.param(None, "NoneType", id="None"),
    pytest.param(1.5, "float", id="float"),
    pytest.param([b"nested"], "list", id="list"),
    pytest.param(memoryview(b"abcdef")[::2], "memoryview", id="non-contiguous memoryview"),
]

BYTES_LIKE = [
    pytest.param(b"bytes", id="bytes"),
    pytest.param(bytearray(b"bytearray"), id="bytearray"),
    pytest.param(memoryview(b"memoryview"), id="memoryview"),
    pytest.param(memoryview(b"__slice__")[2:-2], id="contiguous memoryview slice"),
    pytest.param(array.array("i", [1, -2, 3]), id="array.array of int"),
    pytest.param(array.array("d", [0.5, 1e300]), id="array.array of double"),
]


def raw_bytes(item: Any) -> bytes:
    """The bytes a bytes-like item holds, in C order."""
    return memoryview(item).tobytes()


@pytest.mark.parametrize(("item", "type_name"), NOT_BYTES_LIKE)
def test_seed_push_of_a_non_bytes_like_item_raises_type_error_naming_its_type(
    queue_path: str, item: object, type_name: str
) -> None:
    queue = rocksq.PersistentQueueWithCapacity(queue_path)

    with pytest.raises(TypeError, match=rf"^push\(\): item is {type_name}\b"):
        queue.push(item)  # type: ignore[arg-type]
    assert queue.len() == 0


@pytest.mark.parametrize(("item", "type_name"), NOT_BYTES_LIKE)
def test_push_of_a_list_with_a_bad_item_in_the_middle_raises_type_error_naming_its_index(
    queue_path: str, item: object, type_name: str
) -> None:
    queue = PersistentQueueWithCapacity(queue_path)

    with pytest.raises(TypeError, match=rf"item 2 is {type_name}\b.*C-contiguous"):
        queue.push([b"a", b"b", item, b"d"])  # type: ignore[list-item]
    assert queue.len == 0


@pytest.mark.parametrize("items", [b"abc", bytearray(b"abc"), "abc", None, {b"a"}], ids=repr)
def test_push_of_something_other_than_a_list_raises_type_error(
    queue_path: str, items: object
) -> None:
    queue = PersistentQueueWithCapacity(queue_path)

    with pytest.raises(TypeError, match="expected a list or tuple"):
        queue.push(items)  # type: ignore[arg-type]
    assert queue.len == 0


def test_push_many_accepts_a_tuple(queue_path: str) -> None:
    queue = FifoQueue(queue_path)
    queue.push_many((b"a", b"b"))

    assert queue.pop(2) == [b"a", b"b"]


@pytest.mark.parametrize("item", BYTES_LIKE)
def test_a_bytes_like_item_round_trips_to_its_exact_bytes(queue_path: str, item: Any) -> None:
    queue = PersistentQueueWithCapacity(queue_path)
    queue.push([item])

    assert queue.pop() == [raw_bytes(item)]


@pytest.mark.parametrize("item", BYTES_LIKE)
def test_a_bytes_like_item_pushed_alone_round_trips_to_its_exact_bytes(
    queue_path: str, item: Any
) -> None:
    queue = rocksq.PersistentQueueWithCapacity(queue_path)
    queue.push(item)

    assert queue.pop() == raw_bytes(item)


@pytest.mark.parametrize(
    "make_array",
    [
        pytest.param(lambda np: np.arange(256, dtype=np.uint8), id="uint8"),
        pytest.param(lambda np: np.linspace(-1.0, 1.0, 33), id="float64"),
        pytest.param(lambda np: np.arange(12, dtype=np.float32).reshape(3, 4), id="2-D float32"),
        pytest.param(lambda np: np.arange(24, dtype=np.int16).reshape(2, 3, 4)[1], id="C-contiguous view"),
        pytest.param(lambda np: np.float64(2.5).reshape(()), id="0-D"),
    ],
)
def test_a_c_contiguous_numpy_array_round_trips_to_its_raw_bytes(
    queue_path: str, make_array: Any
) -> None:
    np = pytest.importorskip("numpy")
    item = make_array(np)
    queue = PersistentQueueWithCapacity(queue_path)
    queue.push([item])

    assert queue.pop() == [item.tobytes()]


@pytest.mark.parametrize(
    "make_array",
    [
        pytest.param(lambda np: np.arange(10, dtype=np.uint8)[::2], id="strided"),
        pytest.param(lambda np: np.arange(12, dtype=np.uint8).reshape(3, 4).T, id="transposed"),
        pytest.param(lambda np: np.asfortranarray(np.ones((3, 4))), id="Fortran order"),
    ],
)
def test_a_numpy_array_without_c_contiguous_data_raises_type_error(
    queue_path: str, make_array: Any
) -> None:
    np = pytest.importorskip("numpy")
    queue = PersistentQueueWithCapacity(queue_path)

    with pytest.raises(TypeError, match="item 0 is numpy.ndarray whose data is not C-contiguous"):
        queue.push([make_array(np)])
    assert queue.len == 0


def test_a_bytearray_can_be_resized_once_its_push_returns(queue_path: str) -> None:
    item = bytearray(b"abc")
    queue = PersistentQueueWithCapacity(queue_path)
    queue.push([item])

    item.extend(b"def")  # BufferError if the push still held the buffer.

    assert queue.pop() == [b"abc"]


def test_a_bytearray_can_be_resized_after_a_push_rejected_a_later_item(
    queue_path: str,
) -> None:
    item = bytearray(b"abc")
    queue = PersistentQueueWithCapacity(queue_path)
    with pytest.raises(TypeError):
        queue.push([item, "text"])  # type: ignore[list-item]

    item.extend(b"def")


def test_a_bytearray_can_be_resized_after_a_push_into_a_full_queue(queue_path: str) -> None:
    item = bytearray(b"abc")
    queue = PersistentQueueWithCapacity(queue_path, max_elements=1)
    queue.push([b"full"])
    with pytest.raises(rocksq.QueueFull):
        queue.push([item])

    item.extend(b"def")


def test_pop_of_a_negative_count_raises_overflow_error(queue_path: str) -> None:
    queue = PersistentQueueWithCapacity(queue_path)

    with pytest.raises(OverflowError, match="can't convert negative int to unsigned"):
        queue.pop(-1)


def test_pop_of_a_non_integer_count_raises_type_error(queue_path: str) -> None:
    queue = PersistentQueueWithCapacity(queue_path)

    with pytest.raises(TypeError):
        queue.pop(1.5)  # type: ignore[arg-type]


def test_pop_accepts_an_integer_like_count(queue_path: str) -> None:
    np = pytest.importorskip("numpy")
    queue = PersistentQueueWithCapacity(queue_path)
    queue.push([b"a", b"b"])

    assert queue.pop(np.int64(2)) == [b"a", b"b"]


def _faces_taking_a_sequence() -> list[Any]:
    """(name, open, put a batch, take everything) for each face whose batch
    put is annotated Sequence[Buffer]."""
    import asyncio

    import rocksq.aio

    def take_fifo(queue: Any) -> list[bytes]:
        return [queue.get_nowait() for _ in range(queue.qsize())]

    def take_ack(queue: Any) -> list[bytes]:
        return [queue.get_nowait().data for _ in range(len(queue))]

    return [
        pytest.param(rocksq.Queue, lambda q, items: q.put_many(items), take_fifo, id="Queue"),
        pytest.param(rocksq.AckQueue, lambda q, items: q.put_many(items), take_ack, id="AckQueue"),
        pytest.param(
            rocksq.aio.Queue,
            lambda q, items: asyncio.run(q.put_many(items)),
            take_fifo,
            id="aio.Queue",
        ),
        pytest.param(
            rocksq.aio.AckQueue,
            lambda q, items: asyncio.run(q.put_many(items)),
            take_ack,
            id="aio.AckQueue",
        ),
    ]


@pytest.mark.parametrize(("open_queue", "put_batch", "take_all"), _faces_taking_a_sequence())
def test_a_batch_put_takes_any_sequence_not_only_a_list_or_tuple(
    queue_path: str, open_queue: Any, put_batch: Any, take_all: Any
) -> None:
    import collections

    queue = open_queue(queue_path)
    try:
        put_batch(queue, collections.deque([b"a", bytearray(b"b")]))
        put_batch(queue, [b"c"])  # a plain list, passed on as it is
        put_batch(queue, collections.UserList([b"d", b"e"]))
        assert take_all(queue) == [b"a", b"b", b"c", b"d", b"e"]
    finally:
        queue.close()


def test_aio_mpmc_add_takes_any_sequence(queue_path: str) -> None:
    import asyncio
    import collections

    import rocksq.aio

    queue = rocksq.aio.MpmcQueue(queue_path, ttl=60)
    try:
        asyncio.run(queue.add(collections.deque([b"a", b"b"])))
        queue.add_nowait(collections.UserList([b"c"]))
        items, _ = queue.next_nowait("reader", rocksq.StartPosition.Oldest, 10)
        assert items == [b"a", b"b", b"c"]
    finally:
        queue.close()
