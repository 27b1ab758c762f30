"""rocksq.nonblocking: rocksq 0.3.0's response-returning FIFO API."""

from __future__ import annotations

import threading
import time

import pytest

import rocksq
import rocksq.nonblocking
from rocksq.blocking import PersistentQueueWithCapacity as BlockingQueue
from rocksq.nonblocking import PersistentQueueWithCapacity as NonblockingQueue

# One script of operations, run through both faces.
OPERATIONS = [
    ("push", [b"a", b"bb"]),
    ("len", None),
    ("push", [bytearray(b"ccc")]),
    ("payload_size", None),
    ("pop", 2),
    ("push", [b"d", b"e", b"f"]),  # One more than fits: refused whole.
    ("len", None),
    ("pop", 10),
    ("pop", 1),
    ("len", None),
]


def run_blocking(path):
    queue = BlockingQueue(path, max_elements=3)
    results = []
    for name, argument in OPERATIONS:
        try:
            if name == "push":
                results.append(queue.push(argument))
            elif name == "pop":
                results.append(queue.pop(argument))
            else:
                results.append(getattr(queue, name))
        except rocksq.QueueFull:
            results.append("full")
    queue.close()
    return results


def run_nonblocking(path):
    queue = NonblockingQueue(path, max_elements=3)
    responses = []
    for name, argument in OPERATIONS:
        if name == "push":
            responses.append(queue.push(argument))
        elif name == "pop":
            responses.append(queue.pop(argument))
        else:
            responses.append(getattr(queue, name))
    results = []
    for (name, _), response in zip(OPERATIONS, responses):
        try:
            variant = response.get()
        except rocksq.QueueFull:
            results.append("full")
            continue
        results.append({"push": None, "pop": variant.data, "len": variant.len}.get(name, variant.size))
    queue.close()
    return results


def test_results_equal_the_blocking_faces_for_the_same_operations(tmp_path):
    expected = run_blocking(tmp_path / "blocking")
    assert run_nonblocking(tmp_path / "nonblocking") == expected
    assert expected[4] == [b"a", b"bb"] and expected[5] == "full"


def test_operations_run_in_submission_order(tmp_path):
    queue = NonblockingQueue(tmp_path / "q")
    pushes = [queue.push([str(i).encode()]) for i in range(200)]
    pops = [queue.pop(1) for _ in range(200)]
    for response in pushes:
        assert response.get().data is None
    assert [p.get().data for p in pops] == [[str(i).encode()] for i in range(200)]


def test_inflight_ops_never_exceed_the_limit_and_submitting_waits(tmp_path):
    queue = NonblockingQueue(tmp_path / "q", max_inflight_ops=2)
    seen = []
    responses = []
    for i in range(50):
        responses.append(queue.push([bytes(64 * 1024)]))
        seen.append(queue.inflight_ops)
    assert max(seen) <= 2
    for response in responses:
        response.get()
    assert queue.len.get().len == 50
    # A result is published a moment before its operation stops counting.
    deadline = time.monotonic() + 5
    while queue.inflight_ops and time.monotonic() < deadline:
        time.sleep(0.001)
    assert queue.inflight_ops == 0


def test_a_result_is_taken_once(tmp_path):
    queue = NonblockingQueue(tmp_path / "q")
    response = queue.len
    assert response.get().len == 0
    with pytest.raises(RuntimeError, match="Failed to get response"):
        response.get()
    with pytest.raises(RuntimeError, match="Failed to get response"):
        response.try_get()


def test_try_get_returns_none_until_ready_then_the_result(tmp_path):
    queue = NonblockingQueue(tmp_path / "q", max_inflight_ops=1000)
    big = bytes(8 * 1024 * 1024)
    pushes = [queue.push([big]) for _ in range(8)]
    last = queue.len
    early = last.try_get()  # Eight 8 MiB writes are still ahead of it.
    pushes[-1].get()
    variant = last.get() if early is None else early
    assert early is None
    assert variant.len == 8


def test_an_error_is_raised_by_get_not_swallowed(tmp_path):
    queue = NonblockingQueue(tmp_path / "q", max_elements=1)
    assert queue.push([b"a"]).get().data is None
    with pytest.raises(rocksq.QueueFull, match="Queue is full"):
        queue.push([b"b"]).get()


def test_bad_items_raise_type_error_at_submission(tmp_path):
    queue = NonblockingQueue(tmp_path / "q")
    with pytest.raises(TypeError, match="item 1 is str"):
        queue.push([b"a", "b"])
    assert queue.len.get().len == 0


def test_dropping_a_pending_response_keeps_its_buffers_until_the_push_ran(tmp_path):
    queue = NonblockingQueue(tmp_path / "q")
    payload = bytearray(b"x" * 1024)
    queue.push([payload])  # The response is dropped at once.
    payload.extend(b"y")  # Allowed only once the buffer is released.
    assert queue.pop(1).get().data == [b"x" * 1024]


def test_waiting_in_get_releases_the_gil(tmp_path):
    queue = NonblockingQueue(tmp_path / "q")
    ticks = 0
    stop = threading.Event()

    def spin():
        nonlocal ticks
        while not stop.is_set():
            ticks += 1

    spinner = threading.Thread(target=spin)
    spinner.start()
    try:
        responses = [queue.push([bytes(16 * 1024 * 1024)]) for _ in range(4)]
        before = ticks
        for response in responses:
            response.get()
        during = ticks - before
    finally:
        stop.set()
        spinner.join()
    assert during > 1000
