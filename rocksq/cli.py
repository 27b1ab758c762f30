"""The ``rocksq`` command: look into a queue, and run the benchmarks.

::

    rocksq stats PATH              owner and attached processes, kind, format, length,
                                   sizes, oldest item age, positions, labels, failures
    rocksq peek PATH [-n N]        the next N items, without consuming them
    rocksq check PATH              every file and record checked; what is wrong
    rocksq bench [--quick] ...     RocksQ's own workloads, timed (rocksq.benchmarks)
    rocksq forward QUEUE_PATH URL  a local ack queue into JetStream or Redis (rocksq.bridge)
    rocksq pull URL QUEUE_PATH     a JetStream or Redis stream into a local ack queue
    rocksq --json stats PATH       the same, as JSON for scripts

``stats``, ``peek`` and ``check`` work while another process has the queue
open (see :mod:`rocksq.inspection`). Exit status (the ``EXIT_*`` constants below):

- 0: success; for ``check``, the queue is sound.
- 1: the queue is damaged: files that do not load, checksums that fail,
  records that break the queue's invariants. ``check`` reads everything and
  lists what it finds; ``stats`` and ``peek`` refuse files that do not load
  and records they read that do not check out. ``bench``: a run failed (the
  table and the JSON say why).
- 2: usage error: an unknown option, a bad number, a label the queue lacks.
- 3: the path cannot be read: it does not exist, is not a queue, or a file
  cannot be opened (permissions, I/O errors); ``bench``: ``--dir`` cannot
  be made or written.
- 4: ``check`` only: nothing else is wrong, but a damaged write-ahead log
  made an open drop records, or will make the next open drop them. The
  queue keeps a note of such a loss for good, so ``check`` exits 4 from
  then on; ``stats`` shows the note and exits 0.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence

from . import _errors, benchmarks, inspection
from .bridge import _command as bridge_commands

__all__ = ["main"]

EXIT_OK = 0
EXIT_DAMAGED = 1
EXIT_USAGE = 2
EXIT_UNREADABLE = 3
EXIT_RECORDS_DROPPED = 4
EXIT_RUN_FAILED = 1  # bench: a workload's run failed

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


STATS_SCHEMA = 1
"""``stats --json``'s ``schema``: raised when a key changes meaning or goes (keys may be added)."""


def stats(args: argparse.Namespace) -> int:
    snapshot = inspection.inspect_queue(args.path)
    owner = inspection.inspect_owner(args.path)
    now = datetime.datetime.now(datetime.timezone.utc)
    # The owner's live figures when it answers; else the files', as of the inspection.
    counted: Any = owner if owner.answered else snapshot
    oldest_age = _oldest_item_age_seconds(snapshot, owner, now)
    if args.json:
        _print_json(
            {
                "schema": STATS_SCHEMA,
                "path": snapshot.path,
                "kind": snapshot.kind,
                "format_version": snapshot.format_version,
                "queue_id": snapshot.queue_id,
                "owner": None
                if owner.pid is None
                else {
                    "pid": owner.pid,
                    "attach": owner.answered,
                    "version": owner.version,
                    "refusal": owner.refusal,
                },
                "attached": [
                    {"pid": process.pid, "uid": process.uid, "connections": process.connections}
                    for process in owner.attached
                ],
                "counted_by": "owner" if owner.answered else "files",
                "len": counted.len,
                "payload_size": counted.payload_size,
                "disk_size": counted.disk_size,
                "oldest_item_age_seconds": oldest_age,
                "oldest_item_age_is_lower_bound": owner.answered
                and owner.oldest_age_is_lower_bound,
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
                "last_background_failure": snapshot.last_background_failure or None,
            }
        )
        return EXIT_OK
    mpmc = snapshot.kind == "mpmc"
    rows = [
        ("path", printable(snapshot.path)),
        ("kind", snapshot.kind_name),
        ("format version", str(snapshot.format_version)),
        ("queue id", snapshot.queue_id or "none yet (created by an earlier release)"),
        ("owner", _owner_text(owner)),
        ("attached", _attached_text(owner)),
        ("elements stored" if mpmc else "items", f"{counted.len:,}"),
        ("payload size", _sizes(counted.payload_size)),
        ("disk size", _sizes(counted.disk_size)),
        ("counted by", "the owner" if owner.answered else "the queue's files"),
        ("oldest item age", _oldest_age_text(oldest_age, snapshot, owner)),
        ("positions", f"{snapshot.first_position:,} to {snapshot.end_position:,} (end excluded)"),
        ("background failure", printable(snapshot.last_background_failure) or "none logged"),
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
    if owner.attached:
        print(f"  {'pid':>10}  {'uid':>10}  {'connections':>11}")
        for process in owner.attached:
            print(f"  {process.pid:>10}  {process.uid:>10}  {process.connections:>11}")
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


def _oldest_item_age_seconds(
    snapshot: inspection.QueueStats, owner: inspection.QueueOwner, now: datetime.datetime
) -> Optional[float]:
    """The oldest item's age from the owner when it answers with one, else from
    the files (MPMC elements carry their time); None for items without a time, or
    none."""
    if owner.answered and owner.oldest_age is not None:
        return owner.oldest_age.total_seconds()
    if snapshot.oldest_added is None:
        return None
    return max((now - snapshot.oldest_added).total_seconds(), 0.0)


def _oldest_age_text(
    age: Optional[float], snapshot: inspection.QueueStats, owner: inspection.QueueOwner
) -> str:
    if age is not None:
        if owner.answered and owner.oldest_age_is_lower_bound:
            return f"at least {_age(age)} (stored before the owner opened the queue)"
        return _age(age)
    if snapshot.kind == "mpmc" or owner.answered:
        return "- (none stored)"
    return (
        f"unknown (the items of {snapshot.kind_name}s carry no time: only an owner"
        " serving attach knows it)"
    )


def _attached_text(owner: inspection.QueueOwner) -> str:
    if owner.refusal:
        return "unknown (the owner did not answer)"
    if not owner.answered:
        return "none" if owner.pid is None else "none (the owner did not open with attach)"
    count = len(owner.attached)
    return f"{count} process{'' if count == 1 else 'es'}"


def _owner_text(owner: inspection.QueueOwner) -> str:
    if owner.pid is None:
        return "none (no process has the queue open)"
    if owner.answered:
        return f"process {owner.pid} (RocksQ {owner.version}, attach=True)"
    if owner.refusal:
        return f"process {owner.pid} (did not answer: {printable(owner.refusal)})"
    return f"process {owner.pid} (opened without attach)"


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
                "format_version": report.format_version,
                "healthy": report.healthy,
                "damage": list(report.damage),
                "dropped_records": list(report.dropped_records),
                "records_checked": report.records_checked,
                "exit_status": status,
            }
        )
        return status
    kind = inspection.KIND_NAMES.get(report.kind, report.kind)
    print(f"{printable(report.path)}: {kind} (format version {report.format_version}), "
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


class BenchDirectoryError(Exception):
    """``bench --dir`` names a directory that cannot be made or written."""


def bench(args: argparse.Namespace) -> int:
    mode = "quick" if args.quick else "full"
    rounds = args.rounds if args.rounds is not None else DEFAULT_ROUNDS[mode]
    keys = args.only or list(benchmarks.WORKLOADS)
    with _bench_directory(args.dir) as directory:
        records = benchmarks.run_suite(
            keys, mode, rounds, directory, lambda line: print(line, file=sys.stderr, flush=True)
        )
    report = _bench_report(records, keys, mode, rounds, directory)
    if isinstance(args.json, str):
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    if args.json is True:
        _print_json(report)
    else:
        _print_bench_table(report)
    return EXIT_RUN_FAILED if report["failed"] else EXIT_OK


DEFAULT_ROUNDS = {"quick": 1, "full": 3}
"""``bench``'s rounds unless --rounds says: one for a smoke test, three for figures."""


@contextlib.contextmanager
def _bench_directory(given: Optional[Path]) -> Iterator[Path]:
    """`given` (made if missing; runs remove their own queues), else a temporary directory."""
    if given is None:
        with tempfile.TemporaryDirectory(prefix="rocksq-bench-") as made:
            yield Path(made)
        return
    try:
        given.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=given):  # Can a run write there?
            pass
    except OSError as error:
        raise BenchDirectoryError(f"--dir {given}: {error.strerror or error}") from None
    yield given.resolve()


def _bench_report(
    records: List[Dict[str, Any]], keys: Sequence[str], mode: str, rounds: int, directory: Path
) -> Dict[str, Any]:
    versions = sorted({r["info"]["version"] for r in records if "error" not in r})
    return {
        "mode": mode,
        "rounds": rounds,
        "directory": str(directory),
        "versions": versions,
        "python": sys.version.split()[0],
        "workloads": {key: benchmarks.WORKLOADS[key].title for key in keys},
        "medians": benchmarks.medians(records),
        "failed": [
            f"{r['workload']} round {r['round'] + 1}: {r['error']}" for r in records if "error" in r
        ],
        "runs": records,
    }


def _print_bench_table(report: Dict[str, Any]) -> None:
    rounds = report["rounds"]
    print(f"rocksq {', '.join(report['versions']) or '?'}, Python {report['python']}")
    print(
        f"{report['mode']} sizes, median of {rounds} round{'s' if rounds > 1 else ''}; "
        f"each run a fresh process, its queue in {printable(report['directory'])}"
    )
    rows = [
        (key, metric.label, benchmarks.format_value(value, metric.unit), metric.unit)
        for key in report["workloads"]
        for name, metric in benchmarks.WORKLOADS[key].metrics.items()
        for value in [report["medians"].get(key, {}).get(name)]
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    for key, label, value, unit in rows:
        print(f"  {key:<{widths[0]}}  {label:<{widths[1]}}  {value:>{widths[2]}} {unit}")
    for line in report["failed"]:
        print(f"failed: {printable(line)}")


# --- Entry point ------------------------------------------------------------------


def _print_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2)
    sys.stdout.write("\n")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rocksq",
        description="Look into RocksQ queues, and time RocksQ's own workloads.",
        epilog="Exit status: 0 success (check: the queue is sound), 1 the queue is "
        "damaged, 2 usage error, 3 the path cannot be read or is not a queue, 4 (check) "
        "records were dropped by recovery from a damaged write-ahead log; bench: 1 a run "
        "failed, 3 --dir cannot be used.",
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
        help="owner, attached processes, length, sizes, oldest item's age, positions and labels",
        description="Shows a queue's kind, format version, owning process and the processes "
        "attached to it, length, payload and disk size, the age of its oldest item (MPMC), "
        "positions, the last background failure in its LOG, and for an MPMC queue its labels "
        "and their positions. Works while another process "
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
        help="time RocksQ's own workloads (the faces, FIFO, MPMC, ack, sync)",
        description="Runs the workloads RocksQ measures itself with (rocksq.benchmarks: "
        "small and large items, batches, threads, sync pushes, MPMC, and each face's "
        "calls), each run a fresh process with its queue in a fresh directory, and prints "
        "the median of the rounds of each metric. --quick (small sizes, 1 round) takes "
        "about 10 seconds on 2 cores; a round at the full sizes about a minute. The comparison "
        "with other queues is a script of the source repository (bench/compare.py).",
    )
    bench_parser.add_argument("--quick", action="store_true", help="small sizes, 1 round")
    bench_parser.add_argument(
        "--rounds", type=_rounds, help="rounds; each metric is their median (default 3, quick 1)"
    )
    bench_parser.add_argument(
        "--only",
        type=_workload_keys,
        metavar="NAME,...",
        help="only these workloads: " + ",".join(benchmarks.WORKLOADS),
    )
    bench_parser.add_argument(
        "--dir",
        type=_queue_path,
        metavar="DIR",
        help="where the queues are made (default: a new temporary directory, which may be "
        "in memory: give a directory on the disk to measure)",
    )
    bench_parser.add_argument(
        "--json",
        nargs="?",
        const=True,
        default=argparse.SUPPRESS,
        metavar="FILE",
        help="write every run and the medians as JSON to FILE (without FILE: print them "
        "instead of the table)",
    )
    bench_parser.set_defaults(run=bench)
    bridge_commands.add_commands(commands, _queue_path, _count)
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


def _rounds(text: str) -> int:
    value = _count(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _workload_keys(text: str) -> List[str]:
    keys = [key for key in text.split(",") if key]
    unknown = [key for key in keys if key not in benchmarks.WORKLOADS]
    if unknown or not keys:
        raise argparse.ArgumentTypeError(
            f"unknown workload {', '.join(map(repr, unknown)) or repr(text)}: "
            f"the workloads are {', '.join(benchmarks.WORKLOADS)}"
        )
    return keys


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Runs the command line `argv` (default: sys.argv[1:]); returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status: int = args.run(args)
        return status
    except (_errors.RocksQError, ValueError, BenchDirectoryError) as error:
        if args.json is True:
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
