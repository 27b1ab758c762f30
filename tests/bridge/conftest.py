"""Fixtures of rocksq.bridge's own tests: the real brokers of tests/support/brokers.py, local queues."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest
from support.brokers import broker, nats_server, redis_server  # noqa: F401 - fixtures

import rocksq


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
