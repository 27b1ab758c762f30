"""What attaching costs a single call: 100 B pushes and pops in the owner and in an attached process.

    python -P bench/attach_single_calls.py [--items 20000] [--rounds 3]

Each round opens a fresh queue with attach=True in this process (the owner),
times `--items` single pushes then as many single pops (rocksq._core.FifoQueue,
the GIL released), then has a spawned process attach to the same queue and
time the same calls. Each line gives both in items per second and the
attached/owner ratio (issue 17's target for single calls: 0.3). Both run in
one round, so drift in the machine's load hits them alike.
"""

from __future__ import annotations

import argparse
import multiprocessing
import shutil
import tempfile
import time

from rocksq._core import FifoQueue

ITEM = b"x" * 100


def timed_calls(queue: FifoQueue, items: int) -> tuple[float, float]:
    """Items per second of `items` single pushes, then of as many single pops."""
    started = time.perf_counter()
    for _ in range(items):
        queue.push(ITEM)
    pushed = time.perf_counter()
    for _ in range(items):
        queue.pop(1)
    popped = time.perf_counter()
    return items / (pushed - started), items / (popped - pushed)


def attached_calls(path: str, items: int) -> tuple[float, float]:
    queue = FifoQueue(path, attach=True)
    try:
        return timed_calls(queue, items)
    finally:
        queue.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    with multiprocessing.get_context("spawn").Pool(1) as attached:
        for round_number in range(options.rounds):
            directory = tempfile.mkdtemp()
            path = directory + "/queue"
            try:
                owner = FifoQueue(path, attach=True)
                push, pop = timed_calls(owner, options.items)
                attached_push, attached_pop = attached.apply(
                    attached_calls, (path, options.items)
                )
                owner.close()
            finally:
                shutil.rmtree(directory)
            print(
                f"round {round_number}: push owner {push:,.0f}/s attached {attached_push:,.0f}/s "
                f"({attached_push / push:.2f}); pop owner {pop:,.0f}/s attached "
                f"{attached_pop:,.0f}/s ({attached_pop / pop:.2f})",
                flush=True,
            )


if __name__ == "__main__":
    main()
