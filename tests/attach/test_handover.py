"""Hand-over (issue 17): when the owner of a queue closes it or dies, an attached process takes it over.

The calls under way when the owner went away are sent again to the process
that took over, which answers each from what its first run did (the call
ledger), so that each completes exactly once: a push is never stored
twice, and a pop whose reply was lost with the owner gets its items again.
An ack queue's deliveries end with the owner, as with a crash: its items
are delivered again (at least once), and an item whose ack returned is
never delivered again.
"""

from __future__ import annotations

import collections
import multiprocessing
import os
import signal
import time
from pathlib import Path

import handover_workers
import pytest
from conftest import WAIT_SECONDS

from rocksq._core import StartPosition
from rocksq.inspection import inspect_owner

KILLS = 20


def _lines(path: Path) -> list[bytes]:
    """The whole lines of a report: a last line without its newline was cut
    short by a kill (handover_workers), and its call counts as unreported."""
    if not path.exists():
        return []
    data = path.read_bytes()
    return data[: data.rfind(b"\n") + 1].splitlines()


def test_a_report_line_cut_short_by_a_kill_is_left_out(tmp_path: Path) -> None:
    # Where a producer killed while reporting its 1,041st push leaves its
    # report: that line straddles the file's first page boundary (4,096).
    report = tmp_path / "pushed.p1"
    report.write_bytes(b"".join(b"%d\n" % number for number in range(1041)) + b"1")

    assert _lines(report) == [b"%d" % number for number in range(1041)]


def _owner_among(queue_path: str, candidates: dict[int, object], deadline: float) -> int:
    """The pid of the process of `candidates` that owns the queue now, once one does."""
    while time.monotonic() < deadline:
        owner = inspect_owner(queue_path)
        if owner.answered and owner.pid in candidates:
            return owner.pid
        time.sleep(0.01)
    raise AssertionError("no process took the queue over")


def _pushed_count(reports: Path) -> int:
    return sum(len(_lines(path)) for path in reports.glob("pushed.*"))


def _kill_owners_mid_stream(
    kind: str, queue_path: str, reports: Path, kills: int
) -> list[tuple[str, str]]:
    """Runs two producers and two consumers, SIGKILLs whoever owns the queue `kills` times, each mid-stream.

    A killed worker is replaced under a new name. Returns who was killed,
    as (role, name); every process started is reaped.
    """
    context = multiprocessing.get_context("spawn")
    reports.mkdir()
    stop = reports / "stop"  # handover_workers: a file, not an Event.
    ready = context.Event()
    first_owner = context.Process(target=handover_workers.own_until_killed, args=(kind, queue_path, ready))
    first_owner.start()
    assert ready.wait(WAIT_SECONDS)

    # pid -> (process, role, name); every process a test starts is reaped below.
    running: dict[int, tuple[multiprocessing.process.BaseProcess, str, str]] = {
        first_owner.pid: (first_owner, "owner", "first")
    }
    names = collections.Counter()
    killed: list[tuple[str, str]] = []

    def start(role: str) -> None:
        names[role] += 1
        name = f"{role[0]}{names[role]}"
        target = (
            handover_workers.produce_until_stopped
            if role == "producer"
            else handover_workers.consume_until_stopped
        )
        process = context.Process(target=target, args=(kind, queue_path, name, str(reports), str(stop)))
        process.start()
        running[process.pid] = (process, role, name)

    try:
        for role in ("producer", "producer", "consumer", "consumer"):
            start(role)
        for _ in range(kills):
            # Mid-stream: producers pushed since the last kill.
            pushed_before = _pushed_count(reports)
            deadline = time.monotonic() + WAIT_SECONDS
            while _pushed_count(reports) < pushed_before + 20:
                assert time.monotonic() < deadline, "the producers stopped pushing"
                time.sleep(0.005)
            owner = _owner_among(queue_path, running, time.monotonic() + WAIT_SECONDS)
            process, role, name = running.pop(owner)
            os.kill(owner, signal.SIGKILL)
            process.join(WAIT_SECONDS)
            killed.append((role, name))
            if role != "owner":
                start(role)  # Under a new name: its numbers start again.
        stop.touch()
        for process, _, _ in list(running.values()):
            process.join(WAIT_SECONDS)
            assert process.exitcode == 0, f"a worker failed with exit code {process.exitcode}"
    finally:
        stop.touch()
        for process, _, _ in running.values():
            process.kill()
            process.join()
    assert len(killed) == kills
    assert sum(1 for role, _ in killed if role != "owner") >= kills - 1  # The workers took over.
    return killed


def _acknowledged(reports: Path) -> set[bytes]:
    """The items whose push returned."""
    return {
        handover_workers.item(path.name.split(".", 1)[1], int(line))
        for path in reports.glob("pushed.*")
        for line in _lines(path)
    }


def _check_unreported(items: set[bytes], acknowledged: set[bytes], killed: list[tuple[str, str]], reports: Path) -> None:
    """Items stored but never reported pushed: only a killed producer's last push may be one."""
    killed_producers = {name for role, name in killed if role == "producer"}
    for extra in items - acknowledged:
        producer, number = extra.decode().split(":")
        assert producer in killed_producers, f"{extra!r} was never pushed"
        assert int(number) == len(_lines(reports / f"pushed.{producer}"))


def _check_in_order_per_producer(reports: Path, pattern: str) -> None:
    for path in reports.glob(pattern):
        last: dict[str, int] = {}
        for line in _lines(path):
            producer, number = line.decode().split(":")
            assert int(number) > last.get(producer, -1), f"{path.name} got {producer}'s out of order"
            last[producer] = int(number)


# Synced, the owner runs the merged pushes and pops on worker threads
# (AttachHandler::GroupsRunOnWorkers): a kill lands while they sync. Bounded
# and blocking, it lands while producers and consumers are parked too, and
# while their retries run on the workers.
@pytest.mark.parametrize("kind", ["fifo", "fifo-synced", "fifo-blocking"])
def test_owners_killed_mid_stream_twenty_times_lose_and_duplicate_nothing(
    kind: str, queue_path: str, tmp_path: Path
) -> None:
    reports = tmp_path / "reports"
    killed = _kill_owners_mid_stream(kind, queue_path, reports, KILLS)

    queue = handover_workers.open_attached(kind, queue_path)
    left = [bytes(item) for item in queue.pop(1_000_000)]
    queue.close()

    popped = [line for path in reports.glob("popped.*") for line in _lines(path)] + left
    duplicates = [item for item, count in collections.Counter(popped).items() if count > 1]
    assert duplicates == [], "items were delivered twice"
    acknowledged = _acknowledged(reports)
    killed_consumers = [name for role, name in killed if role == "consumer"]
    _check_unreported(set(popped), acknowledged, killed, reports)
    # A killed consumer's last pop (one item) may have been taken and not reported.
    missing = acknowledged - set(popped)
    assert len(missing) <= len(killed_consumers), f"acknowledged items lost: {sorted(missing)[:10]}"
    # Each consumer got each producer's items in order.
    _check_in_order_per_producer(reports, "popped.*")


def test_ack_queue_owners_killed_mid_stream_lose_nothing_and_ack_each_item_once(
    queue_path: str, tmp_path: Path
) -> None:
    reports = tmp_path / "reports"
    killed = _kill_owners_mid_stream("ack", queue_path, reports, KILLS)

    queue = handover_workers.open_attached("ack", queue_path)
    left = [bytes(delivery[1]) for delivery in queue.get(1_000_000)]
    queue.close()

    got = [line for path in reports.glob("popped.*") for line in _lines(path)]
    acked = [line for path in reports.glob("acked.*") for line in _lines(path)]
    acknowledged = _acknowledged(reports)
    _check_unreported(set(got) | set(left), acknowledged, killed, reports)
    # At least once: every item whose push returned was delivered, or is still there.
    lost = acknowledged - set(got) - set(left)
    assert lost == set(), f"acknowledged items lost: {sorted(lost)[:10]}"
    # An item whose ack returned is never delivered again, nor stored twice.
    twice = [line for line, count in collections.Counter(acked).items() if count > 1]
    assert twice == [], "items were acked twice"
    assert set(acked) & set(left) == set(), "acked items are still in the queue"
    assert len(left) == len(set(left)), "items were stored twice"


# Synced, the attached adds run merged on the owner's workers when it is killed.
@pytest.mark.parametrize("kind", handover_workers.MPMC_KINDS)
def test_mpmc_queue_owners_killed_mid_stream_lose_and_duplicate_nothing(
    kind: str, queue_path: str, tmp_path: Path
) -> None:
    reports = tmp_path / "reports"
    killed = _kill_owners_mid_stream(kind, queue_path, reports, KILLS)

    queue = handover_workers.open_attached(kind, queue_path)
    stored, _expired = queue.next("after the kills", StartPosition.Oldest, 1_000_000)
    queue.close()
    stored = [bytes(item) for item in stored]

    # Every add whose call returned is stored, once.
    acknowledged = _acknowledged(reports)
    _check_unreported(set(stored), acknowledged, killed, reports)
    lost = acknowledged - set(stored)
    assert lost == set(), f"acknowledged items lost: {sorted(lost)[:10]}"
    assert len(stored) == len(set(stored)), "items were stored twice"
    # Each label read each producer's items once, in order and with no gap
    # (nothing expires): a retried Next got its range again rather than the
    # label's next one.
    for path in reports.glob("popped.*"):
        read: dict[str, list[int]] = collections.defaultdict(list)
        for line in _lines(path):
            producer, number = line.decode().split(":")
            read[producer].append(int(number))
        for producer, numbers in read.items():
            assert numbers == list(range(len(numbers))), f"{path.name} read {producer}'s with gaps or twice"
