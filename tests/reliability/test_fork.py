"""A queue belongs to the process that opened it (docs/multiprocessing.rst).

In a child created by fork(), every call on a queue inherited from the
parent raises ForkedProcessError and writes nothing, in every face; closing
or dropping it there leaves the parent's queue alone; and the child exits
promptly with its status whether a queue was open at the fork or not. Every
child ends with os._exit (or is a separate interpreter whose exit is what
is tested), and every wait is bounded, so a regression fails instead of
hanging the suite.
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import os
import select
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any, Callable, NamedTuple

import pytest

import rocksq
import rocksq.aio
import rocksq.blocking
import rocksq.nonblocking

WAIT_SECONDS = 30

pytestmark = [
    pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()"),
    # Python 3.12+ warns that a process with threads (an open queue has
    # some) forks; forking one is what these tests are about.
    pytest.mark.filterwarnings("ignore:.*is multi-threaded, use of fork:DeprecationWarning"),
]


def wait_bounded(pid: int, seconds: float = WAIT_SECONDS) -> int | None:
    """The child's exit code, or None if it did not end in time (it is then killed)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return None


def in_child(body, seconds: float = WAIT_SECONDS) -> int | None:
    """Runs body() in a fork() child that ends with os._exit: 0 if it returned, 1 if it raised."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            body()
            code = 0
        except BaseException as error:  # noqa: BLE001 - reported, then the child ends
            print(f"child failed: {error!r}", file=sys.stderr, flush=True)
        finally:
            os._exit(code)
    return wait_bounded(pid, seconds)


def numbered(count: int) -> list[bytes]:
    return [b"job %d" % i for i in range(count)]


def run_python(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    # Run outside the source tree, so the installed package is imported.
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=WAIT_SECONDS,
    )


def take_1100(q: rocksq.Queue) -> None:
    # multiprocessing's fork child: its exit code says what happened.
    try:
        for _ in range(1100):
            q.get(timeout=5)
    except rocksq.ForkedProcessError as error:
        os._exit(0 if "fork()" in str(error) and str(os.getppid()) in str(error) else 2)
    except BaseException:
        os._exit(3)
    os._exit(1)  # It took items from the parent's queue.


def test_the_issue_scenario_child_is_refused_and_nothing_is_lost(tmp_path):
    """rocksq.Queue, 3000 puts, a multiprocessing fork child getting 1,100 items, the parent too."""
    path = tmp_path / "q"
    q = rocksq.Queue(path)
    q.put_many(numbered(3000))
    child = multiprocessing.get_context("fork").Process(target=take_1100, args=(q,))
    child.start()
    child.join(WAIT_SECONDS)
    if child.exitcode is None:
        child.kill()
        child.join()
    assert child.exitcode == 0
    assert [q.get(timeout=5) for _ in range(1100)] == numbered(1100)
    q.close()
    with rocksq.Queue(path) as q:
        assert q.qsize() == 1900
        assert [q.get_nowait() for _ in range(1900)] == numbered(3000)[1100:]
    stats = run_python(["-m", "rocksq", "stats", str(path)], cwd=tmp_path)
    assert stats.returncode == 0, stats.stderr


class Face(NamedTuple):
    """How a test opens a face's queue, fills it with three items, uses it
    in the child, and counts the items stored (for MPMC: alive)."""

    open: Callable[[Path], Any]
    fill: Callable[[Any], Any]
    use: Callable[[Any], Any]
    stored: Callable[[Any], int]


def _oldest(q, **kwargs):
    return q.next("reader", rocksq.StartPosition.Oldest, 10, **kwargs)


FACES = {
    "seed": Face(
        rocksq.PersistentQueueWithCapacity,
        lambda q: [q.push(item) for item in numbered(3)],
        lambda q: q.pop(),
        lambda q: q.len(),
    ),
    "blocking": Face(
        rocksq.blocking.PersistentQueueWithCapacity,
        lambda q: q.push(numbered(3)),
        lambda q: q.pop(3),
        lambda q: q.len,
    ),
    "nonblocking": Face(
        rocksq.nonblocking.PersistentQueueWithCapacity,
        lambda q: q.push(numbered(3)).get(),
        lambda q: q.pop(3),
        lambda q: q.len.get().len,
    ),
    "Queue": Face(
        rocksq.Queue,
        lambda q: q.put_many(numbered(3)),
        lambda q: q.get_nowait(),
        lambda q: q.qsize(),
    ),
    "aio": Face(
        rocksq.aio.Queue,
        lambda q: [q.put_nowait(item) for item in numbered(3)],
        lambda q: q.get_nowait(),
        lambda q: q.qsize(),
    ),
    "AckQueue": Face(
        rocksq.AckQueue,
        lambda q: q.put_many(numbered(3)),
        lambda q: q.get_nowait(),
        lambda q: q.qsize(),
    ),
    "aio.AckQueue": Face(
        rocksq.aio.AckQueue,
        lambda q: [q.put_nowait(item) for item in numbered(3)],
        lambda q: q.get_nowait(),
        lambda q: q.qsize(),
    ),
    "MpmcQueue": Face(
        lambda path: rocksq.blocking.MpmcQueue(path, ttl=3600),
        lambda q: q.add(numbered(3)),
        _oldest,
        lambda q: q.len,
    ),
    "nonblocking.MpmcQueue": Face(
        lambda path: rocksq.nonblocking.MpmcQueue(path, ttl=3600),
        lambda q: q.add(numbered(3)).get(),
        _oldest,
        lambda q: q.len.get().len,
    ),
    "aio.MpmcQueue": Face(
        lambda path: rocksq.aio.MpmcQueue(path, ttl=3600),
        lambda q: q.add_nowait(numbered(3)),
        lambda q: q.next_nowait("reader", rocksq.StartPosition.Oldest, 10),
        lambda q: q.len,
    ),
}


@pytest.mark.parametrize("name", FACES)
def test_inherited_queue_refuses_calls_and_is_left_alone(tmp_path, name):
    face = FACES[name]
    path = tmp_path / "q"
    q = face.open(path)
    face.fill(q)

    def child():
        with pytest.raises(rocksq.ForkedProcessError, match=r"opened by process \d+.*fork\(\)"):
            face.use(q)
        with pytest.raises(rocksq.ForkedProcessError):
            face.stored(q)
        q.close()  # Forgets the parent's queue; does not close it.
        gc.collect()

    assert in_child(child) == 0
    assert face.stored(q) == 3  # The parent's queue works on, untouched.
    q.close()
    reopened = face.open(path)
    assert face.stored(reopened) == 3
    reopened.close()


def test_closing_an_inherited_nonblocking_queue_never_waits_for_the_parents_worker(tmp_path):
    """close() in a child forked while the parent's worker runs operations returns at once.

    The worker's thread exists only in the parent, and fork() may copy its
    lock while that thread holds it: a close() that stopped the worker in
    the child waited for ever (found under load, 1 fork in thousands). Here
    a thread keeps the worker busy while the parent forks 60 times.
    """
    q = rocksq.nonblocking.PersistentQueueWithCapacity(tmp_path / "q", max_inflight_ops=4)
    stop = threading.Event()

    def keep_the_worker_busy():
        while not stop.is_set():
            q.push([b"x"])  # Responses dropped: only the worker's churn matters.

    def child():
        with pytest.raises(rocksq.ForkedProcessError):
            q.inflight_ops  # Counted under the same lock.
        q.close()

    busy = threading.Thread(target=keep_the_worker_busy)
    busy.start()
    try:
        codes = [in_child(child, seconds=10) for _ in range(60)]
    finally:
        stop.set()
        busy.join()
    assert codes == [0] * 60
    q.close()


@pytest.mark.parametrize("name", ["Queue", "nonblocking", "aio", "AckQueue", "MpmcQueue"])
def test_dropping_an_inherited_queue_in_the_child_leaves_it_alone(tmp_path, name):
    """Garbage collection in the child neither closes nor hangs; the parent's writes survive."""
    face = FACES[name]
    path = tmp_path / "q"
    holder = [face.open(path)]
    face.fill(holder[0])

    def child():
        holder.clear()
        gc.collect()

    assert in_child(child) == 0
    face.fill(holder[0])
    holder.pop().close()
    reopened = face.open(path)
    assert face.stored(reopened) == 6
    reopened.close()


def test_queue_join_and_task_done_in_child_raise(tmp_path):
    """rocksq.Queue's task count lives in Python: nothing in the child would finish a join()."""
    q = rocksq.Queue(tmp_path / "q")
    q.put(b"unfinished")

    def child():
        with pytest.raises(rocksq.ForkedProcessError):
            q.join()
        with pytest.raises(rocksq.ForkedProcessError):
            q.task_done()

    assert in_child(child) == 0
    q.get_nowait()
    q.task_done()
    q.join()
    q.close()


def test_new_queue_interface_calls_in_child_raise(tmp_path):
    """shutdown(), a new maxsize, and rocksq.aio.Queue's task_done()/join() are refused too."""
    q = rocksq.Queue(tmp_path / "q", maxsize=2)
    aq = rocksq.aio.Queue(tmp_path / "aq")
    aq.put_nowait(b"unfinished")

    def child():
        with pytest.raises(rocksq.ForkedProcessError):
            q.shutdown()
        with pytest.raises(rocksq.ForkedProcessError):
            q.maxsize = 5
        with pytest.raises(rocksq.ForkedProcessError):
            aq.task_done()
        with pytest.raises(rocksq.ForkedProcessError):
            asyncio.run(aq.join())
        with pytest.raises(rocksq.ForkedProcessError):
            aq.shutdown()

    assert in_child(child) == 0
    q.put_many([b"a", b"b"])  # Neither shut down nor resized by the child.
    assert q.maxsize == 2
    aq.get_nowait()
    aq.task_done()
    q.close()
    aq.close()


def test_submitted_but_unfinished_operation_in_child_raises(tmp_path):
    q = rocksq.nonblocking.PersistentQueueWithCapacity(tmp_path / "q")
    q.push(numbered(3)).get()

    def child():
        with pytest.raises(rocksq.ForkedProcessError):
            q.push([b"child"])
        with pytest.raises(rocksq.ForkedProcessError):
            q.len  # noqa: B018 - a submitted operation

    assert in_child(child) == 0
    assert q.len.get().len == 3
    q.close()


@pytest.mark.parametrize(
    ("name", "remove"),
    [
        ("Queue", rocksq.remove_queue),
        ("AckQueue", rocksq.remove_ack_queue),
        ("MpmcQueue", rocksq.remove_mpmc_queue),
    ],
)
def test_child_opens_what_the_parent_had_open_once_it_is_closed(tmp_path, name, remove):
    """Refused while the parent holds it (naming the parent), opened once the parent closed it."""
    face = FACES[name]
    path = tmp_path / "q"
    q = face.open(path)
    face.fill(q)
    tried_read, tried_write = os.pipe()  # The child tried while the parent held it.
    closed_read, closed_write = os.pipe()  # Then the parent closed it.

    def child():
        try:
            with pytest.raises(rocksq.QueueAlreadyOpen, match=r"fork\(\)") as refused:
                face.open(path)
            assert str(os.getppid()) in str(refused.value)
            with pytest.raises(rocksq.QueueAlreadyOpen, match=r"fork\(\)"):
                remove(path)
        finally:
            os.write(tried_write, b"x")
        os.read(closed_read, 1)
        own = face.open(path)
        assert face.stored(own) == 3
        face.fill(own)
        own.close()

    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            child()
            code = 0
        except BaseException as error:  # noqa: BLE001 - reported, then the child ends
            print(f"child failed: {error!r}", file=sys.stderr, flush=True)
        finally:
            os._exit(code)
    assert select.select([tried_read], [], [], WAIT_SECONDS)[0]
    q.close()
    os.write(closed_write, b"x")
    assert wait_bounded(pid) == 0
    for fd in (tried_read, tried_write, closed_read, closed_write):
        os.close(fd)
    reopened = face.open(path)
    assert face.stored(reopened) == 6
    reopened.close()


def test_child_opens_a_queue_closed_before_the_fork(tmp_path):
    path = tmp_path / "q"
    with rocksq.Queue(path) as q:
        q.put(b"from the parent")

    def child():
        with rocksq.Queue(path) as q:
            assert q.get_nowait() == b"from the parent"
            q.put(b"from the child")

    assert in_child(child) == 0
    with rocksq.Queue(path) as q:
        assert q.qsize() == 1
        assert q.get_nowait() == b"from the child"


# --- Background work in a child that opens its own queues ---------------------
# RocksDB flushes and compacts on its Env's background threads, which fork()
# does not copy: a child that waited for one there (creating a queue, which
# flushes; a reclaim or a sweep, which flush and compact) waited for ever.
# MIB_ITEMS items of 1 MiB fill a 64 MiB memtable and cross the reclaimers'
# 64 MiB threshold; once taken, their space is given back.
MIB_ITEMS = 72
RECLAIMED_BYTES = 16 << 20


def _pop_all(q, count):
    taken = 0
    while taken < count:
        popped = q.pop(8)
        assert popped
        taken += len(popped)


def _ack_all(q, count):
    q.ack_many(q.get_many(count, block=False))


class Kind(NamedTuple):
    """How a test opens a queue kind, adds items, takes `count` of them
    (MPMC: lets them expire, in one sweep since they were added at once),
    and counts the items stored."""

    open: Callable[[Path], Any]
    add: Callable[[Any, list[bytes]], Any]
    take: Callable[[Any, int], Any]
    stored: Callable[[Any], int]


KINDS = {
    "PersistentQueueWithCapacity": Kind(
        rocksq.blocking.PersistentQueueWithCapacity,
        lambda q, items: q.push(items),
        _pop_all,
        lambda q: q.len,
    ),
    "AckQueue": Kind(
        rocksq.AckQueue, lambda q, items: q.put_many(items), _ack_all, lambda q: q.qsize()
    ),
    "MpmcQueue": Kind(
        lambda path: rocksq.blocking.MpmcQueue(path, ttl=1),
        lambda q, items: q.add(items),
        lambda q, count: None,
        lambda q: q.len,
    ),
}


def fill_take_and_reclaim(kind: Kind, path: Path, count: int) -> None:
    q = kind.open(path)
    kind.add(q, [bytes(1 << 20)] * count)
    kind.take(q, count)
    deadline = time.monotonic() + WAIT_SECONDS / 2
    while kind.stored(q) or q.disk_size > RECLAIMED_BYTES:
        assert time.monotonic() < deadline, f"{q.disk_size} bytes on disk"
        time.sleep(0.02)
    q.close()


@pytest.mark.parametrize("name", KINDS)
def test_child_creates_fills_and_reclaims_its_own_queues(tmp_path, name):
    """Open after the fork, as docs/multiprocessing.rst advises: every RocksDB wait finishes."""
    kind = KINDS[name]
    parents = rocksq.Queue(tmp_path / "parents")  # Open at the fork.
    parents.put(b"from the parent")
    existing = tmp_path / "existing"
    fill_take_and_reclaim(kind, existing, 1)  # Made before the fork.

    def child():
        fill_take_and_reclaim(kind, existing, MIB_ITEMS)
        fill_take_and_reclaim(kind, tmp_path / "new", 1)

    assert in_child(child) == 0
    q = kind.open(existing)
    assert kind.stored(q) == 0
    q.close()
    assert parents.get_nowait() == b"from the parent"
    parents.close()


# --- A forked child's exit (issue defect 2) -----------------------------------
# A separate interpreter, since how the child exits is what is tested: it
# forks one child per way of ending, each must end promptly with its status.
EXIT_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys, time
    import rocksq, rocksq.aio, rocksq.nonblocking
    path, face, state = sys.argv[1:4]
    opener = {
        "Queue": rocksq.Queue,
        "nonblocking": rocksq.nonblocking.PersistentQueueWithCapacity,
        "aio": rocksq.aio.Queue,
        "AckQueue": rocksq.AckQueue,
    }[face]
    q = opener(path)
    if state == "closed":
        q.close()
    results = []
    in_child = None
    for ending in ("exit0", "exit3", "return", "raise"):
        pid = os.fork()
        if pid == 0:
            in_child = ending
            break
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                results.append(os.waitstatus_to_exitcode(status))
                break
            time.sleep(0.01)
        else:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            results.append("hung")
    if in_child == "exit0":
        sys.exit(0)
    elif in_child == "exit3":
        sys.exit(3)
    elif in_child == "raise":
        raise SystemExit(5)
    elif in_child is None:
        print(results)
    """
)


@pytest.mark.parametrize("state", ["closed", "open"])
@pytest.mark.parametrize("face", ["Queue", "nonblocking", "aio", "AckQueue"])
def test_forked_child_exits_promptly_with_its_status(tmp_path, face, state):
    result = run_python(["-c", EXIT_SCRIPT, str(tmp_path / "q"), face, state], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[0, 3, 0, 5]", result.stderr


@pytest.mark.skipif(sys.version_info < (3, 12), reason="Python 3.12 added the warning")
@pytest.mark.filterwarnings("default")
def test_python_warns_when_a_process_with_an_open_queue_forks(tmp_path):
    """As docs/multiprocessing.rst says: an open queue has threads, and Python 3.12+ warns."""
    with rocksq.Queue(tmp_path / "q"):
        with pytest.warns(DeprecationWarning, match="multi-threaded"):
            pid = os.fork()
            if pid == 0:
                os._exit(0)
        assert wait_bounded(pid) == 0
