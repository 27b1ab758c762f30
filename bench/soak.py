"""A bounded soak: producers and consumers in threads, mixed sizes, both queue kinds.

For --seconds, producer threads push items of 10 B to 256 KiB (sizes spread
evenly on a log scale) into a FIFO queue and add them to an MPMC queue,
while consumer threads pop the FIFO queue and labels read the MPMC queue.
Then the producers stop, the consumers drain, and the queues sit idle.

Every item carries its producer, its sequence number, its size and a CRC-32
of its body. The run fails (exit status 1) if:

- any call raises, or an item comes back damaged;
- an item is lost or delivered twice: every FIFO item pops exactly once, and
  every MPMC label reads every element exactly once, none expired unread;
- a consumer sees one producer's items out of order;
- memory grows: peak RSS in the second half of the load exceeds 1.2 x the
  peak of the first half plus 32 MiB (the first half is the warm-up: RocksDB's
  write buffers and block cache fill to their caps there);
- disk space is not given back: within 10 s of the drain (FIFO) or of the
  elements' expiry (MPMC, ttl 10 s), the queue's directory must fall below
  5 % of its peak size.

Producers stop pushing while the consumers lag more than 64 MiB behind, so
the queues stay bounded whatever the machine's speed.

    python3 bench/soak.py                    # 120 s, both kinds
    python3 bench/soak.py --seconds 10 --out build/soak/smoke.json

It prints a summary and writes every figure and sample as JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import struct
import sys
import tempfile
import threading
import time
import zlib
from pathlib import Path

import rocksq
from rocksq import StartPosition
from rocksq.benchmarks import du_bytes
from rocksq.blocking import MpmcQueue, PersistentQueueWithCapacity

HEADER = struct.Struct(">IQII")  # producer, sequence, body size, CRC-32 of body
MIN_SIZE, MAX_SIZE = 10, 256 * 1024
MAX_LAG_BYTES = 64 << 20
MPMC_TTL = 10
RECLAIM_WITHIN = 10.0
DISK_FRACTION = 0.05
RSS_FACTOR, RSS_SLACK = 1.2, 32 << 20

# Bodies are slices of one random block: cheap to make, and no two nearby
# items alike.
RANDOM_BLOCK = os.urandom(2 * MAX_SIZE)


def make_item(producer: int, sequence: int, rng: random.Random) -> bytes:
    size = max(MIN_SIZE, int(math.exp(rng.uniform(math.log(MIN_SIZE), math.log(MAX_SIZE)))))
    body_size = size - HEADER.size if size > HEADER.size else 0
    start = rng.randrange(MAX_SIZE)
    body = RANDOM_BLOCK[start : start + body_size]
    return HEADER.pack(producer, sequence, body_size, zlib.crc32(body)) + body


def check_item(item: bytes) -> tuple[int, int]:
    """(producer, sequence) of an intact item; raises if it is damaged."""
    producer, sequence, body_size, crc = HEADER.unpack_from(item)
    body = item[HEADER.size :]
    if len(body) != body_size or zlib.crc32(body) != crc:
        raise AssertionError(f"damaged item: producer {producer}, sequence {sequence}")
    return producer, sequence


def rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


class Ledger:
    """What was produced and consumed, checked at the end."""

    def __init__(self, consumers: list[str]) -> None:
        self.lock = threading.Lock()
        self.produced: dict[int, int] = {}  # producer -> items made
        self.produced_bytes = 0
        self.consumed: dict[str, dict[int, list[int]]] = {name: {} for name in consumers}
        self.consumed_bytes: dict[str, int] = {name: 0 for name in consumers}
        self.errors: list[str] = []
        self.last_read: dict[tuple[str, int], int] = {}  # (reader, producer) -> sequence

    def error(self, text: str) -> None:
        with self.lock:
            self.errors.append(text)

    def take(self, consumer: str, reader: str, items: list[bytes]) -> None:
        """Records what `reader` (a thread) took for `consumer` (a FIFO queue's
        consumers share one; each MPMC label is its own)."""
        sequences = self.consumed[consumer]
        for item in items:
            producer, sequence = check_item(item)
            last = self.last_read.get((reader, producer), -1)
            if sequence <= last:
                self.error(f"{reader}: producer {producer}'s item {sequence} after {last}")
            self.last_read[(reader, producer)] = sequence
            sequences.setdefault(producer, []).append(sequence)
            self.consumed_bytes[consumer] += len(item)

    def lag_bytes(self) -> int:
        with self.lock:
            return self.produced_bytes - min(self.consumed_bytes.values())

    def losses(self) -> dict[str, dict[str, int]]:
        """Per consumer: items missing and items delivered more than once."""
        result = {}
        for consumer, sequences in self.consumed.items():
            missing = duplicated = 0
            for producer, count in self.produced.items():
                seen = sequences.get(producer, [])
                missing += count - len(set(seen))
                duplicated += len(seen) - len(set(seen))
            result[consumer] = {"missing": missing, "duplicated": duplicated}
        return result


def soak_kind(kind: str, directory: Path, seconds: float, producers: int, consumers: int,
              samples: list[dict], start: float) -> dict:
    names = [f"{kind}-consumer-{n}" for n in range(consumers)]
    ledger = Ledger(names)
    if kind == "fifo":
        queue = PersistentQueueWithCapacity(str(directory))
        # A FIFO item goes to one consumer: they share one ledger entry.
        ledger = Ledger(["fifo"])
    else:
        queue = MpmcQueue(str(directory), ttl=MPMC_TTL)
    stop_producing = threading.Event()
    producers_done = threading.Event()
    finished_producers = []

    def produce(producer: int) -> None:
        rng = random.Random(producer)
        sequence = 0
        try:
            while not stop_producing.is_set():
                if ledger.lag_bytes() > MAX_LAG_BYTES:
                    time.sleep(0.002)
                    continue
                batch = [make_item(producer, sequence + i, rng) for i in range(rng.choice((1, 1, 4, 16)))]
                (queue.push if kind == "fifo" else queue.add)(batch)
                sequence += len(batch)
                with ledger.lock:
                    ledger.produced[producer] = sequence
                    ledger.produced_bytes += sum(map(len, batch))
        except Exception as error:  # noqa: BLE001 - every failure is reported
            ledger.error(f"producer {producer}: {type(error).__name__}: {error}")
        finally:
            with ledger.lock:
                finished_producers.append(producer)
                if len(finished_producers) == producers:
                    producers_done.set()

    def consume(consumer: int) -> None:
        name = "fifo" if kind == "fifo" else names[consumer]
        rng = random.Random(1000 + consumer)
        try:
            while True:
                done = producers_done.is_set()
                count = rng.choice((1, 8, 64))
                if kind == "fifo":
                    items = queue.pop(max_elements=count)
                    with ledger.lock:
                        ledger.take(name, names[consumer], items)
                else:
                    items, expired = queue.next(name, StartPosition.Oldest, count)
                    if expired:
                        ledger.error(f"{name}: elements expired before it read them")
                    with ledger.lock:
                        ledger.take(name, name, items)
                if not items:
                    if done:
                        return
                    time.sleep(0.001)
        except Exception as error:  # noqa: BLE001
            ledger.error(f"consumer {name}: {type(error).__name__}: {error}")

    threads = [threading.Thread(target=produce, args=(p,)) for p in range(producers)]
    threads += [threading.Thread(target=consume, args=(c,)) for c in range(consumers)]
    for thread in threads:
        thread.start()
    load_end = start + seconds
    while time.monotonic() < load_end and not ledger.errors:
        time.sleep(0.25)
    stop_producing.set()
    for thread in threads:
        thread.join()
    drained = time.monotonic()
    last_add = drained

    # Disk: sampled until it falls below DISK_FRACTION of its peak.
    peak_disk = max((s[f"{kind}_disk"] for s in samples), default=0)
    deadline = drained + RECLAIM_WITHIN + (MPMC_TTL if kind == "mpmc" else 0)
    reclaimed_after = None
    while time.monotonic() < deadline:
        now_disk = du_bytes(directory)
        peak_disk = max(peak_disk, now_disk)
        if now_disk < DISK_FRACTION * peak_disk:
            reclaimed_after = time.monotonic() - (drained if kind == "fifo" else last_add)
            break
        time.sleep(0.25)
    final_disk = du_bytes(directory)
    queue.close()

    losses = ledger.losses()
    items = sum(ledger.produced.values())
    return {
        "items": items,
        "bytes": ledger.produced_bytes,
        "items_per_s": items / seconds,
        "mb_per_s": ledger.produced_bytes / seconds / 1e6,
        "errors": ledger.errors,
        "lost": sum(loss["missing"] for loss in losses.values()),
        "duplicated": sum(loss["duplicated"] for loss in losses.values()),
        "per_consumer": losses,
        "peak_disk_bytes": peak_disk,
        "disk_after_drain_bytes": final_disk,
        "reclaimed_after_s": reclaimed_after,
        "drain_s": drained - load_end,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="length of the load (default 120)")
    parser.add_argument("--producers", type=int, default=2, help="producer threads per queue")
    parser.add_argument("--consumers", type=int, default=2, help="consumer threads (MPMC: labels) per queue")
    parser.add_argument("--dir", type=Path, default=None, help="where the queues live (default: a temporary directory)")
    parser.add_argument("--out", type=Path, default=Path("build/soak/soak.json"), help="JSON results")
    args = parser.parse_args()

    base = Path(tempfile.mkdtemp(prefix="rocksq-soak-", dir=args.dir))
    directories = {kind: base / kind for kind in ("fifo", "mpmc")}
    samples: list[dict] = []
    sampling = threading.Event()
    start = time.monotonic()

    def sample() -> None:
        while not sampling.is_set():
            row = {"t": round(time.monotonic() - start, 2), "rss": rss_bytes()}
            for kind, directory in directories.items():
                row[f"{kind}_disk"] = du_bytes(directory) if directory.exists() else 0
            samples.append(row)
            sampling.wait(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    results: dict[str, dict] = {}
    workers = [
        threading.Thread(
            target=lambda kind=kind: results.__setitem__(
                kind, soak_kind(kind, directories[kind], args.seconds, args.producers, args.consumers, samples, start)
            )
        )
        for kind in directories
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    sampling.set()
    sampler.join()
    shutil.rmtree(base, ignore_errors=True)

    load = [row["rss"] for row in samples if row["t"] <= args.seconds]
    half = len(load) // 2
    first_half, second_half = max(load[:half] or [0]), max(load[half:] or [0])
    rss_flat = second_half <= RSS_FACTOR * first_half + RSS_SLACK

    failures = []
    for kind, result in results.items():
        failures += [f"{kind}: {error}" for error in result["errors"]]
        if result["lost"] or result["duplicated"]:
            failures.append(f"{kind}: {result['lost']} lost, {result['duplicated']} duplicated")
        if result["reclaimed_after_s"] is None:
            failures.append(
                f"{kind}: disk still {result['disk_after_drain_bytes'] / 1e6:.1f} MB "
                f"(peak {result['peak_disk_bytes'] / 1e6:.1f} MB)"
            )
    if not rss_flat:
        failures.append(f"RSS grew: {first_half / 1e6:.0f} MB in the first half, {second_half / 1e6:.0f} MB in the second")

    summary = {
        "seconds": args.seconds,
        "producers": args.producers,
        "consumers": args.consumers,
        "rocksq": rocksq.__version__ if hasattr(rocksq, "__version__") else None,
        "rss_peak_first_half_bytes": first_half,
        "rss_peak_second_half_bytes": second_half,
        "rss_flat": rss_flat,
        "kinds": results,
        "failures": failures,
        "samples": samples,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=1))

    print(f"soak: {args.seconds:.0f} s, {args.producers} producers + {args.consumers} consumers per queue, "
          f"items {MIN_SIZE} B to {MAX_SIZE // 1024} KiB")
    for kind, result in results.items():
        reclaimed = result["reclaimed_after_s"]
        print(
            f"  {kind}: {result['items']:,} items, {result['bytes'] / 1e9:.2f} GB "
            f"({result['items_per_s']:,.0f} items/s, {result['mb_per_s']:.0f} MB/s); "
            f"lost {result['lost']}, duplicated {result['duplicated']}, errors {len(result['errors'])}; "
            f"disk peak {result['peak_disk_bytes'] / 1e6:.0f} MB, "
            + (f"< 5 % {reclaimed:.1f} s" if reclaimed is not None else "not reclaimed")
            + (" after the drain (ttl 10 s)" if kind == "mpmc" else " after the drain")
        )
    print(f"  RSS peak: {first_half / 1e6:.0f} MB first half, {second_half / 1e6:.0f} MB second half "
          f"({'flat' if rss_flat else 'GREW'})")
    print(f"  results: {args.out}")
    for failure in failures:
        print(f"FAIL {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
