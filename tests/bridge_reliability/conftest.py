"""The broker fixtures (tests/support/brokers.py) for the bridge's reliability tests."""

from support.brokers import broker, nats_server, redis_server  # noqa: F401 - fixtures
