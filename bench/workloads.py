"""One benchmark run: a workload against one queue implementation.

    python bench/workloads.py '{"workload": "W2", "impl": "rocksq",
                                "path": "build/bench/tmp/run", "mode": "quick"}'

prints one JSON line, {"metrics": {...}, "info": {...}}, and exits 0; on any
error it prints the traceback to stderr and exits 1. bench/compare.py runs
every (workload, implementation) pair this way, each in a fresh process, with
the interpreter the implementation needs: ours with the main environment's
Python, the peers with build/bench-venv's.

The module imports only the standard library at the top, so compare.py can
import it under any interpreter to read the registries below. Each adapter
imports its library when it opens a queue.

Adding a workload is one function decorated with @workload: it receives an
adapter class and a queue directory and returns its metrics.
"""

from __future__ import annotations

import dataclasses
import json
import os
import resource
import sys
import threading
import time
from typing import Callable

KiB = 1024
MiB = 1024 * KiB


# ---------------------------------------------------------------------------
# Implementations. Every adapter opens one queue in `path` and offers the same
# calls; push/pop are plain attributes bound to the library's own methods
# where the library's signature allows, so the timed loops add no Python
# frame of ours.
# ---------------------------------------------------------------------------


class Impl:
    """A queue under test. Subclasses set the class attributes and open()."""

    name: str = ""
    label: str = ""
    # Runs in build/bench-venv (True) or in the main environment (False).
    peer: bool = False
    # Settings used and how batches are done, for the report.
    notes: str = ""
    # Why the queue may not be shared by threads (None: it may).
    not_thread_safe: str | None = None
    # Why sync=True has no equivalent (None: it has one, see notes).
    no_sync: str | None = None

    push: Callable[[bytes], object]
    pop: Callable[[], bytes | None]

    def __init__(self, path: str, *, item_bytes: int, sync: bool = False,
                 threads: bool = False, batches: bool = False) -> None:
        """Opens the queue in `path`.

        item_bytes: the size of every item of this run (the raw file needs it
          to read items back). sync: every push durable before it returns.
        threads: the queue will be shared by threads. batches: push_batch and
          pop_batch will be used.
        """
        raise NotImplementedError

    def push_batch(self, items: list[bytes]) -> None:
        for item in items:
            self.push(item)

    def pop_batch(self, count: int) -> list[bytes]:
        items = []
        for _ in range(count):
            item = self.pop()
            if item is None:
                break
            items.append(item)
        return items

    def finish_push(self) -> None:
        """Called inside the timed push phase, after the last push."""

    def disk_size(self) -> int | None:
        return None

    # An MPMC queue (rocksq 0.3.0's blocking MpmcQueue interface: add(list),
    # next(label, start_position, max_elements) -> (items, expired)) at
    # `path` whose items live `ttl` seconds; None if the library has none.
    open_mpmc: Callable[[str, int], object] | None = None

    def close(self) -> None:
        pass

    @classmethod
    def version(cls) -> str:
        raise NotImplementedError


class RocksQ(Impl):
    name = "rocksq"
    label = "rocksq (ours)"
    notes = ("single items through the seed API `rocksq.PersistentQueueWithCapacity` "
             "(push(item), pop()); batches through `rocksq.blocking` (push(list), "
             "pop(max_elements=100)); defaults (sync=False, no_gil=True); "
             "W5 with `sync=True`; W6 through `rocksq.blocking.MpmcQueue(path, 3600)`")

    def __init__(self, path, *, item_bytes, sync=False, threads=False, batches=False):
        import rocksq
        import rocksq.blocking

        if rocksq.version() == "0.3.0":
            raise RuntimeError("this interpreter's rocksq is 0.3.0, not ours")
        if batches:
            self._queue = rocksq.blocking.PersistentQueueWithCapacity(path, sync=sync)
            queue = self._queue
            self.push = lambda item: queue.push([item])
            self.pop = lambda: (queue.pop(1) or [None])[0]
            self.push_batch = queue.push
            self.pop_batch = queue.pop
            self.disk_size = lambda: queue.disk_size
        else:
            self._queue = rocksq.PersistentQueueWithCapacity(path, sync=sync)
            self.push = self._queue.push
            self.pop = self._queue.pop
            self.disk_size = self._queue.size

    def close(self):
        self._queue.close()

    @staticmethod
    def open_mpmc(path, ttl):
        import rocksq.blocking

        return rocksq.blocking.MpmcQueue(path, ttl)

    @classmethod
    def version(cls):
        import hashlib

        import rocksq
        from rocksq import _core

        # Other work may reinstall the package during a long run: name the build.
        with open(_core.__file__, "rb") as core:
            build = hashlib.sha256(core.read()).hexdigest()[:10]
        return f"{rocksq.version()} (_core {build})"


class RocksQ030(Impl):
    name = "rocksq-0.3.0"
    label = "rocksq 0.3.0"
    peer = True
    notes = ("`rocksq.blocking.PersistentQueueWithCapacity` from PyPI: push([item]), "
             "pop(max_elements=1); batches push(list), pop(max_elements=100); defaults; "
             "W6 through its `rocksq.blocking.MpmcQueue(path, 3600)`")
    no_sync = "no sync option"

    def __init__(self, path, *, item_bytes, sync=False, threads=False, batches=False):
        import rocksq
        from rocksq.blocking import PersistentQueueWithCapacity

        if rocksq.version() != "0.3.0":
            raise RuntimeError(f"expected rocksq 0.3.0, found {rocksq.version()}")
        queue = self._queue = PersistentQueueWithCapacity(path)
        self.push = lambda item: queue.push([item])
        self.pop = lambda: (queue.pop(max_elements=1) or [None])[0]
        self.push_batch = queue.push
        self.pop_batch = lambda count: queue.pop(max_elements=count)
        self.disk_size = lambda: queue.disk_size

    def close(self):
        del self._queue

    @staticmethod
    def open_mpmc(path, ttl):
        from rocksq.blocking import MpmcQueue

        return MpmcQueue(path, ttl)

    @classmethod
    def version(cls):
        import rocksq

        return rocksq.version()


class PersistQueueFile(Impl):
    name = "persist-queue-file"
    label = "persist-queue file"
    peer = True
    notes = ("`persistqueue.Queue(path)` defaults (pickle, chunksize=100, autosave=False); "
             "put(item); get(block=False) then task_done() per item so the pop is "
             "persisted; batches: 100 puts (each persists its info file), 100 gets "
             "then 100 task_done() (one info save)")
    no_sync = "no per-put sync (it fsyncs once per 100-item chunk file)"

    def __init__(self, path, *, item_bytes, sync=False, threads=False, batches=False):
        import persistqueue

        self._empty = persistqueue.Empty
        queue = self._queue = persistqueue.Queue(path)
        self.push = queue.put

    def pop(self):
        try:
            item = self._queue.get(block=False)
        except self._empty:
            return None
        self._queue.task_done()
        return item

    def pop_batch(self, count):
        queue, items = self._queue, []
        for _ in range(count):
            try:
                items.append(queue.get(block=False))
            except self._empty:
                break
        for _ in items:
            queue.task_done()
        return items

    @classmethod
    def version(cls):
        from importlib import metadata

        return metadata.version("persist-queue")


class PersistQueueSQLite(Impl):
    name = "persist-queue-sqlite"
    label = "persist-queue SQLite"
    peer = True
    notes = ("`persistqueue.SQLiteQueue(path, auto_commit=True)` (pickle; WAL with "
             "SQLite's default synchronous=FULL, so every put and get commits and "
             "fsyncs); `multithreading=True` when threads share it (W4, W5); "
             "batches: 100 puts (each commits: 1.1.0 commits every insert whatever "
             "auto_commit says), pops on a queue opened with auto_commit=False: "
             "100 gets then one task_done() (one delete, one commit); W5 uses the "
             "defaults, already synchronous")

    def __init__(self, path, *, item_bytes, sync=False, threads=False, batches=False):
        import persistqueue

        self._empty = persistqueue.Empty
        self._batches = batches
        queue = self._queue = persistqueue.SQLiteQueue(
            path, auto_commit=not batches, multithreading=threads)
        self.push = queue.put
        self.synchronous = queue._putter.execute("PRAGMA synchronous").fetchone()[0]

    def pop(self):
        try:
            item = self._queue.get(block=False)
        except self._empty:
            return None
        if self._batches:
            self._queue.task_done()
        return item

    def pop_batch(self, count):
        queue, items = self._queue, []
        for _ in range(count):
            try:
                items.append(queue.get(block=False))
            except self._empty:
                break
        if self._batches:
            queue.task_done()
        return items

    def close(self):
        self._queue.close()

    @classmethod
    def version(cls):
        from importlib import metadata

        return metadata.version("persist-queue")


class QueuelibDisk(Impl):
    name = "queuelib-disk"
    label = "queuelib disk"
    peer = True
    notes = ("`queuelib.queue.FifoDiskQueue(path)` defaults: one os.write per push, "
             "its state file is written only by close(); no batch API (loops)")
    not_thread_safe = "not thread-safe (no locks)"
    no_sync = "no sync option (never fsyncs)"

    def __init__(self, path, *, item_bytes, sync=False, threads=False, batches=False):
        from queuelib.queue import FifoDiskQueue

        queue = self._queue = FifoDiskQueue(path)
        self.push = queue.push
        self.pop = queue.pop

    def close(self):
        self._queue.close()

    @classmethod
    def version(cls):
        from importlib import metadata

        return metadata.version("queuelib")


class QueuelibSQLite(Impl):
    name = "queuelib-sqlite"
    label = "queuelib SQLite"
    peer = True
    notes = ("`queuelib.queue.FifoSQLiteQueue(path/queue.db)` defaults: rollback "
             "journal, synchronous=FULL, one transaction (and fsync) per push and per "
             "pop; no batch API (loops); W5 uses the defaults, already synchronous")
    not_thread_safe = "not thread-safe (one sqlite3 connection, check_same_thread)"

    def __init__(self, path, *, item_bytes, sync=False, threads=False, batches=False):
        from queuelib.queue import FifoSQLiteQueue

        os.makedirs(path, exist_ok=True)
        queue = self._queue = FifoSQLiteQueue(os.path.join(path, "queue.db"))
        self.push = queue.push
        self.pop = queue.pop
        self.synchronous = queue._db.execute("PRAGMA synchronous").fetchone()[0]

    def close(self):
        self._queue.close()

    @classmethod
    def version(cls):
        from importlib import metadata

        return metadata.version("queuelib")


class RawFile(Impl):
    """The physical reference: the same bytes appended to one plain file."""

    name = "raw-file"
    label = "raw file"
    notes = ("the same bytes appended to one file in the queue directory through "
             "Python's buffered writer (write per item, writelines per batch), "
             "flushed at the end of the push phase; pops read it back "
             "(read(item_bytes) per item, one read per batch)")
    not_thread_safe = "a plain file is not a queue (no concurrent pops)"
    no_sync = "buffered; see raw-file+fsync"
    fsync_at_end = False

    def __init__(self, path, *, item_bytes, sync=False, threads=False, batches=False):
        os.makedirs(path, exist_ok=True)
        file_path = os.path.join(path, "data")
        self._item_bytes = item_bytes
        if sync:
            self._fd = os.open(file_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            self._writer = None
            fd = self._fd

            def push(item):
                os.write(fd, item)
                os.fdatasync(fd)

            self.push = push
        else:
            self._fd = None
            self._writer = open(file_path, "ab")
            self.push = self._writer.write
            self.push_batch = self._writer.writelines
        self._reader = open(file_path, "rb")
        reader = self._reader
        self.pop = lambda: reader.read(item_bytes) or None

    def pop_batch(self, count):
        data = self._reader.read(count * self._item_bytes)
        size = self._item_bytes
        return [data[start:start + size] for start in range(0, len(data), size)]

    def finish_push(self):
        if self._writer is not None:
            self._writer.flush()
            if self.fsync_at_end:
                os.fsync(self._writer.fileno())

    def close(self):
        if self._writer is not None:
            self._writer.close()
        if self._fd is not None:
            os.close(self._fd)
        self._reader.close()

    @classmethod
    def version(cls):
        return "-"


class RawFileFsync(RawFile):
    name = "raw-file+fsync"
    label = "raw file + fsync"
    notes = ("as raw-file, plus one fsync at the end of the push phase (timed); "
             "in W5 write + fdatasync per item on an O_APPEND descriptor")
    no_sync = None
    fsync_at_end = True


IMPLS: dict[str, type[Impl]] = {cls.name: cls for cls in (
    RocksQ, RocksQ030, PersistQueueFile, PersistQueueSQLite,
    QueuelibDisk, QueuelibSQLite, RawFile, RawFileFsync)}


# ---------------------------------------------------------------------------
# Workloads.
# ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Metric:
    label: str
    unit: str  # "MB/s", "items/s" or "MB"
    higher_is_better: bool = True


@dataclasses.dataclass(frozen=True)
class Workload:
    key: str
    title: str
    metrics: dict[str, Metric]
    sizes: dict[str, dict]  # mode ("quick", "full") -> keyword arguments of fn
    fn: Callable[..., dict]
    impls: tuple[str, ...] | None  # None: every implementation
    needs: Callable[[type[Impl]], str | None]  # why an implementation is skipped

    def skip_reason(self, impl: type[Impl]) -> str | None:
        if self.impls is not None and impl.name not in self.impls:
            return "not measured"
        return self.needs(impl)


WORKLOADS: dict[str, Workload] = {}


def workload(key, title, metrics, sizes, impls=None, needs=lambda impl: None):
    """Registers a workload: fn(impl_class, path, **sizes[mode]) -> metrics.

    The returned dict holds a value (or None: not applicable) for each key of
    `metrics`; any other keys go to the run's info.
    """
    def register(fn):
        WORKLOADS[key] = Workload(key, title, metrics, sizes, fn,
                                  tuple(impls) if impls else None, needs)
        return fn
    return register


def make_pool(item_bytes: int, count: int | None = None) -> list[bytes]:
    """Distinct random items: incompressible, none repeated within ~4 MiB."""
    if count is None:
        count = max(16, min(1024, 4 * MiB // item_bytes))
    return [os.urandom(item_bytes) for _ in range(count)]


def push_singles(queue: Impl, pool: list[bytes], count: int, max_seconds: float):
    """Pushes up to `count` items one per call, stopping after max_seconds.

    Returns (items pushed, seconds). The clock is read once per 64 items,
    not per item.
    """
    push = queue.push
    chunks = [pool[start:start + 64] for start in range(0, len(pool), 64)]
    pushed = chunk_index = 0
    start = time.perf_counter()
    deadline = start + max_seconds
    while pushed < count:
        chunk = chunks[chunk_index % len(chunks)][:count - pushed]
        chunk_index += 1
        for item in chunk:
            push(item)
        pushed += len(chunk)
        if time.perf_counter() > deadline:
            break
    queue.finish_push()
    return pushed, time.perf_counter() - start


def pop_singles(queue: Impl, pool: list[bytes], count: int):
    """Pops `count` items one per call; checks each arrived. Returns seconds."""
    pop = queue.pop
    item = None
    start = time.perf_counter()
    for index in range(count):
        item = pop()
        if item is None:
            raise RuntimeError(f"queue empty after {index} of {count} pops")
    seconds = time.perf_counter() - start
    if count and item != pool[(count - 1) % len(pool)]:
        raise RuntimeError("the last item popped is not the last item pushed")
    return seconds


def push_batches(queue: Impl, pool: list[bytes], count: int, batch: int,
                 max_seconds: float):
    """Pushes `count` items (a multiple of `batch`) in batches; see push_singles."""
    assert len(pool) % batch == 0 and count % batch == 0
    batches = [pool[start:start + batch] for start in range(0, len(pool), batch)]
    push_batch = queue.push_batch
    pushed = 0
    start = time.perf_counter()
    deadline = start + max_seconds
    while pushed < count:
        push_batch(batches[pushed // batch % len(batches)])
        pushed += batch
        if time.perf_counter() > deadline:
            break
    queue.finish_push()
    return pushed, time.perf_counter() - start


def pop_batches(queue: Impl, count: int, batch: int):
    pop_batch = queue.pop_batch
    popped = 0
    start = time.perf_counter()
    while popped < count:
        items = pop_batch(min(batch, count - popped))
        if not items:
            raise RuntimeError(f"queue empty after {popped} of {count} pops")
        popped += len(items)
    return time.perf_counter() - start


def seed_like(impl, path, items, item_bytes, max_seconds):
    pool = make_pool(item_bytes)
    queue = impl(path, item_bytes=item_bytes)
    pushed, push_seconds = push_singles(queue, pool, items, max_seconds)
    pop_seconds = pop_singles(queue, pool, pushed)
    queue.close()
    megabytes = pushed * item_bytes / 1e6
    return {"push_mbs": megabytes / push_seconds, "pop_mbs": megabytes / pop_seconds,
            "items": pushed}


@workload("W1", "the seed example: 240 × 256 KiB, pushed one per call, then popped one per call",
          {"push_mbs": Metric("W1 push 256 KiB", "MB/s"),
           "pop_mbs": Metric("W1 pop 256 KiB", "MB/s")},
          sizes={"quick": dict(items=240, item_bytes=256 * KiB, max_seconds=10),
                 "full": dict(items=240, item_bytes=256 * KiB, max_seconds=20)})
def w1_seed_example(impl, path, items, item_bytes, max_seconds):
    return seed_like(impl, path, items, item_bytes, max_seconds)


@workload("W2", "100-byte items, one per call: all pushes, then all pops",
          {"push_ops": Metric("W2 push 100 B", "items/s"),
           "pop_ops": Metric("W2 pop 100 B", "items/s")},
          sizes={"quick": dict(items=20_000, max_seconds=0.5),
                 "full": dict(items=200_000, max_seconds=2.0)})
def w2_single_items(impl, path, items, max_seconds):
    pool = make_pool(100)
    queue = impl(path, item_bytes=100)
    pushed, push_seconds = push_singles(queue, pool, items, max_seconds)
    pop_seconds = pop_singles(queue, pool, pushed)
    queue.close()
    return {"push_ops": pushed / push_seconds, "pop_ops": pushed / pop_seconds,
            "items": pushed}


@workload("W3", "100-byte items in batches of 100: all pushes, then all pops",
          {"push_ops": Metric("W3 push 100 × 100 B", "items/s"),
           "pop_ops": Metric("W3 pop 100 × 100 B", "items/s")},
          sizes={"quick": dict(items=20_000, batch=100, max_seconds=0.5),
                 "full": dict(items=200_000, batch=100, max_seconds=2.0)})
def w3_batches(impl, path, items, batch, max_seconds):
    pool = make_pool(100, count=10 * batch)
    queue = impl(path, item_bytes=100, batches=True)
    pushed, push_seconds = push_batches(queue, pool, items, batch, max_seconds)
    pop_seconds = pop_batches(queue, pushed, batch)
    queue.close()
    return {"push_ops": pushed / push_seconds, "pop_ops": pushed / pop_seconds,
            "items": pushed}


def run_threads(targets) -> float:
    """Starts one thread per target at once; returns seconds until all end."""
    barrier = threading.Barrier(len(targets) + 1)
    errors = []

    def wrap(target):
        def run():
            barrier.wait()
            try:
                target()
            except BaseException as error:  # reported by the caller
                errors.append(error)
        return run

    threads = [threading.Thread(target=wrap(target)) for target in targets]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - start


@workload("W4", "4 producer and 4 consumer threads at once on one queue, 1 KiB items, one per call",
          {"items_per_s": Metric("W4 4 prod + 4 cons, 1 KiB", "items/s")},
          sizes={"quick": dict(items=8_000, max_seconds=1.0),
                 "full": dict(items=100_000, max_seconds=4.0)},
          needs=lambda impl: impl.not_thread_safe)
def w4_producers_consumers(impl, path, items, max_seconds, producers=4, consumers=4):
    item_bytes = KiB
    pool = make_pool(item_bytes)
    queue = impl(path, item_bytes=item_bytes, threads=True)
    pushed = [0] * producers
    popped = [0] * consumers
    producers_done = threading.Event()
    producers_left = [producers]
    lock = threading.Lock()

    def produce(index):
        def run():
            try:
                count, _ = push_singles(queue, pool, items // producers, max_seconds)
                pushed[index] = count
            finally:
                with lock:
                    producers_left[0] -= 1
                    if not producers_left[0]:
                        producers_done.set()
        return run

    def consume(index):
        def run():
            pop = queue.pop
            count = 0
            while True:
                # Read the flag before popping: an empty pop after every
                # producer finished means every item was taken.
                done = producers_done.is_set()
                if pop() is not None:
                    count += 1
                elif done:
                    break
                else:
                    time.sleep(0.0005)
            popped[index] = count
        return run

    seconds = run_threads([produce(i) for i in range(producers)]
                          + [consume(i) for i in range(consumers)])
    queue.close()
    if sum(pushed) != sum(popped):
        raise RuntimeError(f"pushed {sum(pushed)} items but popped {sum(popped)}")
    return {"items_per_s": sum(popped) / seconds, "items": sum(popped)}


@workload("W5", "durable single pushes of 100 B (sync=True or the peer's equivalent), "
          "from 1 thread, then from 8 at once",
          {"push_1t": Metric("W5 sync push, 1 thread", "items/s"),
           "push_8t": Metric("W5 sync push, 8 threads", "items/s")},
          sizes={"quick": dict(items_1t=300, items_8t=800, max_seconds=0.5),
                 "full": dict(items_1t=4_000, items_8t=16_000, max_seconds=2.0)},
          needs=lambda impl: impl.no_sync)
def w5_sync_pushes(impl, path, items_1t, items_8t, max_seconds, threads=8):
    pool = make_pool(100)
    queue = impl(path, item_bytes=100, sync=True, threads=impl.not_thread_safe is None)
    count, seconds = push_singles(queue, pool, items_1t, max_seconds)
    result = {"push_1t": count / seconds, "items_1t": count,
              "synchronous": getattr(queue, "synchronous", None)}
    if impl.not_thread_safe:
        result["push_8t"] = None
        result["push_8t_skipped"] = impl.not_thread_safe
    else:
        counts = [0] * threads

        def pusher(index):
            def run():
                counts[index], _ = push_singles(queue, pool, items_8t // threads, max_seconds)
            return run

        seconds = run_threads([pusher(i) for i in range(threads)])
        result["push_8t"] = sum(counts) / seconds
        result["items_8t"] = sum(counts)
    queue.close()
    return result


@workload("W6", "MPMC: 100-byte items added one per call while 3 labels read them "
          "at once, each in its own thread, in reads of up to 100",
          {"add_ops": Metric("W6 MPMC add, 3 labels reading", "items/s"),
           "read_ops": Metric("W6 MPMC reads (3 labels)", "items/s")},
          sizes={"quick": dict(items=5_000, max_seconds=1.0),
                 "full": dict(items=100_000, max_seconds=5.0)},
          needs=lambda impl: None if impl.open_mpmc else "no MPMC queue")
def w6_mpmc_labels(impl, path, items, max_seconds, labels=3, read_batch=100):
    from rocksq import StartPosition

    pool = make_pool(100)
    queue = impl.open_mpmc(path, 3600)
    adding_done = threading.Event()
    add_rate = [0.0]
    added = [0]
    read = [0] * labels

    def add():
        try:
            add_one = queue.add
            count = 0
            start = time.perf_counter()
            deadline = start + max_seconds
            while count < items:
                add_one([pool[count % len(pool)]])
                count += 1
                if count % 64 == 0 and time.perf_counter() > deadline:
                    break
            add_rate[0] = count / (time.perf_counter() - start)
            added[0] = count
        finally:
            adding_done.set()

    def reader(index):
        label = f"reader-{index}"

        def run():
            next_items = queue.next
            count = 0
            while True:
                # Read the flag first: an empty read after the adder finished
                # means this label has read everything.
                done = adding_done.is_set()
                got, _ = next_items(label, StartPosition.Oldest, read_batch)
                if got:
                    if got[-1] != pool[(count + len(got) - 1) % len(pool)]:
                        raise RuntimeError(f"{label} read items out of order")
                    count += len(got)
                elif done:
                    break
                else:
                    time.sleep(0.0002)
            read[index] = count
        return run

    seconds = run_threads([add] + [reader(i) for i in range(labels)])
    close = getattr(queue, "close", None)
    if close:
        close()
    del queue
    if any(count != added[0] for count in read):
        raise RuntimeError(f"added {added[0]} items but the labels read {read}")
    return {"add_ops": add_rate[0], "read_ops": sum(read) / seconds, "items": added[0]}


def du_bytes(path: str) -> int:
    """Bytes allocated on disk under `path`, as `du -s --block-size=1` counts them."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except FileNotFoundError:  # removed by a compaction meanwhile
                pass
    return total


@workload("drain", "disk usage: fill ~1 GB (256 KiB items in batches of 16), drain it, "
          "then sample 10 s idle every 0.5 s",
          {"peak_mb": Metric("disk peak (du)", "MB", higher_is_better=False),
           "du_10s_mb": Metric("disk 10 s after drain (du)", "MB", higher_is_better=False),
           "size_10s_mb": Metric("disk_size 10 s after drain", "MB", higher_is_better=False)},
          sizes={"quick": dict(total_bytes=128 * MiB, idle_seconds=2.0),
                 "full": dict(total_bytes=1024 * MiB, idle_seconds=10.0)},
          impls=("rocksq",))
def disk_after_drain(impl, path, total_bytes, idle_seconds, item_bytes=256 * KiB,
                     batch=16, interval=0.5):
    pool = make_pool(item_bytes)
    items = total_bytes // item_bytes // batch * batch
    queue = impl(path, item_bytes=item_bytes, batches=True)
    samples = []  # (seconds since start, du bytes, queue's disk_size)
    stop = threading.Event()
    start = time.perf_counter()

    def sample():
        while True:
            samples.append((time.perf_counter() - start, du_bytes(path), queue.disk_size()))
            if stop.wait(interval):
                return

    sampler = threading.Thread(target=sample)
    sampler.start()
    pushed, _ = push_batches(queue, pool, items, batch, max_seconds=1e9)
    filled_at = time.perf_counter() - start
    pop_batches(queue, pushed, batch)
    drained_at = time.perf_counter() - start
    time.sleep(idle_seconds)
    stop.set()
    sampler.join()
    last = (time.perf_counter() - start, du_bytes(path), queue.disk_size())
    samples.append(last)
    queue.close()
    peak = max(du for _, du, _ in samples)
    below = [t - drained_at for t, du, _ in samples if t >= drained_at and du < 0.05 * peak]
    return {"peak_mb": peak / 1e6, "du_10s_mb": last[1] / 1e6, "size_10s_mb": last[2] / 1e6,
            "pct_of_peak_10s": 100 * last[1] / peak,
            "seconds_to_5pct": below[0] if below else None,
            "fill_seconds": filled_at, "drain_seconds": drained_at - filled_at,
            "samples": [(round(t, 2), du, size) for t, du, size in samples]}


@workload("rss", "peak RSS: W1 at 10× its size (2400 × 256 KiB), one per call",
          {"push_mbs": Metric("W1×10 push 256 KiB", "MB/s"),
           "pop_mbs": Metric("W1×10 pop 256 KiB", "MB/s"),
           "peak_rss_mb": Metric("W1×10 peak RSS", "MB", higher_is_better=False)},
          sizes={"quick": dict(items=480, item_bytes=256 * KiB, max_seconds=10),
                 "full": dict(items=2400, item_bytes=256 * KiB, max_seconds=60)},
          impls=("rocksq", "rocksq-0.3.0"))
def peak_rss(impl, path, items, item_bytes, max_seconds):
    result = seed_like(impl, path, items, item_bytes, max_seconds)
    result["peak_rss_mb"] = max_rss_mb()
    return result


def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6  # KiB on Linux


def main() -> None:
    job = json.loads(sys.argv[1])
    bench = WORKLOADS[job["workload"]]
    impl = IMPLS[job["impl"]]
    reason = bench.skip_reason(impl)
    if reason:
        sys.exit(f"{bench.key} does not run {impl.name}: {reason}")
    rss_before = max_rss_mb()
    values = bench.fn(impl, job["path"], **bench.sizes[job["mode"]])
    metrics = {key: values.pop(key) for key in bench.metrics}
    info = dict(values, version=impl.version(), python=sys.version.split()[0],
                rss_before_mb=rss_before, max_rss_mb=max_rss_mb())
    print(json.dumps({"metrics": metrics, "info": info}))


if __name__ == "__main__":
    main()
