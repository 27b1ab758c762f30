"""A broker SIGKILLed and restarted mid-stream, again and again, loses nothing the Forwarders held.

Two local queues, each fed by a producer thread, forward into one stream
while the broker is killed KILLS times, each time while publishes are
unconfirmed (asserted from the Forwarders' stats just before the kill) and
each time only after both Forwarders had made progress since the last
restart. Then every item is in the stream exactly once, each queue's items
in their order: the Forwarders resent what the kill left unconfirmed, and
the broker's deduplication (JetStream's Nats-Msg-Id, the Redis script's
dedup hashes) dropped the resends of what it had stored.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Callable

import rocksq
from chaos import Producer, assert_clean, record, wait_until
from rocksq.bridge import Forwarder
from support.brokers import Broker
from tally import tally

KILLS = 20
SOURCES = ("a", "b")
# Items a second each producer pushes: enough that a publish is almost always
# in flight, few enough that the test's stream stays small.
RATE = 2_000
STREAM = "chaos"
# Short backoff: the broker is back within a second, and 20 restarts must fit
# in the test's time.
RETRY = {"retry_initial": 0.02, "retry_max": 0.25}


def test_broker_sigkilled_mid_stream_20_times_loses_and_duplicates_nothing(
        broker: Broker, tmp_path: Path, record_property: Callable[[str, object], None]) -> None:
    queues = {source: rocksq.AckQueue(tmp_path / f"queue-{source}") for source in SOURCES}
    forwarders = {
        source: Forwarder(queue, broker.url(STREAM),
                          create_stream=STREAM if broker.kind == "nats" else None, **RETRY)
        for source, queue in queues.items()}
    for forwarder in forwarders.values():
        forwarder.start()
    producers = {source: Producer(queue, source, RATE) for source, queue in queues.items()}
    unconfirmed_at_kills = []
    try:
        for _ in range(KILLS):
            before = {source: forwarder.stats().forwarded for source, forwarder in forwarders.items()}
            wait_until(lambda: all(forwarder.stats().forwarded > before[source]
                                   for source, forwarder in forwarders.items()),
                       "both forwarders confirmed items since the broker's restart")
            wait_until(lambda: any(forwarder.stats().in_flight for forwarder in forwarders.values()),
                       "a publish in flight")
            in_flight = sum(forwarder.stats().in_flight for forwarder in forwarders.values())
            broker.kill()
            unconfirmed_at_kills.append(in_flight)
            time.sleep(0.05)  # Down long enough for the Forwarders to notice.
            broker.start()
        pushed = {source: producer.stop() for source, producer in producers.items()}
        for forwarder in forwarders.values():
            assert forwarder.wait_until_drained(timeout=120), forwarder.stats()
        stats = {source: forwarder.stats() for source, forwarder in forwarders.items()}
    finally:
        for producer in producers.values():
            producer.stop()
        for forwarder in forwarders.values():
            forwarder.stop(timeout=30)
        for queue in queues.values():
            queue.close()

    counted = tally(pushed, broker.payloads(STREAM))
    record(record_property, broker.kind, counted, kills=len(unconfirmed_at_kills),
           **{"kills with publishes unconfirmed": sum(1 for n in unconfirmed_at_kills if n > 0),
              "resends the broker had": sum(s.duplicates for s in stats.values()),
              "retries": sum(s.retries for s in stats.values())})
    assert len(unconfirmed_at_kills) == KILLS and min(unconfirmed_at_kills) > 0, unconfirmed_at_kills
    assert all(s.retries > 0 for s in stats.values()), stats  # The kills reached both.
    if broker.kind == "redis" and counted.duplicates and replayed_part_of_a_script(broker):
        # Redis's own failure, documented in docs/forwarding.rst: a kill in the
        # middle of appending a script's effects to the AOF left a transaction
        # cut short, and a later start replayed part of it (an XADD without
        # its dedup entry). The script adds the entry before it records the
        # dedup id, so this stores an item twice and never loses one.
        counted = dataclasses.replace(counted, duplicates=0)
    assert_clean(counted)


def replayed_part_of_a_script(broker: Broker) -> bool:
    """Whether a start of this Redis loaded an AOF transaction cut short (it logs so)."""
    return any("MULTI calls can not be nested" in log.read_text(errors="replace")
               for log in broker.directory.glob("server-*.log"))
