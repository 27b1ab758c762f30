"""Real NATS JetStream and Redis servers for the bridge tests, on loopback only.

Each server is Debian's binary (tests/support/install_brokers.sh unpacks them
into build/brokers/bin; one on PATH is used otherwise), started by a fixture
on a free port of 127.0.0.1 with its store in the test's tmp_path, and
stopped after the test (SIGTERM, then SIGKILL). The chaos tests SIGKILL a
server and start it again on the same port and store with `kill()` and
`start()`.

The settings are the ones docs/forwarding.rst asks of a production broker:
- nats-server runs JetStream (`-js`) with file storage in its store
  directory, so a confirmed publish survives the server's SIGKILL;
- redis-server appends every write to its append-only file and fsyncs it
  before replying (`appendonly yes`, `appendfsync always`): a SIGKILL then
  loses no confirmed write. No snapshot is ever written (`save ""`), and
  nothing is written outside the store directory.

A test that needs a server or client library the machine lacks is skipped,
except where ROCKSQ_REQUIRE_BROKERS=1 (.ci/run sets it): there it fails.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import pytest

from support import REPO_ROOT

LOOPBACK = "127.0.0.1"
INSTALLED_BINARIES = REPO_ROOT / "build" / "brokers" / "bin"
REQUIRE_VARIABLE = "ROCKSQ_REQUIRE_BROKERS"
# How long a server may take to start (JetStream recovering a store of a
# gigabyte, Redis replaying its append-only file) or to stop on SIGTERM.
START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 10.0
# The field of a Redis stream entry that holds the payload (rocksq.bridge's).
PAYLOAD_FIELD = b"data"


def unavailable(reason: str) -> None:
    """Skips the calling test, or fails it where the brokers are required (CI)."""
    if os.environ.get(REQUIRE_VARIABLE) == "1":
        pytest.fail(f"{reason} ({REQUIRE_VARIABLE}=1: run tests/support/install_brokers.sh "
                    "and install rocksq[nats,redis])", pytrace=False)
    pytest.skip(reason)


def require_module(name: str, extra: str) -> ModuleType:
    """Imports a broker's client library, or skips/fails the test naming the extra that brings it."""
    try:
        return __import__(name)
    except ImportError:
        unavailable(f"the Python module {name} is missing (pip install rocksq[{extra}])")
        raise AssertionError("unreachable")  # unavailable() raised


def find_binary(name: str) -> str:
    """The path of a server binary: the unpacked one first, then PATH; skips/fails when absent."""
    unpacked = INSTALLED_BINARIES / name
    if unpacked.exists():
        return str(unpacked)
    on_path = shutil.which(name)
    if on_path is None:
        unavailable(f"{name} is not installed (tests/support/install_brokers.sh unpacks it)")
    assert on_path is not None
    return on_path


def free_loopback_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on now (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


class Broker:
    """One broker server: its port and store outlive the process, so it can be killed and restarted.

    `url(name)` is the URL a Forwarder or Puller takes for a subject (NATS) or
    stream (Redis) on this server. The server's output goes to log files in
    the store directory's parent, one per start, which a failure shows.
    """

    kind: str  # the URL scheme: "nats" or "redis"
    # A line the server logs once it accepts clients, its store recovered.
    ready_line: str

    def __init__(self, binary: str, directory: Path) -> None:
        self.binary = binary
        self.directory = directory
        self.store = directory / "store"
        self.store.mkdir(parents=True, exist_ok=True)
        self.port = free_loopback_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.log_path = directory / "server.log"

    def command(self) -> list[str]:
        raise NotImplementedError

    def payloads(self, stream: str, keep: int | None = None) -> list[bytes]:
        """Every message's payload in the stream (a JetStream stream, a Redis stream key), in stream order.

        With `keep`, only each payload's first `keep` bytes (a stream of a gigabyte stays small).
        """
        raise NotImplementedError

    def publish(self, stream: str, payloads: list[bytes]) -> None:
        """Appends `payloads` to the stream, creating it (JetStream: bound to the subject of its name)."""
        raise NotImplementedError

    def length(self, stream: str) -> int:
        """How many messages the stream holds; 0 if it does not exist."""
        raise NotImplementedError

    def consumer_counts(self, stream: str, consumer: str) -> tuple[int, int]:
        """(acknowledged, unacknowledged): messages of the stream the consumer (JetStream durable,
        Redis group) acknowledged, and those it was given and has not acknowledged."""
        raise NotImplementedError

    def unacknowledged(self, stream: str, consumer: str) -> int:
        """How many messages the consumer was given and has not acknowledged."""
        return self.consumer_counts(stream, consumer)[1]

    def url(self, name: str) -> str:
        return f"{self.kind}://{LOOPBACK}:{self.port}/{name}"

    @property
    def address(self) -> str:
        return f"{self.kind}://{LOOPBACK}:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        """Starts the server on its port and store and waits until it accepts clients."""
        assert not self.running, "the server is already running"
        self.starts += 1
        self.log_path = self.directory / f"server-{self.starts}.log"
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=subprocess.STDOUT, cwd=self.directory)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while self.ready_line not in self.log_path.read_text(errors="replace"):
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.kind} server exited with {self.process.returncode}:\n"
                                   f"{self.log_path.read_text(errors='replace')}")
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"{self.kind} server not ready after {START_TIMEOUT_SECONDS} s:\n"
                                   f"{self.log_path.read_text(errors='replace')}")
            time.sleep(0.02)

    def kill(self) -> None:
        """SIGKILLs the server (nothing flushed, nothing closed) and reaps it."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def restart(self) -> None:
        """SIGKILLs the server and starts it again on the same port and store."""
        self.kill()
        self.start()

    def stop(self) -> None:
        """Stops the server: SIGTERM, then SIGKILL if it has not exited within STOP_TIMEOUT_SECONDS."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self.kill()


class NatsServer(Broker):
    """nats-server with JetStream, its streams stored as files in the store directory."""

    kind = "nats"
    ready_line = "Server is ready"

    def command(self) -> list[str]:
        return [self.binary, "--jetstream", "--store_dir", str(self.store),
                "--addr", LOOPBACK, "--port", str(self.port)]


    def payloads(self, stream: str, keep: int | None = None) -> list[bytes]:
        return asyncio.run(self._payloads(stream, keep))

    async def _payloads(self, stream: str, keep: int | None) -> list[bytes]:
        import nats
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

        client = await nats.connect(self.address, allow_reconnect=False)
        try:
            jetstream = client.jetstream()
            info = await jetstream.stream_info(stream)
            subject = info.config.subjects[0] if info.config.subjects else stream
            reader = await jetstream.pull_subscribe(
                subject, stream=stream,
                config=ConsumerConfig(ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL))
            found: list[bytes] = []
            while len(found) < info.state.messages:
                found += [message.data[:keep] for message in await reader.fetch(batch=256, timeout=10)]
            await reader.unsubscribe()
            return found
        finally:
            await client.close()

    def publish(self, stream: str, payloads: list[bytes]) -> None:
        asyncio.run(self._publish(stream, payloads))

    async def _publish(self, stream: str, payloads: list[bytes]) -> None:
        import nats

        client = await nats.connect(self.address, allow_reconnect=False)
        try:
            jetstream = client.jetstream()
            await jetstream.add_stream(name=stream, subjects=[stream])
            futures = [await jetstream.publish_async(stream, payload) for payload in payloads]
            await asyncio.gather(*futures)
        finally:
            await client.close()

    def length(self, stream: str) -> int:
        return asyncio.run(self._length(stream))

    async def _length(self, stream: str) -> int:
        import nats
        from nats.js.errors import NotFoundError

        client = await nats.connect(self.address, allow_reconnect=False)
        try:
            return int((await client.jetstream().stream_info(stream)).state.messages)
        except NotFoundError:
            return 0
        finally:
            await client.close()

    def consumer_counts(self, stream: str, consumer: str) -> tuple[int, int]:
        return asyncio.run(self._consumer_counts(stream, consumer))

    async def _consumer_counts(self, stream: str, consumer: str) -> tuple[int, int]:
        import nats
        from nats.js.errors import NotFoundError

        client = await nats.connect(self.address, allow_reconnect=False)
        try:
            jetstream = client.jetstream()
            messages = (await jetstream.stream_info(stream)).state.messages
            info = await jetstream.consumer_info(stream, consumer)
        except NotFoundError:
            return 0, 0
        finally:
            await client.close()
        # Messages not yet delivered (num_pending) and delivered, not acknowledged.
        unacknowledged = int(info.num_ack_pending or 0)
        return int(messages) - int(info.num_pending or 0) - unacknowledged, unacknowledged


class RedisServer(Broker):
    """redis-server fsyncing its append-only file before every reply, with no snapshots."""

    kind = "redis"
    ready_line = "Ready to accept connections"

    def __init__(self, binary: str, directory: Path, appendfsync: str = "always") -> None:
        super().__init__(binary, directory)
        self.appendfsync = appendfsync

    def command(self) -> list[str]:
        return [self.binary, "--bind", LOOPBACK, "--port", str(self.port),
                "--dir", str(self.store), "--appendonly", "yes",
                "--appendfsync", self.appendfsync, "--save", "", "--daemonize", "no",
                "--protected-mode", "yes", "--logfile", ""]

    def client(self) -> object:
        import redis

        return redis.Redis(host=LOOPBACK, port=self.port)

    def payloads(self, stream: str, keep: int | None = None) -> list[bytes]:
        client = self.client()
        found: list[bytes] = []
        after = "-"
        while entries := client.xrange(stream, min=after, count=100):  # type: ignore[attr-defined]
            found += [fields[PAYLOAD_FIELD][:keep] for _, fields in entries]
            after = "(" + entries[-1][0].decode()
        client.close()  # type: ignore[attr-defined]
        return found

    def publish(self, stream: str, payloads: list[bytes]) -> None:
        client = self.client()
        for start in range(0, len(payloads), 1000):
            batch = client.pipeline(transaction=False)  # type: ignore[attr-defined]
            for payload in payloads[start:start + 1000]:
                batch.xadd(stream, {PAYLOAD_FIELD: payload})
            batch.execute()
        client.close()  # type: ignore[attr-defined]

    def length(self, stream: str) -> int:
        client = self.client()
        length = int(client.xlen(stream))  # type: ignore[attr-defined]
        client.close()  # type: ignore[attr-defined]
        return length

    def consumer_counts(self, stream: str, consumer: str) -> tuple[int, int]:
        client = self.client()
        groups = client.xinfo_groups(stream) if client.exists(stream) else []  # type: ignore[attr-defined]
        client.close()  # type: ignore[attr-defined]
        for group in groups:
            if group["name"].decode() == consumer:
                # entries-read counts each entry once, however often it was delivered (Redis 7).
                unacknowledged = int(group["pending"])
                return int(group["entries-read"] or 0) - unacknowledged, unacknowledged
        return 0, 0


@contextmanager
def running(kind: str, directory: Path, appendfsync: str = "always") -> Iterator[Broker]:
    """A started server of `kind` ("nats" or "redis") keeping its files in `directory`; stopped after.

    `appendfsync` is Redis's: "always" for tests that kill it, "everysec" where
    it is only stopped and the test writes more than a disk fsyncs quickly.
    """
    require_module(kind, kind)
    broker: Broker = (NatsServer(find_binary("nats-server"), directory) if kind == "nats"
                      else RedisServer(find_binary("redis-server"), directory, appendfsync))
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[Broker]:
    """A running nats-server -js on a free loopback port, its store in tmp_path; nats-py importable."""
    with running("nats", tmp_path / "nats") as server:
        yield server


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[Broker]:
    """A running redis-server (appendonly yes, appendfsync always) on a free loopback port; redis-py importable."""
    with running("redis", tmp_path / "redis") as server:
        yield server


@pytest.fixture(params=["nats", "redis"])
def broker(request: pytest.FixtureRequest) -> Broker:
    """Each broker in turn: the test runs once against NATS JetStream and once against Redis."""
    return request.getfixturevalue(f"{request.param}_server")
