"""An MPMC queue opened with attach=True in another process behaves as in the owner (issue 17).

The test process owns each queue (attach=True); the processes of the
`processes` pool attach to it. Labels are the owner's: every process
reading a label moves the one position.
"""

from __future__ import annotations

import re
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import mpmc_workers
import pytest
from conftest import WAIT_SECONDS

from rocksq._core import MpmcQueue, StartPosition

TTL = mpmc_workers.TTL


def test_every_call_gives_the_same_results_attached_as_in_the_owner(
    tmp_path: Path, processes: ProcessPoolExecutor
) -> None:
    in_owner = mpmc_workers.parity_script(MpmcQueue(str(tmp_path / "owned"), TTL, attach=True))
    served = MpmcQueue(str(tmp_path / "served"), TTL, attach=True)

    attached = processes.submit(mpmc_workers.attached_parity_script, served.path).result(
        WAIT_SECONDS
    )

    assert attached == in_owner
    served.close()


def per_producer_in_order(items: list[bytes]) -> bool:
    numbers = defaultdict(list)
    for item in items:
        producer, n = item.split()
        numbers[producer].append(int(n))
    return all(sequence == sorted(sequence) for sequence in numbers.values())


# Synced, the attached adds merge and run on the owner's workers, gathered.
@pytest.mark.parametrize("sync", [False, True], ids=["unsynced", "synced"])
def test_each_label_reads_every_item_of_two_producer_processes_once_in_order(
    queue_path: str, processes: ProcessPoolExecutor, sync: bool
) -> None:
    owner = MpmcQueue(queue_path, TTL, sync, attach=True)
    owner.next("shared", StartPosition.Oldest, 0)  # Both labels exist before the first add.
    owner.next("solo", StartPosition.Oldest, 0)
    count = 400
    readers = [
        processes.submit(mpmc_workers.read_label, queue_path, "shared", sync) for _ in range(2)
    ]
    solo = processes.submit(mpmc_workers.read_label, queue_path, "solo", sync)
    producers = [
        processes.submit(mpmc_workers.produce, queue_path, producer, count, sync)
        for producer in range(2)
    ]
    for producer in producers:
        producer.result(WAIT_SECONDS)
    owner.add([b"stop", b"stop"])
    shared = [reader.result(WAIT_SECONDS) for reader in readers]
    solo_read = solo.result(WAIT_SECONDS)

    everything = sorted(b"%d %d" % (p, n) for p in range(2) for n in range(count))
    assert sorted(item for items in shared for item in items) == everything
    assert sorted(solo_read) == everything
    assert all(per_producer_in_order(items) for items in [*shared, solo_read])
    owner.close()


def test_an_attached_reader_of_a_label_goes_on_from_where_the_owner_s_reader_of_it_stopped(
    queue_path: str, processes: ProcessPoolExecutor
) -> None:
    owner = MpmcQueue(queue_path, TTL, attach=True)
    owner.add([b"1", b"2", b"3", b"4", b"5"])
    assert owner.next("x", StartPosition.Oldest, 2) == ([b"1", b"2"], False)

    read = processes.submit(mpmc_workers.next_attached, queue_path, "x", 2).result(WAIT_SECONDS)

    assert read == [b"3", b"4"]
    assert owner.next("x", StartPosition.Oldest, 10) == ([b"5"], False)
    owner.close()


@pytest.mark.parametrize(
    ("ttl", "sync", "message"),
    [
        (TTL + 1, False, f"ttl {TTL + 1} differs from the owning process .*'s {TTL}"),
        (TTL, True, "sync True differs from the owning process .*'s False"),
    ],
)
def test_an_attached_open_with_other_options_than_the_owner_raises_naming_both_values(
    queue_path: str, processes: ProcessPoolExecutor, ttl: int, sync: bool, message: str
) -> None:
    owner = MpmcQueue(queue_path, TTL, attach=True)

    outcome = processes.submit(mpmc_workers.open_attached, queue_path, ttl, sync).result(
        WAIT_SECONDS
    )

    assert outcome.startswith("ValueError: "), outcome
    assert re.search(message, outcome), outcome
    owner.close()


@pytest.mark.parametrize("face_name", ["blocking", "nonblocking"])
def test_each_mpmc_face_attaches_when_asked(
    queue_path: str, processes: ProcessPoolExecutor, face_name: str
) -> None:
    owner = MpmcQueue(queue_path, TTL, attach=True)
    owner.add([b"from the owner"])

    items = processes.submit(mpmc_workers.face_add_and_read, queue_path, face_name).result(
        WAIT_SECONDS
    )

    assert items == [b"from the owner", b"from the attached process"]
    assert owner.labels == ["f"]
    owner.close()
