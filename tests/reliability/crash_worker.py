"""A worker process for test_crash_recovery.py: uses a queue until it is SIGKILLed.

    python crash_worker.py fifo PATH LOG_DIR RUN SEED ROLES SYNC FACE
    python crash_worker.py mpmc PATH LOG_DIR RUN SEED ROLES SYNC
    python crash_worker.py create fifo|mpmc DIRECTORY

ROLES is "produce", "consume" or "both" (a producer thread and a consumer
thread sharing one queue object, as an application would: a queue is open in
one process at a time). For an MPMC queue the consumers are two reader
threads, label "a" (StartPosition.Oldest) and label "b" (StartPosition.Newest).
FACE picks the FIFO API: "blocking" (rocksq.blocking: lists, single items and
batches of 1-20) or "seed" (rocksq.PersistentQueueWithCapacity: one item per
call). SYNC is "0" or "1". The worker prints "ready" once the queue is open
and its threads run, then works until it is killed; any unexpected error
exits with status 3 and a traceback on stderr.

Items are numbered. Run RUN pushes the numbers RUN * RUN_SPAN, RUN * RUN_SPAN
+ 1, ..., never reusing one, so every number is pushed at most once. An
item is its number (8 bytes, big-endian) followed by filler derived from the
number, 0 to 599 bytes long, so a torn or mixed-up item is detectable.

Each thread writes its own log in LOG_DIR, one line per event, each line
written with one write() and fsynced before the thread goes on:

    producer  "I FIRST COUNT"   about to push FIRST .. FIRST+COUNT-1
              "D FIRST COUNT"   that push returned (written after it returned)
              "F FIRST COUNT"   that push raised QueueFull (those numbers are
                                never used again)
    consumer  "T N"             about to pop (FIFO) or read (MPMC) up to N items
              "C NUM NUM ..."   the pop or read returned these items (written
                                after it returned; possibly none). A popped
                                item whose content does not match its number
                                is logged as "bad:HEX" instead of a number.

A line the kill cut off (no trailing newline) is ignored by the reader.

"create" creates queues of one kind one after another, DIRECTORY/q000000,
DIRECTORY/q000001, ... (each opened, then closed), so that a kill lands in
the middle of creating one.
"""

from __future__ import annotations

import hashlib
import os
import random
import sys
import threading
import time
import traceback

RUN_SPAN = 1_000_000
FIFO_MAX_ELEMENTS = 2_000
MPMC_TTL = 3600
MAX_BATCH = 20
MPMC_LABELS = ("a", "b")


def make_item(number: int) -> bytes:
    """The item numbered `number`: its 8-byte big-endian number, then filler."""
    head = number.to_bytes(8, "big")
    digest = hashlib.blake2b(head, digest_size=32).digest()
    filler_length = int.from_bytes(digest[:2], "big") % 600
    return head + (digest * (filler_length // 32 + 1))[:filler_length]


def item_number(item: bytes) -> int | None:
    """The number of a well-formed item, or None if the item is torn or foreign."""
    if len(item) < 8:
        return None
    number = int.from_bytes(item[:8], "big")
    return number if make_item(number) == item else None


def format_items(items: list[bytes]) -> str:
    tokens = []
    for item in items:
        number = item_number(item)
        tokens.append(str(number) if number is not None else f"bad:{item[:32].hex()}:{len(item)}")
    return " ".join(tokens)


class Log:
    """An append-only log file; every line reaches the disk before log() returns."""

    def __init__(self, path: str) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def log(self, line: str) -> None:
        os.write(self._fd, (line + "\n").encode())
        os.fsync(self._fd)


def fail(_: object = None) -> None:
    """Ends the process at once on an unexpected error, which the test reports."""
    traceback.print_exc()
    sys.stderr.flush()
    os._exit(3)


def run_thread(target, *args) -> None:  # type: ignore[no-untyped-def]
    def guarded() -> None:
        try:
            target(*args)
        except BaseException:  # noqa: BLE001 - any error ends the worker, reported by the test
            fail()

    threading.Thread(target=guarded, daemon=True).start()


def fifo_produce(queue: object, face: str, log: Log, rng: random.Random, run: int) -> None:
    import rocksq

    number = run * RUN_SPAN
    while True:
        count = 1 if face == "seed" or rng.random() < 0.4 else rng.randint(1, MAX_BATCH)
        items = [make_item(n) for n in range(number, number + count)]
        log.log(f"I {number} {count}")
        try:
            if face == "seed":
                queue.push(items[0])  # type: ignore[attr-defined]
            else:
                queue.push(items)  # type: ignore[attr-defined]
        except rocksq.QueueFull:
            log.log(f"F {number} {count}")
            time.sleep(0.002)
        else:
            log.log(f"D {number} {count}")
        number += count


def fifo_consume(queue: object, face: str, log: Log, rng: random.Random) -> None:
    while True:
        count = 1 if face == "seed" or rng.random() < 0.4 else rng.randint(1, MAX_BATCH)
        log.log(f"T {count}")
        if face == "seed":
            item = queue.pop()  # type: ignore[attr-defined]
            items = [] if item is None else [item]
        else:
            items = queue.pop(count)  # type: ignore[attr-defined]
        log.log(f"C {format_items(items)}".rstrip())
        if not items:
            time.sleep(0.002)


def mpmc_produce(queue: object, log: Log, rng: random.Random, run: int) -> None:
    number = run * RUN_SPAN
    while True:
        count = 1 if rng.random() < 0.4 else rng.randint(1, MAX_BATCH)
        items = [make_item(n) for n in range(number, number + count)]
        log.log(f"I {number} {count}")
        queue.add(items)  # type: ignore[attr-defined]
        log.log(f"D {number} {count}")
        number += count


def mpmc_read(queue: object, label: str, log: Log, rng: random.Random) -> None:
    from rocksq import StartPosition

    start = StartPosition.Oldest if label == "a" else StartPosition.Newest
    while True:
        count = 1 if rng.random() < 0.4 else rng.randint(1, MAX_BATCH)
        log.log(f"T {count}")
        items, expired = queue.next(label, start, count)  # type: ignore[attr-defined]
        if expired:
            raise AssertionError(f"label {label}: next() reported expired elements")
        log.log(f"C {format_items(items)}".rstrip())
        if not items:
            time.sleep(0.002)


def create_queues(kind: str, directory: str) -> None:
    from rocksq.blocking import MpmcQueue, PersistentQueueWithCapacity

    print("ready", flush=True)
    for index in range(1_000_000):
        path = os.path.join(directory, f"q{index:06d}")
        queue = PersistentQueueWithCapacity(path) if kind == "fifo" else MpmcQueue(path, MPMC_TTL)
        queue.close()


def main(argv: list[str]) -> None:
    if argv[0] == "create":
        create_queues(argv[1], argv[2])
        return
    kind, path, log_dir, run_text, seed_text, roles, sync_text = argv[:7]
    run, sync = int(run_text), sync_text == "1"
    rng = random.Random(int(seed_text))
    produce, consume = roles in ("produce", "both"), roles in ("consume", "both")

    def log_for(role: str) -> Log:
        return Log(os.path.join(log_dir, f"run{run:04d}-{role}.log"))

    if kind == "fifo":
        face = argv[7]
        if face == "seed":
            from rocksq import PersistentQueueWithCapacity as Fifo
        else:
            from rocksq.blocking import PersistentQueueWithCapacity as Fifo
        queue = Fifo(path, FIFO_MAX_ELEMENTS, sync=sync)
        if produce:
            run_thread(
                fifo_produce, queue, face, log_for("producer"), random.Random(rng.random()), run
            )
        if consume:
            run_thread(fifo_consume, queue, face, log_for("consumer"), random.Random(rng.random()))
    else:
        from rocksq.blocking import MpmcQueue

        queue = MpmcQueue(path, MPMC_TTL, sync=sync)
        if produce:
            run_thread(mpmc_produce, queue, log_for("producer"), random.Random(rng.random()), run)
        if consume:
            for label in MPMC_LABELS:
                run_thread(
                    mpmc_read, queue, label, log_for(f"reader-{label}"), random.Random(rng.random())
                )
    print("ready", flush=True)
    while True:
        time.sleep(60)


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except BaseException:  # noqa: BLE001 - any error ends the worker, reported by the test
        fail()
