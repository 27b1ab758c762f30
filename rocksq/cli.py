"""The ``rocksq`` command: look into a queue, and run the benchmarks.

::

    rocksq stats PATH              kind, length, payload and disk size, positions, labels
    rocksq peek PATH [-n N]        the next N items, without consuming them
    rocksq bench [--quick] ...     the benchmark suite of a source checkout
    rocksq --json stats PATH       the same, as JSON for scripts

``stats`` and ``peek`` work while another process has the queue open (see
:mod:`rocksq.inspection`). Exit status: 0 on success, 1 when the queue
cannot be read (no such path, not a queue, damaged files) or the
benchmark harness cannot run or fails, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional, Sequence

from . import _errors, inspection

__all__ = ["main"]

EXIT_OK = 0
EXIT_QUEUE_ERROR = 1
EXIT_USAGE = 2

HARNESS = Path("bench") / "compare.py"
"""Where the benchmark harness lives in a source checkout."""

PREVIEW_BYTES = 48
"""How much of an item ``peek`` shows to people (JSON carries it whole)."""


# --- Formatting ------------------------------------------------------------------


def human_bytes(count: int) -> str:
    """1536 -> "1.5 KiB"; exact below 1 KiB."""
    if count < 1024:
        return f"{count} B"
    value = float(count)
    for unit in ("KiB", "MiB", "GiB", "TiB", "PiB"):
        value /= 1024
        if value < 1024 or unit == "PiB":
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")


def _sizes(count: int) -> str:
    return f"{human_bytes(count)} ({count:,} bytes)" if count >= 1024 else human_bytes(count)


def _when(moment: Optional[datetime.datetime], now: datetime.datetime) -> str:
    if moment is None:
        return "-"
    age = max((now - moment).total_seconds(), 0.0)
    return f"{moment.isoformat(timespec='milliseconds')} ({_age(age)} ago)"


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def preview(data: bytes) -> str:
    """Text-like bytes as a Python bytes literal, others as hex; cut short for a terminal."""
    shown = data[:PREVIEW_BYTES]
    printable = sum(32 <= byte < 127 or byte in (9, 10, 13) for byte in shown)
    if not shown or printable >= 0.75 * len(shown):
        text = repr(shown)
    else:
        shown = shown[: PREVIEW_BYTES // 2]  # Hex takes three characters a byte.
        text = "hex " + shown.hex(" ")
    return text + (" ..." if len(data) > len(shown) else "")


def _iso(moment: Optional[datetime.datetime]) -> Optional[str]:
    return None if moment is None else moment.isoformat()


# --- Subcommands ------------------------------------------------------------------


def stats(args: argparse.Namespace) -> int:
    snapshot = inspection.inspect_queue(args.path)
    if args.json:
        _print_json(
            {
                "path": snapshot.path,
                "kind": snapshot.kind,
                "len": snapshot.len,
                "payload_size": snapshot.payload_size,
                "disk_size": snapshot.disk_size,
                "first_position": snapshot.first_position,
                "end_position": snapshot.end_position,
                "oldest_added": _iso(snapshot.oldest_added),
                "newest_added": _iso(snapshot.newest_added),
                "labels": [
                    {"label": label.label, "position": label.position, "unread": label.unread}
                    for label in snapshot.labels
                ],
                "failed_len": snapshot.failed_len,
                "failed_payload_size": snapshot.failed_payload_size,
            }
        )
        return EXIT_OK
    mpmc = snapshot.kind == "mpmc"
    rows = [
        ("path", snapshot.path),
        ("kind", snapshot.kind_name),
        ("elements stored" if mpmc else "items", f"{snapshot.len:,}"),
        ("payload size", _sizes(snapshot.payload_size)),
        ("disk size", _sizes(snapshot.disk_size)),
        ("positions", f"{snapshot.first_position:,} to {snapshot.end_position:,} (end excluded)"),
    ]
    if snapshot.kind == "ack":
        rows += [
            ("failed", f"{snapshot.failed_len:,} ({_sizes(snapshot.failed_payload_size)})"),
        ]
    if mpmc:
        now = datetime.datetime.now(datetime.timezone.utc)
        rows += [
            ("oldest added", _when(snapshot.oldest_added, now)),
            ("newest added", _when(snapshot.newest_added, now)),
            ("labels", str(len(snapshot.labels))),
        ]
    width = max(len(name) for name, _ in rows) + 1
    for name, value in rows:
        print(f"{name + ':':<{width}} {value}")
    if mpmc:
        if snapshot.labels:
            label_width = max(5, *(len(label.label) for label in snapshot.labels))
            print(f"  {'label':<{label_width}}  {'position':>12}  {'unread':>12}")
            for label in snapshot.labels:
                print(f"  {label.label:<{label_width}}  {label.position:>12,}  {label.unread:>12,}")
        print("(the ttl is the opener's option and is not stored: expired elements not yet")
        print(" deleted are counted)")
    return EXIT_OK


def peek(args: argparse.Namespace) -> int:
    items = inspection.peek(args.path, args.n, args.label)
    if args.json:
        _print_json(
            {
                "path": str(args.path),
                "label": args.label,
                "items": [
                    {
                        "position": item.position,
                        "size": len(item.data),
                        "added": _iso(item.added),
                        "data_base64": base64.b64encode(item.data).decode("ascii"),
                    }
                    for item in items
                ],
            }
        )
        return EXIT_OK
    if not items:
        print("(no items)" if args.label is None else f"(nothing unread for label {args.label!r})")
        return EXIT_OK
    width = len(f"{items[-1].position:,}")
    for item in items:
        added = f"  {item.added.isoformat(timespec='milliseconds')}" if item.added else ""
        print(f"#{item.position:<{width},}  {human_bytes(len(item.data)):>9}{added}  {preview(item.data)}")
    return EXIT_OK


def find_harness(given: Optional[Path]) -> Path:
    """bench/compare.py: `given`, else in the current directory or one of its parents."""
    if given is not None:
        if not given.is_file():
            raise HarnessMissing(f"{given}: no such file")
        return given
    for directory in (Path.cwd(), *Path.cwd().parents):
        candidate = directory / HARNESS
        if candidate.is_file() and (directory / "pyproject.toml").is_file():
            return candidate
    raise HarnessMissing(
        "the benchmark harness (bench/compare.py) ships with the source repository, not "
        "with the installed package: run this command inside a checkout of RocksQ, or "
        "pass --harness PATH/TO/bench/compare.py"
    )


class HarnessMissing(Exception):
    """The benchmark harness cannot be found."""


def bench(args: argparse.Namespace) -> int:
    harness = find_harness(args.harness)
    command = [sys.executable, str(harness)]
    if args.quick:
        command.append("--quick")
    if args.rounds is not None:
        command += ["--rounds", str(args.rounds)]
    if args.out is not None:
        command += ["--out", str(args.out.resolve())]
    if args.only:
        command += ["--only", args.only]
    if args.impls:
        command += ["--impls", args.impls]
    if args.update_readme:
        command.append("--update-readme")
    # The harness draws its own progress bar and writes the table
    # (results.md) and the plot (results.png) under --out.
    return subprocess.call(command)


# --- Entry point ------------------------------------------------------------------


def _print_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2)
    sys.stdout.write("\n")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rocksq",
        description="Look into RocksQ queues, and run the benchmark suite.",
        epilog="Exit status: 0 success, 1 the queue cannot be read or the benchmark "
        "failed, 2 usage error.",
    )
    parser.add_argument("--json", action="store_true", help="print JSON, for scripts")
    # Each subcommand takes --json too; SUPPRESS keeps it from undoing the global one.
    json_option = argparse.ArgumentParser(add_help=False)
    json_option.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="print JSON, for scripts"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    stats_parser = commands.add_parser(
        "stats",
        parents=[json_option],
        help="kind, length, payload and disk size, positions and labels of a queue",
        description="Shows a queue's kind, length, payload and disk size, positions, and "
        "for an MPMC queue its labels and their positions. Works while another process "
        "has the queue open; changes nothing.",
    )
    stats_parser.add_argument("path", type=Path, help="the queue's directory")
    stats_parser.set_defaults(run=stats)

    peek_parser = commands.add_parser(
        "peek",
        parents=[json_option],
        help="the next items of a queue, without consuming them",
        description="Prints the oldest stored items without consuming them (JSON: whole, "
        "in base64). Works while another process has the queue open; changes nothing.",
    )
    peek_parser.add_argument("path", type=Path, help="the queue's directory")
    peek_parser.add_argument(
        "-n", type=_count, default=10, metavar="N", help="how many items (default 10)"
    )
    peek_parser.add_argument(
        "--label", help="MPMC queue: the items this label reads next (default: the oldest)"
    )
    peek_parser.set_defaults(run=peek)

    bench_parser = commands.add_parser(
        "bench",
        help="run the benchmark suite (bench/compare.py of a source checkout)",
        description="Runs the benchmark suite, RocksQ against its peers side by side, with "
        "a progress bar; writes results.md (the table) and results.png (the plot) under "
        "--out. Needs a source checkout: the harness is not part of the installed package. "
        "The full suite takes about 10 minutes on 2 cores; --quick about 1.",
    )
    bench_parser.add_argument("--quick", action="store_true", help="small sizes, 1 round")
    bench_parser.add_argument("--rounds", type=_count, help="rounds (default 5, quick 1)")
    bench_parser.add_argument(
        "--out", type=Path, help="output directory (default: build/bench in the checkout)"
    )
    bench_parser.add_argument("--only", metavar="W1,W2,...", help="only these workloads")
    bench_parser.add_argument(
        "--impls", metavar="NAME,...", help="only these implementations (e.g. rocksq)"
    )
    bench_parser.add_argument(
        "--update-readme", action="store_true", help="also rewrite README.md's results table"
    )
    bench_parser.add_argument(
        "--harness", type=Path, metavar="PATH", help="bench/compare.py to run (default: found "
        "in the current directory or its parents)"
    )
    bench_parser.set_defaults(run=bench)
    return parser


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {value}")
    return value


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs the command line `argv` (default: sys.argv[1:]); returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status: int = args.run(args)
        return status
    except (_errors.RocksQError, ValueError, HarnessMissing) as error:
        if args.json:
            _print_json({"error": {"type": type(error).__name__, "message": str(error)}})
        print(f"rocksq {args.command}: {error}", file=sys.stderr)
        return EXIT_QUEUE_ERROR
    except BrokenPipeError:
        # `rocksq peek ... | head`: the reader left; that is not an error.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
