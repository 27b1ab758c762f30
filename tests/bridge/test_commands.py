"""rocksq forward and rocksq pull: run to a condition or a signal, stop cleanly, say what is wrong."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from bridge_support import DRAIN_TIMEOUT, STREAM, items
from support.brokers import Broker

import rocksq


def rocksq_command(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # Run outside the checkout, whose rocksq/ (without _core) would shadow the installed one.
    return subprocess.run(
        [sys.executable, "-m", "rocksq", *args], capture_output=True, text=True,
        timeout=DRAIN_TIMEOUT, cwd=cwd,
    )


def create_stream_option(broker: Broker) -> list[str]:
    return ["--create-stream", STREAM] if broker.kind == "nats" else []


def test_forward_until_empty_then_pull_until_idle(broker: Broker, tmp_path: Path) -> None:
    with rocksq.AckQueue(tmp_path / "out") as queue:
        queue.put_many(items(500))
    forwarded = rocksq_command(
        "forward", str(tmp_path / "out"), broker.url(STREAM), "--until-empty",
        "--batch-size", "50", *create_stream_option(broker), cwd=tmp_path,
    )
    assert forwarded.returncode == 0, forwarded.stderr
    assert "forwarded 500" in forwarded.stderr
    assert broker.payloads(STREAM) == items(500)
    pulled = rocksq_command("pull", broker.url(STREAM), str(tmp_path / "in"), "--until-idle", "0.5", cwd=tmp_path
    )
    assert pulled.returncode == 0, pulled.stderr
    with rocksq.AckQueue(tmp_path / "in") as queue:
        assert [d.data for d in queue.get_many(501, block=False)] == items(500)


def test_forward_refuses_a_queue_another_process_holds_in_one_line(
    redis_server: Broker, tmp_path: Path
) -> None:
    # Without attach: another process's open is refused (with it, forward attaches).
    with rocksq.AckQueue(tmp_path / "held", attach=False):
        result = rocksq_command(
            "forward", str(tmp_path / "held"), redis_server.url(STREAM), "--until-empty",
            cwd=tmp_path,
        )
    assert result.returncode == 3
    assert result.stderr.count("\n") == 1 and "Queue already open" in result.stderr


def test_sigterm_stops_forward_cleanly_with_nothing_held(redis_server: Broker, tmp_path: Path) -> None:
    with rocksq.AckQueue(tmp_path / "out") as queue:
        queue.put_many(items(200_000))
    process = subprocess.Popen(
        [sys.executable, "-m", "rocksq", "forward", str(tmp_path / "out"), redis_server.url(STREAM)],
        stderr=subprocess.PIPE, text=True, cwd=tmp_path,
    )
    deadline = time.monotonic() + DRAIN_TIMEOUT
    while not redis_server.payloads(STREAM) and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=DRAIN_TIMEOUT)
    assert process.returncode == 0, stderr
    arrived = redis_server.payloads(STREAM)
    with rocksq.AckQueue(tmp_path / "out") as queue:
        # Every confirmed item was acked; everything else is still there.
        assert queue.ready == 200_000 - len(arrived) > 0
        assert queue.get(block=False).data == items(200_000)[len(arrived)]


def test_a_password_on_the_command_line_is_refused(tmp_path: Path) -> None:
    result = rocksq_command("forward", str(tmp_path / "q"), "redis://u:pw@127.0.0.1/s", cwd=tmp_path)
    assert result.returncode == 2
    assert "ROCKSQ_REDIS_PASSWORD" in result.stderr and "pw@" not in result.stderr

