"""put_unique survives SIGKILL: each key's item is stored once, never lost once its put returned.

The test runs unique_crash_worker.py again and again on one queue, killing
it with SIGKILL after a seeded random delay. Each new worker starts REPLAY
numbers below the last one the previous workers logged, as a producer
retries what it cannot tell was stored. The key and the item are one
atomic write, so after the last kill the queue holds item-0 to item-N,
each exactly once, in order, for some N at least the last number logged:
a key stored without its item would leave a gap, an item stored without
its key a duplicate. And no number is logged as stored (True) twice.
Set ROCKSQ_CRASH_SEED to replay another schedule.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

from killed_workers import kill, read_log, start_worker, wait_until_ready

import rocksq

WORKER = Path(__file__).with_name("unique_crash_worker.py")
SEED = int(os.environ.get("ROCKSQ_CRASH_SEED", "20240601")) + 15
KILLS = 12
REPLAY = 30


def test_sigkill_never_stores_a_key_without_its_item_or_an_item_twice(tmp_path: Path) -> None:
    schedule = random.Random(SEED)
    path = str(tmp_path / "queue")
    log = tmp_path / "log"
    last_logged = -1
    for _ in range(KILLS):
        first = max(0, last_logged - REPLAY)
        worker = start_worker(WORKER, path, str(log), str(first), cwd=tmp_path)
        wait_until_ready(worker)
        time.sleep(schedule.uniform(0.1, 0.5))
        kill(worker)
        last_logged = max(int(line[1]) for line in read_log(log))

    stored_by = [int(line[1]) for line in read_log(log) if line[2] == "1"]
    assert len(stored_by) == len(set(stored_by)), "a key was stored twice"
    with rocksq.AckQueue(path) as queue:
        items = [delivery.data for delivery in queue.get_many(len(queue), block=False)]
    assert last_logged > REPLAY, "the workers put too little to replay anything"
    assert len(items) > last_logged
    assert items == [b"item-%d" % number for number in range(len(items))]
