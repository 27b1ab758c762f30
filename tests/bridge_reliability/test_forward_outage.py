"""A broker away for a minute while a gigabyte is pushed: all of it arrives, and the forwarder stays small.

The producer and the Forwarder share one process (outage_worker.py; a queue
has one process at a time). After a warm-up the broker is stopped for
OUTAGE_SECONDS, at least, while the producer pushes OUTAGE_BYTES; the local
queue buffers all of it. Then the broker comes back: every item arrives, once,
in order. Memory, as the process's RSS:
- while the broker is away the Forwarder holds nothing, and the process grows
  only by what the producer's writes need: RocksDB's write buffers, at most
  WRITE_BUFFERS_BYTES (3 of 64 MiB, cpp/src/storage.cc's ItemFamilyOptions,
  each with its last arena block),
  whatever the backlog; at most RSS_GROWTH_LIMIT above that;
- while it catches up on the gigabyte, the Forwarder holds only the batches
  in flight: the RSS grows by at most RSS_GROWTH_LIMIT above what it was when
  the broker came back.

Redis runs with appendfsync everysec here: the test stops it (SIGTERM, which
writes everything out) rather than killing it, and an fsync per reply would
make a gigabyte's catch-up take minutes on a slow disk.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest

from chaos import assert_clean, record
from support.brokers import running
from tally import tally

OUTAGE_SECONDS = 60.0
ITEM_SIZE = 64 * 1024
OUTAGE_BYTES = 1 << 30
WARMUP_BYTES = 256 << 20
RSS_GROWTH_LIMIT = 50 << 20
# Each of the 3 write buffers may pass its 64 MiB by the arena block it is
# filling when RocksDB turns it immutable: an eighth of its size.
WRITE_BUFFERS_BYTES = 3 * ((64 << 20) + (64 << 20) // 8)
STREAM = "outage"
WORKER = Path(__file__).with_name("outage_worker.py")


@pytest.mark.parametrize("kind", ["nats", "redis"])
def test_broker_down_a_minute_while_a_gigabyte_is_pushed_then_all_arrives_in_bounded_memory(
        kind: str, tmp_path: Path, record_property: Callable[[str, object], None]) -> None:
    warmup_items, outage_items = WARMUP_BYTES // ITEM_SIZE, OUTAGE_BYTES // ITEM_SIZE
    with running(kind, tmp_path / kind, appendfsync="everysec") as broker:
        with subprocess.Popen(
                [sys.executable, str(WORKER), str(tmp_path / "queue"), broker.url(STREAM),
                 STREAM if kind == "nats" else "-", str(warmup_items), str(outage_items),
                 str(ITEM_SIZE)],
                cwd=tmp_path, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as worker:
            assert worker.stdin is not None and worker.stdout is not None

            def tell(line: str) -> None:
                worker.stdin.write(line + "\n")
                worker.stdin.flush()

            def answer() -> dict:
                line = worker.stdout.readline()
                assert line, f"the worker exited with {worker.wait()}"
                return json.loads(line)

            try:
                baseline = answer()["baseline_rss"]
                broker.stop()
                down_since = time.monotonic()
                tell("down")
                pushed = answer()
                time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - down_since)))
                outage = time.monotonic() - down_since
                broker.start()
                tell("back")
                final = answer()
                assert worker.wait(timeout=60) == 0
            finally:
                if worker.poll() is None:
                    worker.kill()
        counted = tally({"a": warmup_items + outage_items}, broker.payloads(STREAM, keep=32))

    growth_while_down = pushed["peak_rss_while_down"] - baseline
    growth_catching_up = final["peak_rss_catching_up"] - final["rss_when_back"]
    record(record_property, kind, counted, **{
        "outage (s)": round(outage), "pushed while down (MiB)": pushed["pushed"] * ITEM_SIZE >> 20,
        "RSS growth while down (MB)": round(growth_while_down / 1e6, 1),
        "RSS growth catching up (MB)": round(growth_catching_up / 1e6, 1),
        "retries": final["retries"]})
    assert pushed["forwarded_while_down"] == 0 and final["retries"] > 0, (pushed, final)
    assert outage >= OUTAGE_SECONDS and pushed["pushed"] * ITEM_SIZE >= OUTAGE_BYTES
    assert final["drained"] and final["left"] == 0, final
    assert_clean(counted)
    assert growth_catching_up <= RSS_GROWTH_LIMIT, (baseline, pushed, final)
    assert growth_while_down <= WRITE_BUFFERS_BYTES + RSS_GROWTH_LIMIT, (baseline, pushed, final)
