"""Every face of rocksq used as typed code would use it; test_typing.py runs
`mypy --strict` on this file against the installed package, then runs it.

assert_type() makes each result's static type part of the check: a face
whose annotations drift from what it returns fails mypy here.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from typing_extensions import assert_type

import rocksq
import rocksq.aio
import rocksq.blocking
import rocksq.nonblocking
from rocksq import StartPosition


def seed_api(directory: Path) -> None:
    queue = rocksq.PersistentQueueWithCapacity(directory / "seed", max_elements=10)
    queue.push(b"one")
    queue.push(bytearray(b"two"), no_gil=False)
    queue.push(memoryview(b"three"))
    assert_type(queue.len(), int)
    assert_type(queue.is_empty(), bool)
    assert_type(queue.size(), int)
    first = queue.pop()
    assert_type(first, "bytes | None")
    assert first == b"one"
    queue.close()
    rocksq.PersistentQueueWithCapacity.remove_db(directory / "seed")


def blocking_api(directory: Path) -> None:
    with rocksq.blocking.PersistentQueueWithCapacity(str(directory / "fifo"), 2, sync=True) as fifo:
        fifo.push([b"a", b"b"])
        try:
            fifo.push([b"c"])
        except rocksq.QueueFull as error:
            assert_type(error, rocksq.QueueFull)
        items = fifo.pop(max_elements=5)
        assert_type(items, list[bytes])
        assert items == [b"a", b"b"]
        sizes: tuple[bool, int, int, int] = (fifo.is_empty, fifo.len, fifo.payload_size, fifo.disk_size)
        assert sizes[:3] == (True, 0, 0)
    rocksq.remove_queue(directory / "fifo")

    log = rocksq.blocking.MpmcQueue(directory / "log", ttl=60)
    log.add([b"e1", b"e2"])
    read = log.next("audit", StartPosition.Oldest, max_elements=10)
    assert_type(read, tuple[list[bytes], bool])
    assert read == ([b"e1", b"e2"], False)
    assert_type(log.labels, list[str])
    assert_type(log.remove_label("audit"), bool)
    log.close()
    rocksq.remove_mpmc_queue(directory / "log")


def nonblocking_api(directory: Path) -> None:
    fifo = rocksq.nonblocking.PersistentQueueWithCapacity(directory / "nb", max_inflight_ops=100)
    pushed = fifo.push([b"x", b"y"])
    assert_type(pushed, rocksq.nonblocking.Response)
    popped = fifo.pop(max_elements=2).get()
    assert_type(popped, rocksq.nonblocking.ResponseVariant)
    assert_type(popped.data, "list[bytes] | None")
    assert pushed.get().data is None and popped.data == [b"x", b"y"]
    assert_type(fifo.inflight_ops, int)
    fifo.close()

    log = rocksq.nonblocking.MpmcQueue(directory / "nb-log", ttl=60)
    log.add([b"e"]).get()
    variant = log.next("reader", StartPosition.Newest).get()
    assert_type(variant, rocksq.nonblocking.MpmcResponseVariant)
    assert_type(variant.data, "tuple[list[bytes], bool] | None")
    assert variant.data == ([b"e"], False)
    assert_type(log.labels.get().labels, "list[str] | None")
    maybe_ready = log.remove_label("reader").try_get()
    assert_type(maybe_ready, "rocksq.nonblocking.MpmcResponseVariant | None")
    log.close()


def queue_api(directory: Path) -> None:
    # Generic, as queue.Queue[bytes] is; bytes is the only parameter that fits.
    jobs: rocksq.Queue[bytes] = rocksq.Queue(directory / "jobs", maxsize=3)
    jobs.put(b"job 1")
    jobs.put_many([b"job 2", bytearray(b"job 3")], timeout=1.0)
    assert_type(jobs.qsize(), int)
    assert_type(jobs.full(), bool)
    assert_type(jobs.maxsize, int)
    job = jobs.get(timeout=1.0)
    assert_type(job, bytes)
    assert_type(jobs.get_many(5, block=False), list[bytes])
    jobs.task_done()
    jobs.task_done()
    jobs.task_done()
    jobs.join()
    try:
        jobs.get_nowait()
    except rocksq.Empty:
        pass
    jobs.maxsize = 5
    assert_type(jobs.unfinished_tasks, int)
    jobs.shutdown(immediate=False)
    assert_type(jobs.is_shutdown, bool)
    try:
        jobs.put(b"late")
    except rocksq.ShutDown as error:
        assert_type(error, rocksq.ShutDown)
    jobs.close()


async def asyncio_api(directory: Path) -> None:
    async with rocksq.aio.Queue(directory / "events", maxsize=10) as events:
        assert_type(events, rocksq.aio.Queue[bytes])
        consumer = asyncio.create_task(events.get())
        await events.put(b"event")
        assert_type(await consumer, bytes)
        await events.put_many([b"a", b"b"])
        assert_type(await events.get_many(5), list[bytes])
        events.task_done()
        events.task_done()
        events.task_done()
        await events.join()
        try:
            events.get_nowait()
        except asyncio.QueueEmpty as empty:
            assert isinstance(empty, rocksq.aio.QueueEmpty)
        events.shutdown(immediate=True)
        assert_type(events.is_shutdown, bool)
        assert_type(events.unfinished_tasks, int)

    async with rocksq.aio.MpmcQueue(directory / "aio-log", ttl=60) as log:
        reader = asyncio.create_task(log.next("audit", StartPosition.Oldest, 10))
        await log.add([b"e1", b"e2"])
        items, expired = await reader
        assert_type(items, list[bytes])
        assert_type(expired, bool)
        assert items == [b"e1", b"e2"] and not expired
        assert_type(log.next_nowait("audit", StartPosition.Oldest), tuple[list[bytes], bool])


def ack_api(directory: Path) -> None:
    with rocksq.AckQueue(directory / "ack", visibility_timeout=30.0) as queue:
        queue.put(b"job-1")
        queue.put_many([b"job-2", b"job-3"])
        first = queue.get(timeout=1.0)
        assert_type(first, rocksq.Delivery)
        assert_type(first.id, int)
        assert_type(first.data, bytes)
        queue.ack(first)
        second = queue.get_nowait()
        queue.nack(second)
        batch = queue.get_many(10, block=False)
        assert_type(batch, "list[rocksq.Delivery]")
        queue.ack_failed_many(batch)
        failed = queue.failed()
        assert_type(failed, "list[tuple[int, bytes]]")
        assert_type(queue.requeue_failed(), int)
        assert_type(queue.ready, int)
        assert_type(queue.unacked, int)
        assert_type(queue.failed_count, int)
        assert_type(queue.full(), bool)
    rocksq.remove_ack_queue(directory / "ack")


async def asyncio_ack_api(directory: Path) -> None:
    async with rocksq.aio.AckQueue(directory / "aio-ack") as queue:
        await queue.put(b"job")
        delivery = await queue.get()
        assert_type(delivery, rocksq.Delivery)
        queue.ack(delivery)


def module_api() -> None:
    assert_type(rocksq.version(), str)
    errors: list[type[rocksq.RocksQError]] = [
        rocksq.QueueFull,
        rocksq.StorageError,
        rocksq.CorruptionError,
        rocksq.QueueAlreadyOpen,
        rocksq.NotAQueueError,
        rocksq.QueueClosed,
    ]
    assert all(issubclass(error, RuntimeError) for error in errors)


def main() -> int:
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        seed_api(directory)
        blocking_api(directory)
        nonblocking_api(directory)
        queue_api(directory)
        asyncio.run(asyncio_api(directory))
        ack_api(directory)
        asyncio.run(asyncio_ack_api(directory))
        module_api()
    print("typed usage: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
