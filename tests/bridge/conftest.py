"""Fixtures of rocksq.bridge's own tests: the real brokers of tests/support/brokers.py, local queues."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest
from support.brokers import Broker, broker, nats_server, redis_server  # noqa: F401 - fixtures

import rocksq

STREAM = "orders"
"""The stream every test forwards into (on JetStream, also the subject that binds it)."""

DRAIN_TIMEOUT = 60.0
"""Seconds a test waits for a forwarder or puller that should finish in well under one."""


def forward_options(broker: Broker, **options: Any) -> dict[str, Any]:
    """Forwarder options for STREAM on `broker`: JetStream needs its stream created."""
    if broker.kind == "nats":
        options.setdefault("create_stream", STREAM)
    return options


def items(count: int, source: str = "a") -> list[bytes]:
    """Distinct payloads that name their source and position, to check order per source."""
    return [f"{source}-{index:06d}".encode() for index in range(count)]


@pytest.fixture
def make_queue(tmp_path: Path) -> Iterator[Callable[..., rocksq.AckQueue]]:
    """Opens ack queues under tmp_path by name; closes them all after the test."""
    opened: list[rocksq.AckQueue] = []

    def make(name: str = "local", **options: Any) -> rocksq.AckQueue:
        queue = rocksq.AckQueue(tmp_path / name, **options)
        opened.append(queue)
        return queue

    yield make
    for queue in opened:
        queue.close()
