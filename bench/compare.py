"""RocksQ against its peers and the disk, side by side in one run.

    python3 bench/compare.py                  # full: 5 rounds, ~15 min on 2 cores
    python3 bench/compare.py --quick          # CI smoke test: 1 round, small sizes, < 2 min
    build/wheel-venv/bin/python bench/compare.py --report docs/generated/performance.rst  # the docs' page

The workloads are the package's own (rocksq/benchmarks.py, which `rocksq
bench` runs for ours alone; SIDE_BY_SIDE below lists those compared here);
bench/workloads.py adds the peers' adapters. Every (workload, implementation)
run is a fresh process running bench/workloads.py: ours with this interpreter, the peers (rocksq 0.3.0,
persist-queue, queuelib, all from PyPI) with build/bench-venv's, which this
script creates from bench/requirements.txt on first use. Within a round the
implementations alternate run by run (A B C A B C ...); each metric is the
median over the rounds. Queue directories live under <out>/tmp, on the
repository's filesystem, and are removed after each run.

Ours is the rocksq this interpreter imports, named in every run and report
by its build (rocksq.build_info(): release or debian, RocksDB version,
CRC32C). The docs' figures are the release build's: run the script with the
Python of an environment holding the release wheel (`ROCKSQ_BUILD=release
bash tests/run.sh` makes build/wheel-venv); --report refuses any other build
unless --any-build is given.

Writes <out>/results.json (every run), results.md (the tables), results.png
(the plot), and prints the issue's targets as met or gap. Exits 1 if a run
that should have worked failed, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import report
from workloads import IMPLS, WORKLOADS, benchmarks

REPO = Path(__file__).resolve().parent.parent
WORKLOADS_SCRIPT = Path(__file__).resolve().parent / "workloads.py"
PEER_VENV = REPO / "build" / "bench-venv"
REQUIREMENTS = REPO / "bench" / "requirements.txt"

OURS = "rocksq"
# The workloads run side by side with the peers, and ours' disk and memory.
# The faces' own workloads (queue, aio, nonblocking, ack) measure ours alone:
# `rocksq bench` and bench/versus.py run them.
SIDE_BY_SIDE = ("W1", "W2", "W3", "W4", "W5", "W6", "drain", "rss")
REFERENCE = "rocksq-0.3.0"
RAW = "raw-file"
RAW_FSYNC = "raw-file+fsync"
RATIO_COLUMNS = ((REFERENCE, "÷ 0.3.0"), (RAW, "÷ raw"), (RAW_FSYNC, "÷ raw+fsync"))


class Target:
    """One row of issue 5's targets: ours' median against a bound.

    The measured value is ours / `against` (another implementation's median
    for the same metric), ours / ours' `against_metric`, or ours' value
    itself when neither is given.
    """

    def __init__(self, text, workload, metric, *, against=None, against_metric=None,
                 at_least=None, at_most=None, fmt="{:.2f}×"):
        self.text, self.workload, self.metric = text, workload, metric
        self.against, self.against_metric = against, against_metric
        self.at_least, self.at_most, self.fmt = at_least, at_most, fmt

    def evaluate(self, rounds):
        """(value, "met" | "gap" | "not measured"); `rounds` as in round_ratio."""
        if self.against:
            value = round_ratio(rounds, self.workload, OURS, self.metric, self.against)
        elif self.against_metric:
            value = round_ratio(rounds, self.workload, OURS, self.metric,
                                OURS, self.against_metric)
        else:
            value = round_ratio(rounds, self.workload, OURS, self.metric)
        if value is None:
            return None, "not measured"
        met = ((self.at_least is None or value >= self.at_least)
               and (self.at_most is None or value < self.at_most))
        return value, "met" if met else "gap"


def round_ratio(rounds, workload, impl, metric, other=None, other_metric=None):
    """The median over rounds of impl's metric / other's (other_metric or metric).

    Ratios are taken within a round, between runs that ran next to each
    other, so a slow period of the machine affects both sides of a ratio.
    rounds: {(workload, impl): {round: metrics}}. Without `other`, the median
    of the metric itself. None if no round has both values.
    """
    values = []
    for round_index, metrics in rounds.get((workload, impl), {}).items():
        value = metrics.get(metric)
        if other is None:
            base = 1.0
        else:
            base = rounds.get((workload, other), {}).get(round_index, {}).get(
                other_metric or metric)
        if value is not None and base:
            values.append(value / base)
    return statistics.median(values) if values else None


TARGETS = [
    Target("W1 push 256 KiB ≥ 4× rocksq 0.3.0", "W1", "push_mbs", against=REFERENCE, at_least=4),
    Target("W1 push ≥ 0.7 of raw write+fsync (stretch)", "W1", "push_mbs",
           against=RAW_FSYNC, at_least=0.7),
    Target("W1 pop ≥ 0.9× rocksq 0.3.0", "W1", "pop_mbs", against=REFERENCE, at_least=0.9),
    Target("W2 single push ≥ 1.5× rocksq 0.3.0", "W2", "push_ops", against=REFERENCE, at_least=1.5),
    Target("W2 single pop ≥ 1.5× rocksq 0.3.0", "W2", "pop_ops", against=REFERENCE, at_least=1.5),
    Target("W3 batch push ≥ 2× rocksq 0.3.0", "W3", "push_ops", against=REFERENCE, at_least=2),
    Target("W3 batch pop ≥ 2× rocksq 0.3.0", "W3", "pop_ops", against=REFERENCE, at_least=2),
    Target("W5 sync pushes: 8 threads ≥ 4× one thread", "W5", "push_8t",
           against_metric="push_1t", at_least=4),
    Target("disk usage 10 s after draining ~1 GB < 5 % of its peak", "drain", "du_10s_mb",
           against_metric="peak_mb", at_most=0.05, fmt="{:.1%}"),
    Target("peak RSS in W1 at 10× its size < 300 MB", "rss", "peak_rss_mb",
           at_most=300, fmt="{:.0f} MB"),
]


# ---------------------------------------------------------------------------
# Running.
# ---------------------------------------------------------------------------


def ensure_peer_venv() -> Path:
    """build/bench-venv with bench/requirements.txt installed; its python."""
    python = PEER_VENV / "bin" / "python"
    stamp = PEER_VENV / "requirements.installed"
    wanted = REQUIREMENTS.read_text()
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    print(f"setting up {PEER_VENV.relative_to(REPO)} from "
          f"{REQUIREMENTS.relative_to(REPO)} ...", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet",
                    "--disable-pip-version-check", "-r", str(REQUIREMENTS)], check=True)
    stamp.write_text(wanted)
    return python


class Progress:
    """A one-line progress bar on stderr (a line per run when not a terminal)."""

    def __init__(self, total: int) -> None:
        self.total, self.done = total, 0
        self.start = time.monotonic()
        self.tty = sys.stderr.isatty()
        self.width = 0

    def show(self, text: str) -> None:
        elapsed = time.monotonic() - self.start
        eta = elapsed / self.done * (self.total - self.done) if self.done else 0
        filled = 30 * self.done // max(self.total, 1)
        line = (f"[{'#' * filled}{'.' * (30 - filled)}] {self.done}/{self.total} "
                f"{format_seconds(elapsed)} (eta {format_seconds(eta)}) {text}")
        if self.tty:
            sys.stderr.write("\r" + line.ljust(self.width))
            self.width = len(line)
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def note(self, text: str) -> None:
        """A line of its own above the bar."""
        if self.tty:
            sys.stderr.write("\r" + " " * self.width + "\r")
            self.width = 0
        sys.stderr.write(text + "\n")

    def finish(self) -> None:
        if self.tty:
            sys.stderr.write("\n")


def format_seconds(seconds: float) -> str:
    return f"{int(seconds) // 60}m{int(seconds) % 60:02d}s"


def snapshot_ours(out: Path, tmp: Path) -> dict:
    """Copies the installed rocksq package to <out>/ours; the environment to run it.

    Other work may reinstall the package while a long run goes on; every run
    of ours then still measures the one build found when this run started.
    """
    probe = subprocess.run(
        [sys.executable, "-c", "import os, rocksq; print(os.path.dirname(rocksq.__file__))"],
        cwd=tmp, capture_output=True, text=True)  # not the repository: its rocksq/ has no _core
    if probe.returncode != 0:
        print(f"rocksq is not installed for {sys.executable} "
              "(bash conan/bootstrap.sh --install):\n" + probe.stderr, file=sys.stderr)
        return dict(os.environ)
    snapshot = out / "ours"
    shutil.rmtree(snapshot, ignore_errors=True)
    shutil.copytree(probe.stdout.strip(), snapshot / "rocksq",
                    ignore=shutil.ignore_patterns("__pycache__"))
    path = os.pathsep.join(filter(None, [str(snapshot), os.environ.get("PYTHONPATH")]))
    return dict(os.environ, PYTHONPATH=path)


def plan(workload_keys, impl_names):
    """The runs of one round in order, and why the others are skipped."""
    runs, skipped = [], {}
    for key in workload_keys:
        for name in impl_names:
            reason = WORKLOADS[key].skip_reason(IMPLS[name])
            if reason is None:
                runs.append((key, name))
            elif reason != "not measured":
                skipped.setdefault(key, {})[name] = reason
    return runs, skipped


def run_all(args, workload_keys, impl_names) -> dict:
    mode = "quick" if args.quick else "full"
    runs, skipped = plan(workload_keys, impl_names)
    tmp = args.out / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    if os.stat(tmp).st_dev != os.stat(REPO).st_dev:
        print(f"warning: {tmp} is not on the repository's filesystem", file=sys.stderr)

    # How each implementation's process starts: (interpreter, environment).
    main_env = dict(os.environ)
    starts = {name: (Path(sys.executable), main_env) for name in impl_names}
    if OURS in impl_names:
        starts[OURS] = (Path(sys.executable), snapshot_ours(args.out, tmp))
    if any(IMPLS[name].peer for name in impl_names):
        peer_python = ensure_peer_venv()
        # The venv's own rocksq (0.3.0) must win over anything PYTHONPATH adds.
        peer_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        starts.update({name: (peer_python, peer_env) for name in impl_names if IMPLS[name].peer})

    progress = Progress(len(runs) * args.rounds)
    records = []
    for round_index in range(args.rounds):
        for key, name in runs:
            progress.show(f"round {round_index + 1}/{args.rounds} {key} {name}")
            run_dir = tmp / f"{key}-{name}-r{round_index}"
            shutil.rmtree(run_dir, ignore_errors=True)
            python, env = starts[name]
            result = benchmarks.run_job([str(python), str(WORKLOADS_SCRIPT)], key, name, mode,
                                        run_dir, env)
            records.append(dict(round=round_index, workload=key, impl=name, **result))
            if "error" in result:
                progress.note(f"FAILED: {key} {name} (round {round_index + 1}): {result['error']}")
            progress.done += 1
    progress.show("done")
    progress.finish()
    shutil.rmtree(tmp, ignore_errors=True)
    return {"meta": machine_info(args, mode), "skipped": skipped, "runs": records}


def machine_info(args, mode) -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    filesystem = "?"
    repo_mount = max((line.split() for line in Path("/proc/mounts").read_text().splitlines()
                      if str(REPO).startswith(line.split()[1])),
                     key=lambda fields: len(fields[1]), default=None)
    if repo_mount:
        filesystem = repo_mount[2]  # The type (ext4, xfs, ...), not the device.
    return {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "mode": mode, "rounds": args.rounds, "cpu": cpu, "cores": os.cpu_count(),
        "kernel": platform.release(), "filesystem": filesystem,
        "python": platform.python_version(),
        "command": f"{interpreter_in_command()} bench/compare.py" + (" --quick" if args.quick else "")
                   + (f" --rounds {args.rounds}" if args.rounds_given else ""),
    }


def interpreter_in_command() -> str:
    """This interpreter as the page's command names it: its path in the checkout, or python3."""
    interpreter = Path(sys.executable)
    return str(interpreter.relative_to(REPO)) if interpreter.is_relative_to(REPO) else "python3"


# ---------------------------------------------------------------------------
# Summarising.
# ---------------------------------------------------------------------------


def summarise(data: dict) -> dict:
    """Adds medians, ratios, versions, failures and targets to `data`."""
    rounds = {}  # (workload, impl) -> {round: metrics}
    versions = {}
    for record in data["runs"]:
        if "error" not in record:
            versions[record["impl"]] = record["info"].get("version")
            rounds.setdefault((record["workload"], record["impl"]), {})[
                record["round"]] = record["metrics"]
    medians, ratios = {}, {}
    for (key, impl), by_round in rounds.items():
        for metric in WORKLOADS[key].metrics:
            values = [metrics.get(metric) for metrics in by_round.values()]
            medians.setdefault(key, {}).setdefault(impl, {})[metric] = (
                statistics.median(values) if None not in values else None)
            for other, _ in RATIO_COLUMNS:
                ratio = round_ratio(rounds, key, impl, metric, other)
                if ratio is not None:
                    ratios.setdefault(key, {}).setdefault(impl, {}).setdefault(
                        metric, {})[other] = ratio
    ours_builds = sorted({r["info"]["version"] for r in data["runs"]
                          if r["impl"] == OURS and "error" not in r})
    if len(ours_builds) > 1:
        print(f"warning: rocksq changed during the run: {', '.join(ours_builds)}",
              file=sys.stderr)
    data["versions"] = versions
    data["medians"] = medians
    data["ratios"] = ratios
    data["failed"] = [f"{r['workload']} {r['impl']} round {r['round'] + 1}: {r['error']}"
                      for r in data["runs"] if "error" in r]
    data["targets"] = []
    for target in TARGETS:
        value, status = target.evaluate(rounds)
        data["targets"].append({"target": target.text, "value": value, "status": status,
                                "measured": target.fmt.format(value) if value is not None
                                else "–"})
    return data


format_value = benchmarks.format_value


def format_ratio(value) -> str:
    if value is None:
        return "–"
    return f"{value:.2f}×" if value < 10 else f"{value:.0f}×"


def shown_impls(data):
    present = {record["impl"] for record in data["runs"]}
    return [name for name in IMPLS if name in present]


def markdown(data: dict) -> str:
    meta = data["meta"]
    impls = shown_impls(data)
    lines = [
        f"Measured {meta['date'][:10]} with `{meta['command']}` ({meta['mode']} mode, "
        f"median of {meta['rounds']} round{'s' if meta['rounds'] > 1 else ''}, "
        f"each run a fresh process): {meta['cores']} cores ({meta['cpu']}), "
        f"{meta['filesystem']}, Linux {meta['kernel']}, Python {meta['python']}. "
        "Ratios are medians of per-round ratios (runs side by side). "
        "Higher is better except MB. Items are random bytes. A push phase stops at its "
        "time cap (see results.md) if not done, so slow peers push fewer items; the pop "
        "phase pops what was pushed. Bold: ours.",
        "",
    ]
    header = ["workload", "unit"] + [IMPLS[name].label for name in impls]
    ratio_columns = [(other, title) for other, title in RATIO_COLUMNS if other in impls]
    header += [f"ours {title}" for _, title in ratio_columns]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * 2 + "---:|" * (len(header) - 2))
    for key, bench in WORKLOADS.items():
        if key not in data["medians"] and key not in data["skipped"]:
            continue
        for metric, spec in bench.metrics.items():
            row = [spec.label, spec.unit]
            any_value = False
            for name in impls:
                value = data["medians"].get(key, {}).get(name, {}).get(metric, "skip")
                if value == "skip":
                    row.append("n/a" if name in data["skipped"].get(key, {}) else "")
                else:
                    any_value |= value is not None
                    cell = format_value(value, spec.unit)
                    row.append(f"**{cell}**" if name == OURS else cell)
            if not any_value:
                continue
            ours_ratios = data["ratios"].get(key, {}).get(OURS, {}).get(metric, {})
            row += [format_ratio(ours_ratios.get(other)) for other, _ in ratio_columns]
            lines.append("| " + " | ".join(row) + " |")
    skipped = [(key, reasons) for key, reasons in data["skipped"].items()
               if set(reasons) & set(impls)]
    partial = {}  # metrics a run reported as n/a, with the run's reason
    for record in data["runs"]:
        for metric, value in record.get("metrics", {}).items():
            reason = record.get("info", {}).get(f"{metric}_skipped")
            if value is None and reason:
                label = WORKLOADS[record["workload"]].metrics[metric].label
                partial[(label, IMPLS[record["impl"]].label)] = reason
    if skipped or partial:
        lines += ["", "n/a:"]
        for key, reasons in skipped:
            by_reason = {}
            for name, reason in reasons.items():
                if name in impls:
                    by_reason.setdefault(reason, []).append(IMPLS[name].label)
            lines.append(f"- {key}: " + "; ".join(
                f"{', '.join(labels)}: {reason}" for reason, labels in by_reason.items()))
        for (label, impl_label), reason in partial.items():
            lines.append(f"- {label}: {impl_label}: {reason}")
    lines += ["", "| target (issue 5) | measured | status |", "|---|---:|---|"]
    for target in data["targets"]:
        lines.append(f"| {target['target']} | {target['measured']} | {target['status']} |")
    if data["failed"]:
        lines += ["", "Failed runs:"] + [f"- `{line.splitlines()[0]}`" for line in data["failed"]]
    return "\n".join(lines) + "\n"


def markdown_details(data: dict) -> str:
    """What results.md adds to the table: workloads, settings, versions."""
    lines = ["", "## Workloads", ""]
    for key, bench in WORKLOADS.items():
        if key in data["medians"]:
            sizes = bench.sizes[data["meta"]["mode"]]
            sizes = ", ".join(f"{name}={value}" for name, value in sizes.items())
            lines.append(f"- **{key}**: {bench.title} (`{sizes}`)")
    lines += ["", "## Implementations", ""]
    for name in shown_impls(data):
        version = data["versions"].get(name, "?")
        lines.append(f"- **{IMPLS[name].label}** ({version}): {IMPLS[name].notes}")
    return "\n".join(lines) + "\n"


def drain_run(data: dict):
    """Ours' drain run with the median disk usage after draining, or None."""
    runs = sorted((r for r in data["runs"] if r["workload"] == "drain"
                   and r["impl"] == OURS and "error" not in r),
                  key=lambda r: r["metrics"]["du_10s_mb"])
    return runs[len(runs) // 2] if runs else None


def plot(data: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    impls = shown_impls(data)
    colors = dict(zip(impls, plt.get_cmap("tab10").colors))
    panels = [(key, metric, spec) for key, bench in WORKLOADS.items() if key != "drain"
              for metric, spec in bench.metrics.items()
              if any(v.get(metric) is not None for v in data["medians"].get(key, {}).values())]
    drain = drain_run(data)
    columns = 3
    rows = (len(panels) + columns - 1) // columns + (drain is not None)
    figure = plt.figure(figsize=(6 * columns, 2.6 * rows))
    grid = figure.add_gridspec(rows, columns)
    for index, (key, metric, spec) in enumerate(panels):
        axis = figure.add_subplot(grid[index // columns, index % columns])
        values = [(name, data["medians"][key][name][metric]) for name in impls
                  if data["medians"].get(key, {}).get(name, {}).get(metric) is not None][::-1]
        bars = axis.barh([IMPLS[name].label for name, _ in values],
                         [value for _, value in values],
                         color=[colors[name] for name, _ in values])
        numbers = [value for _, value in values]
        for bar, (name, value) in zip(bars, values):
            if name == OURS:
                bar.set_edgecolor("black")
                bar.set_linewidth(1.5)
            axis.text(value, bar.get_y() + bar.get_height() / 2,
                      " " + format_value(value, spec.unit), va="center", fontsize=8)
        log = len(numbers) > 1 and max(numbers) / max(min(numbers), 1e-9) > 20
        if log:
            axis.set_xscale("log")
        axis.set_xlim(right=max(numbers) * (4 if log else 1.3))
        better = "" if spec.higher_is_better else ", lower is better"
        axis.set_title(f"{spec.label} ({spec.unit}{better})", fontsize=10)
        axis.tick_params(labelsize=8)
    if drain is not None:
        axis = figure.add_subplot(grid[rows - 1, :])
        info = drain["info"]
        seconds = [t for t, _, _ in info["samples"]]
        axis.plot(seconds, [du / 1e6 for _, du, _ in info["samples"]], marker=".",
                  label="du of the queue directory", color=colors[OURS])
        axis.plot(seconds, [size / 1e6 for _, _, size in info["samples"]], marker=".",
                  linestyle="--", label="disk_size", color="black")
        filled = info["fill_seconds"]
        drained = filled + info["drain_seconds"]
        axis.axvspan(0, filled, alpha=0.1, color="green", label="filling")
        axis.axvspan(filled, drained, alpha=0.1, color="red", label="draining")
        axis.axhline(0.05 * drain["metrics"]["peak_mb"], color="grey", linewidth=0.8,
                     linestyle=":", label="5 % of peak (target)")
        axis.set_xlabel("seconds", fontsize=8)
        axis.set_ylabel("MB", fontsize=8)
        axis.set_title(f"{IMPLS[OURS].label} disk usage: fill, drain, then idle "
                       "(the median round)", fontsize=10)
        axis.legend(fontsize=8, loc="center right")
        axis.tick_params(labelsize=8)
    meta = data["meta"]
    figure.suptitle(f"RocksQ vs peers, {meta['mode']} mode, median of {meta['rounds']} "
                    f"round(s), {meta['date'][:10]}, {meta['cores']} cores", fontsize=12)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def print_targets(data: dict) -> None:
    print("\nTargets (issue 5):")
    width = max(len(target["target"]) for target in data["targets"])
    for target in data["targets"]:
        print(f"  {target['status']:>12}  {target['target']:<{width}}  {target['measured']}")


def ours_build() -> str:
    """This interpreter's rocksq build: "release", "debian", "unknown" (or not reported)."""
    import rocksq

    build_info = getattr(rocksq, "build_info", None)
    return build_info()["build"] if build_info else "not reported"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="CI smoke test: small sizes, 1 round")
    parser.add_argument("--rounds", type=int, help="rounds (default 5, quick 1)")
    parser.add_argument("--out", type=Path, default=Path("build/bench"),
                        help="output directory, relative to the repository (default build/bench)")
    parser.add_argument("--report", type=Path, metavar="PAGE",
                        help="also render the table and plot into PAGE, a page of the docs "
                             "(docs/generated/performance.rst), relative to the repository")
    parser.add_argument("--only", help="comma-separated workloads (default: "
                        + ",".join(SIDE_BY_SIDE) + "; also " + ",".join(
                            key for key in WORKLOADS if key not in SIDE_BY_SIDE) + ")")
    parser.add_argument("--impls", help="comma-separated implementations (default: all): "
                        + ",".join(IMPLS))
    parser.add_argument("--any-build", action="store_true",
                        help="let --report publish a build other than the release build")
    parser.add_argument("--render-only", action="store_true",
                        help="rewrite the outputs from <out>/results.json without running")
    args = parser.parse_args()
    args.rounds_given = args.rounds is not None
    if args.rounds is None:
        args.rounds = 1 if args.quick else 5
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    args.out = args.out if args.out.is_absolute() else REPO / args.out
    workload_keys = args.only.split(",") if args.only else list(SIDE_BY_SIDE)
    impl_names = args.impls.split(",") if args.impls else list(IMPLS)
    unknown = [k for k in workload_keys if k not in WORKLOADS] + \
              [n for n in impl_names if n not in IMPLS]
    if unknown:
        parser.error(f"unknown workload or implementation: {', '.join(unknown)}")

    if args.report and not args.render_only and not args.any_build:
        build = ours_build()
        if build != "release":
            parser.error(f"--report publishes the release build's figures, and this "
                         f"interpreter's rocksq is the {build} build: run with the release "
                         f"wheel's Python (see the top of this script), or add --any-build")

    args.out.mkdir(parents=True, exist_ok=True)
    results_path = args.out / "results.json"
    if args.render_only:
        data = json.loads(results_path.read_text())
    else:
        data = run_all(args, workload_keys, impl_names)
    data = summarise(data)
    results_path.write_text(json.dumps(data, indent=1) + "\n")
    table = markdown(data)
    (args.out / "results.md").write_text(table + markdown_details(data))
    try:
        plot(data, args.out / "results.png")
    except ImportError:
        print("matplotlib is not installed (pip install matplotlib): no plot", file=sys.stderr)
    if args.report:
        report.write_report(args.report, table, f"{data['meta']['command']} --report {args.report}",
                            args.out / "results.png")

    print(table)
    print_targets(data)
    written = ["results.json", "results.md", "results.png"]
    print("\nwrote " + ", ".join(str((args.out / name).relative_to(REPO))
                               if (args.out / name).is_relative_to(REPO) else str(args.out / name)
                               for name in written)
          + (f" and {args.report}" if args.report else ""))
    if data["failed"]:
        print(f"\n{len(data['failed'])} run(s) failed:", *data["failed"], sep="\n", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
