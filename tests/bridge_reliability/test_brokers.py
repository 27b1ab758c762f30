"""The test brokers keep what they confirmed through a SIGKILL, the guarantee the bridge's tests rest on.

A nats-server without file storage or a redis-server that only snapshots
would lose confirmed writes when killed, and the bridge's chaos tests would
then blame the forwarder for the broker's settings (see docs/forwarding.rst).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from support.brokers import LOOPBACK, Broker

ITEMS = 200


async def publish_to_jetstream(broker: Broker, payloads: list[bytes]) -> None:
    import nats

    client = await nats.connect(broker.address, allow_reconnect=False)
    try:
        jetstream = client.jetstream()
        await jetstream.add_stream(name="survivors", subjects=["survivors"])
        for payload in payloads:
            await jetstream.publish("survivors", payload)
    finally:
        await client.close()


async def read_jetstream(broker: Broker) -> list[bytes]:
    import nats

    client = await nats.connect(broker.address, allow_reconnect=False)
    try:
        jetstream = client.jetstream()
        info = await jetstream.stream_info("survivors")
        return [(await jetstream.get_msg("survivors", sequence)).data or b""
                for sequence in range(1, info.state.last_seq + 1)]
    finally:
        await client.close()


def test_jetstream_keeps_confirmed_publishes_through_a_sigkill(nats_server: Broker) -> None:
    payloads = [f"item {index}".encode() for index in range(ITEMS)]
    asyncio.run(publish_to_jetstream(nats_server, payloads))
    nats_server.restart()
    assert asyncio.run(read_jetstream(nats_server)) == payloads


def test_redis_keeps_confirmed_stream_entries_through_a_sigkill(redis_server: Broker) -> None:
    import redis

    payloads = [f"item {index}".encode() for index in range(ITEMS)]
    client = redis.Redis(host=LOOPBACK, port=redis_server.port)
    for payload in payloads:
        client.xadd("survivors", {"payload": payload})
    client.close()
    redis_server.restart()
    client = redis.Redis(host=LOOPBACK, port=redis_server.port)
    assert [fields[b"payload"] for _, fields in client.xrange("survivors")] == payloads
    client.close()


def test_restarted_broker_listens_on_the_same_port_only_on_loopback(broker: Broker) -> None:
    port = broker.port
    broker.restart()
    assert broker.port == port and broker.running
    listening = Path("/proc/net/tcp").read_text().splitlines()[1:]
    local_addresses = {line.split()[1] for line in listening if line.split()[3] == "0A"}
    assert f"0100007F:{port:04X}" in local_addresses
    assert f"00000000:{port:04X}" not in local_addresses
