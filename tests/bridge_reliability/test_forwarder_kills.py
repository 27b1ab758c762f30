"""`rocksq forward` SIGKILLed mid-stream, again and again, and restarted: nothing lost, nothing twice.

A queue holding ITEMS items is forwarded by `rocksq forward` in a child
process, killed once the stream has grown since its start; whenever fewer
than ITEMS are left, ITEMS more are put behind them, so that a fast machine
never drains the queue before the last kill (a restarted forwarder facing
only items already published, which the broker drops as duplicates, would
never grow the stream). A kill counts
when it left unconfirmed work: the stream then holds items that the local
queue had not acked (they were published, and their confirmation or the
local ack was lost). The test goes on until KILLS such kills, then lets
`rocksq forward --until-empty` finish. Every item is in the stream once, in
order: the restarted forwarder resends what was unacked, and the broker
recognises each resend by its dedup id ("{queue_id}-{item id}"; inside
JetStream's duplicate window, two minutes by default, and the Redis
script's window of the latest dedup ids).
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import rocksq
from chaos import assert_clean, fill, record, wait_until
from support.brokers import Broker
from tally import tally

KILLS = 20
ITEMS = 40_000
STREAM = "chaos"
# A kill with nothing unconfirmed proves nothing; these may happen, but not
# so often that the run gets long.
MAX_ATTEMPTS = 3 * KILLS


def forward_command(queue: Path, broker: Broker, *options: str) -> list[str]:
    create = ["--create-stream", STREAM] if broker.kind == "nats" else []
    return [sys.executable, "-m", "rocksq", "forward", str(queue), broker.url(STREAM), *create,
            *options]


def items_left(queue: Path) -> int:
    opened = rocksq.AckQueue(queue)
    try:
        return opened.qsize()
    finally:
        opened.close()


def test_forwarder_sigkilled_mid_stream_20_times_loses_and_duplicates_nothing(
        broker: Broker, tmp_path: Path, record_property: Callable[[str, object], None]) -> None:
    queue = tmp_path / "queue"
    fill(queue, "a", ITEMS)
    pushed = ITEMS
    chance = random.Random(15)  # The kills' timing varies, the same way every run.
    kills = attempts = 0
    while kills < KILLS:
        attempts += 1
        assert attempts <= MAX_ATTEMPTS, f"only {kills} of {attempts} kills left work unconfirmed"
        if items_left(queue) < ITEMS:
            fill(queue, "a", ITEMS, first=pushed)
            pushed += ITEMS
        stored = broker.length(STREAM)
        child = subprocess.Popen(forward_command(queue, broker), cwd=tmp_path,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            # Mid-stream: the forwarder has confirmed items since it started.
            wait_until(lambda: broker.length(STREAM) > stored or child.poll() is not None,
                       "the stream grew", interval=0.005)
            time.sleep(chance.uniform(0, 0.05))
            assert child.poll() is None, child.communicate()[1]
        finally:
            child.send_signal(signal.SIGKILL)
            child.communicate()
        in_stream = broker.length(STREAM)
        acked = ITEMS - items_left(queue)
        if in_stream > acked:
            kills += 1
    finished = subprocess.run(forward_command(queue, broker, "--until-empty"), cwd=tmp_path,
                              capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    assert items_left(queue) == 0

    counted = tally({"a": pushed}, broker.payloads(STREAM))
    record(record_property, broker.kind, counted, kills=kills,
           **{"kills with publishes unconfirmed": kills, "kills in all": attempts})
    assert_clean(counted)
