"""`rocksq pull` SIGKILLed between a delivery and the local push, and between the push and the ack.

A stream holds ITEMS items; `rocksq pull` in a child process takes them into
a local queue and is killed at varied moments once it has acknowledged some.
After each kill the broker's consumer and the local queue tell where the
kill landed:
- "delivered, not pushed": the consumer has more messages delivered
  (acknowledged + unacknowledged) than the local queue holds; the broker
  delivers those again to the next puller, and nothing is lost;
- "pushed, not acknowledged": the local queue holds more items than the
  consumer acknowledged; the next puller gets them again and put_unique,
  keyed by the broker's stable id of each message, does not store them twice.
The test goes on until each kind landed KILLS_PER_WINDOW times, then lets
`rocksq pull --until-idle` finish. The local queue then holds every item
exactly once. (Order is not promised: JetStream gives an unacknowledged
message again only after its consumer's ack wait, so after a crash it may
come after later ones. The test creates the durable consumer with an ack
wait of ACK_WAIT_SECONDS rather than the default 30 s, and the Puller uses
it as it finds it.)
"""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import rocksq
from chaos import record, wait_until
from support.brokers import Broker
from tally import item, tally

KILLS_PER_WINDOW = 5
# The window between the local push and the broker's ack is narrow, and on a
# loaded machine a kill lands in it about one attempt in thirty.
MAX_ATTEMPTS = 300
ITEMS = 100_000
STREAM = "inbound"
CONSUMER = "chaos"
ACK_WAIT_SECONDS = 2
# The finishing run waits until nothing came for this long: more than
# JetStream's ack wait, after which it redelivers what a killed puller left
# unacknowledged; Redis gives those again at once (the pending entries).
IDLE_SECONDS = 3 * ACK_WAIT_SECONDS


async def create_consumer(broker: Broker) -> None:
    import nats
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

    client = await nats.connect(broker.address, allow_reconnect=False)
    try:
        await client.jetstream().add_consumer(STREAM, ConsumerConfig(
            durable_name=CONSUMER, ack_policy=AckPolicy.EXPLICIT, ack_wait=ACK_WAIT_SECONDS,
            deliver_policy=DeliverPolicy.ALL))
    finally:
        await client.close()


def pull_command(queue: Path, broker: Broker, *options: str) -> list[str]:
    return [sys.executable, "-m", "rocksq", "pull", broker.url(STREAM), str(queue),
            "--consumer", CONSUMER, *options]


def local_items(queue: Path) -> list[bytes]:
    """Every item the local queue holds, oldest first (left stored: none is acked)."""
    opened = rocksq.AckQueue(queue, visibility_timeout=0)
    found: list[bytes] = []
    try:
        while opened.ready:
            found += [delivery.data for delivery in opened.get_many(10_000, block=False)]
        return found
    finally:
        opened.close()


def local_count(queue: Path) -> int:
    if not queue.exists():
        return 0
    opened = rocksq.AckQueue(queue)
    try:
        return opened.qsize()
    finally:
        opened.close()


def test_puller_sigkilled_before_and_after_the_local_push_loses_and_duplicates_nothing(
        broker: Broker, tmp_path: Path, record_property: Callable[[str, object], None]) -> None:
    broker.publish(STREAM, [item("a", index) for index in range(ITEMS)])
    if broker.kind == "nats":
        asyncio.run(create_consumer(broker))
    queue = tmp_path / "queue"
    chance = random.Random(15)
    landed = {"delivered, not pushed": 0, "pushed, not acknowledged": 0}
    attempts = 0
    while min(landed.values()) < KILLS_PER_WINDOW:
        attempts += 1
        assert attempts <= MAX_ATTEMPTS, f"the kills landed {landed} in {attempts} attempts"
        acknowledged_before, _ = broker.consumer_counts(STREAM, CONSUMER)
        assert acknowledged_before < ITEMS, f"the stream drained after {landed}: make ITEMS larger"
        child = subprocess.Popen(pull_command(queue, broker), cwd=tmp_path,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_until(lambda: broker.consumer_counts(STREAM, CONSUMER)[0] > acknowledged_before
                       or child.poll() is not None, "the puller acknowledged messages",
                       interval=0.005)
            time.sleep(chance.uniform(0, 0.03))
            assert child.poll() is None, child.communicate()[1]
        finally:
            child.send_signal(signal.SIGKILL)
            child.communicate()
        acknowledged, unacknowledged = broker.consumer_counts(STREAM, CONSUMER)
        stored = local_count(queue)
        if acknowledged + unacknowledged > stored:
            landed["delivered, not pushed"] += 1
        if stored > acknowledged:
            landed["pushed, not acknowledged"] += 1
    finished = subprocess.run(
        pull_command(queue, broker, "--until-idle", str(IDLE_SECONDS)),
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr

    counted = tally({"a": ITEMS}, local_items(queue))
    record(record_property, broker.kind, counted, kills=attempts,
           **{f"kills landed {window}": count for window, count in landed.items()})
    assert counted.lost == 0 and counted.duplicates == 0 and counted.unexpected == 0, counted
