"""An old build of RocksQ against a new one: every workload of ours, side by side.

    python3 bench/versus.py --old OLD_VENV/bin/python --new NEW_VENV/bin/python
    python3 bench/versus.py --old ... --new ... --rounds 7 --only W2,queue,aio --json versus.json
    python3 bench/versus.py --old ... --new ... --quick    # the quick sizes: a smoke test

Each interpreter runs the rocksq installed for it; the workload code is this
checkout's (rocksq/benchmarks.py, through bench/workloads.py), which reaches
rocksq through its public API only, so a build that does not ship the module
runs the same code. Every workload with a speed runs: the seed API (W1, W2),
batches (W3), threads (W4), sync pushes (W5), MPMC (W6), 10× W1 (rss), and
the faces' calls (queue, aio, nonblocking, ack).

For each round and workload, one run under each interpreter back to back,
each a fresh process with its queue in a fresh directory (under --dir,
default build/versus on the repository's filesystem; removed after); the
order swaps every round (old then new, new then old, ...) so that neither
side always runs first. For each metric the table gives the median time per
item (or per MB) of old and of new, the median over the rounds of new's
speed / old's within the round (>= 1: new is faster) and the range of those
ratios, flagging medians below --threshold (default 0.95); and new's best
round over old's best, which a busy machine disturbs least (a run can only
be slowed down by other work, not sped up). A second table compares the CPU
time of a run (every thread of its process) over the rounds where both
sides did the same work: other work on the machine delays the clock far
more than it adds CPU time, so a change in the CPU a workload takes shows
there even on a busy machine (a change in waiting, such as fsync, does not).
The full sizes and 5 rounds take about 5 minutes on 2 cores; the quick sizes
about 2.

Other work on the machine makes the speed ratios noisy: on 2 cores with a
load average of 8 to 10, the same build on both sides gave medians from 0.87
to 1.33 (0.73 to 1.85 in another run), and CPU ratios from 0.97 to 1.04.
Run it on a quiet machine, and give the same interpreter as --old and --new
once to see the spread the machine allows; the script prints the load
average before and after and warns when it exceeds half the cores.

Exit status: 0; 1 if a run failed or a metric is below the threshold; 2 on a
usage error.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from workloads import WORKLOADS, RocksQ, benchmarks

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
WORKLOADS_SCRIPT = BENCH / "workloads.py"
SIDES = ("old", "new")
TIME_UNITS = {"items/s": (1e6, "µs/item"), "MB/s": (1e3, "ms/MB")}


def speed_workloads() -> list[str]:
    """Every workload of ours that measures a speed (not `drain`: disk usage only)."""
    return [key for key, bench in WORKLOADS.items()
            if bench.skip_reason(RocksQ) is None
            and any(metric.is_speed for metric in bench.metrics.values())]


def side_env() -> dict:
    # Each interpreter's own rocksq must win over anything PYTHONPATH adds.
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}


def build_of(python: str) -> str:
    """The rocksq version and build `python` runs (RocksQ.version(): names the RocksDB build)."""
    with tempfile.TemporaryDirectory() as empty:  # no source tree to shadow the installed one
        completed = subprocess.run(
            [python, "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
             "from workloads import RocksQ; print(RocksQ.version())", str(BENCH)],
            cwd=empty, env=side_env(), capture_output=True, text=True)
    if completed.returncode != 0:
        sys.exit(f"{python} cannot import rocksq:\n{completed.stderr.strip()}")
    return completed.stdout.strip()


def run_rounds(args, keys: list[str]) -> list[dict]:
    mode = "quick" if args.quick else "full"
    pythons = {"old": args.old, "new": args.new}
    total, done = args.rounds * len(keys) * 2, 0
    records = []
    for round_index in range(args.rounds):
        order = SIDES if round_index % 2 == 0 else SIDES[::-1]
        for key in keys:
            for side in order:
                done += 1
                print(f"[{done}/{total}] round {round_index + 1}: {key} {side}",
                      file=sys.stderr, flush=True)
                result = benchmarks.run_job(
                    [pythons[side], str(WORKLOADS_SCRIPT)], key, RocksQ.name, mode,
                    args.dir / f"{key}-{side}-r{round_index + 1}", side_env())
                records.append(dict(round=round_index, workload=key, side=side, **result))
                if "error" in result:
                    print(f"FAILED: {key} {side} (round {round_index + 1}): {result['error']}",
                          file=sys.stderr)
    return records


def compare(records: list[dict], keys: list[str], threshold: float) -> list[dict]:
    """A row per speed metric: median time per unit of each side, median speed ratio."""
    by_round: dict = {}  # (workload, side) -> {round: metrics}
    for record in records:
        if "error" not in record:
            by_round.setdefault((record["workload"], record["side"]), {})[
                record["round"]] = record["metrics"]
    rows = []
    for key in keys:
        for metric, spec in WORKLOADS[key].metrics.items():
            if not spec.is_speed:
                continue
            speeds = {side: {index: metrics[metric]
                             for index, metrics in by_round.get((key, side), {}).items()
                             if metrics.get(metric)} for side in SIDES}
            ratios = [speeds["new"][index] / speeds["old"][index]
                      for index in speeds["new"] if index in speeds["old"]]
            scale, _ = TIME_UNITS[spec.unit]
            time = {side: statistics.median(scale / speed for speed in speeds[side].values())
                    if speeds[side] else None for side in SIDES}
            ratio = statistics.median(ratios) if ratios else None
            best = (max(speeds["new"].values()) / max(speeds["old"].values())
                    if speeds["new"] and speeds["old"] else None)
            rows.append({"workload": key, "metric": metric, "label": spec.label,
                         "unit": TIME_UNITS[spec.unit][1], "old": time["old"],
                         "new": time["new"], "ratio": ratio, "ratios": ratios, "best_ratio": best,
                         "below": ratio is None or ratio < threshold})
    return rows


def compare_cpu(records: list[dict], keys: list[str]) -> list[dict]:
    """A row per workload: median CPU seconds of a run on each side, median of the
    rounds' old/new, over the rounds where both sides did the same work (a
    time cap can stop a phase early)."""
    runs = {(r["workload"], r["side"], r["round"]): r["info"] for r in records
            if "error" not in r}
    rows = []
    for key in keys:
        pairs = []
        for round_index in sorted({index for (k, _, index) in runs if k == key}):
            old, new = (runs.get((key, side, round_index)) for side in SIDES)
            if old and new and work(old) == work(new):
                pairs.append((old["cpu_seconds"], new["cpu_seconds"]))
        rows.append({
            "workload": key, "rounds": len(pairs),
            "old": statistics.median(old for old, _ in pairs) if pairs else None,
            "new": statistics.median(new for _, new in pairs) if pairs else None,
            "ratio": statistics.median(old / new for old, new in pairs) if pairs else None})
    return rows


def work(info: dict) -> dict:
    """What a run did, as far as it can vary: the items its capped phases got through."""
    return {name: value for name, value in info.items() if name.startswith("items")}


def cpu_table(rows: list[dict]) -> str:
    lines = ["| workload | old CPU s | new CPU s | old/new CPU | rounds |", "|---|---:|---:|---:|---:|"]
    for row in rows:
        cells = [f"{row[name]:.3g}" if row[name] is not None else "n/a"
                 for name in ("old", "new")]
        ratio = f"{row['ratio']:.2f}" if row["ratio"] is not None else "n/a"
        lines.append(f"| {row['workload']} | {cells[0]} | {cells[1]} | {ratio} | "
                     f"{row['rounds']} |")
    return "\n".join(lines)


def table(rows: list[dict], threshold: float) -> str:
    lines = ["| workload | metric | old | new | new/old speed | rounds' new/old "
             "| best new/best old | |",
             "|---|---|---:|---:|---:|---|---:|---|"]
    for row in rows:
        times = [f"{row[side]:.3g} {row['unit']}" if row[side] is not None else "n/a"
                 for side in SIDES]
        ratio = f"{row['ratio']:.2f}" if row["ratio"] is not None else "n/a"
        spread = f"{min(row['ratios']):.2f} to {max(row['ratios']):.2f}" if row["ratios"] else ""
        best = f"{row['best_ratio']:.2f}" if row["best_ratio"] is not None else "n/a"
        flag = f"**below {threshold}**" if row["below"] else ""
        lines.append(f"| {row['workload']} | {row['label']} | {times[0]} | {times[1]} | "
                     f"{ratio} | {spread} | {best} | {flag} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--old", required=True, metavar="PYTHON",
                        help="the interpreter whose rocksq is the old build")
    parser.add_argument("--new", required=True, metavar="PYTHON",
                        help="the interpreter whose rocksq is the new build")
    parser.add_argument("--rounds", type=int, default=5, help="rounds (default 5)")
    parser.add_argument("--quick", action="store_true", help="the quick sizes (default: full)")
    parser.add_argument("--only", help="comma-separated workloads (default: "
                        + ",".join(speed_workloads()) + ")")
    parser.add_argument("--threshold", type=float, default=0.95,
                        help="flag a median new/old speed below this (default 0.95)")
    parser.add_argument("--dir", type=Path, default=REPO / "build" / "versus",
                        help="where the queues are made (default build/versus)")
    parser.add_argument("--json", type=Path, metavar="FILE",
                        help="also write every run and the table's rows to FILE")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    keys = args.only.split(",") if args.only else speed_workloads()
    unknown = [key for key in keys if key not in speed_workloads()]
    if unknown:
        parser.error(f"unknown workload: {', '.join(unknown)} (the workloads: "
                     f"{', '.join(speed_workloads())})")
    for side in SIDES:
        if shutil.which(getattr(args, side)) is None:
            parser.error(f"--{side} {getattr(args, side)}: no such interpreter")

    builds = {side: build_of(getattr(args, side)) for side in SIDES}
    for side in SIDES:
        print(f"{side}: {getattr(args, side)}: rocksq {builds[side]}", file=sys.stderr)
    if builds["old"] == builds["new"]:
        print("note: old and new are the same build", file=sys.stderr)
    started = datetime.datetime.now().isoformat(timespec="seconds")
    load = {"before": os.getloadavg()[0]}
    records = run_rounds(args, keys)
    load["after"] = os.getloadavg()[0]
    shutil.rmtree(args.dir, ignore_errors=True)
    rows = compare(records, keys, args.threshold)
    failed = [f"{r['workload']} {r['side']} round {r['round'] + 1}: {r['error']}"
              for r in records if "error" in r]
    print(f"old: rocksq {builds['old']}\nnew: rocksq {builds['new']}\n"
          f"{'quick' if args.quick else 'full'} sizes, {args.rounds} rounds alternating, "
          f"each run a fresh process; time: median per unit; speed ratio: median of "
          f"the rounds' new/old; load average {load['before']:.1f} before, "
          f"{load['after']:.1f} after, {os.cpu_count()} cores\n")
    if max(load.values()) > os.cpu_count() / 2:
        print("warning: other work shares the CPUs (load average above half the cores): "
              "the ratios are noisy", file=sys.stderr)
    print(table(rows, args.threshold))
    cpu_rows = compare_cpu(records, keys)
    print("\nCPU time of a run (every thread of its process; >= 1: new takes less), "
          "which other work on the machine disturbs less than the clock:\n")
    print(cpu_table(cpu_rows))
    if args.json:
        args.json.write_text(json.dumps(
            {"date": started, "builds": builds, "rounds": args.rounds, "load_average": load,
             "cores": os.cpu_count(),
             "mode": "quick" if args.quick else "full", "threshold": args.threshold,
             "rows": rows, "cpu_rows": cpu_rows, "failed": failed, "runs": records},
            indent=1) + "\n")
    for line in failed:
        print(f"failed: {line}", file=sys.stderr)
    return 1 if failed or any(row["below"] for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
