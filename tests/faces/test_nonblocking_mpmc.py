"""rocksq.nonblocking.MpmcQueue: rocksq 0.3.0's response-returning MPMC API."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import rocksq
from rocksq import StartPosition
from rocksq.blocking import MpmcQueue as BlockingMpmcQueue
from rocksq.nonblocking import MpmcQueue, MpmcResponse, MpmcResponseVariant

OLDEST = StartPosition.Oldest
NEWEST = StartPosition.Newest
TTL = 3600

# One script of operations, run through both faces: (method or property,
# arguments, the variant attribute the nonblocking result fills).
OPERATIONS = [
    ("labels", None, "labels"),
    ("next", ("late", NEWEST, 5), "data"),
    ("add", ([b"a", b"bb", bytearray(b"ccc")],), None),
    ("len", None, "len"),
    ("payload_size", None, "size"),
    ("next", ("reader", OLDEST, 2), "data"),
    ("next", ("newest", NEWEST, 10), "data"),
    ("add", ([b"d"],), None),
    ("next", ("reader", OLDEST, 10), "data"),
    ("next", ("late", NEWEST, 10), "data"),
    ("next", ("reader", NEWEST, 10), "data"),
    ("labels", None, "labels"),
    ("remove_label", ("reader",), "removed_label"),
    ("remove_label", ("reader",), "removed_label"),
    ("next", ("reader", OLDEST, 0), "data"),
    ("labels", None, "labels"),
    ("next", ("", OLDEST, 1), "data"),  # The empty label is a label.
    ("len", None, "len"),
    ("disk_size", None, "size"),
]


def observed(value: object, name: str) -> object:
    # Two directories' file sizes differ; what both promise is a positive int.
    return type(value).__name__ if name == "disk_size" else value


def run_blocking(path: Path) -> list[object]:
    results: list[object] = []
    with BlockingMpmcQueue(path, TTL) as queue:
        for name, arguments, _ in OPERATIONS:
            try:
                if arguments is None:
                    results.append(observed(getattr(queue, name), name))
                else:
                    results.append(getattr(queue, name)(*arguments))
            except ValueError:
                results.append("ValueError")
    return results


def run_nonblocking(path: Path) -> list[object]:
    with MpmcQueue(path, TTL) as queue:
        responses = [
            getattr(queue, name) if arguments is None else getattr(queue, name)(*arguments)
            for name, arguments, _ in OPERATIONS
        ]
        results: list[object] = []
        for (name, _, field), response in zip(OPERATIONS, responses):
            try:
                variant = response.get()
            except ValueError:
                results.append("ValueError")
                continue
            attributes = ("data", "labels", "removed_label", "len", "size")
            filled = {a: getattr(variant, a) for a in attributes if getattr(variant, a) is not None}
            assert list(filled) == ([field] if field else []), (name, filled)
            results.append(observed(filled[field], name) if field else None)
    return results


def test_results_equal_the_blocking_faces_for_the_same_operations(tmp_path: Path) -> None:
    expected = run_blocking(tmp_path / "blocking")

    assert run_nonblocking(tmp_path / "nonblocking") == expected
    assert expected[5] == ([b"a", b"bb"], False)
    assert expected[6] == ([b"ccc"], False)
    assert expected[8] == ([b"ccc", b"d"], False)
    assert expected[9] == ([b"a", b"bb", b"ccc", b"d"], False)
    assert expected[12:14] == [True, False]
    assert expected[16] == ([b"a"], False)  # The empty label reads as any other.


def test_responses_are_the_0_3_0_types(tmp_path: Path) -> None:
    with MpmcQueue(tmp_path / "q", TTL) as queue:
        response = queue.len

        assert isinstance(response, MpmcResponse)
        assert isinstance(response.get(), MpmcResponseVariant)


def test_operations_run_in_submission_order(tmp_path: Path) -> None:
    with MpmcQueue(tmp_path / "q", TTL) as queue:
        adds = [queue.add([b"%d" % n]) for n in range(200)]
        reads = [queue.next("reader", OLDEST) for _ in range(200)]

        assert [add.get().data for add in adds] == [None] * 200
        assert [read.get().data for read in reads] == [([b"%d" % n], False) for n in range(200)]


def test_inflight_ops_never_exceed_the_limit_and_submitting_waits(tmp_path: Path) -> None:
    with MpmcQueue(tmp_path / "q", TTL, max_inflight_ops=2) as queue:
        seen = []
        responses = []
        for _ in range(50):
            responses.append(queue.add([bytes(64 * 1024)]))
            seen.append(queue.inflight_ops)
        for response in responses:
            response.get()

        assert max(seen) <= 2
        assert queue.len.get().len == 50
        # A result is published a moment before its operation stops counting.
        deadline = time.monotonic() + 5
        while queue.inflight_ops and time.monotonic() < deadline:
            time.sleep(0.001)
        assert queue.inflight_ops == 0


def test_a_result_is_taken_once(tmp_path: Path) -> None:
    with MpmcQueue(tmp_path / "q", TTL) as queue:
        response = queue.labels
        assert response.get().labels == []

        with pytest.raises(RuntimeError, match="Failed to get response"):
            response.get()
        with pytest.raises(RuntimeError, match="Failed to get response"):
            response.try_get()


def test_try_get_returns_none_until_ready_then_the_result(tmp_path: Path) -> None:
    with MpmcQueue(tmp_path / "q", TTL) as queue:
        big = bytes(8 * 1024 * 1024)
        adds = [queue.add([big]) for _ in range(8)]
        last = queue.len

        early = last.try_get()  # Eight 8 MiB writes are still ahead of it.
        adds[-1].get()

        assert early is None
        assert last.get().len == 8


def test_an_error_is_raised_by_get_not_swallowed(tmp_path: Path) -> None:
    queue = MpmcQueue(tmp_path / "q", TTL)
    queue.close()
    response = queue.add([b"late"])

    with pytest.raises(rocksq.QueueClosed):
        response.get()


def test_arguments_of_the_wrong_type_raise_type_error_at_submission(tmp_path: Path) -> None:
    with MpmcQueue(tmp_path / "q", TTL) as queue:
        with pytest.raises(TypeError, match="item 1 is str"):
            queue.add([b"a", "b"])
        with pytest.raises(TypeError, match="label must be a str"):
            queue.next(b"label", OLDEST)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="start_position"):
            queue.next("label", 0)  # type: ignore[arg-type]
        with pytest.raises(OverflowError):
            queue.next("label", OLDEST, -1)

        assert queue.len.get().len == 0
        assert queue.labels.get().labels == []


def test_a_dropped_response_keeps_its_buffers_until_the_add_ran(tmp_path: Path) -> None:
    with MpmcQueue(tmp_path / "q", TTL) as queue:
        payload = bytearray(b"x" * 1024)
        queue.add([payload])  # The response is dropped at once.
        payload.extend(b"y")  # Allowed only once the buffer is released.

        assert queue.next("reader", OLDEST).get().data == ([b"x" * 1024], False)


def test_the_blocking_face_reopens_what_the_nonblocking_one_stored(tmp_path: Path) -> None:
    with MpmcQueue(tmp_path / "q", TTL) as queue:
        queue.add([b"a", b"b"])
        queue.next("reader", OLDEST).get()

    with BlockingMpmcQueue(tmp_path / "q", TTL) as reopened:
        assert reopened.next("reader", OLDEST, 10) == ([b"b"], False)
