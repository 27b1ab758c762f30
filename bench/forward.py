"""Forwarding from a local AckQueue against publishing directly, side by side in one run.

    python3 bench/forward.py                    # full: 3 rounds, both brokers, 100 B and 64 KiB
    python3 bench/forward.py --quick            # smoke: 1 round, fewer items, a short sweep
    python3 bench/forward.py --report docs/generated/forwarding-bench.rst   # also the guide's table

For each broker (NATS JetStream, Redis Streams; Debian's servers, started
here on loopback by tests/support/brokers.py with the settings the tests use:
JetStream file storage, Redis appendonly with appendfsync always) and each
item size, it measures:
- direct: the same payloads published with the same client library (nats-py,
  redis-py's asyncio client), no queue involved, at each setting of a sweep:
  NATS, `js.publish_async` with W publishes awaiting their acknowledgement
  at once; Redis, pipelines of B XADDs with P pipelines in flight at once
  (each on its own connection). The best setting's median is "best direct";
- forward: rocksq.bridge.Forwarder draining an AckQueue that already holds
  the items into the broker, from start() until wait_until_drained()
  returns, i.e. until the broker confirmed every item and each was acked
  locally (the `rocksq forward` path), with the Forwarder's defaults.
Every run writes into a fresh stream. Rates are items and MB (10^6 bytes)
per second; each figure is the median over the rounds; the ratio is
forward / best direct (issue 15's target: at least 0.7).

Writes <out>/results.json (every run) and results.md (the table); exits 1 if
a run failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))  # support.brokers: the tests' broker servers

from support.brokers import (  # noqa: E402
    LOOPBACK, PAYLOAD_FIELD, Broker, running)

SMALL, LARGE = 100, 64 * 1024


@dataclass(frozen=True)
class Sizes:
    """How many items of each size a run moves, and the sweep's settings."""

    items: dict[int, int]
    nats_windows: tuple[int, ...]
    redis_pipelines: tuple[int, ...]
    redis_parallel: tuple[int, ...]


FULL = Sizes(items={SMALL: 10_000, LARGE: 500}, nats_windows=(1, 16, 256, 4096),
             redis_pipelines=(1, 16, 256, 1024), redis_parallel=(1, 4))
QUICK = Sizes(items={SMALL: 2_000, LARGE: 100}, nats_windows=(1, 256),
              redis_pipelines=(1, 256), redis_parallel=(1,))


def payloads(size: int, count: int) -> list[bytes]:
    """`count` distinct payloads of `size` bytes (the index, padded), so nothing compresses them away."""
    return [index.to_bytes(8, "big") * (size // 8) + b"x" * (size % 8) for index in range(count)]


# --- Direct publishing ---------------------------------------------------------------

async def nats_publish(broker: Broker, stream: str, items: list[bytes], window: int) -> float:
    """Seconds to publish `items` to a new JetStream stream with `window` acks outstanding."""
    import nats

    client = await nats.connect(broker.address)
    try:
        jetstream = client.jetstream(publish_async_max_pending=window)
        await jetstream.add_stream(name=stream, subjects=[stream])
        started = time.perf_counter()
        futures = [await jetstream.publish_async(stream, item) for item in items]
        acks = await asyncio.gather(*futures)
        elapsed = time.perf_counter() - started
        assert len({ack.seq for ack in acks}) == len(items)
        await jetstream.delete_stream(stream)
        return elapsed
    finally:
        await client.close()


async def redis_publish(broker: Broker, stream: str, items: list[bytes], pipeline: int,
                        parallel: int) -> float:
    """Seconds to XADD `items` in pipelines of `pipeline`, `parallel` pipelines in flight."""
    import redis.asyncio

    client = redis.asyncio.Redis(host=LOOPBACK, port=broker.port, max_connections=parallel)
    chunks = iter([items[start:start + pipeline] for start in range(0, len(items), pipeline)])

    async def send() -> None:
        for chunk in chunks:  # Shared: each worker takes the next chunk.
            batch = client.pipeline(transaction=False)
            for item in chunk:
                batch.xadd(stream, {PAYLOAD_FIELD: item})
            await batch.execute()

    try:
        started = time.perf_counter()
        await asyncio.gather(*(send() for _ in range(parallel)))
        elapsed = time.perf_counter() - started
        assert await client.xlen(stream) == len(items)
        await client.delete(stream)
        return elapsed
    finally:
        await client.aclose()


# --- Forwarding ----------------------------------------------------------------------

def forward(broker: Broker, stream: str, items: list[bytes], scratch: Path) -> float:
    """Seconds for a Forwarder to drain an AckQueue holding `items` into a new stream."""
    import rocksq
    from rocksq.bridge import Forwarder

    path = scratch / f"queue-{stream}"
    queue = rocksq.AckQueue(path, max_elements=len(items))
    for start in range(0, len(items), 1000):
        queue.put_many(items[start:start + 1000])
    create = stream if broker.kind == "nats" else None
    try:
        forwarder = Forwarder(queue, broker.url(stream), create_stream=create)
        started = time.perf_counter()
        forwarder.start()
        drained = forwarder.wait_until_drained(timeout=600)
        elapsed = time.perf_counter() - started
        forwarder.stop()
        assert drained, forwarder.stats()
        assert forwarder.stats().forwarded == len(items), forwarder.stats()
    finally:
        queue.close()
        shutil.rmtree(path, ignore_errors=True)
    asyncio.run(delete_stream(broker, stream))
    return elapsed


async def delete_stream(broker: Broker, stream: str) -> None:
    if broker.kind == "nats":
        import nats

        client = await nats.connect(broker.address)
        await client.jetstream().delete_stream(stream)
        await client.close()
    else:
        import redis.asyncio

        client = redis.asyncio.Redis(host=LOOPBACK, port=broker.port)
        await client.delete(stream)
        await client.aclose()


# --- The run -------------------------------------------------------------------------

@dataclass
class Run:
    broker: str
    size: int
    method: str  # "direct W=…" / "direct B=… P=…" / "forward"
    items: int
    seconds: float

    @property
    def items_per_second(self) -> float:
        return self.items / self.seconds


def methods(kind: str, sizes: Sizes) -> dict[str, Callable[[Broker, str, list[bytes], Path], float]]:
    """Every way of moving the items into broker `kind`: the direct sweep, then the forwarder."""
    found: dict[str, Callable[[Broker, str, list[bytes], Path], float]] = {}
    if kind == "nats":
        for window in sizes.nats_windows:
            found[f"direct W={window}"] = (
                lambda broker, stream, items, _, window=window:
                asyncio.run(nats_publish(broker, stream, items, window)))
    else:
        for pipeline in sizes.redis_pipelines:
            for parallel in sizes.redis_parallel:
                found[f"direct B={pipeline} P={parallel}"] = (
                    lambda broker, stream, items, _, pipeline=pipeline, parallel=parallel:
                    asyncio.run(redis_publish(broker, stream, items, pipeline, parallel)))
    found["forward"] = forward
    return found


def measure(sizes: Sizes, rounds: int, kinds: list[str], scratch: Path,
            skip_forward: bool) -> list[Run]:
    runs: list[Run] = []
    counter = 0
    for kind in kinds:
        with running(kind, scratch / kind) as broker:
            for size, count in sizes.items.items():
                items = payloads(size, count)
                ways = methods(kind, sizes)
                if skip_forward:
                    ways.pop("forward")
                # Round by round, every method once: a slow moment of the
                # machine then lands on all of them, not on one.
                for _ in range(rounds):
                    for method, run in ways.items():
                        counter += 1
                        seconds = run(broker, f"bench{counter}", items, scratch)
                        runs.append(Run(kind, size, method, count, seconds))
                        print(f"{kind:5} {size:6} B  {method:18} {count / seconds:12,.0f} items/s",
                              flush=True)
    return runs


def table(runs: list[Run]) -> str:
    """The markdown table: per broker and size, best direct, forward, their ratio."""
    medians: dict[tuple[str, int, str], float] = {}
    for key in {(run.broker, run.size, run.method) for run in runs}:
        medians[key] = statistics.median(
            run.items_per_second for run in runs if (run.broker, run.size, run.method) == key)
    names = {"nats": "NATS JetStream", "redis": "Redis Streams"}
    lines = ["| broker | item | best direct (setting) | forward | forward ÷ best direct |",
             "|---|---|---|---|---|"]
    for broker, size in sorted({(run.broker, run.size) for run in runs}):
        direct = {method: rate for (b, s, method), rate in medians.items()
                  if (b, s) == (broker, size) and method.startswith("direct")}
        best_method = max(direct, key=direct.__getitem__)
        best = direct[best_method]
        shown = "64 KiB" if size == LARGE else f"{size} B"
        setting = best_method.removeprefix("direct ")
        cells = [names[broker], shown, f"{rate_text(best, size)} (`{setting}`)"]
        forward_rate = medians.get((broker, size, "forward"))
        if forward_rate is None:
            cells += ["not measured", "-"]
        else:
            cells += [rate_text(forward_rate, size), f"**{forward_rate / best:.2f}**"]
        lines.append("| " + " | ".join(cells) + " |")
    sweep = ["", "The direct sweep (median items/s per setting):", ""]
    for broker, size in sorted({(run.broker, run.size) for run in runs}):
        settings = sorted((method, rate) for (b, s, method), rate in medians.items()
                          if (b, s) == (broker, size) and method.startswith("direct"))
        shown = "64 KiB" if size == LARGE else f"{size} B"
        sweep.append(f"- {names[broker]}, {shown}: " + ", ".join(
            f"`{method.removeprefix('direct ')}` {rate:,.0f}" for method, rate in settings))
    return "\n".join(lines + sweep) + "\n"


def rate_text(items_per_second: float, size: int) -> str:
    return f"{items_per_second:,.0f} items/s, {items_per_second * size / 1e6:,.1f} MB/s"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 round, fewer items, a short sweep")
    parser.add_argument("--rounds", type=int, help="rounds (default: 3, or 1 with --quick)")
    parser.add_argument("--brokers", default="nats,redis", help="comma-separated: nats, redis")
    parser.add_argument("--direct-only", action="store_true", help="skip the forwarder")
    parser.add_argument("--out", type=Path, default=REPO / "build" / "bench-forward")
    parser.add_argument("--report", type=Path, help="also write the table as this rst page")
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    rounds = args.rounds or (1 if args.quick else 3)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.out) as scratch:
        runs = measure(sizes, rounds, args.brokers.split(","), Path(scratch), args.direct_only)
    (args.out / "results.json").write_text(json.dumps([run.__dict__ for run in runs], indent=1))
    markdown = table(runs)
    (args.out / "results.md").write_text(markdown)
    print(markdown)
    if args.report:
        sys.path.insert(0, str(REPO / "bench"))
        import report

        page = args.report if not args.report.is_absolute() else args.report.relative_to(REPO)
        command = f"python3 bench/forward.py{' --quick' if args.quick else ''} --report {page}"
        report.write_report(args.report, markdown, command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
