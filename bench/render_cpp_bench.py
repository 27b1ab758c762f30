"""Turns Google Benchmark's JSON for the C++ benches into a markdown table.

    python3 bench/render_cpp_bench.py RESULTS.json RESULTS.md [--report PAGE]

bench/run_cpp_bench.sh calls it. With repetitions, the table shows each
bench's median; without, its one run. --report also renders the table into
PAGE, a page of the docs (docs/generated/performance-cpp.rst).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import report


def rows(results: dict) -> list[dict]:
    """One row per bench: its median if repetitions ran, else its run."""
    benches = results["benchmarks"]
    medians = [b for b in benches if b.get("aggregate_name") == "median"]
    return medians or [b for b in benches if b.get("run_type", "iteration") == "iteration"]


def bench_name(row: dict) -> str:
    name = row.get("run_name") or row["name"]
    # Google Benchmark spells out fixed settings; they are the same for every row.
    parts = [part for part in name.split("/")
             if not part.startswith(("min_time:", "iterations:", "real_time"))]
    return "/".join(parts).removeprefix("BM_")


def build_of(context: dict) -> str:
    """The build the benches ran against, as bench/cpp/bench_main.cc records it."""
    return context.get("rocksq_build", "not recorded")


def build_description(context: dict) -> str:
    """"release build, RocksDB 9.10.0, CRC32C in hardware", as report.build_of() says it."""
    if "rocksdb_version" not in context:
        return "build not recorded"
    return (f"{build_of(context)} build, RocksDB {context['rocksdb_version']}, "
            f"CRC32C in {context['crc32c']}")


def render(results: dict) -> str:
    context = results["context"]
    repetitions = max((b.get("repetitions", 1) for b in results["benchmarks"]), default=1)
    build = f"{build_description(context)}, {context.get('compiler', 'compiler not recorded')}"
    lines = [
        f"Measured {context['date'][:10]} with `ROCKSQ_BUILD=release bash bench/run_cpp_bench.sh` "
        f"({build}; "
        f"{'median of ' + str(repetitions) + ' repetitions' if repetitions > 1 else 'one run'}; "
        f"{context['num_cpus']} CPUs at {context['mhz_per_cpu']} MHz). "
        "Threaded rows use wall-clock time for all threads together.",
        "",
        "| bench | items/s | MB/s | µs per call |",
        "|---|---:|---:|---:|",
    ]
    for row in rows(results):
        items = row.get("items_per_second")
        megabytes = row.get("bytes_per_second", 0) / 1e6
        unit = {"ns": 1e-3, "us": 1.0, "ms": 1e3}[row["time_unit"]]
        lines.append(f"| {bench_name(row)} | {items:,.0f} | {megabytes:,.1f} | "
                     f"{row['real_time'] * unit:,.2f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results_json", type=Path)
    parser.add_argument("results_md", type=Path)
    parser.add_argument("--report", type=Path, metavar="PAGE",
                        help="also render the table into PAGE, relative to the repository")
    parser.add_argument("--any-build", action="store_true",
                        help="let --report publish a build other than the release build")
    args = parser.parse_args()
    results = json.loads(args.results_json.read_text())
    if args.report and not args.any_build and build_of(results["context"]) != "release":
        parser.error(f"--report publishes the release build's figures, and these are the "
                     f"{build_of(results['context'])} build's: run with ROCKSQ_BUILD=release "
                     f"(or pass --any-build)")
    table = render(results)
    args.results_md.write_text(table)
    print(table)
    if args.report:
        report.write_report(args.report, table,
                            f"ROCKSQ_BUILD=release bash bench/run_cpp_bench.sh --report {args.report}",
                            build=build_description(results["context"]))
        print(f"wrote {args.report}")


if __name__ == "__main__":
    main()
