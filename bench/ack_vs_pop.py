"""What at-least-once delivery costs: AckQueue get + ack against a FIFO queue's pop.

    python bench/ack_vs_pop.py [--items 20000] [--rounds 5] [--size 100]

Each round fills a fresh queue of each kind with `--items` items of
`--size` bytes (untimed), then times taking them all out:

  fifo pop          rocksq.Queue.get_nowait(), one item a call
  ack get+ack       rocksq.AckQueue.get_nowait() then ack(), one item a call
  ack batch 100     AckQueue.get_many(100) then ack_many() of those 100
  fifo batch 100    rocksq.Queue.get_many(100), for reference

The kinds alternate within each round, so drift in the machine's load hits
them alike; the table shows the median of the rounds, in items per second,
and each line's time per item relative to fifo pop. Run it with the
installed rocksq (not the source tree), e.g. from the repository root:
`python -P bench/ack_vs_pop.py`.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable

import rocksq


def fill(queue, items: int, size: int) -> None:
    payload = b"x" * size
    for first in range(0, items, 1000):
        queue.put_many([payload] * min(1000, items - first))


def fifo_pop(path: Path, items: int, size: int) -> float:
    with rocksq.Queue(path) as queue:
        fill(queue, items, size)
        get = queue.get_nowait
        start = time.perf_counter()
        for _ in range(items):
            get()
        return time.perf_counter() - start


def fifo_batch(path: Path, items: int, size: int) -> float:
    with rocksq.Queue(path) as queue:
        fill(queue, items, size)
        start = time.perf_counter()
        for _ in range(items // 100):
            queue.get_many(100, block=False)
        return time.perf_counter() - start


def ack_one(path: Path, items: int, size: int) -> float:
    with rocksq.AckQueue(path) as queue:
        fill(queue, items, size)
        get, ack = queue.get_nowait, queue.ack
        start = time.perf_counter()
        for _ in range(items):
            ack(get())
        elapsed = time.perf_counter() - start
        assert len(queue) == 0
        return elapsed


def ack_batch(path: Path, items: int, size: int) -> float:
    with rocksq.AckQueue(path) as queue:
        fill(queue, items, size)
        start = time.perf_counter()
        for _ in range(items // 100):
            queue.ack_many(queue.get_many(100, block=False))
        elapsed = time.perf_counter() - start
        assert len(queue) == 0
        return elapsed


CASES: dict[str, Callable[[Path, int, int], float]] = {
    "fifo pop": fifo_pop,
    "ack get+ack": ack_one,
    "ack batch 100": ack_batch,
    "fifo batch 100": fifo_batch,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--size", type=int, default=100)
    args = parser.parse_args()
    times: dict[str, list[float]] = {name: [] for name in CASES}
    with tempfile.TemporaryDirectory(prefix="rocksq-ack-bench-") as scratch:
        for round_number in range(args.rounds):
            names = list(CASES)
            if round_number % 2:
                names.reverse()
            for name in names:
                path = Path(scratch) / f"{name.replace(' ', '-')}-{round_number}"
                times[name].append(CASES[name](path, args.items, args.size))
    print(f"{args.items} items of {args.size} B, median of {args.rounds} rounds")
    base = statistics.median(times["fifo pop"])
    print(f"{'case':<16}{'items/s':>12}{'us/item':>10}{'x fifo pop':>12}")
    for name, samples in times.items():
        median = statistics.median(samples)
        print(
            f"{name:<16}{args.items / median:>12,.0f}{median / args.items * 1e6:>10.2f}"
            f"{median / base:>12.2f}"
        )


if __name__ == "__main__":
    main()
