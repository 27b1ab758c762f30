"""The workloads RocksQ measures itself with; ``rocksq bench`` runs them.

A workload is one function registered with :func:`workload`: it opens a
queue in a given directory, does a fixed amount of work (each phase capped
in time, so that a slow queue still ends) and returns its metrics: items/s,
MB/s, or MB. The workloads W1 to W6, ``drain`` and ``rss`` reach the queue
through an adapter, :class:`Impl`, so that the repository's comparison with
other queues (``bench/compare.py``) runs the very same code against them;
:class:`RocksQ` is ours. The faces' workloads (``queue``, ``aio``,
``nonblocking``, ``ack``) call rocksq's faces directly: their per-call cost
is what they measure.

Every run is a fresh process (``python -m rocksq.benchmarks JOB``, see
:func:`main`) in a fresh directory, so that one run's memory, threads and
writeback leave the next alone; :func:`run_suite` runs rounds of them and
:func:`medians` sums them up.

This module imports only the standard library at its top and reaches rocksq
through its public API alone (and the extension's file, to name the build),
imported when a workload opens a queue: the repository's scripts load this
file by its path to run the same workloads under interpreters whose rocksq
does not ship it (rocksq 0.3.0 for the comparison, an older build of RocksQ
for ``bench/versus.py``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Type

__all__ = [
    "WORKLOADS",
    "Impl",
    "Metric",
    "RocksQ",
    "Workload",
    "format_value",
    "main",
    "medians",
    "run_job",
    "run_suite",
    "workload",
]

KiB = 1024
MiB = 1024 * KiB

MODES = ("quick", "full")
"""Sizes a workload runs at: quick for a smoke test, full for figures."""

RUN_TIMEOUT_SECONDS = 600
"""How long one run may take before it counts as failed."""

Metrics = Dict[str, Any]


# --- Adapters ---------------------------------------------------------------------


class Impl:
    """A queue under test, opened in one directory: the calls the workloads make.

    `push` and `pop` are plain attributes, bound to the library's own methods
    where its signature allows, so that the timed loops add no Python frame
    of the harness. Subclasses set the class attributes and `__init__`.
    """

    name: str = ""
    label: str = ""
    # Runs with the peers' interpreter (bench/compare.py), not ours.
    peer: bool = False
    # Settings used and how batches are done, for the report.
    notes: str = ""
    # Why the queue may not be shared by threads (None: it may).
    not_thread_safe: Optional[str] = None
    # Why sync=True has no equivalent (None: it has one, see notes).
    no_sync: Optional[str] = None
    # Whether open_mpmc() opens an MPMC queue.
    has_mpmc: bool = False

    push: Callable[[bytes], object]
    pop: Callable[[], Optional[bytes]]

    def __init__(
        self,
        path: str,
        *,
        item_bytes: int,
        sync: bool = False,
        threads: bool = False,
        batches: bool = False,
    ) -> None:
        """Opens the queue in `path`.

        item_bytes: the size of every item of this run (a plain file needs it
        to read items back). sync: every push durable before it returns.
        threads: threads will share the queue. batches: push_batch and
        pop_batch will be used.
        """
        raise NotImplementedError

    def push_batch(self, items: List[bytes]) -> None:
        for item in items:
            self.push(item)

    def pop_batch(self, count: int) -> List[bytes]:
        items = []
        for _ in range(count):
            item = self.pop()
            if item is None:
                break
            items.append(item)
        return items

    def finish_push(self) -> None:
        """Called inside the timed push phase, after the last push."""

    def disk_size(self) -> Optional[int]:
        return None

    def close(self) -> None:
        pass

    @classmethod
    def open_mpmc(cls, path: str, ttl: int) -> Any:
        """An MPMC queue with rocksq 0.3.0's blocking interface (add(list),
        next(label, start_position, max_elements) -> (items, expired)) at
        `path`, whose items live `ttl` seconds; see has_mpmc."""
        raise NotImplementedError(f"{cls.name} has no MPMC queue")

    @classmethod
    def version(cls) -> str:
        raise NotImplementedError


class RocksQ(Impl):
    name = "rocksq"
    label = "rocksq (ours)"
    has_mpmc = True
    notes = (
        "single items through the seed API `rocksq.PersistentQueueWithCapacity` "
        "(push(item), pop()); batches through `rocksq.blocking` (push(list), "
        "pop(max_elements=100)); defaults (sync=False, no_gil=True); "
        "W5 with `sync=True`; W6 through `rocksq.blocking.MpmcQueue(path, 3600)`"
    )

    def __init__(
        self,
        path: str,
        *,
        item_bytes: int,
        sync: bool = False,
        threads: bool = False,
        batches: bool = False,
    ) -> None:
        import rocksq
        import rocksq.blocking

        if rocksq.version() == "0.3.0":
            raise RuntimeError("this interpreter's rocksq is 0.3.0, not RocksQ's own")
        self._queue: Any
        if batches:
            queue: Any = rocksq.blocking.PersistentQueueWithCapacity(path, sync=sync)
            self._queue = queue
            self.push = lambda item: queue.push([item])
            self.pop = lambda: (queue.pop(1) or [None])[0]
            self.push_batch = queue.push  # type: ignore[method-assign]
            self.pop_batch = queue.pop  # type: ignore[method-assign]
            self.disk_size = lambda: queue.disk_size  # type: ignore[method-assign]
        else:
            self._queue = rocksq.PersistentQueueWithCapacity(path, sync=sync)
            self.push = self._queue.push
            self.pop = self._queue.pop
            self.disk_size = self._queue.size  # type: ignore[method-assign]

    def close(self) -> None:
        self._queue.close()

    @classmethod
    def open_mpmc(cls, path: str, ttl: int) -> Any:
        import rocksq.blocking

        return rocksq.blocking.MpmcQueue(path, ttl)

    @classmethod
    def version(cls) -> str:
        import hashlib

        import rocksq
        from rocksq import _core

        # A build can be reinstalled during a long run: name the extension built,
        # and the RocksDB it measures (rocksq.build_info(); builds before it
        # existed say so).
        with open(_core.__file__, "rb") as core:
            build = hashlib.sha256(core.read()).hexdigest()[:10]
        build_info = getattr(rocksq, "build_info", None)
        if build_info is None:
            return f"{rocksq.version()} (_core {build}, RocksDB build not reported)"
        info = build_info()
        crc32c = "hardware" if info["crc32c_hardware"] else "software"
        return (f"{rocksq.version()} (_core {build}, {info['build']} build, "
                f"RocksDB {info['rocksdb_version']}, CRC32C in {crc32c})")


# --- The registry -----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Metric:
    label: str
    unit: str  # "MB/s", "items/s" or "MB"
    higher_is_better: bool = True

    @property
    def is_speed(self) -> bool:
        return self.unit.endswith("/s")


@dataclasses.dataclass(frozen=True)
class Workload:
    key: str
    title: str
    metrics: Dict[str, Metric]
    sizes: Dict[str, Dict[str, Any]]  # mode -> keyword arguments of fn
    fn: Callable[..., Metrics]
    impls: Optional[Tuple[str, ...]]  # None: every implementation
    needs: Callable[[Type[Impl]], Optional[str]]  # why an implementation is skipped

    def skip_reason(self, impl: Type[Impl]) -> Optional[str]:
        if self.impls is not None and impl.name not in self.impls:
            return "not measured"
        return self.needs(impl)


WORKLOADS: Dict[str, Workload] = {}


def _needs_nothing(impl: Type[Impl]) -> Optional[str]:
    return None


def workload(
    key: str,
    title: str,
    metrics: Dict[str, Metric],
    sizes: Dict[str, Dict[str, Any]],
    impls: Optional[Sequence[str]] = None,
    needs: Callable[[Type[Impl]], Optional[str]] = _needs_nothing,
) -> Callable[[Callable[..., Metrics]], Callable[..., Metrics]]:
    """Registers a workload: fn(impl_class, path, **sizes[mode]) -> metrics.

    The returned dict holds a value (or None: not applicable) for each key
    of `metrics`; its other keys go to the run's info.
    """

    def register(fn: Callable[..., Metrics]) -> Callable[..., Metrics]:
        assert set(sizes) == set(MODES), f"{key}: sizes for {MODES}"
        WORKLOADS[key] = Workload(
            key, title, metrics, sizes, fn, tuple(impls) if impls else None, needs
        )
        return fn

    return register


# --- Timed loops ------------------------------------------------------------------


def make_pool(item_bytes: int, count: Optional[int] = None) -> List[bytes]:
    """Distinct random items: incompressible, none repeated within ~4 MiB."""
    if count is None:
        count = max(16, min(1024, 4 * MiB // item_bytes))
    return [os.urandom(item_bytes) for _ in range(count)]


def push_singles(
    queue: Impl, pool: List[bytes], count: int, max_seconds: float
) -> Tuple[int, float]:
    """Pushes up to `count` items one per call, stopping after max_seconds.

    Returns (items pushed, seconds). The clock is read once per 64 items,
    not per item.
    """
    push = queue.push
    chunks = [pool[start : start + 64] for start in range(0, len(pool), 64)]
    pushed = chunk_index = 0
    start = time.perf_counter()
    deadline = start + max_seconds
    while pushed < count:
        chunk = chunks[chunk_index % len(chunks)][: count - pushed]
        chunk_index += 1
        for item in chunk:
            push(item)
        pushed += len(chunk)
        if time.perf_counter() > deadline:
            break
    queue.finish_push()
    return pushed, time.perf_counter() - start


def pop_singles(queue: Impl, pool: List[bytes], count: int) -> float:
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


def push_batches(
    queue: Impl, pool: List[bytes], count: int, batch: int, max_seconds: float
) -> Tuple[int, float]:
    """Pushes `count` items (a multiple of `batch`) in batches; see push_singles."""
    assert len(pool) % batch == 0 and count % batch == 0
    batches = [pool[start : start + batch] for start in range(0, len(pool), batch)]
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


def pop_batches(queue: Impl, count: int, batch: int) -> float:
    pop_batch = queue.pop_batch
    popped = 0
    start = time.perf_counter()
    while popped < count:
        items = pop_batch(min(batch, count - popped))
        if not items:
            raise RuntimeError(f"queue empty after {popped} of {count} pops")
        popped += len(items)
    return time.perf_counter() - start


def timed_calls(call: Callable[[bytes], object], pool: List[bytes], count: int) -> float:
    """Seconds `count` calls of `call` take, each with the next item of `pool`."""
    start = time.perf_counter()
    for index in range(count):
        call(pool[index % len(pool)])
    return time.perf_counter() - start


def timed_takes(take: Callable[[], Any], count: int) -> Tuple[Any, float]:
    """(the last result, seconds) of `count` calls of `take`."""
    result = None
    start = time.perf_counter()
    for _ in range(count):
        result = take()
    return result, time.perf_counter() - start


def run_threads(targets: Sequence[Callable[[], None]]) -> float:
    """Starts one thread per target at once; returns seconds until all end."""
    barrier = threading.Barrier(len(targets) + 1)
    errors: List[BaseException] = []

    def wrap(target: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            barrier.wait()
            try:
                target()
            except BaseException as error:  # raised again below, in the caller
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


def du_bytes(path: str | os.PathLike[str]) -> int:
    """Bytes allocated on disk under `path`, as `du -s --block-size=1` counts them."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except FileNotFoundError:  # removed by a compaction meanwhile
                pass
    return total


def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6  # KiB on Linux


# --- Workloads through an adapter: ours and the peers' ----------------------------


def seed_like(
    impl: Type[Impl], path: str, items: int, item_bytes: int, max_seconds: float
) -> Metrics:
    pool = make_pool(item_bytes)
    queue = impl(path, item_bytes=item_bytes)
    pushed, push_seconds = push_singles(queue, pool, items, max_seconds)
    pop_seconds = pop_singles(queue, pool, pushed)
    queue.close()
    megabytes = pushed * item_bytes / 1e6
    return {"push_mbs": megabytes / push_seconds, "pop_mbs": megabytes / pop_seconds, "items": pushed}


@workload(
    "W1",
    "the seed example: 240 × 256 KiB, pushed one per call, then popped one per call",
    {"push_mbs": Metric("W1 push 256 KiB", "MB/s"), "pop_mbs": Metric("W1 pop 256 KiB", "MB/s")},
    sizes={
        "quick": dict(items=240, item_bytes=256 * KiB, max_seconds=10),
        "full": dict(items=240, item_bytes=256 * KiB, max_seconds=20),
    },
)
def w1_seed_example(
    impl: Type[Impl], path: str, items: int, item_bytes: int, max_seconds: float
) -> Metrics:
    return seed_like(impl, path, items, item_bytes, max_seconds)


@workload(
    "W2",
    "100-byte items, one per call: all pushes, then all pops",
    {"push_ops": Metric("W2 push 100 B", "items/s"), "pop_ops": Metric("W2 pop 100 B", "items/s")},
    sizes={
        "quick": dict(items=20_000, max_seconds=0.5),
        "full": dict(items=200_000, max_seconds=2.0),
    },
)
def w2_single_items(impl: Type[Impl], path: str, items: int, max_seconds: float) -> Metrics:
    pool = make_pool(100)
    queue = impl(path, item_bytes=100)
    pushed, push_seconds = push_singles(queue, pool, items, max_seconds)
    pop_seconds = pop_singles(queue, pool, pushed)
    queue.close()
    return {"push_ops": pushed / push_seconds, "pop_ops": pushed / pop_seconds, "items": pushed}


@workload(
    "W3",
    "100-byte items in batches of 100: all pushes, then all pops",
    {
        "push_ops": Metric("W3 push 100 × 100 B", "items/s"),
        "pop_ops": Metric("W3 pop 100 × 100 B", "items/s"),
    },
    sizes={
        "quick": dict(items=20_000, batch=100, max_seconds=0.5),
        "full": dict(items=200_000, batch=100, max_seconds=2.0),
    },
)
def w3_batches(impl: Type[Impl], path: str, items: int, batch: int, max_seconds: float) -> Metrics:
    pool = make_pool(100, count=10 * batch)
    queue = impl(path, item_bytes=100, batches=True)
    pushed, push_seconds = push_batches(queue, pool, items, batch, max_seconds)
    pop_seconds = pop_batches(queue, pushed, batch)
    queue.close()
    return {"push_ops": pushed / push_seconds, "pop_ops": pushed / pop_seconds, "items": pushed}


def _not_thread_safe(impl: Type[Impl]) -> Optional[str]:
    return impl.not_thread_safe


@workload(
    "W4",
    "4 producer and 4 consumer threads at once on one queue, 1 KiB items, one per call",
    {"items_per_s": Metric("W4 4 prod + 4 cons, 1 KiB", "items/s")},
    sizes={
        "quick": dict(items=8_000, max_seconds=1.0),
        "full": dict(items=100_000, max_seconds=4.0),
    },
    needs=_not_thread_safe,
)
def w4_producers_consumers(
    impl: Type[Impl],
    path: str,
    items: int,
    max_seconds: float,
    producers: int = 4,
    consumers: int = 4,
) -> Metrics:
    item_bytes = KiB
    pool = make_pool(item_bytes)
    queue = impl(path, item_bytes=item_bytes, threads=True)
    pushed = [0] * producers
    popped = [0] * consumers
    producers_done = threading.Event()
    producers_left = [producers]
    lock = threading.Lock()

    def produce(index: int) -> Callable[[], None]:
        def run() -> None:
            try:
                count, _ = push_singles(queue, pool, items // producers, max_seconds)
                pushed[index] = count
            finally:
                with lock:
                    producers_left[0] -= 1
                    if not producers_left[0]:
                        producers_done.set()

        return run

    def consume(index: int) -> Callable[[], None]:
        def run() -> None:
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

    seconds = run_threads(
        [produce(i) for i in range(producers)] + [consume(i) for i in range(consumers)]
    )
    queue.close()
    if sum(pushed) != sum(popped):
        raise RuntimeError(f"pushed {sum(pushed)} items but popped {sum(popped)}")
    return {"items_per_s": sum(popped) / seconds, "items": sum(popped)}


def _no_sync(impl: Type[Impl]) -> Optional[str]:
    return impl.no_sync


@workload(
    "W5",
    "durable single pushes of 100 B (sync=True or the peer's equivalent), "
    "from 1 thread, then from 8 at once",
    {
        "push_1t": Metric("W5 sync push, 1 thread", "items/s"),
        "push_8t": Metric("W5 sync push, 8 threads", "items/s"),
    },
    sizes={
        "quick": dict(items_1t=300, items_8t=800, max_seconds=0.5),
        "full": dict(items_1t=4_000, items_8t=16_000, max_seconds=2.0),
    },
    needs=_no_sync,
)
def w5_sync_pushes(
    impl: Type[Impl],
    path: str,
    items_1t: int,
    items_8t: int,
    max_seconds: float,
    threads: int = 8,
) -> Metrics:
    pool = make_pool(100)
    queue = impl(path, item_bytes=100, sync=True, threads=impl.not_thread_safe is None)
    count, seconds = push_singles(queue, pool, items_1t, max_seconds)
    result: Metrics = {
        "push_1t": count / seconds,
        "items_1t": count,
        "synchronous": getattr(queue, "synchronous", None),
    }
    if impl.not_thread_safe:
        result["push_8t"] = None
        result["push_8t_skipped"] = impl.not_thread_safe
    else:
        counts = [0] * threads

        def pusher(index: int) -> Callable[[], None]:
            def run() -> None:
                counts[index], _ = push_singles(queue, pool, items_8t // threads, max_seconds)

            return run

        seconds = run_threads([pusher(i) for i in range(threads)])
        result["push_8t"] = sum(counts) / seconds
        result["items_8t"] = sum(counts)
    queue.close()
    return result


def _has_mpmc(impl: Type[Impl]) -> Optional[str]:
    return None if impl.has_mpmc else "no MPMC queue"


@workload(
    "W6",
    "MPMC: 100-byte items added one per call while 3 labels read them "
    "at once, each in its own thread, in reads of up to 100",
    {
        "add_ops": Metric("W6 MPMC add, 3 labels reading", "items/s"),
        "read_ops": Metric("W6 MPMC reads (3 labels)", "items/s"),
    },
    sizes={
        "quick": dict(items=5_000, max_seconds=1.0),
        "full": dict(items=100_000, max_seconds=5.0),
    },
    needs=_has_mpmc,
)
def w6_mpmc_labels(
    impl: Type[Impl],
    path: str,
    items: int,
    max_seconds: float,
    labels: int = 3,
    read_batch: int = 100,
) -> Metrics:
    from rocksq import StartPosition

    pool = make_pool(100)
    queue = impl.open_mpmc(path, 3600)
    adding_done = threading.Event()
    add_rate = [0.0]
    added = [0]
    read = [0] * labels

    def add() -> None:
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

    def reader(index: int) -> Callable[[], None]:
        label = f"reader-{index}"

        def run() -> None:
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


@workload(
    "drain",
    "disk usage: fill ~1 GB (256 KiB items in batches of 16), drain it, "
    "then sample 10 s idle every 0.5 s",
    {
        "peak_mb": Metric("disk peak (du)", "MB", higher_is_better=False),
        "du_10s_mb": Metric("disk 10 s after drain (du)", "MB", higher_is_better=False),
        "size_10s_mb": Metric("disk_size 10 s after drain", "MB", higher_is_better=False),
    },
    sizes={
        "quick": dict(total_bytes=128 * MiB, idle_seconds=2.0),
        "full": dict(total_bytes=1024 * MiB, idle_seconds=10.0),
    },
    impls=(RocksQ.name,),
)
def disk_after_drain(
    impl: Type[Impl],
    path: str,
    total_bytes: int,
    idle_seconds: float,
    item_bytes: int = 256 * KiB,
    batch: int = 16,
    interval: float = 0.5,
) -> Metrics:
    pool = make_pool(item_bytes)
    items = total_bytes // item_bytes // batch * batch
    queue = impl(path, item_bytes=item_bytes, batches=True)
    samples: List[Tuple[float, int, Optional[int]]] = []  # (seconds, du, disk_size)
    stop = threading.Event()
    start = time.perf_counter()

    def sample() -> None:
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
    return {
        "peak_mb": peak / 1e6,
        "du_10s_mb": last[1] / 1e6,
        "size_10s_mb": (last[2] or 0) / 1e6,
        "pct_of_peak_10s": 100 * last[1] / peak,
        "seconds_to_5pct": below[0] if below else None,
        "fill_seconds": filled_at,
        "drain_seconds": drained_at - filled_at,
        "samples": [(round(t, 2), du, size) for t, du, size in samples],
    }


@workload(
    "rss",
    "peak RSS: W1 at 10× its size (2400 × 256 KiB), one per call",
    {
        "push_mbs": Metric("W1×10 push 256 KiB", "MB/s"),
        "pop_mbs": Metric("W1×10 pop 256 KiB", "MB/s"),
        "peak_rss_mb": Metric("W1×10 peak RSS", "MB", higher_is_better=False),
    },
    sizes={
        "quick": dict(items=480, item_bytes=256 * KiB, max_seconds=10),
        "full": dict(items=2400, item_bytes=256 * KiB, max_seconds=60),
    },
    impls=(RocksQ.name, "rocksq-0.3.0"),
)
def peak_rss(
    impl: Type[Impl], path: str, items: int, item_bytes: int, max_seconds: float
) -> Metrics:
    result = seed_like(impl, path, items, item_bytes, max_seconds)
    result["peak_rss_mb"] = max_rss_mb()
    return result


# --- The faces' workloads: ours alone ---------------------------------------------
#
# Each puts `items` items of 100 B one per call, then takes them one per
# call; the handoffs pass one item at a time to a getter already waiting on
# the empty queue, so they time a wake-up each.

FACE_SIZES = {"quick": dict(items=20_000, handoffs=2_000), "full": dict(items=100_000, handoffs=10_000)}


def _check_last(item: Any, pool: List[bytes], count: int) -> None:
    if count and item != pool[(count - 1) % len(pool)]:
        raise RuntimeError("the last item taken is not the last item put")


@workload(
    "queue",
    "rocksq.Queue (queue.Queue's interface): put() 100 B one per call, then get() "
    "one per call; then one item at a time to a thread waiting in get()",
    {
        "put_ops": Metric("rocksq.Queue put", "items/s"),
        "get_ops": Metric("rocksq.Queue get", "items/s"),
        "handoff_ops": Metric("rocksq.Queue handoff to a waiting thread", "items/s"),
    },
    sizes=FACE_SIZES,
    impls=(RocksQ.name,),
)
def queue_face(impl: Type[Impl], path: str, items: int, handoffs: int) -> Metrics:
    import rocksq

    pool = make_pool(100)
    with rocksq.Queue(path) as queue:
        put_seconds = timed_calls(queue.put, pool, items)
        last, get_seconds = timed_takes(queue.get, items)
        _check_last(last, pool, items)
        received = threading.Event()

        def getter() -> None:
            for _ in range(handoffs):
                queue.get()
                received.set()

        def putter() -> None:
            for index in range(handoffs):
                received.clear()
                queue.put(pool[index % len(pool)])
                received.wait()

        handoff_seconds = run_threads([getter, putter])
    return {
        "put_ops": items / put_seconds,
        "get_ops": items / get_seconds,
        "handoff_ops": handoffs / handoff_seconds,
    }


@workload(
    "aio",
    "rocksq.aio.Queue (asyncio.Queue's interface): await put() 100 B one per call, "
    "then await get() one per call; then one item at a time to a task waiting in get()",
    {
        "put_ops": Metric("rocksq.aio.Queue put", "items/s"),
        "get_ops": Metric("rocksq.aio.Queue get", "items/s"),
        "handoff_ops": Metric("rocksq.aio.Queue handoff to a waiting task", "items/s"),
    },
    sizes=FACE_SIZES,
    impls=(RocksQ.name,),
)
def aio_face(impl: Type[Impl], path: str, items: int, handoffs: int) -> Metrics:
    import asyncio

    import rocksq.aio

    pool = make_pool(100)

    async def run() -> Tuple[float, float, float]:
        with rocksq.aio.Queue(path) as queue:
            put, get = queue.put, queue.get
            start = time.perf_counter()
            for index in range(items):
                await put(pool[index % len(pool)])
            put_seconds = time.perf_counter() - start
            item = None
            start = time.perf_counter()
            for _ in range(items):
                item = await get()
            get_seconds = time.perf_counter() - start
            _check_last(item, pool, items)
            received = asyncio.Event()

            async def getter() -> None:
                for _ in range(handoffs):
                    await get()
                    received.set()

            start = time.perf_counter()
            waiting = asyncio.ensure_future(getter())
            for index in range(handoffs):
                received.clear()
                await put(pool[index % len(pool)])
                await received.wait()
            await waiting
            return put_seconds, get_seconds, time.perf_counter() - start

    put_seconds, get_seconds, handoff_seconds = asyncio.run(run())
    return {
        "put_ops": items / put_seconds,
        "get_ops": items / get_seconds,
        "handoff_ops": handoffs / handoff_seconds,
    }


@workload(
    "nonblocking",
    "rocksq.nonblocking: push([100 B]) then wait for its response, one per call; "
    "then pop(1) and wait, one per call",
    {
        "push_ops": Metric("nonblocking push + wait", "items/s"),
        "pop_ops": Metric("nonblocking pop + wait", "items/s"),
    },
    sizes={"quick": dict(items=10_000), "full": dict(items=50_000)},
    impls=(RocksQ.name,),
)
def nonblocking_face(impl: Type[Impl], path: str, items: int) -> Metrics:
    import rocksq.nonblocking

    pool = make_pool(100)
    with rocksq.nonblocking.PersistentQueueWithCapacity(path) as queue:
        push, pop = queue.push, queue.pop
        push_seconds = timed_calls(lambda item: push([item]).get(), pool, items)
        last, pop_seconds = timed_takes(lambda: pop(1).get().data, items)
        _check_last(last and last[0], pool, items)
    return {"push_ops": items / push_seconds, "pop_ops": items / pop_seconds}


@workload(
    "ack",
    "rocksq.AckQueue (at-least-once): put() 100 B one per call; get_nowait() then ack() "
    "one item a call; get_many(100) then ack_many() of those",
    {
        "put_ops": Metric("AckQueue put", "items/s"),
        "get_ack_ops": Metric("AckQueue get + ack", "items/s"),
        "batch_ops": Metric("AckQueue get_many(100) + ack_many", "items/s"),
    },
    sizes={"quick": dict(items=20_000, batch=100), "full": dict(items=100_000, batch=100)},
    impls=(RocksQ.name,),
)
def ack_face(impl: Type[Impl], path: str, items: int, batch: int) -> Metrics:
    import rocksq

    pool = make_pool(100, count=10 * batch)
    with rocksq.AckQueue(path) as queue:
        put_seconds = timed_calls(queue.put, pool, items)
        get, ack = queue.get_nowait, queue.ack
        _, get_ack_seconds = timed_takes(lambda: ack(get()), items)
        for first in range(0, items, len(pool)):
            queue.put_many(pool[: items - first])
        get_many, ack_many = queue.get_many, queue.ack_many
        start = time.perf_counter()
        for _ in range(items // batch):
            ack_many(get_many(batch, block=False))
        batch_seconds = time.perf_counter() - start
        if len(queue):
            raise RuntimeError(f"{len(queue)} items left after taking and acking all")
    return {
        "put_ops": items / put_seconds,
        "get_ack_ops": items / get_ack_seconds,
        "batch_ops": items // batch * batch / batch_seconds,
    }


# --- Running ----------------------------------------------------------------------


def run(key: str, impl: Type[Impl], path: str, mode: str) -> Dict[str, Metrics]:
    """One run of workload `key` in this process: {"metrics": ..., "info": ...}."""
    bench = WORKLOADS[key]
    reason = bench.skip_reason(impl)
    if reason:
        raise ValueError(f"{key} does not run {impl.name}: {reason}")
    rss_before = max_rss_mb()
    # CPU time of every thread of the process: other work on the machine
    # delays a run's clock time, hardly the CPU time it takes.
    cpu_before = time.process_time()
    values = bench.fn(impl, path, **bench.sizes[mode])
    cpu_seconds = time.process_time() - cpu_before
    metrics = {name: values.pop(name) for name in bench.metrics}
    info = dict(
        values,
        version=impl.version(),
        python=sys.version.split()[0],
        cpu_seconds=cpu_seconds,
        rss_before_mb=rss_before,
        max_rss_mb=max_rss_mb(),
    )
    return {"metrics": metrics, "info": info}


def main(argv: Optional[Sequence[str]] = None, impls: Sequence[Type[Impl]] = (RocksQ,)) -> None:
    """One run in this process, as `python -m rocksq.benchmarks JOB`.

    JOB is JSON: {"workload": "W2", "impl": "rocksq", "path": DIR, "mode":
    "quick"}. Prints one JSON line, {"metrics": {...}, "info": {...}}, and
    exits 0; on an error prints the traceback to standard error and exits 1.
    `impls`: the adapters a job may name.
    """
    job = json.loads((sys.argv[1:] if argv is None else argv)[0])
    by_name = {impl.name: impl for impl in impls}
    print(json.dumps(run(job["workload"], by_name[job["impl"]], job["path"], job["mode"])))


def run_job(
    command: Sequence[str],
    key: str,
    impl: str,
    mode: str,
    run_dir: Path,
    env: Optional[Dict[str, str]] = None,
) -> Metrics:
    """Runs one workload in a fresh process: `command` + its JOB (see main()).

    The process starts in `run_dir`, created here and removed after, and
    keeps its queue in it: an empty directory, so that no source tree there
    can shadow the installed rocksq. Returns main()'s output plus "seconds",
    or {"error": ...} if the run failed.
    """
    job = {"workload": key, "impl": impl, "mode": mode, "path": str(run_dir / "queue")}
    run_dir.mkdir(parents=True)
    start = time.monotonic()
    try:
        completed = subprocess.run(
            [*command, json.dumps(job)],
            cwd=run_dir,
            env=env,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_SECONDS,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {RUN_TIMEOUT_SECONDS} s"}
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
        os.sync()  # the next run should not pay for this one's writeback
    result: Metrics = {"seconds": round(time.monotonic() - start, 2)}
    lines = completed.stdout.strip().splitlines()
    if completed.returncode != 0 or not lines:
        tail = "\n".join(completed.stderr.strip().splitlines()[-12:])
        result["error"] = f"exit status {completed.returncode}: {tail}"
        return result
    result.update(json.loads(lines[-1]))
    return result


def run_suite(
    keys: Sequence[str],
    mode: str,
    rounds: int,
    directory: Path,
    progress: Callable[[str], None] = lambda line: None,
) -> List[Metrics]:
    """`rounds` rounds of the workloads `keys` on ours, each run a fresh
    process of this interpreter; a record per run, with its round."""
    records = []
    for round_index in range(rounds):
        for key in keys:
            progress(f"round {round_index + 1}/{rounds}: {key}")
            result = run_job(
                [sys.executable, "-m", "rocksq.benchmarks"],
                key,
                RocksQ.name,
                mode,
                directory / f"{key}-r{round_index + 1}",
            )
            records.append(dict(round=round_index, workload=key, impl=RocksQ.name, **result))
            if "error" in result:
                progress(f"FAILED: {key} (round {round_index + 1}): {result['error']}")
    return records


def medians(records: Sequence[Metrics], impl: str = RocksQ.name) -> Dict[str, Dict[str, Any]]:
    """{workload: {metric: the median over the runs that worked}} for `impl`."""
    values: Dict[str, Dict[str, List[float]]] = {}
    for record in records:
        if record["impl"] == impl and "error" not in record:
            for metric, value in record["metrics"].items():
                if value is not None:
                    values.setdefault(record["workload"], {}).setdefault(metric, []).append(value)
    return {
        key: {metric: statistics.median(numbers) for metric, numbers in by_metric.items()}
        for key, by_metric in values.items()
    }


def format_value(value: Optional[float], unit: str) -> str:
    """A metric's value for a table: 3 significant figures or so, k and M for items/s."""
    if value is None:
        return "n/a"
    if unit == "items/s":
        if value >= 1e6:
            return f"{value / 1e6:.2f} M"
        if value >= 1e4:
            return f"{value / 1e3:.0f} k"
        if value >= 1e3:
            return f"{value / 1e3:.1f} k"
        return f"{value:.0f}"
    if value < 10:
        return f"{value:.1f}"
    if unit in ("MB/s", "MB"):
        return f"{value:,.0f}"
    return f"{value:.3g}"


if __name__ == "__main__":
    main()
