"""TLS: tls:// (NATS) and rediss:// (Redis) against servers with a certificate from a CA made here."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from bridge_support import DRAIN_TIMEOUT, STREAM, items
from support.brokers import LOOPBACK, NatsServer, RedisServer, find_binary, require_module

import rocksq
from rocksq.bridge import Auth, Forwarder


def make_certificates(directory: Path) -> dict[str, str]:
    """A CA, and a certificate it signed for 127.0.0.1, as PEM files."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    directory.mkdir(parents=True)

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
            "-days", "2", "-subj", "/CN=rocksq test CA")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
            "-subj", f"/CN={LOOPBACK}")
    (directory / "san.cnf").write_text(f"subjectAltName=IP:{LOOPBACK}\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "san.cnf")
    return {name: str(directory / f"{name}") for name in ("ca.pem", "server.pem", "server.key")}


class NatsWithTls(NatsServer):
    files: dict[str, str]

    def command(self) -> list[str]:
        return [*super().command(), "--tls", "--tlscert", self.files["server.pem"],
                "--tlskey", self.files["server.key"]]

    def tls_url(self) -> str:
        return f"tls://{LOOPBACK}:{self.port}/{STREAM}"


class RedisWithTls(RedisServer):
    files: dict[str, str]

    def command(self) -> list[str]:
        command = super().command()
        at = command.index("--port")
        command[at : at + 2] = ["--port", "0", "--tls-port", str(self.port)]
        return [*command, "--tls-cert-file", self.files["server.pem"],
                "--tls-key-file", self.files["server.key"],
                "--tls-ca-cert-file", self.files["ca.pem"], "--tls-auth-clients", "no"]

    def tls_url(self) -> str:
        return f"rediss://{LOOPBACK}:{self.port}/{STREAM}"


@pytest.fixture(params=["nats", "redis"])
def tls_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[NatsWithTls | RedisWithTls]:
    kind = request.param
    require_module(kind, kind)
    server = (NatsWithTls(find_binary("nats-server"), tmp_path / kind) if kind == "nats"
              else RedisWithTls(find_binary("redis-server"), tmp_path / kind))
    server.files = make_certificates(tmp_path / "certificates")
    server.start()
    yield server
    server.stop()


def forward(server, auth: Auth, queue: rocksq.AckQueue) -> Forwarder:
    options = {"create_stream": STREAM} if server.kind == "nats" else {}
    return Forwarder(queue, server.tls_url(), auth=auth, retry_initial=0.01, retry_max=0.05,
                     **options)


def test_items_go_over_tls_to_a_server_the_ca_vouches_for(tls_server, tmp_path: Path) -> None:
    with rocksq.AckQueue(tmp_path / "q") as queue:
        queue.put_many(items(20))
        with forward(tls_server, Auth(tls_ca=tls_server.files["ca.pem"]), queue) as forwarder:
            assert forwarder.wait_until_drained(DRAIN_TIMEOUT), forwarder.stats()


def test_a_server_no_trusted_ca_vouches_for_gets_nothing(tls_server, tmp_path: Path) -> None:
    with rocksq.AckQueue(tmp_path / "q") as queue:
        queue.put_many(items(20))
        with forward(tls_server, Auth(), queue) as forwarder:
            assert forwarder.wait_for(lambda: forwarder.stats().retries >= 2, DRAIN_TIMEOUT)
            stats = forwarder.stats()
        assert queue.ready == 20
    assert stats.forwarded == 0 and "certificate" in str(stats.last_error).lower()
