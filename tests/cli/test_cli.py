"""The `rocksq` command (rocksq/cli.py): stats, peek, bench, --json, exit codes."""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import time
from pathlib import Path

import pytest
from support import REPO_ROOT

import rocksq
import rocksq.blocking
import rocksq.inspection
from rocksq import cli
from rocksq.blocking import MpmcQueue



def run_cli(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`python -m rocksq ARGS` in a fresh interpreter, which imports the installed rocksq."""
    return subprocess.run(
        [sys.executable, "-m", "rocksq", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_json(*args: str, cwd: Path) -> dict:
    completed = run_cli("--json", *args, cwd=cwd)
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


def console_script() -> str:
    """The installed `rocksq` console script, beside this interpreter first."""
    for directory in (Path(sys.executable).parent, Path(sysconfig.get_path("scripts"))):
        if (directory / "rocksq").is_file():
            return str(directory / "rocksq")
    found = shutil.which("rocksq")
    assert found, "the rocksq console script is not installed ([project.scripts] in pyproject.toml)"
    return found


@pytest.fixture
def fifo_path(tmp_path: Path) -> str:
    """A FIFO queue holding b"first", 2000 bytes of 0xff, b"third" after one pop of b"zero"."""
    path = str(tmp_path / "fifo")
    queue = rocksq.PersistentQueueWithCapacity(path)
    for item in (b"zero", b"first", b"\xff" * 2000, b"third"):
        queue.push(item)
    assert queue.pop() == b"zero"
    queue.close()
    return path


@pytest.fixture
def mpmc_path(tmp_path: Path) -> str:
    path = str(tmp_path / "mpmc")
    queue = MpmcQueue(path, ttl=3600)
    queue.add([b"e1", b"e2", b"e3", b"e4"])
    queue.next("audit", rocksq.StartPosition.Oldest, max_elements=3)
    queue.next("live", rocksq.StartPosition.Newest, max_elements=0)
    queue.close()
    return path


# --- stats ---------------------------------------------------------------------


def test_stats_json_gives_a_fifo_queues_kind_length_and_exact_sizes(
    fifo_path: str, tmp_path: Path
) -> None:
    stats = run_json("stats", fifo_path, cwd=tmp_path)

    assert stats["kind"] == "fifo"
    assert stats["len"] == 3
    assert stats["payload_size"] == 5 + 2000 + 5
    assert stats["disk_size"] > 0
    assert (stats["first_position"], stats["end_position"]) == (1, 4)
    assert stats["labels"] == []
    assert stats["oldest_added"] is None


def test_stats_json_lists_mpmc_labels_with_positions_and_unread_counts(
    mpmc_path: str, tmp_path: Path
) -> None:
    stats = run_json("stats", mpmc_path, cwd=tmp_path)

    assert stats["kind"] == "mpmc"
    assert stats["len"] == 4
    assert stats["payload_size"] == 8
    assert stats["labels"] == [
        {"label": "audit", "position": 3, "unread": 1},
        {"label": "live", "position": 3, "unread": 1},
    ]
    assert stats["oldest_added"] is not None and stats["newest_added"] >= stats["oldest_added"]


def test_stats_json_counts_an_ack_queues_stored_and_failed_items(tmp_path: Path) -> None:
    path = str(tmp_path / "ack")
    with rocksq.AckQueue(path) as queue:
        queue.put_many([b"a", b"bb", b"ccc", b"dddd"])
        queue.ack(queue.get_nowait())          # b"a": gone
        queue.ack_failed(queue.get_nowait())   # b"bb": set aside
        queue.get_nowait()                     # b"ccc": handed out, still stored
        stats = run_json("stats", path, cwd=tmp_path)
        peeked = run_json("peek", path, "-n", "10", cwd=tmp_path)

    assert stats["kind"] == "ack"
    assert (stats["len"], stats["payload_size"]) == (3, 2 + 3 + 4)
    assert (stats["failed_len"], stats["failed_payload_size"]) == (1, 2)
    assert len(peeked["items"]) == 2


def test_stats_for_people_shows_units_and_exact_bytes(fifo_path: str, tmp_path: Path) -> None:
    completed = run_cli("stats", fifo_path, cwd=tmp_path)

    assert completed.returncode == 0, completed.stderr
    assert "kind:" in completed.stdout and "FIFO queue" in completed.stdout
    assert "items:" in completed.stdout and " 3\n" in completed.stdout
    assert "2.0 KiB (2,010 bytes)" in completed.stdout


def test_stats_shows_the_format_version_and_the_newest_background_failure_in_the_log(
    fifo_path: str, tmp_path: Path
) -> None:
    assert run_json("stats", fifo_path, cwd=tmp_path)["last_background_failure"] is None
    shown = run_cli("stats", fifo_path, cwd=tmp_path).stdout
    assert "background failure: none logged\n" in shown
    # Lines as the queue writes them (cpp/src/background_loop.h), then one of RocksDB's own.
    failure = "reclaiming removed items' space: IO error: disk gone (at 2026-01-02 03:05:05 UTC)"
    with open(Path(fifo_path) / "LOG", "a") as log:
        log.write("2026/01/02-03:04:05 [ERROR] [rocksq] background work failed: an older one\n")
        log.write(f"2026/01/02-03:05:05 [ERROR] [rocksq] background work failed: {failure}\n")
        log.write("2026/01/02-03:06:05 ------- DUMPING STATS -------\n")

    stats = run_json("stats", fifo_path, cwd=tmp_path)
    assert stats["format_version"] == 1
    assert stats["last_background_failure"] == failure
    completed = run_cli("stats", fifo_path, cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert "format version:" in completed.stdout
    assert f"background failure: {failure}\n" in completed.stdout
    snapshot = rocksq.inspection.inspect_queue(fifo_path)
    assert (snapshot.format_version, snapshot.last_background_failure) == (1, failure)
    assert rocksq.inspection.check_queue(fifo_path).format_version == 1


def test_stats_for_people_shows_mpmc_labels(mpmc_path: str, tmp_path: Path) -> None:
    completed = run_cli("stats", mpmc_path, cwd=tmp_path)

    assert completed.returncode == 0, completed.stderr
    assert "MPMC queue" in completed.stdout
    assert any(line.split() == ["audit", "3", "1"] for line in completed.stdout.splitlines())


def test_json_option_is_accepted_after_the_subcommand_too(fifo_path: str, tmp_path: Path) -> None:
    completed = run_cli("stats", fifo_path, "--json", cwd=tmp_path)

    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["len"] == 3


# --- peek ----------------------------------------------------------------------


def test_peek_json_returns_the_oldest_items_whole_in_base64(fifo_path: str, tmp_path: Path) -> None:
    result = run_json("peek", fifo_path, "-n", "2", cwd=tmp_path)

    items = result["items"]
    assert [item["position"] for item in items] == [1, 2]
    assert [base64.b64decode(item["data_base64"]) for item in items] == [b"first", b"\xff" * 2000]
    assert [item["size"] for item in items] == [5, 2000]


def test_peek_for_people_shows_text_as_bytes_literals_and_binary_as_hex(
    fifo_path: str, tmp_path: Path
) -> None:
    completed = run_cli("peek", fifo_path, cwd=tmp_path)

    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("#1") and "b'first'" in lines[0]
    assert "hex ff ff" in lines[1] and lines[1].endswith("...")
    assert "b'third'" in lines[2]


def test_peek_does_not_consume(fifo_path: str, tmp_path: Path) -> None:
    for _ in range(2):
        assert run_cli("peek", fifo_path, "-n", "3", cwd=tmp_path).returncode == 0

    queue = rocksq.PersistentQueueWithCapacity(fifo_path)
    assert queue.len() == 3
    assert queue.pop() == b"first"
    queue.close()


def test_peek_with_a_label_shows_what_it_reads_next_without_moving_it(
    mpmc_path: str, tmp_path: Path
) -> None:
    result = run_json("peek", mpmc_path, "--label", "audit", cwd=tmp_path)

    assert [base64.b64decode(item["data_base64"]) for item in result["items"]] == [b"e4"]
    assert result["items"][0]["added"] is not None
    queue = MpmcQueue(mpmc_path, ttl=3600)
    assert queue.next("audit", rocksq.StartPosition.Oldest, max_elements=10) == ([b"e4"], False)
    queue.close()


def test_peek_with_an_unknown_label_is_a_usage_error(mpmc_path: str, tmp_path: Path) -> None:
    completed = run_cli("peek", mpmc_path, "--label", "nobody", cwd=tmp_path)

    assert completed.returncode == 2
    assert "no label 'nobody'" in completed.stderr


def test_peek_an_empty_queue_says_so(tmp_path: Path) -> None:
    path = str(tmp_path / "empty")
    rocksq.PersistentQueueWithCapacity(path).close()

    completed = run_cli("peek", path, cwd=tmp_path)

    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "(no items)"


# --- check, and what stats says about damage -------------------------------------


def flushed_fifo_queue(path: Path) -> Path:
    """A closed FIFO queue of 300 items of 1000 bytes, in a table file."""
    queue = rocksq.blocking.PersistentQueueWithCapacity(str(path))
    queue.push([b"%04d" % number * 250 for number in range(300)])
    queue.close()
    rocksq.PersistentQueueWithCapacity(str(path)).close()  # Flushes the recovered log.
    return path


def test_check_of_a_sound_queue_exits_0(fifo_path: str, tmp_path: Path) -> None:
    completed = run_cli("check", fifo_path, cwd=tmp_path)

    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.splitlines() == [
        f"{fifo_path}: FIFO queue (format version 1), 3 records checked",
        "sound: every checksum and invariant holds",
    ]
    report = run_json("check", fifo_path, cwd=tmp_path)
    assert report == {
        "path": fifo_path,
        "kind": "fifo",
        "format_version": 1,
        "healthy": True,
        "damage": [],
        "dropped_records": [],
        "records_checked": 3,
        "exit_status": 0,
    }


def test_a_zeroed_table_makes_check_stats_and_peek_exit_1(tmp_path: Path) -> None:
    # Before, stats and peek exited 0 and showed the queue as empty.
    directory = flushed_fifo_queue(tmp_path / "queue")
    table = max(directory.glob("*.sst"), key=lambda path: path.stat().st_size)
    table.write_bytes(bytes(table.stat().st_size))

    for command in ("check", "stats", "peek"):
        completed = run_cli(command, str(directory), cwd=tmp_path)
        assert completed.returncode == 1, (command, completed.stdout, completed.stderr)
        assert "files do not load" in completed.stdout + completed.stderr, command
        assert table.name in completed.stdout + completed.stderr, command
    report = json.loads(run_cli("--json", "check", str(directory), cwd=tmp_path).stdout)
    assert report["healthy"] is False and report["exit_status"] == 1 and len(report["damage"]) == 1


def test_a_damaged_write_ahead_log_makes_check_exit_4_and_stats_say_so(tmp_path: Path) -> None:
    directory = tmp_path / "queue"
    queue = rocksq.PersistentQueueWithCapacity(str(directory))
    for number in range(300):
        queue.push(b"%04d" % number * 250)
    queue.close()
    log = max(directory.glob("*.log"), key=lambda path: path.stat().st_size)
    data = bytearray(log.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 16] = bytes(byte ^ 0xFF for byte in data[len(data) // 2 : len(data) // 2 + 16])
    log.write_bytes(bytes(data))

    completed = run_cli("check", str(directory), cwd=tmp_path)
    assert completed.returncode == 4, completed.stdout + completed.stderr
    assert "dropped records: the write-ahead log is damaged before its end" in completed.stdout
    stats = run_cli("stats", str(directory), cwd=tmp_path)
    assert stats.returncode == 0, stats.stderr
    assert "dropped records: the write-ahead log is damaged" in stats.stdout
    assert len(run_json("stats", str(directory), cwd=tmp_path)["dropped_records"]) == 1


# --- What reaches the terminal ---------------------------------------------------

HOSTILE_LABEL = "\x1b]0;owned\x07\x1b[2J\r\u202eevil"


def test_labels_are_escaped_and_huge_ones_cut_short_for_people_but_whole_in_json(tmp_path: Path) -> None:
    path = str(tmp_path / "mpmc")
    queue = MpmcQueue(path, ttl=3600)
    queue.add([b"e1"])
    queue.next(HOSTILE_LABEL, rocksq.StartPosition.Oldest, max_elements=0)
    queue.next("x" * 100_000, rocksq.StartPosition.Oldest, max_elements=0)
    queue.close()

    completed = run_cli("stats", path, cwd=tmp_path)

    assert completed.returncode == 0, completed.stderr
    assert not any(character in completed.stdout for character in "\x1b\x07\r\u202e")
    assert "\\x1b]0;owned\\x07\\x1b[2J\\r\\u202eevil" in completed.stdout
    assert max(len(line) for line in completed.stdout.splitlines()) < 200
    assert "x" * 64 + " ..." in completed.stdout
    labels = {entry["label"] for entry in run_json("stats", path, cwd=tmp_path)["labels"]}
    assert labels == {HOSTILE_LABEL, "x" * 100_000}
    missing = run_cli("peek", path, "--label", HOSTILE_LABEL + "?", cwd=tmp_path)
    assert missing.returncode == 2 and "\x1b" not in missing.stderr


def test_a_path_that_is_not_utf8_works_in_every_command(tmp_path: Path) -> None:
    raw = os.fsencode(tmp_path) + b"/queue-\xff\xfe"
    path = os.fsdecode(raw)  # "...queue-\udcff\udcfe", as sys.argv holds it.
    queue = rocksq.PersistentQueueWithCapacity(path)
    queue.push(b"kept")
    queue.close()

    def run(*args: bytes) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [sys.executable, "-m", "rocksq", *args], cwd=tmp_path, capture_output=True, timeout=60
        )

    for command in (b"stats", b"check"):
        completed = run(command, raw)
        assert completed.returncode == 0, (command, completed.stderr)
        assert b"queue-\\xff\\xfe" in completed.stdout, (command, completed.stdout)
        assert json.loads(run(b"--json", command, raw).stdout)["path"] == path
    peeked = run(b"peek", raw)
    assert peeked.returncode == 0 and b"b'kept'" in peeked.stdout, peeked.stderr
    missing = run(b"stats", raw + b"-missing")
    assert missing.returncode == 3, missing.stderr
    assert b"queue-\\xff\\xfe-missing: does not exist" in missing.stderr, missing.stderr


# --- While another process has the queue open -----------------------------------

WRITER = """
    import select, sys, time
    import rocksq
    queue = rocksq.PersistentQueueWithCapacity(sys.argv[1])
    print("open", flush=True)
    pushed = 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        queue.push(b"item %d" % pushed)
        pushed += 1
        if pushed % 200 == 0:
            print(pushed, flush=True)
            if select.select([sys.stdin], [], [], 0)[0]:  # The parent says stop.
                break
    queue.close()
    print("closed", pushed, flush=True)
"""


def test_stats_and_peek_work_while_another_process_holds_the_queue_and_pushes(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "busy")
    writer = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(WRITER), path],
        cwd=tmp_path,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdin is not None and writer.stdout is not None
    try:
        assert writer.stdout.readline() == "open\n"
        assert int(writer.stdout.readline()) >= 200  # It is pushing.
        lengths = []
        for attempt in range(3):
            stats = run_json("stats", path, cwd=tmp_path)
            assert stats["kind"] == "fifo"
            lengths.append(stats["len"])
            peeked = run_json("peek", path, "-n", "5", cwd=tmp_path)["items"]
            data = [base64.b64decode(item["data_base64"]) for item in peeked]
            assert data == [b"item %d" % i for i in range(5)]  # Nothing is popped.
            if attempt == 0:  # A log being appended to is not a damaged one.
                checked = run_json("check", path, cwd=tmp_path)
                assert checked["healthy"], checked
            time.sleep(0.2)
        assert lengths[0] >= 200
        assert lengths == sorted(lengths) and lengths[-1] > lengths[0]
        assert writer.poll() is None  # The writer is still pushing, unharmed.
    finally:
        out, _ = writer.communicate("stop\n", timeout=60)
    assert writer.returncode == 0
    pushed = int(out.split()[-1])
    # Every push the writer made is there, in order, once it closed.
    assert run_json("stats", path, cwd=tmp_path)["len"] == pushed


def test_stats_works_while_this_fixtures_process_holds_the_queue(
    queue_held_by_another_process: str, tmp_path: Path
) -> None:
    stats = run_json("stats", queue_held_by_another_process, cwd=tmp_path)

    assert stats["kind"] == "fifo" and stats["len"] == 0


# --- Errors and exit codes ---------------------------------------------------------


@pytest.mark.parametrize("command", ["stats", "peek", "check"])
def test_a_missing_path_exits_3_and_creates_nothing(command: str, tmp_path: Path) -> None:
    missing = tmp_path / "missing"

    completed = run_cli(command, str(missing), cwd=tmp_path)

    assert completed.returncode == 3
    assert "does not exist" in completed.stderr and str(missing) in completed.stderr
    assert not missing.exists()


@pytest.mark.parametrize("command", ["stats", "peek", "check"])
def test_a_directory_without_a_queue_exits_3_with_not_a_queue(command: str, tmp_path: Path) -> None:
    directory = tmp_path / "photos"
    directory.mkdir()
    (directory / "cat.jpg").write_bytes(b"\xff\xd8")

    completed = run_cli(command, str(directory), cwd=tmp_path)

    assert completed.returncode == 3
    assert completed.stderr.startswith(f"rocksq {command}: Not a queue: {directory}")
    assert sorted(os.listdir(directory)) == ["cat.jpg"]


def test_a_file_exits_3_and_json_reports_the_error_type(tmp_path: Path) -> None:
    file = tmp_path / "file"
    file.write_text("hello")

    completed = run_cli("--json", "peek", str(file), cwd=tmp_path)

    assert completed.returncode == 3
    error = json.loads(completed.stdout)["error"]
    assert error["type"] == "NotAQueueError"
    assert "is a file" in error["message"]


def test_a_path_holding_nul_given_to_main_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["stats", "a\0b"])

    assert exited.value.code == 2
    assert "a path cannot hold a NUL character" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["stats"],
        ["check"],
        ["frobnicate"],
        ["peek", "x", "-n", "-1"],
        ["peek", "x", "-n", "two"],
        ["peek", "x", "-n", "99999999999999999999999"],
        ["peek", "x", "-n", str(2**63)],
        ["bench", "--rounds", "99999999999999999999999"],
    ],
    ids=[
        "no-command",
        "no-path",
        "check-no-path",
        "unknown-command",
        "negative-n",
        "non-number-n",
        "huge-n",
        "n-past-64-bits",
        "huge-rounds",
    ],
)
def test_usage_errors_exit_2(args: list[str], tmp_path: Path) -> None:
    completed = run_cli(*args, cwd=tmp_path)

    assert completed.returncode == 2
    assert "usage: rocksq" in completed.stderr
    assert "Traceback" not in completed.stderr


# --- The console script and bench ----------------------------------------------------


def test_the_console_script_runs_the_same_command(fifo_path: str, tmp_path: Path) -> None:
    completed = subprocess.run(
        [console_script(), "stats", "--json", fifo_path],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )

    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["len"] == 3


def test_bench_help_describes_its_options(tmp_path: Path) -> None:
    completed = run_cli("bench", "--help", cwd=tmp_path)

    assert completed.returncode == 0
    for option in ("--quick", "--rounds", "--only", "--dir", "--json"):
        assert option in completed.stdout


def run_bench(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The installed console script's `rocksq bench ARGS`, at the quick sizes."""
    return subprocess.run(
        [console_script(), "bench", "--quick", *args],
        cwd=cwd, capture_output=True, text=True, timeout=300,
    )


def test_bench_runs_the_installed_workloads_where_there_is_no_checkout(tmp_path: Path) -> None:
    completed = run_bench("--only", "W2,queue", "--json", "out.json", cwd=tmp_path)

    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "quick sizes, median of 1 round" in completed.stdout
    for label in ("W2 push 100 B", "W2 pop 100 B", "rocksq.Queue put", "rocksq.Queue get"):
        assert label in completed.stdout
    report = json.loads((tmp_path / "out.json").read_text())
    assert [run["workload"] for run in report["runs"]] == ["W2", "queue"]
    assert report["versions"][0].startswith(f"{rocksq.version()} (_core ")
    assert set(report["medians"]["W2"]) == {"push_ops", "pop_ops"}
    assert all(value > 0 for value in report["medians"]["queue"].values())
    assert report["failed"] == []


def test_bench_ignores_a_source_checkout_around_it(tmp_path: Path) -> None:
    # A checkout's harness would print this and exit 3; the installed workloads run instead.
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "compare.py").write_text("print('the checkout harness')\nexit(3)\n")
    (tmp_path / "rocksq").mkdir()  # a source tree without the extension
    (tmp_path / "rocksq" / "__init__.py").write_text("raise ImportError('the source tree')\n")

    completed = run_bench("--only", "W3", cwd=tmp_path)

    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "the checkout harness" not in completed.stdout
    assert "W3 push 100 × 100 B" in completed.stdout


def test_bench_json_without_a_file_prints_the_report_and_makes_queues_in_dir(
    tmp_path: Path,
) -> None:
    queues = tmp_path / "queues" / "here"

    completed = run_bench("--only", "nonblocking", "--rounds", "2", "--dir", str(queues),
                          "--json", cwd=tmp_path)

    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout)
    assert report["directory"] == str(queues)
    assert report["rounds"] == 2
    assert [(run["workload"], run["round"]) for run in report["runs"]] == [
        ("nonblocking", 0), ("nonblocking", 1)]
    assert list(queues.iterdir()) == []  # each run removes its queue


def test_bench_refuses_a_dir_it_cannot_make(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")

    completed = run_bench("--only", "W2", "--dir", str(tmp_path / "file" / "queues"),
                          cwd=tmp_path)

    assert completed.returncode == 3
    assert "rocksq bench: --dir" in completed.stderr and "Traceback" not in completed.stderr


@pytest.mark.parametrize(
    "args",
    [["--only", "W9"], ["--only", ""], ["--rounds", "0"], ["--rounds", "x"], ["--dir"]],
    ids=["unknown-workload", "no-workload", "no-rounds", "non-number-rounds", "dir-missing"],
)
def test_bench_usage_errors_exit_2(args: list[str], tmp_path: Path) -> None:
    completed = run_cli("bench", *args, cwd=tmp_path)

    assert completed.returncode == 2
    assert "usage: rocksq bench" in completed.stderr
    assert "Traceback" not in completed.stderr


def test_bench_unknown_workload_names_the_known_ones(tmp_path: Path) -> None:
    completed = run_cli("bench", "--only", "W2,W9", cwd=tmp_path)

    assert "unknown workload 'W9'" in completed.stderr
    assert "W1, W2, W3" in completed.stderr and "aio" in completed.stderr


# --- The repository's scripts: bench/compare.py, bench/versus.py, bench/processes.py -----

needs_checkout = pytest.mark.skipif(
    not (REPO_ROOT / "bench" / "compare.py").is_file(), reason="needs the source checkout's bench/"
)


@needs_checkout
def test_compare_quick_smoke_of_one_workload_writes_the_table_and_plot(tmp_path: Path) -> None:
    out = tmp_path / "bench"

    completed = subprocess.run(
        [sys.executable, str(REPO_ROOT / "bench" / "compare.py"), "--quick", "--only", "W2",
         "--impls", "rocksq", "--out", str(out)],
        cwd=REPO_ROOT / "tests", capture_output=True, text=True, timeout=120,
    )

    assert completed.returncode == 0, completed.stdout + completed.stderr
    table = (out / "results.md").read_text()
    assert "| W2 push 100 B | items/s | **" in table
    assert json.loads((out / "results.json").read_text())["runs"][0]["workload"] == "W2"
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert "matplotlib is not installed" in completed.stderr
    else:
        assert (out / "results.png").stat().st_size > 0


@needs_checkout
def test_compare_refuses_to_publish_a_report_of_a_build_other_than_the_release_build(
    tmp_path: Path,
) -> None:
    build = rocksq.build_info()["build"]
    if build == "release":
        pytest.skip("this interpreter's rocksq is the release build, which --report publishes")
    page = tmp_path / "performance.rst"

    completed = subprocess.run(
        [sys.executable, str(REPO_ROOT / "bench" / "compare.py"), "--quick", "--only", "W2",
         "--impls", "rocksq", "--out", str(tmp_path / "bench"), "--report", str(page)],
        cwd=REPO_ROOT / "tests", capture_output=True, text=True, timeout=120,
    )

    assert completed.returncode == 2, completed.stdout + completed.stderr
    assert f"is the {build} build" in completed.stderr
    assert not page.exists()


def google_benchmark_results(build: str) -> dict:
    """What bench/cpp/bench_main.cc's binary writes with --benchmark_out, trimmed to one row."""
    return {
        "context": {"date": "2026-12-01T10:00:00+00:00", "num_cpus": 2, "mhz_per_cpu": 2445,
                    "rocksq_build": build, "rocksdb_version": "9.10.0",
                    "crc32c": "hardware", "compiler": "GCC 12.2.0"},
        "benchmarks": [{"name": "BM_Push/item_bytes:64", "run_name": "BM_Push/item_bytes:64",
                        "run_type": "iteration", "repetitions": 1, "real_time": 3.5,
                        "time_unit": "us", "items_per_second": 285714.0,
                        "bytes_per_second": 18285714.0}],
    }


@needs_checkout
@pytest.mark.parametrize("build", ["release", "debian"])
def test_the_cpp_bench_table_names_its_build_and_only_a_release_build_is_published(
    tmp_path: Path, build: str,
) -> None:
    results = tmp_path / "results.json"
    results.write_text(json.dumps(google_benchmark_results(build)))
    page = tmp_path / "performance-cpp.rst"

    completed = subprocess.run(
        [sys.executable, str(REPO_ROOT / "bench" / "render_cpp_bench.py"), str(results),
         str(tmp_path / "results.md"), "--report", str(page)],
        cwd=REPO_ROOT / "bench", capture_output=True, text=True, timeout=60,
    )

    if build == "release":
        assert completed.returncode == 0, completed.stdout + completed.stderr
        text = page.read_text()
        assert "release build, RocksDB 9.10.0, CRC32C in hardware, GCC 12.2.0" in text
        assert "Push/item_bytes:64" in text
    else:
        assert completed.returncode == 2, completed.stdout + completed.stderr
        assert "these are the debian build's" in completed.stderr
        assert not page.exists()


@needs_checkout
def test_versus_alternates_the_two_builds_and_tabulates_each_speed_and_cpu(
    tmp_path: Path,
) -> None:
    # The same build on both sides: the script's plumbing, not a comparison.
    completed = subprocess.run(
        [sys.executable, str(REPO_ROOT / "bench" / "versus.py"), "--old", sys.executable,
         "--new", sys.executable, "--quick", "--rounds", "2", "--only", "nonblocking",
         "--threshold", "0", "--dir", str(tmp_path / "queues"),
         "--json", str(tmp_path / "versus.json")],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )

    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "| nonblocking | nonblocking push + wait | " in completed.stdout
    assert "| nonblocking | nonblocking pop + wait | " in completed.stdout
    report = json.loads((tmp_path / "versus.json").read_text())
    assert [(run["round"], run["side"]) for run in report["runs"]] == [
        (0, "old"), (0, "new"), (1, "new"), (1, "old")]
    assert [row["metric"] for row in report["rows"]] == ["push_ops", "pop_ops"]
    assert all(len(row["ratios"]) == 2 and row["ratio"] > 0 for row in report["rows"])
    # A fixed amount of work on both sides: every round's CPU time compares.
    [cpu] = report["cpu_rows"]
    assert cpu["workload"] == "nonblocking" and cpu["rounds"] == 2 and cpu["ratio"] > 0


@needs_checkout
def test_processes_quick_run_of_ours_with_threads_checks_every_item_and_tabulates_it(
    tmp_path: Path,
) -> None:
    completed = subprocess.run(
        [sys.executable, str(REPO_ROOT / "bench" / "processes.py"), "--quick", "--only",
         "threads", "--dir", str(tmp_path / "queues"), "--json", str(tmp_path / "processes.json")],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )

    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "| rocksq, 8 threads | **" in completed.stdout
    assert "| ok |" in completed.stdout
    report = json.loads((tmp_path / "processes.json").read_text())
    [run] = report["runs"]
    assert run["case"] == "threads" and run["metrics"]["items_per_s"] > 0
    assert run["info"]["check"] == {"missing": 0, "repeated": 0, "out_of_order": 0, "corrupt": 0}
    assert run["info"]["items"] == run["info"]["pushed"] > 0
    assert report["summary"]["medians"]["threads"]["items_per_s"] > 0


@needs_checkout
def test_processes_check_counts_items_lost_and_items_delivered_twice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.syspath_prepend(str(REPO_ROOT / "bench"))  # its `import workloads`
    spec = importlib.util.spec_from_file_location(
        "bench_processes", REPO_ROOT / "bench" / "processes.py")
    processes = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, processes)  # its dataclasses look it up there
    spec.loader.exec_module(processes)
    nothing = bytes(3)

    def consumer(first_producers_arrivals: bytes) -> dict:
        return {"arrivals": [first_producers_arrivals] + [nothing] * (processes.PRODUCERS - 1),
                "out_of_order": 0, "corrupt": 0}

    # The first producer pushed 3 items: item 0 arrived once, item 1 at both
    # consumers, item 2 nowhere.
    check = processes.check_arrivals([3] + [0] * (processes.PRODUCERS - 1),
                                     [consumer(bytes([1, 1, 0])), consumer(bytes([0, 1, 0]))])

    assert check == {"missing": 1, "repeated": 1, "out_of_order": 0, "corrupt": 0}
