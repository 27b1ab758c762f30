"""The ``rocksq`` command: look into a queue, and run the benchmarks.

::

    rocksq stats PATH              kind, length, payload and disk size, positions, labels
    rocksq peek PATH [-n N]        the next N items, without consuming them
    rocksq check PATH              every file and record checked; what is wrong
    rocksq bench [--quick] ...     the benchmark suite of a source checkout
    rocksq --json stats PATH       the same, as JSON for scripts

``stats``, ``peek`` and ``check`` work while another process has the queue
open (see :mod:`rocksq.inspection`). Exit status (the ``EXIT_*`` constants below):

- 0: success; for ``check``, the queue is sound.
- 1: the queue is damaged: files that do not load, checksums that fail,
  records that break the queue's invariants. ``check`` reads everything and
  lists what it finds; ``stats`` and ``peek`` refuse files that do not load
  and records they read that do not check out.
- 2: usage error: an unknown option, a bad number, a label the queue lacks.
- 3: the path cannot be read: it does not exist, is not a queue, or a file
  cannot be opened (permissions, I/O errors); ``bench``: no harness to run.
- 4: ``check`` only: nothing else is wrong, but a damaged write-ahead log
  made an open drop records, or will make the next open drop them. The
  queue keeps a note of such a loss for good, so ``check`` exits 4 from
  then on; ``stats`` shows the note and exits 0.

``bench`` exits with the harness's own status once the harness runs.
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
EXIT_DAMAGED = 1
EXIT_USAGE = 2
EXIT_UNREADABLE = 3
EXIT_RECORDS_DROPPED = 4

HARNESS = Path("bench") / "compare.py"
"""Where the benchmark harness lives in a source checkout."""

PREVIEW_BYTES = 48
"""How much of an item ``peek`` shows to people (JSON carries it whole)."""

LABEL_CHARACTERS = 64
"""How much of a label ``stats`` shows to people (JSON carries it whole)."""

MAX_COUNT = sys.maxsize
"""The largest count an option takes (the core counts in 64 bits)."""


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


def printable(text: str, limit: Optional[int] = None) -> str:
    """`text` safe for a terminal: control and other unprintable characters
    escaped as repr() escapes them, bytes a path or label held that are not
    UTF-8 (surrogate escapes) as \\xNN, a backslash doubled; cut to `limit`
    characters with "..." after."""
    shown = []
    for character in text[:limit] if limit is not None else text:
        if "\udc80" <= character <= "\udcff":
            shown.append(f"\\x{ord(character) - 0xDC00:02x}")
        elif character == "\\":
            shown.append("\\\\")
        elif character.isprintable():
            shown.append(character)
        else:
            shown.append(repr(character)[1:-1])
    return "".join(shown) + (" ..." if limit is not None and len(text) > limit else "")


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
                "dropped_records": list(snapshot.dropped_records),
            }
        )
        return EXIT_OK
    mpmc = snapshot.kind == "mpmc"
    rows = [
        ("path", printable(snapshot.path)),
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
            names = [printable(label.label, LABEL_CHARACTERS) for label in snapshot.labels]
            label_width = max(5, *(len(name) for name in names))
            print(f"  {'label':<{label_width}}  {'position':>12}  {'unread':>12}")
            for name, label in zip(names, snapshot.labels):
                print(f"  {name:<{label_width}}  {label.position:>12,}  {label.unread:>12,}")
        print("(the ttl is the opener's option and is not stored: expired elements not yet")
        print(" deleted are counted)")
    for line in snapshot.dropped_records:
        print(f"dropped records: {printable(line)}")
    return EXIT_OK


def check(args: argparse.Namespace) -> int:
    report = inspection.check_queue(args.path)
    if report.damage:
        status = EXIT_DAMAGED
    elif report.dropped_records:
        status = EXIT_RECORDS_DROPPED
    else:
        status = EXIT_OK
    if args.json:
        _print_json(
            {
                "path": report.path,
                "kind": report.kind,
                "healthy": report.healthy,
                "damage": list(report.damage),
                "dropped_records": list(report.dropped_records),
                "records_checked": report.records_checked,
                "exit_status": status,
            }
        )
        return status
    print(f"{printable(report.path)}: {inspection.KIND_NAMES.get(report.kind, report.kind)}, "
          f"{report.records_checked:,} records checked")
    for line in report.damage:
        print(f"damaged: {printable(line)}")
    for line in report.dropped_records:
        print(f"dropped records: {printable(line)}")
    if status == EXIT_OK:
        print("sound: every checksum and invariant holds")
    return status


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
        print(
            "(no items)"
            if args.label is None
            else f"(nothing unread for label '{printable(args.label, LABEL_CHARACTERS)}')"
        )
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
        epilog="Exit status: 0 success (check: the queue is sound), 1 the queue is "
        "damaged, 2 usage error, 3 the path cannot be read or is not a queue, 4 (check) "
        "records were dropped by recovery from a damaged write-ahead log; bench: the "
        "harness's status.",
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
    stats_parser.add_argument("path", type=_queue_path, help="the queue's directory")
    stats_parser.set_defaults(run=stats)

    peek_parser = commands.add_parser(
        "peek",
        parents=[json_option],
        help="the next items of a queue, without consuming them",
        description="Prints the oldest stored items without consuming them (JSON: whole, "
        "in base64). Works while another process has the queue open; changes nothing.",
    )
    peek_parser.add_argument("path", type=_queue_path, help="the queue's directory")
    peek_parser.add_argument(
        "-n", type=_count, default=10, metavar="N", help="how many items (default 10)"
    )
    peek_parser.add_argument(
        "--label", help="MPMC queue: the items this label reads next (default: the oldest)"
    )
    peek_parser.set_defaults(run=peek)

    check_parser = commands.add_parser(
        "check",
        parents=[json_option],
        help="check every file and record of a queue; say what is wrong",
        description="Loads every file of the queue and verifies every checksum, checks "
        "that the write-ahead log is whole or only cut short at its end, and reads every "
        "record to check the invariants of the queue's kind (positions, counts and payload "
        "totals, the read cursor file, labels, the ack log). Prints what is wrong. Takes as "
        "long as reading the queue once; works while another process has the queue open; "
        "changes nothing. Exit status: 0 sound, 1 damaged, 3 cannot be read or not a "
        "queue, 4 records were dropped by recovery from a damaged write-ahead log (or "
        "will be at the next open) and nothing else is wrong.",
    )
    check_parser.add_argument("path", type=_queue_path, help="the queue's directory")
    check_parser.set_defaults(run=check)

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


def _queue_path(text: str) -> Path:
    # Paths from sys.argv cannot hold NUL; ones given to main() can.
    if "\0" in text:
        raise argparse.ArgumentTypeError(f"a path cannot hold a NUL character: {text!r}")
    return Path(text)


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {value}")
    if value > MAX_COUNT:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_COUNT}: {text}")
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
        print(f"rocksq {args.command}: {printable(str(error))}", file=sys.stderr)
        if isinstance(error, _errors.CorruptionError):
            return EXIT_DAMAGED
        if isinstance(error, ValueError):  # A label the queue lacks.
            return EXIT_USAGE
        return EXIT_UNREADABLE
    except BrokenPipeError:
        # `rocksq peek ... | head`: the reader left; that is not an error.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
