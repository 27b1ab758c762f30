"""Several processes on one queue: ours against diskcache and persist-queue, side by side.

    python3 bench/processes.py                          # full: 5 rounds, ~8 min on 2 cores
    python3 bench/processes.py --quick                  # CI smoke test: 1 round, small sizes
    python3 bench/processes.py --only threads,diskcache --rounds 3 --json processes.json

Issue 17's benchmarks. The same work, 4 producers and 4 consumers of 1 KiB
items on one queue, done by:

- threads:         ours, 8 threads in one process sharing one queue object
                   (the baseline the issue names);
- processes:       ours, 8 spawned processes, each opening the queue's path
                   (attach=True: the first owns it, the others attach);
- diskcache:       diskcache's Deque from 8 spawned processes (it does not
                   fsync per call; neither does ours by default);
- threads-sync, processes-sync: ours as above with sync=True;
- processes-sync-blocking: processes-sync through a rocksq.Queue of 64
                   items, whose producers block in put() while it is full
                   and consumers in get(timeout) while it is empty,
                   instead of popping in a loop;
- persist-queue:   persist-queue's SQLiteQueue from 8 spawned processes,
                   each opening its own queue object on the path, with the
                   settings of bench/workloads.py's adapter (every put and
                   get commits and fsyncs): equal durability to sync=True.

Producers push numbered items (producer, sequence number, a payload
derived from the producer); consumers check every item as they pop it. A
run fails if ours loses, repeats, corrupts or reorders (per producer) an
item; a peer's violations are counted and shown beside its figure. A
producer stops at its item count or its time cap; items/s is every item
popped over the time from the start (all workers ready) to the last
consumer's last pop.

- calls:           one owner process against one attached process, each
                   making the same calls on the queue the owner holds: 100 B
                   pushes and pops one per call and in batches of 100.

The cases that attach run only when this interpreter's rocksq accepts
`attach=True`; otherwise their rows say "not available in this build".

Each (case, round) is a fresh process running this script with --run: ours
with this interpreter, the peers with build/bench-venv's (made from
bench/requirements.txt by bench/compare.py's helper). The workers are
spawned by it, so none inherits a queue. Queue directories are fresh, under
--dir (default build/processes, on the repository's filesystem), removed
after each run. The order of the cases reverses every round; figures are
medians over the rounds and ratios are medians of per-round ratios (runs
next to each other). The load average is printed before and after.

Exit status: 0; 1 if a run failed (ours' checks included); 2 on a usage error.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import multiprocessing
import os
import queue as queue_module
import random
import shutil
import statistics
import struct
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from workloads import IMPLS, Impl, RocksQ, benchmarks

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
OURS = RocksQ.name
PRODUCERS = CONSUMERS = 4
ITEM_BYTES = benchmarks.KiB
# Each item starts with (producer, sequence number); the rest is its producer's payload.
ITEM_HEADER = struct.Struct("<II")
# How long a worker waits for the others to be ready, or for the end of a run.
WORKER_TIMEOUT_SECONDS = 300
# How long a blocking consumer's get() waits before it looks whether the
# producers are done, and how many items the blocking case's queue holds.
BLOCKING_POP_SECONDS = 0.05
BLOCKING_MAXSIZE = 64
NOT_AVAILABLE = "not available in this build"
WHY_NOT_AVAILABLE = "this interpreter's rocksq accepts no attach=True"


# ---------------------------------------------------------------------------
# The queues. Each has push(bytes), pop() -> bytes or None, close().
# ---------------------------------------------------------------------------


class RocksQAttaching(RocksQ):
    """Ours, opened with attach=True: a queue another process holds is shared, not refused.

    The same faces as RocksQ: the seed API for single items, rocksq.blocking
    for batches.
    """

    name = "rocksq-attaching"

    def __init__(self, path, *, item_bytes, sync=False, threads=False, batches=False):
        import rocksq
        import rocksq.blocking

        if batches:
            queue = self._queue = rocksq.blocking.PersistentQueueWithCapacity(
                path, sync=sync, attach=True)
            self.push = lambda item: queue.push([item])
            self.pop = lambda: (queue.pop(1) or [None])[0]
            self.push_batch = queue.push
            self.pop_batch = queue.pop
        else:
            self._queue = rocksq.PersistentQueueWithCapacity(path, sync=sync, attach=True)
            self.push, self.pop = self._queue.push, self._queue.pop


class RocksQBlocking(RocksQAttaching):
    """Ours attached, through rocksq.Queue of BLOCKING_MAXSIZE items: put()
    waits at the owner while the queue is full, get(timeout=...) while it
    is empty (parked calls, retried after each change), rather than
    popping in a loop."""

    name = "rocksq-blocking"

    def __init__(self, path, *, item_bytes, sync=False, threads=False, batches=False):
        import rocksq

        queue = self._queue = rocksq.Queue(path, BLOCKING_MAXSIZE, sync=sync, attach=True)

        def pop():
            try:
                return queue.get(timeout=BLOCKING_POP_SECONDS)
            except queue_module.Empty:
                return None

        self.push, self.pop = queue.put, pop


class DiskcacheDeque(Impl):
    name = "diskcache"
    label = "diskcache Deque"
    peer = True
    notes = ("`diskcache.Deque(directory=path)` defaults (SQLite in WAL mode with "
             "synchronous=NORMAL: no fsync per call); append(item), popleft()")

    def __init__(self, path, *, item_bytes, sync=False, threads=False, batches=False):
        import diskcache

        deque = self._deque = diskcache.Deque(directory=path)
        self.push = deque.append

    def pop(self):
        try:
            return self._deque.popleft()
        except IndexError:
            return None

    def close(self):
        self._deque.cache.close()

    @classmethod
    def version(cls):
        from importlib import metadata

        return metadata.version("diskcache")


ADAPTERS = {impl.name: impl for impl in (RocksQ, RocksQAttaching, RocksQBlocking,
                                          DiskcacheDeque,
                                          IMPLS["persist-queue-sqlite"])}


def attach_supported() -> bool:
    """Whether this interpreter's rocksq opens a queue with attach=True."""
    import rocksq

    with tempfile.TemporaryDirectory() as directory:
        try:
            queue = rocksq.PersistentQueueWithCapacity(os.path.join(directory, "q"), attach=True)
        except TypeError:
            return False
        queue.close()
    return True


# ---------------------------------------------------------------------------
# The cases.
# ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Case:
    label: str
    impl: str  # a key of ADAPTERS
    processes: bool  # workers are spawned processes (else threads of one process)
    sync: bool = False
    needs_attach: bool = False

    @property
    def peer(self) -> bool:
        return ADAPTERS[self.impl].peer


CASES = {
    "threads": Case("rocksq, 8 threads", OURS, processes=False),
    "processes": Case("rocksq, 8 processes", RocksQAttaching.name, processes=True,
                      needs_attach=True),
    "diskcache": Case("diskcache Deque, 8 processes", DiskcacheDeque.name, processes=True),
    "threads-sync": Case("rocksq sync=True, 8 threads", OURS, processes=False, sync=True),
    "processes-sync": Case("rocksq sync=True, 8 processes", RocksQAttaching.name,
                           processes=True, sync=True, needs_attach=True),
    "processes-sync-blocking": Case("rocksq sync=True, 8 processes, blocking put() and get()",
                                    RocksQBlocking.name, processes=True, sync=True,
                                    needs_attach=True),
    "persist-queue": Case("persist-queue SQLite, 8 processes", "persist-queue-sqlite",
                          processes=True, sync=True),
}
CALLS = "calls"
ALL_CASES = list(CASES) + [CALLS]
SIZES = {
    "fifo": {"quick": dict(items=4_000, max_seconds=1.0),
             "full": dict(items=100_000, max_seconds=4.0)},
    # Enough items that each call's timing spans about a second (20,000
    # batched items took a few milliseconds, and their ratios swung 2x).
    CALLS: {"quick": dict(items=2_000, batch=100, max_seconds=0.5),
            "full": dict(items=400_000, batch=100, max_seconds=1.0)},
}
# The calls case's metrics, measured in the owner and in an attached process.
CALL_METRICS = {"push_ops": "push 100 B", "pop_ops": "pop 100 B",
                "batch_push_ops": "push 100 × 100 B", "batch_pop_ops": "pop 100 × 100 B"}


@dataclasses.dataclass(frozen=True)
class Ratio:
    """A median of per-round ratios: `case`'s `metric` over `base`'s `base_metric`."""

    text: str
    case: str
    base: str
    metric: str = "items_per_s"
    base_metric: str = "items_per_s"
    at_least: Optional[float] = None  # issue 17's target; None: shown for reference


RATIOS = [
    Ratio("processes ÷ threads (ours)", "processes", "threads", at_least=0.5),
    Ratio("ours 8 processes ÷ diskcache Deque", "processes", "diskcache", at_least=3),
    Ratio("ours sync 8 processes ÷ persist-queue SQLite", "processes-sync", "persist-queue",
          at_least=3),
    Ratio("sync processes ÷ sync threads (ours)", "processes-sync", "threads-sync"),
    Ratio("sync processes, blocking put() and get() ÷ popping (ours)",
          "processes-sync-blocking", "processes-sync"),
    Ratio("ours 8 threads ÷ diskcache Deque (reference)", "threads", "diskcache"),
    Ratio("ours sync 8 threads ÷ persist-queue SQLite (reference)", "threads-sync",
          "persist-queue"),
] + [Ratio(f"attached ÷ owner: {label}", CALLS, CALLS, f"attached_{metric}", f"owner_{metric}",
           at_least=0.5 if metric.startswith("batch") else 0.3)
     for metric, label in CALL_METRICS.items()]


# ---------------------------------------------------------------------------
# One run (--run): the 4 + 4 workers, or the calls.
# ---------------------------------------------------------------------------


def payload_of(producer: int) -> bytes:
    """The bytes after the header of every item of `producer`."""
    return random.Random(producer).randbytes(ITEM_BYTES - ITEM_HEADER.size)


def produce(queue: Impl, producer: int, items: int, deadline: float) -> Dict[str, Any]:
    push, pack, payload = queue.push, ITEM_HEADER.pack, payload_of(producer)
    clock = time.monotonic
    pushed = 0
    # The clock is read after every push: a peer's fsync per push makes 64
    # pushes (benchmarks.push_singles' granularity) take seconds.
    while pushed < items and clock() < deadline:
        push(pack(producer, pushed) + payload)
        pushed += 1
    return {"pushed": pushed}


def consume(queue: Impl, producers_done, items_per_producer: int) -> Dict[str, Any]:
    """Pops until the queue is empty after every producer finished; checks each item.

    Returns how many times each item of each producer arrived here (a byte
    per item), how many items arrived out of their producer's order or
    corrupt, and the time of the last pop.
    """
    pop, unpack = queue.pop, ITEM_HEADER.unpack_from
    payloads = [payload_of(producer) for producer in range(PRODUCERS)]
    arrivals = [bytearray(items_per_producer) for _ in range(PRODUCERS)]
    last_seen = [-1] * PRODUCERS
    out_of_order = corrupt = 0
    while True:
        # Read the flag before popping: an empty pop after every producer
        # finished means every item was taken.
        done = producers_done.is_set()
        item = pop()
        if item is None:
            if done:
                break
            time.sleep(0.0005)
            continue
        producer, sequence = unpack(item)
        if (producer >= PRODUCERS or sequence >= items_per_producer
                or item[ITEM_HEADER.size:] != payloads[producer]):
            corrupt += 1
            continue
        if sequence <= last_seen[producer]:
            out_of_order += 1
        last_seen[producer] = sequence
        if arrivals[producer][sequence] < 255:
            arrivals[producer][sequence] += 1
    return {"end": time.monotonic(), "arrivals": [bytes(a) for a in arrivals],
            "out_of_order": out_of_order, "corrupt": corrupt}


def worker(role, index, shared_queue, job, barrier, producers_done, close_now, results):
    """One producer or consumer: opens the queue unless given one, waits for
    the others, works, reports ("producer"/"consumer"/"error", index,
    result) on `results`, and closes its queue once every worker reported."""
    case, mode = CASES[job["workload"]], job["mode"]
    sizes = SIZES["fifo"][mode]
    items_per_producer = sizes["items"] // PRODUCERS
    queue = None
    try:
        if shared_queue is None:
            queue = ADAPTERS[case.impl](job["path"], item_bytes=ITEM_BYTES, sync=case.sync)
        else:
            queue = shared_queue
        barrier.wait(WORKER_TIMEOUT_SECONDS)
        if role == "producer":
            result = produce(queue, index, items_per_producer,
                             time.monotonic() + sizes["max_seconds"])
        else:
            result = consume(queue, producers_done, items_per_producer)
        results.put((role, index, result))
        close_now.wait(WORKER_TIMEOUT_SECONDS)
    except BaseException:
        barrier.abort()
        results.put(("error", index, f"{role} {index}: {traceback.format_exc()}"))
    finally:
        if queue is not None and shared_queue is None:
            queue.close()


def run_workers(job: Dict[str, Any]) -> Dict[str, Any]:
    """The 4 + 4 workers of one case: items/s and the checks' findings."""
    case = CASES[job["workload"]]
    adapter = ADAPTERS[case.impl]
    # Created here, so that the workers' first opens do not race to create it.
    created = adapter(job["path"], item_bytes=ITEM_BYTES, sync=case.sync)
    synchronous = getattr(created, "synchronous", None)  # persist-queue's SQLite setting
    created.close()
    if case.processes:
        kit: Any = multiprocessing.get_context("spawn")
        results, start_worker = kit.Queue(), kit.Process
        shared_queue = None
    else:
        kit = threading
        results, start_worker = queue_module.Queue(), threading.Thread
        shared_queue = adapter(job["path"], item_bytes=ITEM_BYTES, sync=case.sync,
                               threads=True)
    barrier = kit.Barrier(PRODUCERS + CONSUMERS + 1)
    producers_done, close_now = kit.Event(), kit.Event()
    workers = [start_worker(target=worker, args=(role, index, shared_queue, job, barrier,
                                                producers_done, close_now, results))
               for role, count in (("producer", PRODUCERS), ("consumer", CONSUMERS))
               for index in range(count)]
    for process in workers:
        process.start()
    reports: Dict[str, Dict[int, Any]] = {"producer": {}, "consumer": {}}
    try:
        try:
            barrier.wait(WORKER_TIMEOUT_SECONDS)
        except threading.BrokenBarrierError:
            pass  # a worker failed to open the queue: its report says why
        start = time.monotonic()
        while len(reports["consumer"]) < CONSUMERS:
            role, index, result = results.get(timeout=WORKER_TIMEOUT_SECONDS)
            if role == "error":
                raise RuntimeError(result)
            reports[role][index] = result
            if len(reports["producer"]) == PRODUCERS:
                producers_done.set()
    finally:
        # On success these change nothing; after a failure they let every
        # worker finish: consumers stop at an empty queue, none waits to start.
        producers_done.set()
        close_now.set()
        barrier.abort()
        for process in workers:
            process.join(WORKER_TIMEOUT_SECONDS)
            if case.processes and process.is_alive():
                process.kill()
                process.join()
        if shared_queue is not None:
            shared_queue.close()
    seconds = max(report["end"] for report in reports["consumer"].values()) - start
    pushed = [reports["producer"][index]["pushed"] for index in range(PRODUCERS)]
    check = check_arrivals(pushed, list(reports["consumer"].values()))
    popped = sum(sum(report["arrivals"][p]) for report in reports["consumer"].values()
                 for p in range(PRODUCERS))
    info = {"items": popped, "pushed": sum(pushed), "seconds": seconds, "check": check,
            "workers": "processes" if case.processes else "threads", "sync": case.sync}
    if synchronous is not None:
        info["sqlite_synchronous"] = synchronous
    return {"items_per_s": popped / seconds, **info}


def check_arrivals(pushed: List[int], consumers: List[Dict[str, Any]]) -> Dict[str, int]:
    """Items never popped, popped more than once, out of order or corrupt: all 0 if right."""
    missing = repeated = 0
    for producer, count in enumerate(pushed):
        arrivals = [sum(times) for times in zip(*(c["arrivals"][producer] for c in consumers))]
        missing += arrivals[:count].count(0)
        repeated += sum(times - 1 for times in arrivals if times > 1)
        repeated += sum(arrivals[count:])  # items never pushed cannot arrive
    return {"missing": missing, "repeated": repeated,
            "out_of_order": sum(c["out_of_order"] for c in consumers),
            "corrupt": sum(c["corrupt"] for c in consumers)}


def call_rates(queue: Impl, sizes: Dict[str, Any]) -> Dict[str, float]:
    """items/s of the calls of CALL_METRICS on `queue` (opened with batches=True)."""
    pool = benchmarks.make_pool(100, count=10 * sizes["batch"])
    pushed, push_seconds = benchmarks.push_singles(queue, pool, sizes["items"],
                                                   sizes["max_seconds"])
    pop_seconds = benchmarks.pop_singles(queue, pool, pushed)
    batch_pushed, batch_push_seconds = benchmarks.push_batches(
        queue, pool, sizes["items"], sizes["batch"], sizes["max_seconds"])
    batch_pop_seconds = benchmarks.pop_batches(queue, batch_pushed, sizes["batch"])
    return {"push_ops": pushed / push_seconds, "pop_ops": pushed / pop_seconds,
            "batch_push_ops": batch_pushed / batch_push_seconds,
            "batch_pop_ops": batch_pushed / batch_pop_seconds}


def attached_calls(path: str, sizes: Dict[str, Any], results) -> None:
    """call_rates in a spawned process, whose open attaches to the run's queue."""
    try:
        queue = RocksQAttaching(path, item_bytes=100, batches=True)
        try:
            results.put(call_rates(queue, sizes))
        finally:
            queue.close()
    except BaseException:
        results.put({"error": traceback.format_exc()})


def run_calls(job: Dict[str, Any]) -> Dict[str, Any]:
    """The same calls in the owner (this process) and in an attached process."""
    sizes = SIZES[CALLS][job["mode"]]
    # This process owns the queue while both sides measure.
    owner_queue = RocksQAttaching(job["path"], item_bytes=100, batches=True)
    try:
        owner = call_rates(owner_queue, sizes)
        kit = multiprocessing.get_context("spawn")
        results = kit.Queue()
        process = kit.Process(target=attached_calls, args=(job["path"], sizes, results))
        process.start()
        try:
            attached = results.get(timeout=WORKER_TIMEOUT_SECONDS)
        finally:
            process.join(WORKER_TIMEOUT_SECONDS)
            if process.is_alive():
                process.kill()
                process.join()
    finally:
        owner_queue.close()
    if "error" in attached:
        raise RuntimeError(f"attached process: {attached['error']}")
    return {**{f"owner_{k}": v for k, v in owner.items()},
            **{f"attached_{k}": v for k, v in attached.items()}}


def run_one(job: Dict[str, Any]) -> Dict[str, Any]:
    """--run: one case in this process; {"metrics": ..., "info": ...}."""
    if job["workload"] == CALLS:
        metrics = run_calls(job)
        return {"metrics": metrics, "info": {"version": RocksQ.version()}}
    values = run_workers(job)
    adapter = ADAPTERS[CASES[job["workload"]].impl]
    return {"metrics": {"items_per_s": values.pop("items_per_s")},
            "info": dict(values, version=adapter.version())}


# ---------------------------------------------------------------------------
# The driver: rounds of runs, medians, ratios, the table.
# ---------------------------------------------------------------------------


def run_rounds(args, cases: List[str], starts: Dict[bool, tuple]) -> List[Dict[str, Any]]:
    """Every case once a round, each a fresh process; the order reverses every round."""
    mode = "quick" if args.quick else "full"
    total, done = args.rounds * len(cases), 0
    records = []
    for round_index in range(args.rounds):
        for key in cases if round_index % 2 == 0 else cases[::-1]:
            done += 1
            print(f"[{done}/{total}] round {round_index + 1}: {key}", file=sys.stderr, flush=True)
            impl = CASES[key].impl if key in CASES else RocksQAttaching.name
            python, env = starts[key in CASES and CASES[key].peer]
            result = benchmarks.run_job([str(python), str(Path(__file__).resolve()), "--run"],
                                        key, impl, mode, args.dir / f"{key}-r{round_index + 1}",
                                        env)
            if "error" not in result and not ADAPTERS[impl].peer:
                violations = {k: v for k, v in result.get("info", {}).get("check", {}).items()
                              if v}
                if violations:
                    result["error"] = f"ours failed its checks: {violations}"
            records.append(dict(round=round_index, case=key, **result))
            if "error" in result:
                print(f"FAILED: {key} (round {round_index + 1}): {result['error']}",
                      file=sys.stderr)
    return records


def per_round(records: List[Dict[str, Any]]) -> Dict[str, Dict[int, Dict[str, float]]]:
    """{case: {round: metrics}} of the runs that worked."""
    rounds: Dict[str, Dict[int, Dict[str, float]]] = {}
    for record in records:
        if "error" not in record:
            rounds.setdefault(record["case"], {})[record["round"]] = record["metrics"]
    return rounds


def median_ratio(rounds, ratio: Ratio) -> Optional[float]:
    """The median over rounds of ratio.case's metric / ratio.base's, within each round."""
    values = []
    for round_index, metrics in rounds.get(ratio.case, {}).items():
        base = rounds.get(ratio.base, {}).get(round_index, {}).get(ratio.base_metric)
        if base and metrics.get(ratio.metric) is not None:
            values.append(metrics[ratio.metric] / base)
    return statistics.median(values) if values else None


def summarise(records, cases: List[str], unavailable: Dict[str, str]) -> Dict[str, Any]:
    rounds = per_round(records)
    medians = {case: {metric: statistics.median(m[metric] for m in by_round.values())
                      for metric in next(iter(by_round.values()))}
               for case, by_round in rounds.items()}
    violations: Dict[str, Dict[str, int]] = {}  # a peer's checks, summed over its runs
    for record in records:
        for name, count in record.get("info", {}).get("check", {}).items():
            if count:
                totals = violations.setdefault(record["case"], {})
                totals[name] = totals.get(name, 0) + count
    ratios = []
    for ratio in RATIOS:
        if ratio.case not in cases or ratio.base not in cases:
            continue
        value = median_ratio(rounds, ratio)
        if value is not None:
            status = "met" if ratio.at_least is None or value >= ratio.at_least else "gap"
            if ratio.at_least is None:
                status = ""
        else:
            status = unavailable.get(ratio.case) or unavailable.get(ratio.base) or "not measured"
        ratios.append({"ratio": ratio.text, "value": value, "at_least": ratio.at_least,
                       "status": status})
    return {"medians": medians, "violations": violations, "ratios": ratios}


def markdown(data: Dict[str, Any]) -> str:
    meta, summary = data["meta"], data["summary"]
    lines = [
        f"{meta['mode']} sizes, median of {meta['rounds']} round(s), order reversed every "
        f"round, each run a fresh process; load average {meta['load_average']['before']:.1f} "
        f"before, {meta['load_average']['after']:.1f} after, {meta['cores']} cores. "
        f"4 producers + 4 consumers, 1 KiB items, every item checked.",
        "",
        "| configuration | items/s | checks |",
        "|---|---:|---|",
    ]
    for key in data["cases"]:
        if key == CALLS:
            continue
        case = CASES[key]
        if key in data["unavailable"]:
            lines.append(f"| {case.label} | – | {data['unavailable'][key]} |")
            continue
        value = summary["medians"].get(key, {}).get("items_per_s")
        found = summary["violations"].get(key)
        checks = ("failed: " + ", ".join(f"{n} {name.replace('_', ' ')}"
                                         for name, n in found.items())) if found else "ok"
        if value is None:
            lines.append(f"| {case.label} | – | run failed |")
            continue
        cell = benchmarks.format_value(value, "items/s")
        lines.append(f"| {case.label} | {cell if case.peer else '**' + cell + '**'} "
                     f"| {checks} |")
    if CALLS in data["cases"]:
        lines += ["", "| call, items/s | owner process | attached process | attached ÷ owner |",
                  "|---|---:|---:|---:|"]
        calls = summary["medians"].get(CALLS, {})
        for metric, label in CALL_METRICS.items():
            if CALLS in data["unavailable"]:
                lines.append(f"| {label} | {data['unavailable'][CALLS]} | | |")
                continue
            owner, attached = calls.get(f"owner_{metric}"), calls.get(f"attached_{metric}")
            ratio = attached / owner if owner and attached else None
            lines.append(f"| {label} | {benchmarks.format_value(owner, 'items/s')} | "
                         f"{benchmarks.format_value(attached, 'items/s')} | "
                         f"{f'{ratio:.2f}' if ratio is not None else '–'} |")
    lines += ["", "| ratio (median of the rounds' ratios) | target (issue 17) | measured | |",
              "|---|---:|---:|---|"]
    for row in summary["ratios"]:
        target = f"≥ {row['at_least']:g}" if row["at_least"] is not None else ""
        value = f"{row['value']:.2f}" if row["value"] is not None else "–"
        lines.append(f"| {row['ratio']} | {target} | {value} | {row['status']} |")
    if data["unavailable"]:
        lines += ["", f"{NOT_AVAILABLE}: {WHY_NOT_AVAILABLE}."]
    lines += ["", "Versions: " + "; ".join(f"{name} {version}"
                                           for name, version in data["versions"].items())]
    if data["failed"]:
        lines += ["", "Failed runs:"] + [f"- `{line.splitlines()[0]}`" for line in data["failed"]]
    return "\n".join(lines) + "\n"


def main() -> int:
    if sys.argv[1:2] == ["--run"]:
        print(json.dumps(run_one(json.loads(sys.argv[2]))))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--quick", action="store_true",
                        help="CI smoke test: small sizes, 1 round")
    parser.add_argument("--rounds", type=int, help="rounds (default 5, quick 1)")
    parser.add_argument("--only", help="comma-separated cases (default: all): "
                        + ",".join(ALL_CASES))
    parser.add_argument("--dir", type=Path, default=REPO / "build" / "processes",
                        help="where the queues are made (default build/processes)")
    parser.add_argument("--json", type=Path, metavar="FILE",
                        help="also write every run, the medians and the ratios to FILE")
    args = parser.parse_args()
    if args.rounds is None:
        args.rounds = 1 if args.quick else 5
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    cases = args.only.split(",") if args.only else ALL_CASES
    unknown = [key for key in cases if key not in ALL_CASES]
    if unknown:
        parser.error(f"unknown case: {', '.join(unknown)} (the cases: {', '.join(ALL_CASES)})")

    attach = attach_supported()
    unavailable = {key: NOT_AVAILABLE for key in cases
                   if not attach and (key == CALLS or CASES[key].needs_attach)}
    runnable = [key for key in cases if key not in unavailable]
    # How a case's run starts, by whether it is a peer's: (interpreter, environment).
    starts = {False: (Path(sys.executable), dict(os.environ))}
    if any(CASES[key].peer for key in runnable if key in CASES):
        from compare import ensure_peer_venv

        # The venv's own packages must win over anything PYTHONPATH adds.
        starts[True] = (ensure_peer_venv(), {k: v for k, v in os.environ.items()
                                             if k not in ("PYTHONPATH", "PYTHONHOME")})
    started = datetime.datetime.now().isoformat(timespec="seconds")
    load = {"before": os.getloadavg()[0]}
    records = run_rounds(args, runnable, starts)
    load["after"] = os.getloadavg()[0]
    shutil.rmtree(args.dir, ignore_errors=True)
    versions = {}
    for record in records:
        if "error" not in record:
            versions[ADAPTERS[CASES[record["case"]].impl if record["case"] in CASES
                              else OURS].label] = record["info"]["version"]
    data = {
        "date": started, "cases": cases, "unavailable": unavailable, "versions": versions,
        "meta": {"mode": "quick" if args.quick else "full", "rounds": args.rounds,
                 "cores": os.cpu_count(), "load_average": load},
        "failed": [f"{r['case']} round {r['round'] + 1}: {r['error']}"
                   for r in records if "error" in r],
        "runs": records,
    }
    data["summary"] = summarise(records, cases, unavailable)
    print(markdown(data))
    if max(load.values()) > os.cpu_count() / 2:
        print("warning: other work shares the CPUs (load average above half the cores): "
              "the figures are noisy", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(data, indent=1) + "\n")
    for line in data["failed"]:
        print(f"failed: {line}", file=sys.stderr)
    return 1 if data["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
