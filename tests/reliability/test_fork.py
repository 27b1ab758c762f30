"""A queue's RocksDB handle belongs to the process that opened it (docs/multiprocessing.rst).

A child created by fork() never uses, closes or destroys what it inherited.
A FIFO queue opened with attach=True serves the child all the same: the
child's first call attaches to the queue's owner (or owns the queue if no
process has it open), and it goes on through a queue of its own. On a queue
opened without attach, every call in the child raises ForkedProcessError and
writes nothing, in every face; closing or dropping it there leaves the
parent's queue alone. A child exits promptly with its status whether a queue
was open at the fork or not. Every child ends with os._exit (or is a
separate interpreter whose exit is what is tested), and every wait is
bounded, so a regression fails instead of hanging the suite.
"""

from __future__ import annotations

import asyncio
import ctypes
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
        refusal = str(error)
        said_why = "fork()" in refusal and str(os.getppid()) in refusal
        os._exit(0 if said_why and "attach=True" in refusal else 2)
    except BaseException:
        os._exit(3)
    os._exit(1)  # It took items from the parent's queue.


def test_the_issue_scenario_child_is_refused_and_nothing_is_lost(tmp_path):
    """Opened without attach: 3000 puts, a fork child refused 1,100 gets, the parent gets them."""
    path = tmp_path / "q"
    q = rocksq.Queue(path, attach=False)
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
        lambda path, **options: rocksq.blocking.MpmcQueue(path, ttl=3600, **options),
        lambda q: q.add(numbered(3)),
        _oldest,
        lambda q: q.len,
    ),
    "nonblocking.MpmcQueue": Face(
        lambda path, **options: rocksq.nonblocking.MpmcQueue(path, ttl=3600, **options),
        lambda q: q.add(numbered(3)).get(),
        _oldest,
        lambda q: q.len.get().len,
    ),
    "aio.MpmcQueue": Face(
        lambda path, **options: rocksq.aio.MpmcQueue(path, ttl=3600, **options),
        lambda q: q.add_nowait(numbered(3)),
        lambda q: q.next_nowait("reader", rocksq.StartPosition.Oldest, 10),
        lambda q: q.len,
    ),
}


@pytest.mark.parametrize("name", FACES)
def test_inherited_queue_refuses_calls_and_is_left_alone(tmp_path, name):
    """Opened with attach=False: the child is refused (with attach, the tests below: it attaches)."""
    face = FACES[name]
    path = tmp_path / "q"
    q = face.open(path, attach=False)
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
    reopened = face.open(path, attach=False)
    assert face.stored(reopened) == 3
    reopened.close()


def test_closing_an_inherited_nonblocking_queue_never_waits_for_the_parents_worker(tmp_path):
    """close() in a child forked while the parent's worker runs operations returns at once.

    The worker's thread exists only in the parent, and fork() may copy its
    lock while that thread holds it: a close() that stopped the worker in
    the child waited for ever (found under load, 1 fork in thousands). Here
    a thread keeps the worker busy while the parent forks 60 times.
    """
    q = rocksq.nonblocking.PersistentQueueWithCapacity(
        tmp_path / "q", max_inflight_ops=4, attach=False
    )

    def child():
        with pytest.raises(rocksq.ForkedProcessError):
            q.inflight_ops  # Counted under the same lock.
        q.close()

    assert forked_while_the_worker_is_busy(q, child, 60) == [0] * 60
    q.close()


def forked_while_the_worker_is_busy(q, child: Callable[[], Any], forks: int) -> list[int | None]:
    """The exit codes of `forks` children running child(), forked while q's worker is busy."""
    stop = threading.Event()

    def keep_the_worker_busy():
        while not stop.is_set():
            q.push([b"x"])  # Responses dropped: only the worker's churn matters.

    busy = threading.Thread(target=keep_the_worker_busy)
    busy.start()
    try:
        return [in_child(child, seconds=10) for _ in range(forks)]
    finally:
        stop.set()
        busy.join()


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


def test_queue_join_and_task_done_in_child_raise_without_attach(tmp_path):
    """The task count is the queue's, which does not serve a child without attach."""
    q = rocksq.Queue(tmp_path / "q", attach=False)
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
    q = rocksq.Queue(tmp_path / "q", maxsize=2, attach=False)
    aq = rocksq.aio.Queue(tmp_path / "aq", attach=False)
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
    q = rocksq.nonblocking.PersistentQueueWithCapacity(tmp_path / "q", attach=False)
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
    """Without attach: refused while the parent holds it (naming the parent), opened once it closed it."""
    face = FACES[name]
    path = tmp_path / "q"
    q = face.open(path, attach=False)
    face.fill(q)
    tried_read, tried_write = os.pipe()  # The child tried while the parent held it.
    closed_read, closed_write = os.pipe()  # Then the parent closed it.

    def child():
        try:
            with pytest.raises(rocksq.QueueAlreadyOpen, match=r"fork\(\)") as refused:
                face.open(path, attach=False)
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


# --- Queues opened with attach=True: the child attaches -----------------------
# The faces whose use() the fork tests know (rocksq.aio attaches too: tests/attach).
ATTACHING = ["seed", "blocking", "nonblocking", "Queue", "MpmcQueue", "nonblocking.MpmcQueue"]
# How many of the three items each face's use() takes (an MPMC read removes none).
TAKEN_BY_USE = {
    "seed": 1, "blocking": 3, "nonblocking": 3, "Queue": 1, "MpmcQueue": 0,
    "nonblocking.MpmcQueue": 0,
}


def attaching(name: str) -> Callable[[Path], Any]:
    """How a test opens the face `name` with attach=True."""
    return lambda path: FACES[name].open(path, attach=True)


def send_items(fd: int, items: list[bytes]) -> None:
    """Writes `items` to the pipe `fd`, each with its length, then closes it."""
    with os.fdopen(fd, "wb") as pipe:
        for item in items:
            pipe.write(len(item).to_bytes(4, "little") + item)


def received_items(fd: int) -> list[bytes]:
    """Reads what send_items wrote, up to the writer's close."""
    with os.fdopen(fd, "rb") as pipe:
        data = pipe.read()
    items, offset = [], 0
    while offset < len(data):
        length = int.from_bytes(data[offset : offset + 4], "little")
        items.append(data[offset + 4 : offset + 4 + length])
        offset += 4 + length
    return items


def take_1100_attached(q: rocksq.Queue, items_fd: int) -> None:
    # multiprocessing's fork child: sends what it took, then exits with 0.
    send_items(items_fd, [q.get(timeout=5) for _ in range(1100)])
    q.close()
    os._exit(0)


def test_the_issue_scenario_child_attaches_and_each_item_is_taken_once(tmp_path):
    """Opened with attach: 3000 puts, a fork child gets 1,100 items, the parent the other 1,900."""
    path = tmp_path / "q"
    q = rocksq.Queue(path, attach=True)
    q.put_many(numbered(3000))
    items_read, items_write = os.pipe()
    child = multiprocessing.get_context("fork").Process(
        target=take_1100_attached, args=(q, items_write)
    )
    child.start()
    os.close(items_write)
    childs = received_items(items_read)
    child.join(WAIT_SECONDS)
    if child.exitcode is None:
        child.kill()
        child.join()
    assert child.exitcode == 0
    assert childs == numbered(1100)  # One consumer: in order.
    parents = [q.get(timeout=5) for _ in range(1900)]
    assert parents == numbered(3000)[1100:]
    assert q.qsize() == 0
    q.close()
    with rocksq.Queue(path) as q:
        assert q.qsize() == 0


@pytest.mark.parametrize("name", ATTACHING)
def test_inherited_attach_queue_serves_the_child_through_the_owner(tmp_path, name):
    face = FACES[name]
    path = tmp_path / "q"
    q = attaching(name)(path)
    face.fill(q)

    left = 3 - TAKEN_BY_USE[name]

    def child():
        face.use(q)  # Takes the oldest items, through the parent.
        assert face.stored(q) == left
        face.fill(q)
        assert face.stored(q) == left + 3
        q.close()  # Closes the child's own queue, not the parent's.
        with pytest.raises(rocksq.QueueClosed):
            face.stored(q)

    assert in_child(child) == 0
    assert face.stored(q) == left + 3  # The parent owns the queue still.
    face.fill(q)
    q.close()
    reopened = face.open(path)
    assert face.stored(reopened) == left + 6
    reopened.close()


def test_inherited_attach_ack_queue_serves_the_child_through_the_owner(tmp_path):
    """A child gets and acks through the parent, pushes, and leaves one delivery
    unsettled at its close: that one is ready again, the acked one is gone."""
    path = tmp_path / "q"
    q = rocksq.AckQueue(path, attach=True)
    q.put_many(numbered(3))

    def child():
        first, second = q.get_nowait(), q.get_nowait()
        assert (first.data, second.data) == (numbered(3)[0], numbered(3)[1])
        q.ack(first)
        q.put_many([b"from the child"])
        assert (q.ready, q.unacked) == (2, 1)
        q.close()  # `second` is still handed out to the child.

    assert in_child(child) == 0
    assert (q.ready, q.unacked) == (3, 0)
    again = [q.get_nowait().data for _ in range(3)]
    assert sorted(again) == sorted([numbered(3)[1], numbered(3)[2], b"from the child"])
    q.close()


def open_sockets() -> set[str]:
    """The sockets this process has open, as /proc names them ("socket:[inode]")."""
    names = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # The directory's own descriptor, closed by now.
            continue
        if target.startswith("socket:"):
            names.add(target)
    return names


@pytest.mark.parametrize("name", ATTACHING)
def test_inherited_attached_queue_serves_the_child_through_its_own_connections(tmp_path, name):
    """The parent attached to another process; its child attaches to that process too.

    The parent's connections are closed in the child: a copy kept there
    would hide the parent's exit from the owner, which would go on serving
    (and popping items for) a process that is gone.
    """
    face = FACES[name]
    path = tmp_path / "q"
    owner = attaching(name)(path)
    face.fill(owner)

    taken = TAKEN_BY_USE[name]

    def attached_parent():
        q = attaching(name)(path)
        face.use(q)
        face.fill(q)  # Each use() then finds three items or more.
        parents_sockets = open_sockets()
        assert parents_sockets  # Its connection to the owner.

        def child():
            assert not open_sockets() & parents_sockets
            face.use(q)
            face.fill(q)
            q.close()

        assert in_child(child, seconds=10) == 0  # Within the outer child's bound.
        # The child's calls reached the owner.
        assert face.stored(q) == 3 - taken + 3 - taken + 3
        face.fill(q)  # The parent's own connections still work.
        q.close()

    assert in_child(attached_parent) == 0
    assert face.stored(owner) == 12 - 2 * taken
    owner.close()


def test_nonblocking_attach_queue_gets_a_worker_of_its_own_in_each_child(tmp_path):
    """Forked 40 times while the parent's worker runs operations: each child gets its own."""
    q = rocksq.nonblocking.PersistentQueueWithCapacity(
        tmp_path / "q", max_inflight_ops=4, attach=True
    )

    def child():
        assert q.inflight_ops == 0  # The parent's worker is not this process's.
        q.push([b"from a child"]).get()
        assert q.len.get().len >= 1
        q.close()

    assert forked_while_the_worker_is_busy(q, child, 40) == [0] * 40
    assert q.pop(q.len.get().len).get().data.count(b"from a child") == 40
    q.close()


def test_a_child_that_attaches_shares_the_parents_task_count(tmp_path):
    """The child's task_done() counts in the owner's count, which the parent's join() waits on."""
    q = rocksq.Queue(tmp_path / "q", attach=True)
    q.put_many([b"a", b"b"])

    def child():
        assert q.get_nowait() == b"a"
        q.task_done()
        assert q.unfinished_tasks == 1

    assert in_child(child) == 0
    assert q.unfinished_tasks == 1
    assert q.get_nowait() == b"b"
    q.task_done()
    q.join()
    with pytest.raises(ValueError):
        q.task_done()
    q.close()


def test_a_shutdown_in_the_child_shows_in_the_parents_is_shutdown(tmp_path):
    """One shutdown state for the queue: the owner's, which the child's call reaches."""
    q = rocksq.Queue(tmp_path / "q", attach=True)

    def child():
        assert not q.is_shutdown
        q.shutdown()
        assert q.is_shutdown

    assert in_child(child) == 0
    assert q.is_shutdown
    with pytest.raises(rocksq.ShutDown):
        q.put_nowait(b"refused")
    q.close()


def test_child_opening_a_queue_its_parent_owns_attaches_with_attach(tmp_path):
    """An open in the child (not an inherited handle) attaches too; without attach it is refused."""
    path = tmp_path / "q"
    q = rocksq.Queue(path, attach=True)
    q.put(b"from the parent")

    def child():
        with pytest.raises(rocksq.QueueAlreadyOpen, match=r"fork\(\)"):
            rocksq.Queue(path, attach=False)
        with rocksq.Queue(path) as own:  # attach=True, the default
            assert own.get_nowait() == b"from the parent"
            own.put(b"from the child")

    assert in_child(child) == 0
    assert q.get_nowait() == b"from the child"
    q.close()


def put_and_get_in_child_worker(q: rocksq.Queue, task: tuple[str, int, int]) -> list[bytes]:
    """A Pool worker's task: puts its items, or gets `count` items and returns them."""
    what, first, count = task
    if what == "put":
        q.put_many([b"item %d" % n for n in range(first, first + count)])
        return []
    return [q.get(timeout=WAIT_SECONDS) for _ in range(count)]


_pool_queue: rocksq.Queue | None = None


def _remember_the_queue(q: rocksq.Queue) -> None:
    global _pool_queue  # noqa: PLW0603 - a Pool worker's state
    _pool_queue = q


def _pool_task(task: tuple[str, int, int]) -> list[bytes]:
    assert _pool_queue is not None
    return put_and_get_in_child_worker(_pool_queue, task)


def test_fork_pool_workers_push_and_pop_through_an_inherited_queue(tmp_path):
    """multiprocessing's fork Pool, the workers inheriting the queue: each item taken once."""
    path = tmp_path / "q"
    q = rocksq.Queue(path, attach=True)
    puts = [("put", n * 250, 250) for n in range(8)]
    gets = [("get", 0, 200) for _ in range(8)]  # 1,600 of the 2,000 items.
    with multiprocessing.get_context("fork").Pool(4, _remember_the_queue, (q,)) as pool:
        assert pool.map(_pool_task, puts, chunksize=1) == [[]] * 8
        taken = pool.map(_pool_task, gets, chunksize=1)
    taken_in_workers = [item for items in taken for item in items]
    left = [q.get_nowait() for _ in range(q.qsize())]
    everything = sorted(taken_in_workers + left)
    assert everything == sorted(b"item %d" % n for n in range(2000))
    assert len(taken_in_workers) == 1600
    q.close()


def own_the_inherited_queue_and_serve(q: rocksq.blocking.PersistentQueueWithCapacity, path: Path):
    """In a child whose parent no longer has the queue: the inherited handle owns it.

    RocksDB's process-wide state is the parent's copy here (its table of
    locked files names the parent's LOCK, its thread pools have no threads):
    the open takes LOCK, a memtable's worth of pushes is flushed by this
    process's own background threads, and another process attaches to it.
    """
    assert q.len == 3  # Opens the queue: nobody has it open.
    q.push([bytes(1 << 20)] * MIB_ITEMS)  # Past a 64 MiB memtable: RocksDB flushes it.
    deadline = time.monotonic() + WAIT_SECONDS / 2
    while not list(path.glob("*.sst")):
        assert time.monotonic() < deadline, "no memtable was flushed"
        time.sleep(0.02)

    def attached():
        # The grandchild's inherited handle attaches to its parent, the owner now.
        assert q.pop(3) == numbered(3)
        q.close()

    assert in_child(attached, seconds=10) == 0  # Within the outer child's bound.
    assert q.len == MIB_ITEMS
    q.close()


def test_child_of_the_owner_owns_the_queue_once_the_parent_closed_it(tmp_path):
    path = tmp_path / "q"
    q = rocksq.blocking.PersistentQueueWithCapacity(path, attach=True)
    q.push(numbered(3))
    closed_read, closed_write = os.pipe()

    def child():
        os.read(closed_read, 1)
        own_the_inherited_queue_and_serve(q, path)

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
    q.close()
    os.write(closed_write, b"x")
    assert wait_bounded(pid) == 0
    for fd in (closed_read, closed_write):
        os.close(fd)
    with rocksq.blocking.PersistentQueueWithCapacity(path) as reopened:
        assert reopened.len == MIB_ITEMS


def set_child_subreaper(on: bool) -> None:
    """Makes this process adopt its orphaned descendants (Linux), so that a test reaps them."""
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_child_subreaper = 36
    assert libc.prctl(pr_set_child_subreaper, int(on), 0, 0, 0) == 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs prctl")
def test_child_of_the_owner_owns_the_queue_once_the_parent_died(tmp_path):
    """The owner exits without closing (its LOCK dies with it); its child owns the queue next."""
    path = tmp_path / "q"
    go_read, go_write = os.pipe()  # The owner is gone: the child may go on.
    pid_read, pid_write = os.pipe()  # The child's pid, for the test to reap it.
    set_child_subreaper(True)
    try:
        owner = os.fork()
        if owner == 0:
            code = 1
            try:
                q = rocksq.blocking.PersistentQueueWithCapacity(path, attach=True)
                q.push(numbered(3))
                child = os.fork()
                if child == 0:
                    code = 1
                    try:
                        os.read(go_read, 1)
                        own_the_inherited_queue_and_serve(q, path)
                        code = 0
                    except BaseException as error:  # noqa: BLE001 - reported, then it ends
                        print(f"child failed: {error!r}", file=sys.stderr, flush=True)
                    finally:
                        os._exit(code)
                os.write(pid_write, str(child).encode())
                code = 0
            finally:
                os._exit(code)  # Dies with the queue open.
        assert wait_bounded(owner) == 0
        child = int(os.read(pid_read, 32))
        os.write(go_write, b"x")
        assert wait_bounded(child) == 0
    finally:
        set_child_subreaper(False)
        for fd in (go_read, go_write, pid_read, pid_write):
            os.close(fd)
    with rocksq.blocking.PersistentQueueWithCapacity(path) as reopened:
        assert reopened.len == MIB_ITEMS


async def _awaited_once_waiting(call: Callable[[], Any], waiting_fd: int) -> Any:
    """Runs call() as a task until it waits, writes to `waiting_fd`, and returns what it returns."""
    task = asyncio.ensure_future(call())
    await asyncio.sleep(0)  # The task tries, arms the change fd, tries again, and waits.
    assert not task.done(), "the call did not wait"
    os.write(waiting_fd, b"w")
    return await asyncio.wait_for(task, WAIT_SECONDS)


async def _ack_queue_get_data(q: rocksq.aio.AckQueue) -> bytes:
    delivery = await q.get()
    q.ack(delivery)
    return delivery.data


async def _mpmc_queue_next_items(q: rocksq.aio.MpmcQueue) -> list[bytes]:
    items, _ = await q.next("reader", rocksq.StartPosition.Oldest)
    return items


# An aio face: its waiting call in the child, how the parent changes the queue, what the call returns.
AIO_WAITS = {
    "aio": (lambda q: q.get(), lambda q: q.put_nowait(b"from the parent"), b"from the parent"),
    "aio.AckQueue": (
        _ack_queue_get_data,
        lambda q: q.put_nowait(b"from the parent"),
        b"from the parent",
    ),
    "aio.MpmcQueue": (
        _mpmc_queue_next_items,
        lambda q: q.add_nowait([b"from the parent"]),
        [b"from the parent"],
    ),
}


@pytest.mark.parametrize("name", AIO_WAITS)
def test_an_inherited_aio_queue_wakes_a_call_awaited_in_the_child_when_the_parent_changes_it(
    tmp_path, name
):
    """The child's loop watches the owner through the child's own change fd, not the parent's."""
    wait, change, expected = AIO_WAITS[name]
    q = FACES[name].open(tmp_path / "q", attach=True)

    async def parents_wait() -> None:  # Registers the parent's change fd with the parent's loop.
        waited = asyncio.ensure_future(wait(q))
        await asyncio.sleep(0)
        change(q)
        await asyncio.wait_for(waited, WAIT_SECONDS)

    asyncio.run(parents_wait())
    waiting_read, waiting_write = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            got = asyncio.run(_awaited_once_waiting(lambda: wait(q), waiting_write))
            code = 0 if got == expected else 2
            q.close()
        except BaseException as error:  # noqa: BLE001 - reported, then the child ends
            print(f"child failed: {error!r}", file=sys.stderr, flush=True)
        finally:
            os._exit(code)
    os.close(waiting_write)
    waiting = select.select([waiting_read], [], [], WAIT_SECONDS)[0] and os.read(waiting_read, 1)
    os.close(waiting_read)
    if waiting:
        change(q)  # Only once the child's call waits.

    assert wait_bounded(pid) == 0
    assert waiting == b"w"
    q.close()
