"""Queues survive SIGKILL at random points: nothing acknowledged is lost, duplicated or torn.

Each test runs crash_worker.py again and again on one queue: a
producer thread and/or consumer threads in one worker process (a queue is
open in one process at a time), killed with SIGKILL after a seeded random
delay, sometimes while the queue is still opening. Every thread logs to an
fsynced file, writing what a call returned only after it returned (see
crash_worker.py for the log format). After every kill the test copies the
queue's directory, opens the copy and reads it out, so the original goes on
to the next worker exactly as the kill left it. Set ROCKSQ_CRASH_SEED to
replay another schedule. The first worker of a schedule creates the queue
and is killed only once it is open; kills during creation have their own
test, at the end.

Names used below: DONE is the set of numbers whose push (FIFO) or add
(MPMC) is logged as returned. IN-FLIGHT is, per killed producer, the one
batch it logged as started but not as returned; FAILED are the batches whose
push raised QueueFull. PUSHED = DONE + IN-FLIGHT. A consumer kill whose last
logged line is "about to pop/read up to N" (the call may have returned
without its result being logged) allows a gap of at most N items at that
point of that consumer's sequence; every other point allows none.

FIFO, checked after every kill and, at the end, on the original queue:
  O = the items popped (consumer logs, all runs in order) followed by the
  queue's content (popped from the copy).
  1. No item is torn: every item is its number's exact bytes.
  2. O is strictly increasing: push order, and nothing popped and logged is
     ever delivered again.
  3. O is a subset of PUSHED; nothing in FAILED ever appears.
  4. REQUIRED = DONE + every IN-FLIGHT batch of which any item appears in O
     (a batch is atomic). REQUIRED - O consists only of allowed gaps: the
     items missing between O[j-1] and O[j] (or before O[0], or after the
     last) number at most the sum of the N allowed at position j, and j lies
     within the popped log. So every logged push is present exactly once,
     in the queue or in the popped log, except the items of at most one
     unlogged pop per consumer kill.
  5. len == number of items in the queue, payload_size == the sum of their
     sizes, is_empty == (len == 0), read before popping; all are 0/True after.

MPMC (ttl 3600, so nothing expires), checked after every kill and at the end:
  1. The elements (read by a fresh label from the oldest) are exactly DONE
     plus every IN-FLIGHT batch either wholly or not at all, strictly in add
     order, none torn; len and payload_size match them; next() never reports
     expired elements.
  2. labels holds every label that logged a completed next() and nothing but
     the readers' labels.
  3. For each label, what it logged reading (all runs in order) followed by
     what it reads now is strictly increasing (no element twice, in order)
     and consecutive in the elements except at allowed gaps; label "a"
     (StartPosition.Oldest) starts at the first element (or at an allowed
     gap), label "b" (Newest) may start anywhere. So positions persist with
     the reads and a label never skips an element it did not read.
"""

from __future__ import annotations

import collections
import os
import random
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from crash_worker import FIFO_MAX_ELEMENTS, MPMC_LABELS, MPMC_TTL, item_number
from killed_workers import kill, read_log, start_worker, wait_until_ready

import rocksq
from rocksq import StartPosition
from rocksq.blocking import MpmcQueue, PersistentQueueWithCapacity
from support.queue_files import copy_queue_directory

WORKER = Path(__file__).with_name("crash_worker.py")
BASE_SEED = int(os.environ.get("ROCKSQ_CRASH_SEED", "20240601"))
FIFO_KILLS_PER_SCHEDULE = 16  # x 2 schedules = 32 FIFO kills
MPMC_KILLS_PER_SCHEDULE = 11  # x 2 schedules = 22 MPMC kills
CREATION_KILLS = 12  # per kind


@dataclass
class ProducerHistory:
    """What producers logged, over all runs."""

    done: set[int] = field(default_factory=set)
    in_flight: list[range] = field(default_factory=list)
    failed: set[int] = field(default_factory=set)

    def record(self, lines: list[list[str]]) -> None:
        started: range | None = None
        for kind, *args in lines:
            first, count = int(args[0]), int(args[1])
            batch = range(first, first + count)
            if kind == "I":
                started = batch
            else:
                assert started == batch, f"producer log out of step at {kind} {args}"
                (self.done if kind == "D" else self.failed).update(batch)
                started = None
        if started is not None:
            self.in_flight.append(started)

    def pushed(self) -> set[int]:
        return self.done.union(*self.in_flight)


@dataclass
class ConsumerHistory:
    """What one consumer (a FIFO popper or an MPMC label) logged, over all runs."""

    received: list[int] = field(default_factory=list)
    # Position in `received` -> how many items a kill there may have taken unlogged.
    allowed_gaps: collections.Counter[int] = field(default_factory=collections.Counter)
    completed_a_call: bool = False
    bad: list[str] = field(default_factory=list)

    def record(self, lines: list[list[str]]) -> None:
        asked: int | None = None
        for kind, *args in lines:
            if kind == "T":
                asked = int(args[0])
                continue
            assert asked is not None, "consumer logged a result it did not ask for"
            assert len(args) <= asked, f"asked for {asked} items, got {len(args)}"
            self.completed_a_call = True
            for token in args:
                if token.startswith("bad:"):
                    self.bad.append(token)
                else:
                    self.received.append(int(token))
            asked = None
        if asked is not None:
            self.allowed_gaps[len(self.received)] += asked


def check_sequence(
    name: str,
    seen: list[int],
    reference: list[int],
    allowed_gaps: collections.Counter[int],
    anchored: bool,
) -> None:
    """Checks `seen` is `reference` (sorted) in order, missing only allowed gaps.

    A gap of k items just before seen[j] (j == len(seen): after the last) needs
    allowed_gaps[j] >= k. If not `anchored`, seen may start anywhere.
    """
    assert all(a < b for a, b in zip(seen, seen[1:])), (
        f"{name}: delivered out of order or twice: {first_disorder(seen)}"
    )
    index = {number: position for position, number in enumerate(reference)}
    unknown = [number for number in seen if number not in index]
    assert not unknown, f"{name}: delivered items never pushed: {unknown[:10]}"
    previous = -1
    for position, number in enumerate([*seen, None]):
        current = len(reference) if number is None else index[number]
        gap = current - previous - 1
        if position == 0 and not anchored:
            gap = 0
        if gap > allowed_gaps[position]:
            missing = reference[previous + 1 : current]
            raise AssertionError(
                f"{name}: {gap} items lost before delivery #{position} "
                f"(allowed {allowed_gaps[position]}): {missing[:10]}"
            )
        previous = current


def first_disorder(seen: list[int]) -> str:
    for position, (a, b) in enumerate(zip(seen, seen[1:])):
        if a >= b:
            return f"#{position}: {a} then {b}"
    return "none"


def numbers_of(items: list[bytes], name: str) -> list[int]:
    numbers = [item_number(item) for item in items]
    torn = [
        item[:16].hex() + f"..({len(item)} bytes)" for item, n in zip(items, numbers) if n is None
    ]
    assert not torn, f"{name}: torn items: {torn[:5]}"
    return numbers  # type: ignore[return-value]


def working_copy(path: Path, scratch: Path) -> Path:
    """A copy of the queue's directory, taken while no process has it open."""
    copy = scratch / "copy"
    shutil.rmtree(copy, ignore_errors=True)
    copy_queue_directory(path, copy)
    return copy


# --- FIFO -----------------------------------------------------------------------


def check_fifo(path: Path, producer: ProducerHistory, consumer: ConsumerHistory, when: str) -> None:
    items: list[bytes] = []
    if path.exists():
        queue = PersistentQueueWithCapacity(path, FIFO_MAX_ELEMENTS)
        counters = (queue.len, queue.payload_size, queue.is_empty)
        while batch := queue.pop(1000):
            items.extend(batch)
        drained = (queue.len, queue.payload_size, queue.is_empty)
        queue.close()
        expected = (len(items), sum(map(len, items)), not items)
        assert counters == expected, (
            f"{when}: (len, payload_size, is_empty) {counters} != {expected}"
        )
        assert drained == (0, 0, True), f"{when}: after popping everything: {drained}"
    assert not consumer.bad, f"{when}: the consumer popped torn items: {consumer.bad[:5]}"
    queued = numbers_of(items, f"{when}: queue")
    seen = consumer.received + queued
    pushed = producer.pushed()
    never_pushed = sorted(set(seen) - pushed)
    assert not never_pushed, (
        f"{when}: items never pushed were delivered: {never_pushed[:10]} "
        f"(of failed pushes: {sorted(set(never_pushed) & producer.failed)[:10]})"
    )
    seen_set = set(seen)
    required = set(producer.done)
    for batch in producer.in_flight:
        if seen_set.intersection(batch):
            required.update(batch)
    check_sequence(
        f"{when}: popped log + queue", seen, sorted(required), consumer.allowed_gaps, True
    )


def run_and_kill(
    args: list[str], cwd: Path, rng: random.Random, may_interrupt_opening: bool = True
) -> None:
    """Starts a worker, SIGKILLs it after a random delay, and waits for it to die."""
    worker = start_worker(WORKER, *args, cwd=cwd)
    if may_interrupt_opening and rng.random() < 0.15:
        time.sleep(rng.uniform(0.0, 0.15))  # possibly while it imports or opens the queue
    else:
        wait_until_ready(worker)
        time.sleep(rng.uniform(0.01, 0.25))
    kill(worker, f"worker {args}")


@pytest.mark.parametrize("schedule", [0, 1])
def test_fifo_queue_keeps_every_returned_push_exactly_once_across_sigkills(
    tmp_path: Path, schedule: int
) -> None:
    seed = BASE_SEED + schedule
    rng = random.Random(seed)
    path, logs = tmp_path / "queue", tmp_path / "logs"
    logs.mkdir()
    producer, consumer = ProducerHistory(), ConsumerHistory()
    for run in range(1, FIFO_KILLS_PER_SCHEDULE + 1):
        roles = rng.choice(["both", "both", "both", "produce", "consume"])
        sync = "1" if rng.random() < 0.3 else "0"
        face = rng.choice(["blocking", "blocking", "seed"])
        args = ["fifo", str(path), str(logs), str(run), str(rng.getrandbits(32)), roles, sync, face]
        run_and_kill(args, tmp_path, rng, may_interrupt_opening=run > 1)
        producer.record(read_log(logs / f"run{run:04d}-producer.log"))
        consumer.record(read_log(logs / f"run{run:04d}-consumer.log"))
        when = f"seed {seed}, after kill {run} ({roles}, sync={sync}, {face})"
        if path.exists():
            check_fifo(working_copy(path, tmp_path), producer, consumer, when)
    check_fifo(path, producer, consumer, f"seed {seed}, the original queue at the end")
    assert producer.done and consumer.received, "the schedule never pushed or never popped"


# --- MPMC -----------------------------------------------------------------------


def read_label(queue: MpmcQueue, label: str, when: str) -> list[bytes]:
    items: list[bytes] = []
    while True:
        batch, expired = queue.next(label, StartPosition.Oldest, 1000)
        assert not expired, f"{when}: label {label} reported expired elements"
        if not batch:
            return items
        items.extend(batch)


def check_mpmc(
    path: Path,
    producer: ProducerHistory,
    readers: dict[str, ConsumerHistory],
    when: str,
) -> None:
    queue = MpmcQueue(path, MPMC_TTL)
    counters = (queue.len, queue.payload_size, queue.is_empty)
    labels = queue.labels
    unread = {label: read_label(queue, label, when) for label in labels}
    elements = read_label(queue, "checker", when)
    queue.close()

    expected = (len(elements), sum(map(len, elements)), not elements)
    assert counters == expected, f"{when}: (len, payload_size, is_empty) {counters} != {expected}"
    created = {label for label, history in readers.items() if history.completed_a_call}
    assert created <= set(labels) <= set(MPMC_LABELS), f"{when}: labels {labels}, created {created}"

    numbers = numbers_of(elements, f"{when}: elements")
    assert all(a < b for a, b in zip(numbers, numbers[1:])), (
        f"{when}: elements out of add order: {first_disorder(numbers)}"
    )
    present = set(numbers)
    required = set(producer.done)
    for batch in producer.in_flight:
        if present.intersection(batch):
            required.update(batch)
    assert present == required, (
        f"{when}: missing {sorted(required - present)[:10]}, "
        f"unexpected {sorted(present - required)[:10]}"
    )
    for label in MPMC_LABELS:
        history = readers[label]
        assert not history.bad, f"{when}: label {label} read torn items: {history.bad[:5]}"
        if label not in labels:
            continue  # never created (checked above: it logged no completed call)
        now = numbers_of(unread[label], f"{when}: label {label}")
        check_sequence(
            f"{when}: label {label} read log + unread",
            history.received + now,
            numbers,
            history.allowed_gaps,
            anchored=label == "a",
        )


@pytest.mark.parametrize("schedule", [0, 1])
def test_mpmc_labels_read_every_returned_add_once_in_order_across_sigkills(
    tmp_path: Path, schedule: int
) -> None:
    seed = BASE_SEED + 100 + schedule
    rng = random.Random(seed)
    path, logs = tmp_path / "queue", tmp_path / "logs"
    logs.mkdir()
    producer = ProducerHistory()
    readers = {label: ConsumerHistory() for label in MPMC_LABELS}
    for run in range(1, MPMC_KILLS_PER_SCHEDULE + 1):
        roles = rng.choice(["both", "both", "both", "produce", "consume"])
        sync = "1" if rng.random() < 0.3 else "0"
        args = ["mpmc", str(path), str(logs), str(run), str(rng.getrandbits(32)), roles, sync]
        run_and_kill(args, tmp_path, rng, may_interrupt_opening=run > 1)
        producer.record(read_log(logs / f"run{run:04d}-producer.log"))
        for label, history in readers.items():
            history.record(read_log(logs / f"run{run:04d}-reader-{label}.log"))
        when = f"seed {seed}, after kill {run} ({roles}, sync={sync})"
        if path.exists():
            check_mpmc(working_copy(path, tmp_path), producer, readers, when)
    check_mpmc(path, producer, readers, f"seed {seed}, the original queue at the end")
    assert producer.done and all(h.received for h in readers.values()), (
        "the schedule never added or a label never read"
    )


# --- Creation -------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["fifo", "mpmc"])
def test_a_queue_whose_creation_was_killed_opens_afterwards(tmp_path: Path, kind: str) -> None:
    rng = random.Random(BASE_SEED + 200 + (kind == "mpmc"))
    broken = []
    for attempt in range(CREATION_KILLS):
        directory = tmp_path / f"attempt{attempt}"
        directory.mkdir()
        worker = start_worker(WORKER, "create", kind, str(directory), cwd=tmp_path)
        wait_until_ready(worker)
        time.sleep(rng.uniform(0.02, 0.2))
        kill(worker, "creator")
        # The creator opened q000000, q000001, ... in turn: every name up to the
        # one it was creating when killed must open (a new queue is built in its
        # directory behind the marker rocksq.creating, which the next open
        # finds and starts over from).
        names = sorted(p.name for p in directory.iterdir() if not p.name.startswith("."))
        last = max((int(name[1:]) for name in names), default=-1)
        for path in [directory / f"q{index:06d}" for index in range(last + 2)]:
            try:
                queue = (
                    PersistentQueueWithCapacity(path)
                    if kind == "fifo"
                    else MpmcQueue(path, MPMC_TTL)
                )
            except rocksq.RocksQError as error:
                broken.append(f"{sorted(p.name for p in path.iterdir())}: {error}")
                continue
            assert (queue.len, queue.payload_size) == (0, 0), f"{path} is not empty"
            queue.close()
        # Opening a name again finishes what its killed creation left behind.
        leftovers = [p.name for p in directory.iterdir() if (p / "rocksq.creating").exists()]
        assert not leftovers, f"unfinished creations left: {leftovers}"
    assert not broken, f"{len(broken)} of {CREATION_KILLS} interrupted creations:\n" + "\n".join(
        broken
    )
