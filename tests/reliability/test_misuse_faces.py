"""Misuse of the Python faces: nothing a caller does wrong may lose data, hang or crash.

Closing with work outstanding, handles used after close, paths that are
not UTF-8, queues dropped without close(), wrong option types and buffers of
object references. Every wait is bounded, so a missed wake-up fails the test
instead of hanging the run.
"""

from __future__ import annotations

import asyncio
import gc
import os
import pathlib
import subprocess
import sys
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

import rocksq
import rocksq.aio
import rocksq.blocking
import rocksq.nonblocking
from rocksq import StartPosition

T = TypeVar("T")
OLDEST = StartPosition.Oldest
TTL = 3600
# What ack queues settle (a bare id is a TypeError); no queue handed it out.
A_DELIVERY = rocksq.Delivery(id=1, data=b"", attempt=1, receipt=1)
# Long enough for a waiting call to start waiting; what the tests wait for
# is an event, and this only bounds how long they may take.
SETTLE = 0.2
DEADLINE = 10.0


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(asyncio.wait_for(coroutine, DEADLINE))


def outcome_in_thread(call: Callable[[], object]) -> tuple[threading.Thread, list[BaseException]]:
    """Starts `call` in a daemon thread; the list receives what it raised (or None)."""
    raised: list[BaseException] = []

    def target() -> None:
        try:
            call()
        except BaseException as error:  # noqa: BLE001 - the test inspects it
            raised.append(error)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, raised


# --- Nonblocking close() finishes what was submitted (issue 16, defect 3) ------------


@pytest.mark.parametrize("use_with", [False, True], ids=["close", "with"])
def test_nonblocking_close_runs_every_submitted_push_first(tmp_path: Path, use_with: bool) -> None:
    path = tmp_path / "q"
    item = b"x" * 200_000
    queue = rocksq.nonblocking.PersistentQueueWithCapacity(path, max_inflight_ops=1000)
    if use_with:
        with queue:
            responses = [queue.push([item]) for _ in range(300)]
    else:
        responses = [queue.push([item]) for _ in range(300)]
        queue.close()

    assert all(response.is_ready for response in responses)
    for response in responses:
        response.get()  # Each holds its result: no QueueClosed.
    with rocksq.blocking.PersistentQueueWithCapacity(path) as reopened:
        assert reopened.len == 300


@pytest.mark.parametrize("kind", ["fifo", "mpmc"])
def test_what_nonblocking_close_returned_from_survives_an_exit_without_cleanup(
    tmp_path: Path, kind: str
) -> None:
    # The process ends with os._exit right after close(): no destructor, no
    # garbage collection runs that could still finish the submitted work.
    code = f"""
import os, sys, traceback
try:
    import rocksq.nonblocking as nb
    if {kind!r} == "fifo":
        queue = nb.PersistentQueueWithCapacity(sys.argv[1], max_inflight_ops=1000)
        responses = [queue.push([b"x" * 20_000]) for _ in range(500)]
    else:
        queue = nb.MpmcQueue(sys.argv[1], {TTL}, max_inflight_ops=1000)
        responses = [queue.add([b"x" * 20_000]) for _ in range(500)]
    queue.close()
except BaseException:
    traceback.print_exc()
    os._exit(1)
os._exit(0)
"""
    # Run from tmp_path: the checkout's rocksq/ (no extension) must not shadow the installed one.
    subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "q")], cwd=tmp_path, timeout=60, check=True
    )
    if kind == "fifo":
        with rocksq.blocking.PersistentQueueWithCapacity(tmp_path / "q") as queue:
            assert queue.len == 500
    else:
        with rocksq.blocking.MpmcQueue(tmp_path / "q", TTL) as mpmc:
            assert mpmc.len == 500


def test_nonblocking_close_answers_every_submitted_pop(tmp_path: Path) -> None:
    path = tmp_path / "q"
    with rocksq.blocking.PersistentQueueWithCapacity(path) as queue:
        queue.push([b"%d" % i for i in range(200)])
    queue_nb = rocksq.nonblocking.PersistentQueueWithCapacity(path, max_inflight_ops=1000)
    pops = [queue_nb.pop() for _ in range(200)]
    queue_nb.close()

    assert [pop.get().data for pop in pops] == [[b"%d" % i] for i in range(200)]


def test_nonblocking_mpmc_close_runs_every_submitted_add_first(tmp_path: Path) -> None:
    path = tmp_path / "q"
    queue = rocksq.nonblocking.MpmcQueue(path, TTL, max_inflight_ops=1000)
    adds = [queue.add([b"x" * 50_000]) for _ in range(300)]
    labels = queue.labels
    queue.close()

    for add in adds:
        add.get()
    assert labels.get().labels == []
    with rocksq.blocking.MpmcQueue(path, TTL) as reopened:
        assert reopened.len == 300


@pytest.mark.parametrize("kind", ["fifo", "mpmc"])
def test_an_operation_submitted_after_close_began_raises_queue_closed_from_get(
    tmp_path: Path, kind: str
) -> None:
    if kind == "fifo":
        queue: Any = rocksq.nonblocking.PersistentQueueWithCapacity(tmp_path / "q")
        late = lambda: queue.push([b"late"])  # noqa: E731
    else:
        queue = rocksq.nonblocking.MpmcQueue(tmp_path / "q", TTL)
        late = lambda: queue.add([b"late"])  # noqa: E731
    queue.close()
    queue.close()  # A second close does nothing.

    for response in (late(), queue.len, queue.disk_size, queue.payload_size):
        assert response.is_ready
        with pytest.raises(rocksq.QueueClosed):
            response.get()


def test_a_submit_waiting_for_a_free_slot_when_close_begins_is_not_lost_silently(
    tmp_path: Path,
) -> None:
    # One slot: the second push waits for it in another thread while close()
    # runs the first; it either ran (stored) or raises QueueClosed from get().
    path = tmp_path / "q"
    queue = rocksq.nonblocking.PersistentQueueWithCapacity(path, max_inflight_ops=1)
    first = queue.push([b"x" * 1_000_000])
    responses: list[rocksq.nonblocking.Response] = []
    thread, raised = outcome_in_thread(lambda: responses.append(queue.push([b"second"])))
    queue.close()
    thread.join(DEADLINE)
    assert not thread.is_alive() and not raised

    first.get()
    try:
        responses[0].get()
        stored = 2
    except rocksq.QueueClosed:
        stored = 1
    with rocksq.blocking.PersistentQueueWithCapacity(path) as reopened:
        assert reopened.len == stored


# --- Queue.join() and every waiting call end with close() (defect 11) ---------------


def test_join_after_close_with_items_outstanding_raises_queue_closed(tmp_path: Path) -> None:
    queue = rocksq.Queue(tmp_path / "q")
    queue.put(b"outstanding")
    queue.close()

    thread, raised = outcome_in_thread(queue.join)
    thread.join(DEADLINE)
    assert not thread.is_alive(), "join() after close() hangs"
    assert isinstance(raised[0], rocksq.QueueClosed)


def test_a_waiting_join_wakes_with_queue_closed_when_another_thread_closes(
    tmp_path: Path,
) -> None:
    queue = rocksq.Queue(tmp_path / "q")
    queue.put(b"outstanding")
    thread, raised = outcome_in_thread(queue.join)
    thread.join(SETTLE)
    assert thread.is_alive()

    queue.close()
    thread.join(DEADLINE)
    assert not thread.is_alive(), "close() did not wake join()"
    assert isinstance(raised[0], rocksq.QueueClosed)


def _full_queue(path: Path) -> rocksq.Queue:
    queue = rocksq.Queue(path, maxsize=1)
    queue.put(b"full")
    return queue


def _full_ack_queue(path: Path) -> rocksq.AckQueue:
    queue = rocksq.AckQueue(path, max_elements=1)
    queue.put(b"full")
    return queue


WAITING_CALLS: dict[str, tuple[Callable[[Path], Any], Callable[[Any], object]]] = {
    "Queue.get": (lambda p: rocksq.Queue(p), lambda q: q.get()),
    "Queue.get-timeout": (lambda p: rocksq.Queue(p), lambda q: q.get(timeout=60)),
    "Queue.get_many": (lambda p: rocksq.Queue(p), lambda q: q.get_many(5)),
    "Queue.put": (_full_queue, lambda q: q.put(b"more")),
    "Queue.put-timeout": (_full_queue, lambda q: q.put(b"more", timeout=60)),
    "Queue.put_many": (_full_queue, lambda q: q.put_many([b"more"])),
    "AckQueue.get": (lambda p: rocksq.AckQueue(p), lambda q: q.get()),
    "AckQueue.get-timeout": (lambda p: rocksq.AckQueue(p), lambda q: q.get(timeout=60)),
    "AckQueue.put": (_full_ack_queue, lambda q: q.put(b"more")),
    "AckQueue.put_many-timeout": (_full_ack_queue, lambda q: q.put_many([b"m"], timeout=60)),
}


@pytest.mark.parametrize("name", list(WAITING_CALLS))
def test_close_from_another_thread_wakes_a_waiting_call_with_queue_closed(
    tmp_path: Path, name: str
) -> None:
    make, call = WAITING_CALLS[name]
    queue = make(tmp_path / "q")
    thread, raised = outcome_in_thread(lambda: call(queue))
    thread.join(SETTLE)
    assert thread.is_alive()

    queue.close()
    thread.join(DEADLINE)
    assert not thread.is_alive(), f"{name} still waits after close()"
    assert isinstance(raised[0], rocksq.QueueClosed)


async def _full_aio_queue(path: Path) -> rocksq.aio.Queue:
    queue = rocksq.aio.Queue(path, maxsize=1)
    await queue.put(b"full")
    return queue


async def _full_aio_ack_queue(path: Path) -> rocksq.aio.AckQueue:
    queue = rocksq.aio.AckQueue(path, max_elements=1)
    await queue.put(b"full")
    return queue


async def _aio_queue(path: Path) -> rocksq.aio.Queue:
    return rocksq.aio.Queue(path)


async def _aio_mpmc_queue(path: Path) -> rocksq.aio.MpmcQueue:
    return rocksq.aio.MpmcQueue(path, TTL)


async def _aio_ack_queue(path: Path) -> rocksq.aio.AckQueue:
    return rocksq.aio.AckQueue(path)


AIO_WAITING_CALLS: dict[str, tuple[Callable[[Path], Any], Callable[[Any], Any]]] = {
    "Queue.get": (_aio_queue, lambda q: q.get()),
    "Queue.get_many": (_aio_queue, lambda q: q.get_many(3)),
    "Queue.put": (_full_aio_queue, lambda q: q.put(b"more")),
    "MpmcQueue.next": (_aio_mpmc_queue, lambda q: q.next("reader", OLDEST)),
    "AckQueue.get": (_aio_ack_queue, lambda q: q.get()),
    "AckQueue.put": (_full_aio_ack_queue, lambda q: q.put(b"more")),
}


@pytest.mark.parametrize("name", list(AIO_WAITING_CALLS))
def test_close_wakes_pending_asyncio_calls_with_queue_closed(tmp_path: Path, name: str) -> None:
    make, call = AIO_WAITING_CALLS[name]

    async def scenario() -> None:
        queue = await make(tmp_path / "q")
        waiting = [asyncio.ensure_future(call(queue)) for _ in range(3)]
        await asyncio.sleep(SETTLE)
        assert not any(task.done() for task in waiting)
        queue.close()
        for task in waiting:
            with pytest.raises(rocksq.QueueClosed):
                await task
        queue.close()  # A second close does nothing.

    run(scenario())


@pytest.mark.parametrize("name", ["Queue.get", "MpmcQueue.next", "AckQueue.get", "Queue.put"])
def test_close_from_a_thread_outside_the_event_loop_wakes_its_waiting_tasks(
    tmp_path: Path, name: str
) -> None:
    make, call = AIO_WAITING_CALLS[name]
    queue = asyncio.run(make(tmp_path / "q"))
    waiting = threading.Event()
    raised: list[BaseException] = []

    async def wait_in_loop() -> None:
        task = asyncio.ensure_future(call(queue))
        await asyncio.sleep(0)  # The task starts and waits.
        waiting.set()
        try:
            await task
        except BaseException as error:  # noqa: BLE001 - the test inspects it
            raised.append(error)

    # No deadline inside the loop: a missed wake-up leaves it waiting, which
    # the bounded join below reports.
    loop_thread = threading.Thread(target=asyncio.run, args=(wait_in_loop(),), daemon=True)
    loop_thread.start()
    assert waiting.wait(DEADLINE)
    queue.close()
    loop_thread.join(DEADLINE)
    assert not loop_thread.is_alive(), f"{name} still waits after close() from another thread"
    assert isinstance(raised[0], rocksq.QueueClosed)


# --- Handles kept past close ------------------------------------------------------

# Each face's calls, as (name, call); each must raise QueueClosed after close().
FACE_CALLS: dict[str, tuple[Callable[[Path], Any], list[tuple[str, Callable[[Any], object]]]]] = {
    "seed": (
        lambda p: rocksq.PersistentQueueWithCapacity(p, 10),
        [
            ("push", lambda q: q.push(b"x")),
            ("pop", lambda q: q.pop()),
            ("size", lambda q: q.size()),
            ("len", lambda q: q.len()),
            ("is_empty", lambda q: q.is_empty()),
        ],
    ),
    "blocking": (
        lambda p: rocksq.blocking.PersistentQueueWithCapacity(p, 10),
        [
            ("push", lambda q: q.push([b"x"])),
            ("pop", lambda q: q.pop()),
            ("len", lambda q: q.len),
            ("is_empty", lambda q: q.is_empty),
            ("payload_size", lambda q: q.payload_size),
            ("disk_size", lambda q: q.disk_size),
        ],
    ),
    "blocking-mpmc": (
        lambda p: rocksq.blocking.MpmcQueue(p, TTL),
        [
            ("add", lambda q: q.add([b"x"])),
            ("next", lambda q: q.next("l", OLDEST)),
            ("remove_label", lambda q: q.remove_label("l")),
            ("labels", lambda q: q.labels),
            ("len", lambda q: q.len),
            ("disk_size", lambda q: q.disk_size),
        ],
    ),
    "Queue": (
        lambda p: rocksq.Queue(p, maxsize=10),
        [
            ("put", lambda q: q.put(b"x")),
            ("put_nowait", lambda q: q.put_nowait(b"x")),
            ("put_many", lambda q: q.put_many([b"x"], timeout=1)),
            ("get", lambda q: q.get()),
            ("get_nowait", lambda q: q.get_nowait()),
            ("get-timeout", lambda q: q.get(timeout=1)),
            ("qsize", lambda q: q.qsize()),
            ("empty", lambda q: q.empty()),
            ("full", lambda q: q.full()),
            ("join", lambda q: q.join()),
            ("payload_size", lambda q: q.payload_size),
        ],
    ),
    "AckQueue": (
        lambda p: rocksq.AckQueue(p),
        [
            ("put", lambda q: q.put(b"x")),
            ("get", lambda q: q.get(timeout=1)),
            ("get_nowait", lambda q: q.get_nowait()),
            ("ack", lambda q: q.ack(A_DELIVERY)),
            ("nack_many", lambda q: q.nack_many([A_DELIVERY])),
            ("failed", lambda q: q.failed()),
            ("requeue_failed", lambda q: q.requeue_failed()),
            ("qsize", lambda q: q.qsize()),
            ("ready", lambda q: q.ready),
        ],
    ),
    "aio.Queue": (
        lambda p: rocksq.aio.Queue(p),
        [
            ("put_nowait", lambda q: q.put_nowait(b"x")),
            ("get_nowait", lambda q: q.get_nowait()),
            ("put", lambda q: run(q.put(b"x"))),
            ("get", lambda q: run(q.get())),
            ("qsize", lambda q: q.qsize()),
        ],
    ),
    "aio.MpmcQueue": (
        lambda p: rocksq.aio.MpmcQueue(p, TTL),
        [
            ("add_nowait", lambda q: q.add_nowait([b"x"])),
            ("next_nowait", lambda q: q.next_nowait("l", OLDEST)),
            ("next", lambda q: run(q.next("l", OLDEST))),
            ("labels", lambda q: q.labels),
        ],
    ),
    "aio.AckQueue": (
        lambda p: rocksq.aio.AckQueue(p),
        [
            ("put", lambda q: run(q.put(b"x"))),
            ("get", lambda q: run(q.get())),
            ("get_nowait", lambda q: q.get_nowait()),
            ("ack", lambda q: q.ack(A_DELIVERY)),
        ],
    ),
}


@pytest.mark.parametrize("face", list(FACE_CALLS))
def test_every_call_on_a_closed_queue_raises_queue_closed(tmp_path: Path, face: str) -> None:
    make, calls = FACE_CALLS[face]
    queue = make(tmp_path / "q")
    with queue:
        queue.close()  # Inside the with block, whose exit closes it again.
    queue.close()  # A third close does nothing either.
    for name, call in calls:
        with pytest.raises(rocksq.QueueClosed):
            call(queue)
            pytest.fail(f"{face}.{name} did not raise")


# --- Paths that are not UTF-8 (defect 9) -------------------------------------------

# Every face and kind, as (open, remove).
OPENERS: dict[str, tuple[Callable[[Any], Any], Callable[[Any], None]]] = {
    "seed": (lambda p: rocksq.PersistentQueueWithCapacity(p, 10), rocksq.remove_queue),
    "blocking": (lambda p: rocksq.blocking.PersistentQueueWithCapacity(p), rocksq.remove_queue),
    "nonblocking": (
        lambda p: rocksq.nonblocking.PersistentQueueWithCapacity(p),
        rocksq.remove_queue,
    ),
    "Queue": (lambda p: rocksq.Queue(p), rocksq.remove_queue),
    "aio.Queue": (lambda p: rocksq.aio.Queue(p), rocksq.remove_queue),
    "blocking-mpmc": (lambda p: rocksq.blocking.MpmcQueue(p, TTL), rocksq.remove_mpmc_queue),
    "nonblocking-mpmc": (
        lambda p: rocksq.nonblocking.MpmcQueue(p, TTL),
        rocksq.remove_mpmc_queue,
    ),
    "aio.MpmcQueue": (lambda p: rocksq.aio.MpmcQueue(p, TTL), rocksq.remove_mpmc_queue),
    "AckQueue": (lambda p: rocksq.AckQueue(p), rocksq.remove_ack_queue),
    "aio.AckQueue": (lambda p: rocksq.aio.AckQueue(p), rocksq.remove_ack_queue),
}

# A name whose bytes are not UTF-8, spelled three ways.
RAW_NAME = b"\xff-\xe9t\xe9-q"
PATH_SPELLINGS: dict[str, Callable[[Path], Any]] = {
    "str": lambda base: os.fsdecode(os.fsencode(base) + b"/" + RAW_NAME),
    "bytes": lambda base: os.fsencode(base) + b"/" + RAW_NAME,
    "PathLike": lambda base: pathlib.Path(os.fsdecode(os.fsencode(base) + b"/" + RAW_NAME)),
}


@pytest.mark.parametrize("spelling", list(PATH_SPELLINGS))
@pytest.mark.parametrize("face", list(OPENERS))
def test_a_path_that_is_not_utf8_round_trips_in_every_face_and_message(
    tmp_path: Path, face: str, spelling: str
) -> None:
    open_queue, remove = OPENERS[face]
    path = PATH_SPELLINGS[spelling](tmp_path)
    text = os.fsdecode(path)  # What messages and `path` show: os.fsdecode's str.

    queue = open_queue(path)
    assert os.path.isdir(os.fsencode(tmp_path) + b"/" + RAW_NAME)
    assert queue._queue.path == text
    with pytest.raises(rocksq.QueueAlreadyOpen) as already_open:
        open_queue(path)
    assert text in str(already_open.value)
    with pytest.raises(rocksq.QueueAlreadyOpen):
        remove(path)
    queue.close()
    with pytest.raises(rocksq.QueueClosed) as closed:
        queue._queue.len  # noqa: B018 - the property raises
    assert text in str(closed.value)

    remove(path)
    assert not os.path.exists(os.fsencode(tmp_path) + b"/" + RAW_NAME)


def test_an_item_stored_under_a_str_path_reopens_under_its_bytes(tmp_path: Path) -> None:
    text_path = os.fsdecode(os.fsencode(tmp_path) + b"/" + RAW_NAME)
    with rocksq.Queue(text_path) as queue:
        queue.put(b"kept")
    with rocksq.Queue(os.fsencode(text_path)) as queue:
        assert queue.get_nowait() == b"kept"


@pytest.mark.parametrize(
    ("path", "error", "words"),
    [
        (1, TypeError, "expected str, bytes or os.PathLike object, not int"),
        (None, TypeError, "expected str, bytes or os.PathLike object, not NoneType"),
        ("a\0b", ValueError, "embedded null byte"),
    ],
    ids=["int", "None", "nul"],
)
@pytest.mark.parametrize("face", list(OPENERS))
def test_a_path_of_the_wrong_type_raises_a_clear_error(
    face: str, path: object, error: type[Exception], words: str
) -> None:
    open_queue, remove = OPENERS[face]
    with pytest.raises(error, match=words):
        open_queue(path)
    with pytest.raises(error, match=words):
        remove(path)


# --- rocksq.aio queues dropped without close() (defect 10) -------------------------


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


AIO_OPENERS: dict[str, Callable[[Path], Any]] = {
    "Queue": lambda p: rocksq.aio.Queue(p),
    "MpmcQueue": lambda p: rocksq.aio.MpmcQueue(p, TTL),
    "AckQueue": lambda p: rocksq.aio.AckQueue(p),
}


@pytest.mark.parametrize("watched", [False, True], ids=["never-awaited", "awaited"])
@pytest.mark.parametrize("kind", list(AIO_OPENERS))
def test_an_aio_queue_dropped_without_close_frees_its_descriptors(
    tmp_path: Path, kind: str, watched: bool
) -> None:
    make = AIO_OPENERS[kind]

    async def cycle(index: int) -> None:
        queue = make(tmp_path / f"q{index % 3}")
        if watched:  # The event loop watches the pipe once a call waited.
            waiting = queue.next("l", OLDEST) if kind == "MpmcQueue" else queue.get()
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(waiting, 0.001)
        del queue

    async def cycles(count: int) -> None:
        for index in range(count):
            await cycle(index)
            gc.collect()

    run(cycles(3))  # Whatever is opened once per process.
    before = _open_fds()
    run(cycles(20))
    assert _open_fds() - before < 5


def test_an_aio_queue_closed_and_then_dropped_closes_nothing_twice(tmp_path: Path) -> None:
    queue = rocksq.aio.Queue(tmp_path / "q")
    queue.close()
    reused_read, reused_write = os.pipe()  # May take the numbers the queue freed.
    try:
        del queue
        gc.collect()
        os.write(reused_write, b"still open")
        assert os.read(reused_read, 100) == b"still open"
    finally:
        os.close(reused_read)
        os.close(reused_write)


# --- Arguments: object buffers, sizes, option types (defect 12) ----------------------


def _object_array() -> Any:
    numpy = pytest.importorskip("numpy")
    return numpy.array([object(), "text"], dtype=object)


def _object_struct_memoryview() -> memoryview:
    # A memoryview cast cannot make an 'O' view; ctypes's py_object can.
    import ctypes

    array = (ctypes.py_object * 2)("a", "b")
    return memoryview(array)


OBJECT_PUSHES: dict[str, Callable[[Path, Any], object]] = {
    "seed.push": lambda p, item: rocksq.PersistentQueueWithCapacity(p, 10).push(item),
    "blocking.push": lambda p, item: rocksq.blocking.PersistentQueueWithCapacity(p).push([item]),
    "nonblocking.push": lambda p, item: rocksq.nonblocking.PersistentQueueWithCapacity(p).push(
        [item]
    ),
    "Queue.put": lambda p, item: rocksq.Queue(p).put(item),
    "Queue.put_nowait": lambda p, item: rocksq.Queue(p).put_nowait(item),
    "Queue.put_many": lambda p, item: rocksq.Queue(p).put_many([b"ok", item]),
    "aio.Queue.put": lambda p, item: run(rocksq.aio.Queue(p).put(item)),
    "aio.Queue.put_nowait": lambda p, item: rocksq.aio.Queue(p).put_nowait(item),
    "blocking.MpmcQueue.add": lambda p, item: rocksq.blocking.MpmcQueue(p, TTL).add([item]),
    "nonblocking.MpmcQueue.add": lambda p, item: rocksq.nonblocking.MpmcQueue(p, TTL).add([item]),
    "aio.MpmcQueue.add": lambda p, item: run(rocksq.aio.MpmcQueue(p, TTL).add([item])),
    "AckQueue.put": lambda p, item: rocksq.AckQueue(p).put(item),
    "AckQueue.put_many": lambda p, item: rocksq.AckQueue(p).put_many([item], block=False),
    "aio.AckQueue.put": lambda p, item: run(rocksq.aio.AckQueue(p).put(item)),
}


@pytest.mark.parametrize("source", ["numpy", "ctypes"])
@pytest.mark.parametrize("call", list(OBJECT_PUSHES))
def test_a_buffer_of_object_references_is_refused_by_every_push(
    tmp_path: Path, call: str, source: str
) -> None:
    item = _object_array() if source == "numpy" else _object_struct_memoryview()
    with pytest.raises(TypeError, match="Python object references"):
        OBJECT_PUSHES[call](tmp_path / "q", item)
    gc.collect()  # Closes the queue the call opened.
    with rocksq.blocking.PersistentQueueWithCapacity(tmp_path / "empty") as check:
        assert check.len == 0


def test_numeric_and_structured_buffers_without_objects_are_still_stored(tmp_path: Path) -> None:
    numpy = pytest.importorskip("numpy")
    numbers = numpy.arange(4, dtype=numpy.int32)
    records = numpy.zeros(2, dtype=[("Obj", "i4"), ("other", "f8")])  # 'O' only in a name
    with rocksq.Queue(tmp_path / "q") as queue:
        queue.put_many([numbers, records])
        assert queue.get_many(2) == [numbers.tobytes(), records.tobytes()]


@pytest.mark.parametrize("maxsize", [2**62, 2**62 - 1, 5])
def test_queue_maxsize_reports_the_limit_given(tmp_path: Path, maxsize: int) -> None:
    with rocksq.Queue(tmp_path / "q", maxsize=maxsize) as queue:
        assert queue.maxsize == maxsize
        assert not queue.full()
    with rocksq.aio.Queue(tmp_path / "q", maxsize=maxsize) as aio_queue:
        assert aio_queue.maxsize == maxsize


def test_queue_maxsize_above_the_core_limit_is_a_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="max_elements must be between 1 and"):
        rocksq.Queue(tmp_path / "q", maxsize=2**62 + 1)
    with pytest.raises(OverflowError, match="max_elements"):
        rocksq.Queue(tmp_path / "q", maxsize=2**64)


# Every constructor, as a call taking one keyword option.
CONSTRUCTORS: dict[str, Callable[..., Any]] = {
    "seed": lambda p, **o: rocksq.PersistentQueueWithCapacity(p, **o),
    "blocking": lambda p, **o: rocksq.blocking.PersistentQueueWithCapacity(p, **o),
    "nonblocking": lambda p, **o: rocksq.nonblocking.PersistentQueueWithCapacity(p, **o),
    "Queue": lambda p, **o: rocksq.Queue(p, **o),
    "aio.Queue": lambda p, **o: rocksq.aio.Queue(p, **o),
    "blocking.MpmcQueue": lambda p, **o: rocksq.blocking.MpmcQueue(p, **{"ttl": TTL, **o}),
    "nonblocking.MpmcQueue": lambda p, **o: rocksq.nonblocking.MpmcQueue(p, **{"ttl": TTL, **o}),
    "aio.MpmcQueue": lambda p, **o: rocksq.aio.MpmcQueue(p, **{"ttl": TTL, **o}),
    "AckQueue": lambda p, **o: rocksq.AckQueue(p, **o),
    "aio.AckQueue": lambda p, **o: rocksq.aio.AckQueue(p, **o),
}
OPTIONS: dict[str, list[str]] = {
    "seed": ["max_elements", "sync"],
    "blocking": ["max_elements", "sync"],
    "nonblocking": ["max_elements", "max_inflight_ops", "sync"],
    "Queue": ["maxsize", "sync"],
    "aio.Queue": ["maxsize", "sync"],
    "blocking.MpmcQueue": ["ttl", "sync"],
    "nonblocking.MpmcQueue": ["ttl", "max_inflight_ops", "sync"],
    "aio.MpmcQueue": ["ttl", "sync"],
    "AckQueue": ["max_elements", "visibility_timeout", "sync"],
    "aio.AckQueue": ["max_elements", "visibility_timeout", "sync"],
}
# Values each option must refuse. Counts accept 0 where it means something
# (Queue's maxsize, max_inflight_ops), and floats only for visibility_timeout.
WRONG_VALUES: dict[str, list[object]] = {
    "max_elements": [None, "10", 1.5, -1, 2**70, 0],
    "maxsize": [None, "10", 1.5, 2**70],
    "max_inflight_ops": [None, "10", 1.5, -1, 2**70],
    "ttl": [None, "10", 1.5, -1, 2**70, 0],
    "visibility_timeout": [None, "10", 1j, True, -1, 2**70, float("nan")],
    "sync": [None, "yes", 1, 1.0],
}
CASES = [
    (constructor, option, value)
    for constructor, options in OPTIONS.items()
    for option in options
    for value in WRONG_VALUES[option]
]


@pytest.mark.parametrize(("constructor", "option", "value"), CASES, ids=repr)
def test_a_wrong_option_raises_a_clear_error_naming_it(
    tmp_path: Path, constructor: str, option: str, value: object
) -> None:
    path = tmp_path / "q"
    with pytest.raises((TypeError, ValueError, OverflowError)) as raised:
        CONSTRUCTORS[constructor](path, **{option: value})
    message = str(raised.value)
    assert "incompatible function arguments" not in message
    assert option.replace("maxsize", "max") in message or "max_elements" in message
    assert not path.exists(), "a refused option still created the queue"


def test_sync_true_and_false_are_still_accepted(tmp_path: Path) -> None:
    for sync in (True, False):
        with rocksq.Queue(tmp_path / "q", sync=sync) as queue:
            queue.put(b"x")


def test_numbers_of_other_types_are_still_accepted_as_seconds(tmp_path: Path) -> None:
    from decimal import Decimal
    from fractions import Fraction

    numpy = pytest.importorskip("numpy")
    for seconds in (numpy.float32(2.5), Decimal("2.5"), Fraction(5, 2), numpy.int64(2)):
        with rocksq.AckQueue(tmp_path / "a", visibility_timeout=seconds) as queue:
            assert queue.visibility_timeout == float(seconds)
            with pytest.raises(rocksq.Empty):
                queue.get(timeout=seconds * 0)


# --- import rocksq without the distribution's metadata ------------------------------


def test_rocksq_imports_without_its_distribution_metadata(tmp_path: Path) -> None:
    # A vendored copy: the installed package's files alone, no *.dist-info,
    # and no site-packages (-S) where the installed metadata would be found.
    import shutil

    vendored = tmp_path / "vendor"
    shutil.copytree(Path(rocksq.__file__).parent, vendored / "rocksq")
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import rocksq; "
        "print(rocksq.__version__, rocksq.version(), rocksq.__file__)"
    )
    completed = subprocess.run(
        [sys.executable, "-S", "-c", code, str(vendored)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    version, same, where = completed.stdout.split()
    assert version == same == rocksq.version()
    assert where.startswith(str(vendored))


def test_the_extension_is_built_as_the_distribution_version() -> None:
    from importlib import metadata

    assert getattr(rocksq._core, "__version__") == metadata.version("rocksq")  # noqa: B009


def test_a_closed_queue_still_tells_its_configuration(tmp_path: Path) -> None:
    # Fixed when opened and kept in memory: reading it touches no file.
    queue = rocksq.Queue(tmp_path / "q", maxsize=7)
    ack_queue = rocksq.AckQueue(tmp_path / "a", max_elements=9, visibility_timeout=2)
    queue.close()
    ack_queue.close()
    assert queue.maxsize == 7
    assert (ack_queue.maxsize, ack_queue.visibility_timeout) == (9, 2)


# --- Labels and timeouts ------------------------------------------------------------


@pytest.mark.parametrize("face", ["blocking", "nonblocking", "aio"])
def test_a_label_with_surrogate_escapes_round_trips_through_labels(
    tmp_path: Path, face: str
) -> None:
    label = os.fsdecode(b"reader-\xff")  # As `labels` shows a label written by C++.
    with rocksq.blocking.MpmcQueue(tmp_path / "q", TTL) as writer:
        writer.add([b"a", b"b"])
    if face == "blocking":
        with rocksq.blocking.MpmcQueue(tmp_path / "q", TTL) as queue:
            assert queue.next(label, OLDEST) == ([b"a"], False)
            assert queue.labels == [label]
            assert queue.next(queue.labels[0], OLDEST) == ([b"b"], False)
            assert queue.remove_label(label)
    elif face == "nonblocking":
        with rocksq.nonblocking.MpmcQueue(tmp_path / "q", TTL) as nb_queue:
            assert nb_queue.next(label, OLDEST).get().data == ([b"a"], False)
            assert nb_queue.labels.get().labels == [label]
            assert nb_queue.remove_label(label).get().removed_label
    else:

        async def scenario() -> None:
            with rocksq.aio.MpmcQueue(tmp_path / "q", TTL) as aio_queue:
                assert await aio_queue.next(label, OLDEST) == ([b"a"], False)
                assert aio_queue.labels == [label]

        run(scenario())


TIMED_CALLS: dict[str, tuple[Callable[[Path], Any], Callable[[Any, object], object]]] = {
    "Queue.get": (lambda p: rocksq.Queue(p), lambda q, t: q.get(timeout=t)),
    "Queue.get_many": (lambda p: rocksq.Queue(p), lambda q, t: q.get_many(2, timeout=t)),
    "Queue.put": (lambda p: rocksq.Queue(p), lambda q, t: q.put(b"x", timeout=t)),
    "Queue.put_many": (lambda p: rocksq.Queue(p), lambda q, t: q.put_many([b"x"], timeout=t)),
    "AckQueue.get": (lambda p: rocksq.AckQueue(p), lambda q, t: q.get(timeout=t)),
    "AckQueue.get_many": (lambda p: rocksq.AckQueue(p), lambda q, t: q.get_many(2, timeout=t)),
    "AckQueue.put": (lambda p: rocksq.AckQueue(p), lambda q, t: q.put(b"x", timeout=t)),
    "AckQueue.put_many": (
        lambda p: rocksq.AckQueue(p),
        lambda q, t: q.put_many([b"x"], timeout=t),
    ),
}


@pytest.mark.parametrize(
    ("timeout", "error"),
    [("1", TypeError), (1j, TypeError), (True, TypeError), (-1, ValueError),
     (float("nan"), ValueError)],
    ids=["str", "complex", "bool", "negative", "nan"],
)
@pytest.mark.parametrize("call", list(TIMED_CALLS))
def test_a_wrong_timeout_raises_a_clear_error(
    tmp_path: Path, call: str, timeout: object, error: type[Exception]
) -> None:
    make, timed = TIMED_CALLS[call]
    with make(tmp_path / "q") as queue:
        with pytest.raises(error, match="'timeout' must be"):
            timed(queue, timeout)


@pytest.mark.parametrize("call", list(TIMED_CALLS))
def test_a_timeout_too_large_for_a_float_waits_without_limit(tmp_path: Path, call: str) -> None:
    make, timed = TIMED_CALLS[call]
    with make(tmp_path / "q") as queue:
        queue.put_nowait(b"ready")  # Nothing to wait for: returns at once.
        timed(queue, 2**2000)


def test_stats_shows_a_label_that_is_not_utf8(tmp_path: Path) -> None:
    import rocksq.inspection

    label = os.fsdecode(b"reader-\xff")
    with rocksq.blocking.MpmcQueue(tmp_path / "q", TTL) as queue:
        queue.add([b"a"])
        queue.next(label, OLDEST)
    stats = rocksq.inspection.inspect_queue(tmp_path / "q")
    assert [entry.label for entry in stats.labels] == [label]
