"""The owner process of tests/attach/test_hostile.py, driven one line at a time.

    python hostile_owner.py KIND PATH [MAX_OPEN_FILES]

opens the queue at PATH with attach=True (KIND: fifo, ack or mpmc, the
core's classes; Queue or seed, the faces, for close and exit only), prints
"ready", then answers each command on stdin with one line:

- ``push N``: pushes item N (support.full_disk.item); "ok", or the error's
  type and message;
- ``pop``: pops every item and prints their numbers, comma-separated;
- ``cpu``: the process's CPU seconds so far;
- ``close``: closes the queue ("closed"), and waits for the next command;
- ``exit``: returns from the script without closing the queue.

A test that runs the owner in a process of its own survives the owner's
crash, and sees it as the owner's exit status.
"""

from __future__ import annotations

import os
import resource
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for support/.

from support.full_disk import item, item_number  # noqa: E402

import rocksq  # noqa: E402
from rocksq._core import AckQueue, FifoQueue, MpmcQueue, StartPosition  # noqa: E402

MPMC_TTL = 86400


def open_queue(kind: str, path: str):
    if kind == "Queue":  # The faces with defaults of their own.
        return rocksq.Queue(path, attach=True)
    if kind == "seed":
        return rocksq.PersistentQueueWithCapacity(path, attach=True)
    if kind == "fifo":
        return FifoQueue(path, attach=True)
    if kind == "ack":
        return AckQueue(path, attach=True)
    return MpmcQueue(path, MPMC_TTL, attach=True)


def push(kind: str, queue, data: bytes) -> None:
    if kind == "mpmc":
        queue.add([data])
    else:
        queue.push(data)


def pop_all(kind: str, queue) -> list[bytes]:
    if kind == "fifo":
        return queue.pop(1 << 30)
    if kind == "ack":
        deliveries = queue.get(1 << 30)
        queue.ack_many(deliveries)
        return [data for _, data, _, _ in deliveries]  # (id, data, attempt, receipt)
    items, _ = queue.next("owner", StartPosition.Oldest, 1 << 30)
    return items


def main() -> None:
    kind, path, *limit = sys.argv[1:]
    if limit:
        resource.setrlimit(resource.RLIMIT_NOFILE, (int(limit[0]), int(limit[0])))
    queue = open_queue(kind, path)
    print("ready", flush=True)
    for line in sys.stdin:
        command, *argument = line.split()
        try:
            if command == "push":
                push(kind, queue, item(int(argument[0])))
                answer = "ok"
            elif command == "pop":
                answer = ",".join(str(item_number(data)) for data in pop_all(kind, queue))
            elif command == "cpu":
                answer = str(sum(os.times()[:2]))
            elif command == "close":
                queue.close()
                answer = "closed"
            else:
                return
        except rocksq.RocksQError as error:
            answer = f"{type(error).__name__}: {error}"
        print(answer, flush=True)


if __name__ == "__main__":
    main()
