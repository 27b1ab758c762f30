"""Helpers of rocksq.bridge's own tests (a module of its own: conftest is not importable by name)."""

from __future__ import annotations

from typing import Any

from support.brokers import Broker

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
