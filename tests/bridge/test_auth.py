"""Credentials against servers that demand them: NATS user/password, Redis ACL user and password."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from bridge_support import DRAIN_TIMEOUT, STREAM, items
from support.brokers import NatsServer, RedisServer, find_binary, require_module

import rocksq
from rocksq.bridge import Auth, Forwarder

USER, PASSWORD = "forwarder", "correct horse battery staple"


class NatsWithPassword(NatsServer):
    def command(self) -> list[str]:
        return [*super().command(), "--user", USER, "--pass", PASSWORD]


class RedisWithAclUser(RedisServer):
    def command(self) -> list[str]:
        # The default user is off: only the ACL user gets in.
        return [*super().command(), "--user", "default", "off",
                "--user", USER, "on", f">{PASSWORD}", "~*", "&*", "+@all"]


@pytest.fixture(params=["nats", "redis"])
def guarded(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[NatsServer | RedisServer]:
    kind = request.param
    require_module(kind, kind)
    server = (NatsWithPassword(find_binary("nats-server"), tmp_path / kind) if kind == "nats"
              else RedisWithAclUser(find_binary("redis-server"), tmp_path / kind))
    server.start()
    yield server
    server.stop()


def options(server) -> dict[str, object]:
    return {"create_stream": STREAM} if server.kind == "nats" else {}


def test_the_right_credentials_get_in(guarded, tmp_path: Path) -> None:
    with rocksq.AckQueue(tmp_path / "q") as queue:
        queue.put_many(items(10))
        auth = Auth(user=USER, password=PASSWORD)
        with Forwarder(queue, guarded.url(STREAM), auth=auth, **options(guarded)) as forwarder:
            assert forwarder.wait_until_drained(DRAIN_TIMEOUT)
        assert forwarder.stats().forwarded == 10


def test_wrong_credentials_confirm_nothing_and_say_so(guarded, tmp_path: Path) -> None:
    with rocksq.AckQueue(tmp_path / "q") as queue:
        queue.put_many(items(10))
        auth = Auth(user=USER, password="wrong")
        with Forwarder(queue, guarded.url(STREAM), auth=auth, retry_initial=0.01,
                       retry_max=0.05, **options(guarded)) as forwarder:
            assert not forwarder.wait_until_drained(1.0)
            stats = forwarder.stats()
        assert queue.ready == 10
    assert stats.forwarded == 0 and not stats.connected
    assert any(word in str(stats.last_error).lower() for word in ("auth", "wrongpass", "password"))


def test_the_command_reads_user_from_the_environment_and_password_from_a_file(
    guarded, tmp_path: Path
) -> None:
    secret = tmp_path / "password"
    secret.write_text(PASSWORD + "\n")
    with rocksq.AckQueue(tmp_path / "q") as queue:
        queue.put_many(items(10))
    env = {"PATH": "/usr/bin:/bin", f"ROCKSQ_{guarded.kind.upper()}_USER": USER}
    create = ["--create-stream", STREAM] if guarded.kind == "nats" else []
    result = subprocess.run(
        [sys.executable, "-m", "rocksq", "forward", str(tmp_path / "q"), guarded.url(STREAM),
         "--until-empty", "--password-file", str(secret), *create],
        capture_output=True, text=True, timeout=DRAIN_TIMEOUT, env=env, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert PASSWORD not in result.stderr
