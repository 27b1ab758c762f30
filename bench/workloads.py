"""One benchmark run for bench/compare.py and bench/versus.py: a workload against one queue.

    python bench/workloads.py '{"workload": "W2", "impl": "rocksq",
                                "path": "build/bench/tmp/run", "mode": "quick"}'

prints one JSON line, {"metrics": {...}, "info": {...}}, and exits 0; on any
error it prints the traceback to stderr and exits 1. bench/compare.py runs
every (workload, implementation) pair this way, each in a fresh process, with
the interpreter the implementation needs: ours with the main environment's
Python, the peers with build/bench-venv's; bench/versus.py runs ours this way
under an old and a new build.

The workloads themselves ship with the package, in rocksq/benchmarks.py
(`rocksq bench` runs them); this file loads that module by its path in this
checkout, so that the same workload code runs under interpreters whose rocksq
does not ship it (rocksq 0.3.0, an older build), and adds the peers' adapters.
The module imports only the standard library at its top, so compare.py can
import it under any interpreter to read the registries below. Each adapter
imports its library when it opens a queue.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

BENCHMARKS_FILE = Path(__file__).resolve().parent.parent / "rocksq" / "benchmarks.py"


def load_benchmarks():
    """rocksq/benchmarks.py of this checkout, as the module `rocksq_benchmarks`.

    Under its own name, not as rocksq.benchmarks: the interpreter's rocksq
    package (0.3.0, an older build) stays the one the workloads measure.
    """
    spec = importlib.util.spec_from_file_location("rocksq_benchmarks", BENCHMARKS_FILE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


benchmarks = load_benchmarks()
Impl, RocksQ, WORKLOADS = benchmarks.Impl, benchmarks.RocksQ, benchmarks.WORKLOADS


# ---------------------------------------------------------------------------
# The peers. Each opens one queue in `path` and offers the calls of
# rocksq/benchmarks.py's Impl.
# ---------------------------------------------------------------------------


class RocksQ030(Impl):
    name = "rocksq-0.3.0"
    label = "rocksq 0.3.0"
    peer = True
    notes = ("`rocksq.blocking.PersistentQueueWithCapacity` from PyPI: push([item]), "
             "pop(max_elements=1); batches push(list), pop(max_elements=100); defaults; "
             "W6 through its `rocksq.blocking.MpmcQueue(path, 3600)`")
    no_sync = "no sync option"
    has_mpmc = True

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

    @classmethod
    def open_mpmc(cls, path, ttl):
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


def main() -> None:
    benchmarks.main(impls=list(IMPLS.values()))


if __name__ == "__main__":
    main()
