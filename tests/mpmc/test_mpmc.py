"""rocksq.blocking.MpmcQueue: labelled readers, each at its own position (rocksq 0.3.0's API).

Expiry is in test_mpmc_expiry.py, threads in test_mpmc_threads.py,
persistence across processes in test_mpmc_persistence.py.
"""

from __future__ import annotations

import array
import os
from pathlib import Path

import numpy as np
import pytest

import rocksq
from rocksq import StartPosition
from rocksq.blocking import MpmcQueue, PersistentQueueWithCapacity

OLDEST = StartPosition.Oldest
NEWEST = StartPosition.Newest
TTL = 3600


def read_all(queue: MpmcQueue, label: str, start: StartPosition = OLDEST) -> list[bytes]:
    items, _ = queue.next(label, start, max_elements=1_000_000)
    return items


# --- Reading by label ----------------------------------------------------------


def test_a_label_at_oldest_reads_every_element_in_add_order(queue_path: str) -> None:
    queue = MpmcQueue(queue_path, TTL)
    queue.add([b"a"])
    queue.add([b"b", b"c"])

    assert queue.next("reader", OLDEST, 10) == ([b"a", b"b", b"c"], False)


def test_next_returns_a_tuple_of_a_list_of_bytes_and_a_bool(queue_path: str) -> None:
    queue = MpmcQueue(queue_path, TTL)
    queue.add([bytearray(b"x")])

    result = queue.next("reader", OLDEST)

    assert type(result) is tuple and len(result) == 2
    items, expired = result
    assert type(items) is list and [type(item) for item in items] == [bytes]
    assert expired is False


def test_next_returns_at_most_max_elements_and_goes_on_where_it_stopped(queue_path: str) -> None:
    queue = MpmcQueue(queue_path, TTL)
    queue.add([b"0", b"1", b"2", b"3", b"4"])

    assert queue.next("reader", OLDEST, 2) == ([b"0", b"1"], False)
    assert queue.next("reader", OLDEST) == ([b"2"], False)
    assert queue.next("reader", OLDEST, max_elements=10) == ([b"3", b"4"], False)


def test_reading_removes_nothing(queue_path: str) -> None:
    queue = MpmcQueue(queue_path, TTL)
    queue.add([b"a", b"b"])
    read_all(queue, "first")

    assert queue.len == 2
    assert read_all(queue, "second") == [b"a", b"b"]


def test_oldest_on_an_empty_queue_reads_the_elements_added_later(queue_path: str) -> None:
    queue = MpmcQueue(queue_path, TTL)

    assert queue.next("reader", OLDEST, 10) == ([], False)
    queue.add([b"a", b"b"])
    assert queue.next("reader", OLDEST, 10) == ([b"a", b"b"], False)


def test_newest_on_an_empty_queue_reads_every_element_added_later(queue_path: str) -> None:
    queue = MpmcQueue(queue_path, TTL)

    assert queue.next("reader", NEWEST, 10) == ([], False)
    queue.add([b"a", b"b"])
    assert queue.next("reader", NEWEST, 10) == ([b"a", b"b"], False)


def test_newest_on_a_non_empty_queue_starts_at_the_newest_element(queue_path: str) -> None:
    queue = MpmcQueue(queue_path, TTL)
    queue.add([b"a", b"b", b"c"])

    assert queue.next("reader", NEWEST, 10) == ([b"c"], False)
    queue.add([b"d"])
    assert queue.next("reader", NEWEST, 10) == ([b"d"], False)


def test_a_label_past_the_end_reads_nothing_then_sees_new_elements(queue_path: str) -> None:
    queue = MpmcQueue(queue_path, TTL)
    queue.add([b"a"])
    read_all(queue, "reader")

    assert queue.next("reader", OLDEST, 10) == ([], False)
    assert queue.next("reader", OLDEST, 10) == ([], False)
    queue.add([b"b", b"c"])
    assert queue.next("reader", OLDEST, 10) == ([b"b", b"c"], False)


def test_start_position_is_ignored_for_an_existing_label(queue_path: str) -> None:
    queue = MpmcQueue(queue_path, TTL)
    queue.add([b"a", b"b", b"c"])
    queue.next("reader", OLDEST, 1)

    assert read_all(queue, "reader", NEWEST) == [b"b", b"c"]


def test_labels_at_different_speeds_read_independently(queue_path: str) -> None:
    queue = MpmcQueue(queue_path, TTL)
    queue.add([b"%d" % n for n in range(6)])

    assert queue.next("fast", OLDEST, 4) == ([b"0", b"1", b"2", b"3"], False)
    assert queue.next("slow", OLDEST, 1) == ([b"0"], False)
    assert queue.next("fast", OLDEST, 4) == ([b"4", b"5"], False)
    assert queue.next("slow", OLDEST, 2) == ([b"1", b"2"], False)
    assert queue.next("fast", OLDEST, 4) == ([], False)
    assert queue.next("slow", OLDEST, 9) == ([b"3", b"4", b"5"], False)


def test_an_empty_element_round_trips(queue_path: str) -> None:
    queue = MpmcQueue(queue_path, TTL)
    queue.add([b"", b"\0x\0"])

    assert read_all(queue, "reader") == [b"", b"\0x\0"]


# --- Labels ----------------------------------------------------------------------


def test_labels_lists_every_label_sorted(queue_path: str) -> None:
    queue = MpmcQueue(queue_path, TTL)
    queue.next("b", OLDEST)
    queue.next("a", NEWEST)
    queue.next("é", OLDEST)

    assert queue.labels == ["a", "b", "é"]


def test_next_of_zero_elements_creates_the_label(queue_path: str) -> None:
    queue = MpmcQueue(queue_path, TTL)
    queue.add([b"a", b"b"])

    assert queue.next("reader", NEWEST, 0) == ([], False)
    assert queue.labels == ["reader"]
    assert read_all(queue, "reader") == [b"b"]


def test_a_removed_label_starts_afresh_when_used_again(queue_path: str) -> None:
    queue = MpmcQueue(queue_path, TTL)
    queue.add([b"a", b"b", b"c"])
    read_all(queue, "reader")

    assert queue.remove_label("reader") is True
    assert queue.labels == []
    assert read_all(queue, "reader") == [b"a", b"b", b"c"]


def test_remove_label_of_an_unknown_label_returns_false(queue_path: str) -> None:
    queue = MpmcQueue(queue_path, TTL)
    queue.next("reader", OLDEST)

    assert queue.remove_label("nobody") is False
    assert queue.remove_label("reader", no_gil=False) is True
    assert queue.remove_label("reader") is False


# --- Sizes -------------------------------------------------------------------------


def test_a_new_queue_is_empty(queue_path: str) -> None:
    queue = MpmcQueue(queue_path, TTL)

    assert (queue.len, queue.payload_size, queue.is_empty, queue.labels) == (0, 0, True, [])


def test_len_payload_size_and_is_empty_count_the_added_elements(queue_path: str) -> None:
    queue = MpmcQueue(queue_path, TTL)
    queue.add([b"a", b"bb", b"ccc"])
    queue.add([b"dddd"])
    read_all(queue, "reader")

    assert (queue.len, queue.payload_size, queue.is_empty) == (4, 10, False)


def test_disk_size_is_the_size_of_the_queue_directory(queue_path: str) -> None:
    queue = MpmcQueue(queue_path, TTL)
    queue.add([bytes(1 << 20)])

    files = sum(p.stat().st_size for p in Path(queue_path).rglob("*") if p.is_file())
    assert type(queue.disk_size) is int
    assert queue.disk_size >= 1 << 20
    assert abs(queue.disk_size - files) < 1 << 16


# --- Inputs ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "item",
    [
        pytest.param(bytearray(b"bytearray"), id="bytearray"),
        pytest.param(memoryview(b"__slice__")[2:-2], id="memoryview slice"),
        pytest.param(array.array("i", [1, -2, 3]), id="array.array"),
        pytest.param(np.arange(6, dtype=np.int16).reshape(2, 3), id="numpy array"),
    ],
)
def test_add_stores_a_bytes_like_item_as_its_raw_bytes(queue_path: str, item: object) -> None:
    queue = MpmcQueue(queue_path, TTL)
    queue.add([item])

    assert read_all(queue, "reader") == [memoryview(item).tobytes()]


def test_add_accepts_a_tuple(queue_path: str) -> None:
    queue = MpmcQueue(queue_path, TTL)
    queue.add((b"a", b"b"))

    assert read_all(queue, "reader") == [b"a", b"b"]


@pytest.mark.parametrize(
    ("item", "type_name"),
    [("text", "str"), (None, "NoneType"), (7, "int"), (np.arange(4)[::2], "numpy.ndarray")],
)
def test_add_of_a_non_bytes_like_item_raises_type_error_and_stores_nothing(
    queue_path: str, item: object, type_name: str
) -> None:
    queue = MpmcQueue(queue_path, TTL)

    with pytest.raises(TypeError, match=rf"add\(\): item 1 is {type_name}"):
        queue.add([b"good", item])
    assert queue.len == 0


@pytest.mark.parametrize("items", [b"abc", "abc", None, 3])
def test_add_of_something_other_than_a_list_raises_type_error(
    queue_path: str, items: object
) -> None:
    queue = MpmcQueue(queue_path, TTL)

    with pytest.raises(TypeError, match="items"):
        queue.add(items)  # type: ignore[arg-type]


# --- Bad arguments -------------------------------------------------------------------


@pytest.mark.parametrize("ttl", [0, -1, -(2**70)])
def test_a_ttl_below_one_second_raises_value_error_naming_ttl(queue_path: str, ttl: int) -> None:
    with pytest.raises(ValueError, match="ttl"):
        MpmcQueue(queue_path, ttl)
    assert not os.path.exists(queue_path)


def test_a_huge_ttl_raises_value_error_naming_ttl(queue_path: str) -> None:
    with pytest.raises(ValueError, match="ttl"):
        MpmcQueue(queue_path, 2**70)


@pytest.mark.parametrize("ttl", [1.5, "60", None, True])
def test_a_ttl_that_is_not_an_int_raises_type_error_naming_ttl(
    queue_path: str, ttl: object
) -> None:
    with pytest.raises(TypeError, match="ttl"):
        MpmcQueue(queue_path, ttl)  # type: ignore[arg-type]


@pytest.mark.parametrize("label", [b"bytes", 1, None])
def test_a_label_that_is_not_a_str_raises_type_error_naming_label(
    queue_path: str, label: object
) -> None:
    queue = MpmcQueue(queue_path, TTL)

    with pytest.raises(TypeError, match="label"):
        queue.next(label, OLDEST)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="label"):
        queue.remove_label(label)  # type: ignore[arg-type]
    assert queue.labels == []


def test_the_empty_label_is_a_label_as_in_rocksq_0_3_0(queue_path: str) -> None:
    queue = MpmcQueue(queue_path, TTL)
    queue.add([b"a", b"b"])

    assert queue.next("", OLDEST) == ([b"a"], False)
    assert queue.next("", NEWEST) == ([b"b"], False)
    assert queue.labels == [""]
    queue.close()
    with MpmcQueue(queue_path, TTL) as reopened:
        assert reopened.labels == [""]
        assert reopened.remove_label("")
        assert reopened.labels == []


@pytest.mark.parametrize("start", [0, 1, None, "Oldest", StartPosition])
def test_a_start_position_that_is_not_a_start_position_raises_type_error(
    queue_path: str, start: object
) -> None:
    queue = MpmcQueue(queue_path, TTL)

    with pytest.raises(TypeError, match="start_position"):
        queue.next("reader", start)  # type: ignore[arg-type]
    assert queue.labels == []


def test_a_negative_max_elements_raises_overflow_error_as_in_rocksq_0_3_0(
    queue_path: str,
) -> None:
    queue = MpmcQueue(queue_path, TTL)

    with pytest.raises(OverflowError):
        queue.next("reader", OLDEST, -1)


def test_a_non_integer_max_elements_raises_type_error(queue_path: str) -> None:
    queue = MpmcQueue(queue_path, TTL)

    with pytest.raises(TypeError):
        queue.next("reader", OLDEST, 1.5)  # type: ignore[arg-type]


# --- Open, close, remove, and the other kind of queue ----------------------------------


def test_opening_the_same_path_twice_raises_queue_already_open(queue_path: str) -> None:
    queue = MpmcQueue(queue_path, TTL)

    with pytest.raises(rocksq.QueueAlreadyOpen):
        MpmcQueue(queue_path, TTL)
    queue.add([b"still usable"])


def test_a_fifo_queue_opened_as_mpmc_raises_not_a_queue_error_naming_what_it_holds(
    queue_path: str,
) -> None:
    with PersistentQueueWithCapacity(queue_path) as fifo:
        fifo.push([b"fifo item"])

    with pytest.raises(rocksq.NotAQueueError, match="holds a RocksQ FIFO queue, not an MPMC queue"):
        MpmcQueue(queue_path, TTL)
    with pytest.raises(rocksq.NotAQueueError, match="FIFO queue"):
        rocksq.remove_mpmc_queue(queue_path)
    assert PersistentQueueWithCapacity(queue_path).pop() == [b"fifo item"]


def test_an_mpmc_queue_opened_as_fifo_raises_not_a_queue_error_naming_what_it_holds(
    queue_path: str,
) -> None:
    with MpmcQueue(queue_path, TTL) as queue:
        queue.add([b"element"])

    with pytest.raises(rocksq.NotAQueueError, match="holds a RocksQ MPMC queue, not a FIFO queue"):
        PersistentQueueWithCapacity(queue_path)
    with pytest.raises(rocksq.NotAQueueError, match="MPMC queue"):
        rocksq.remove_queue(queue_path)
    assert read_all(MpmcQueue(queue_path, TTL), "reader") == [b"element"]


def test_remove_mpmc_queue_deletes_the_queue(queue_path: str) -> None:
    with MpmcQueue(queue_path, TTL) as queue:
        queue.add([b"a"])
        queue.next("reader", OLDEST)

    rocksq.remove_mpmc_queue(queue_path)

    assert not os.path.exists(queue_path)
    queue = MpmcQueue(queue_path, TTL)
    assert (queue.len, queue.labels) == (0, [])


def test_remove_mpmc_queue_of_a_missing_path_does_nothing(tmp_path: Path) -> None:
    rocksq.remove_mpmc_queue(tmp_path / "missing")


def test_remove_mpmc_queue_of_an_open_queue_raises_queue_already_open(queue_path: str) -> None:
    queue = MpmcQueue(queue_path, TTL)
    queue.add([b"a"])

    with pytest.raises(rocksq.QueueAlreadyOpen):
        rocksq.remove_mpmc_queue(queue_path)
    assert queue.len == 1


def test_calls_after_close_raise_queue_closed(queue_path: str) -> None:
    queue = MpmcQueue(queue_path, TTL)
    queue.close()

    for call in (
        lambda: queue.add([b"a"]),
        lambda: queue.next("reader", OLDEST),
        lambda: queue.remove_label("reader"),
        lambda: queue.len,
        lambda: queue.labels,
    ):
        with pytest.raises(rocksq.QueueClosed):
            call()
    queue.close()  # A second close does nothing.


def test_leaving_a_with_block_closes_the_queue(queue_path: str) -> None:
    with MpmcQueue(queue_path, TTL) as queue:
        queue.add([b"a"])

    with pytest.raises(rocksq.QueueClosed):
        queue.add([b"b"])
    assert MpmcQueue(queue_path, TTL).len == 1


def test_dropping_the_last_reference_closes_the_queue(queue_path: str) -> None:
    queue = MpmcQueue(queue_path, TTL)
    queue.add([b"a"])
    del queue

    assert MpmcQueue(queue_path, TTL).len == 1
