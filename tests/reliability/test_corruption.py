"""Damaged files and misuse: a clear error naming the path and the problem,
never a crash, never data destroyed.

Each damage case copies a queue whose 500 items (1000 B each) were flushed
to a table file (pushed, closed, reopened: RocksDB flushes the recovered
write-ahead log into a table), damages one file, and opens the copy. A case
that refuses to open must leave every file as it was: the directory's
digest (all files but LOG, which records the attempt) is compared before
and after. Damage RocksDB can repair (a lost OPTIONS or IDENTITY file)
opens with every item; a damaged table block opens, pops the items before
it, then raises CorruptionError at it on every pop and removes nothing.

The misuse cases cover paths that are files, unwritable paths (a read-only
tmpfs, where the machine allows mounting; root ignores file modes), other
programs' directories, out-of-range max_elements, and each queue kind
opened as the other. A queue open in another process is covered by
test_open_once.py and test_remove.py.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import rocksq
import rocksq.aio
import rocksq.nonblocking
from rocksq import StartPosition, inspection
from rocksq.blocking import MpmcQueue, PersistentQueueWithCapacity

ITEMS = [b"%05d" % number * 200 for number in range(500)]


def open_queue(kind: str, path: str | Path) -> PersistentQueueWithCapacity | MpmcQueue:
    if kind == "fifo":
        return PersistentQueueWithCapacity(str(path))
    return MpmcQueue(str(path), ttl=86400)


def read_all(queue: PersistentQueueWithCapacity | MpmcQueue) -> tuple[list[bytes], Exception | None]:
    """Pops (FIFO) or reads (MPMC) one item at a time until none is left or a call raises."""
    items: list[bytes] = []
    try:
        while True:
            if isinstance(queue, MpmcQueue):
                batch = queue.next("reader", StartPosition.Oldest, 1)[0]
            else:
                batch = queue.pop(1)
            if not batch:
                return items, None
            items.extend(batch)
    except rocksq.RocksQError as error:
        return items, error


def digest(directory: Path) -> dict[str, str]:
    """Every file's SHA-256 but LOG's (a failed open appends to it)."""
    return {
        str(path.relative_to(directory)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.rglob("*"))
        if path.is_file() and path.name != "LOG"
    }


@pytest.fixture(scope="module", params=["fifo", "mpmc"])
def flushed_queue(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """(kind, directory) of a closed queue holding ITEMS in a table file."""
    kind = request.param
    directory = tmp_path_factory.mktemp(f"template-{kind}") / "queue"
    queue = open_queue(kind, directory)
    (queue.push if kind == "fifo" else queue.add)(ITEMS)
    queue.close()
    open_queue(kind, directory).close()  # Flushes the recovered log into a table.
    assert any(path.stat().st_size > 400_000 for path in directory.glob("*.sst"))
    return kind, directory


def largest(directory: Path, pattern: str) -> Path:
    return max(directory.glob(pattern), key=lambda path: path.stat().st_size)


def truncate(pattern: str, fraction: float) -> Callable[[Path], str]:
    def damage(directory: Path) -> str:
        target = largest(directory, pattern)
        os.truncate(target, int(target.stat().st_size * fraction))
        return target.name

    return damage


def flip_middle(pattern: str) -> Callable[[Path], str]:
    """Inverts 16 bytes in the middle of the largest file matching `pattern`."""

    def damage(directory: Path) -> str:
        target = largest(directory, pattern)
        middle = target.stat().st_size // 2
        with open(target, "r+b") as file:
            file.seek(middle)
            original = file.read(16)
            file.seek(middle)
            file.write(bytes(byte ^ 0xFF for byte in original))
        return target.name

    return damage


def delete(pattern: str) -> Callable[[Path], str]:
    def damage(directory: Path) -> str:
        targets = list(directory.glob(pattern))
        for target in targets:
            target.unlink()
        return targets[0].name

    return damage


def point_current_at_a_missing_manifest(directory: Path) -> str:
    (directory / "CURRENT").write_text("MANIFEST-999999\n")
    return "MANIFEST-999999"


def keep_only_current(directory: Path) -> str:
    manifest = largest(directory, "MANIFEST-*").name
    for path in directory.iterdir():
        if path.name != "CURRENT":
            path.unlink()
    return manifest


KIND_WORDS = {
    rocksq.CorruptionError: "Corruption",
    rocksq.StorageError: "Storage error",
    rocksq.NotAQueueError: "Not a queue",
}

# (id, damage, exception, words the message holds besides the path); the
# damage returns the damaged file's name, which "{file}" stands for.
REFUSED = [
    ("current-empty", truncate("CURRENT", 0), rocksq.CorruptionError, ["CURRENT"]),
    ("current-cut-in-half", truncate("CURRENT", 0.5), rocksq.CorruptionError, ["CURRENT"]),
    ("current-names-a-missing-manifest", point_current_at_a_missing_manifest,
     rocksq.StorageError, ["{file}", "No such file"]),
    # The queue's own marker (rocksq.queue) says it is a queue, so a missing
    # RocksDB file is damage, not "some other directory".
    ("current-deleted", delete("CURRENT"), rocksq.CorruptionError, ["CURRENT file is missing"]),
    ("manifest-empty", truncate("MANIFEST-*", 0), rocksq.CorruptionError, ["MANIFEST file is damaged"]),
    # Whether the column families' records survive depends on where the cut falls.
    ("manifest-cut-in-half", truncate("MANIFEST-*", 0.5),
     (rocksq.NotAQueueError, rocksq.CorruptionError), ["MANIFEST"]),
    # RocksDB names the MANIFEST and what it found: a checksum mismatch, or
    # (where the flip lands in a record's length) a record missing.
    ("manifest-bytes-flipped", flip_middle("MANIFEST-*"), rocksq.CorruptionError, ["{file}"]),
    ("only-current-left", keep_only_current, rocksq.StorageError, ["{file}", "No such file"]),
    ("table-cut-in-half", truncate("*.sst", 0.5), rocksq.CorruptionError, ["{stem}"]),
    ("table-deleted", delete("*.sst"), rocksq.CorruptionError, ["No such file"]),
]


@pytest.mark.parametrize(
    ("damage", "error_type", "words"),
    [case[1:] for case in REFUSED],
    ids=[case[0] for case in REFUSED],
)
def test_a_damaged_queue_is_refused_with_a_clear_error_and_left_as_it_was(
    flushed_queue: tuple[str, Path],
    tmp_path: Path,
    damage: Callable[[Path], str],
    error_type: type[Exception] | tuple[type[Exception], ...],
    words: list[str],
) -> None:
    kind, template = flushed_queue
    directory = tmp_path / "queue"
    shutil.copytree(template, directory)
    damaged_file = damage(directory)
    before = digest(directory)

    with pytest.raises(error_type) as raised:
        open_queue(kind, directory)

    message = str(raised.value)
    assert message.startswith(f"{KIND_WORDS[type(raised.value)]}: {directory}: "), message
    for word in words:
        word = word.format(file=damaged_file, stem=damaged_file.split(".")[0])
        assert word in message, message
    assert digest(directory) == before
    # A second attempt fails the same way: the first changed nothing.
    with pytest.raises(error_type):
        open_queue(kind, directory)


@pytest.mark.parametrize("damage", [delete("OPTIONS-*"), delete("IDENTITY")], ids=["options-deleted", "identity-deleted"])
def test_damage_rocksdb_repairs_opens_with_every_item(
    flushed_queue: tuple[str, Path], tmp_path: Path, damage: Callable[[Path], str]
) -> None:
    kind, template = flushed_queue
    directory = tmp_path / "queue"
    shutil.copytree(template, directory)
    damage(directory)

    queue = open_queue(kind, directory)
    items, error = read_all(queue)

    assert error is None
    assert items == ITEMS


def test_a_damaged_table_block_raises_corruption_at_its_items_and_removes_nothing(
    flushed_queue: tuple[str, Path], tmp_path: Path
) -> None:
    kind, template = flushed_queue
    directory = tmp_path / "queue"
    shutil.copytree(template, directory)
    table = flip_middle("*.sst")(directory)
    damaged_table = (directory / table).read_bytes()

    try:
        queue = open_queue(kind, directory)
    except rocksq.CorruptionError as error:  # Opening may already read the block.
        assert str(directory) in str(error) and table.split(".")[0] in str(error)
        return
    items, error = read_all(queue)

    assert isinstance(error, rocksq.CorruptionError), error
    message = str(error)
    assert message.startswith(f"Corruption: {directory}: ") and "checksum mismatch" in message
    assert table in message
    assert 0 < len(items) < len(ITEMS)
    assert items == ITEMS[: len(items)], "the items before the damage pop intact and in order"
    length = queue.len
    _, again = read_all(queue)
    assert isinstance(again, rocksq.CorruptionError), "a failed pop must not skip the damaged items"
    assert queue.len == length
    queue.close()
    assert (directory / table).read_bytes() == damaged_table


@pytest.fixture
def queue_in_its_log(tmp_path: Path) -> Path:
    """A closed FIFO queue whose ITEMS are only in its write-ahead log."""
    directory = tmp_path / "queue"
    queue = PersistentQueueWithCapacity(str(directory))
    for item in ITEMS:
        queue.push([item])
    queue.close()
    assert largest(directory, "*.log").stat().st_size > 400_000
    return directory


def test_a_log_cut_short_opens_with_the_items_before_the_cut(queue_in_its_log: Path) -> None:
    # What a crash leaves: RocksDB's point-in-time recovery keeps every whole record.
    truncate("*.log", 0.5)(queue_in_its_log)

    items, error = read_all(PersistentQueueWithCapacity(str(queue_in_its_log)))

    assert error is None
    assert 0 < len(items) < len(ITEMS) and items == ITEMS[: len(items)]


def test_a_log_damaged_in_the_middle_warns_at_open_keeps_the_items_before_and_notes_the_loss(
    queue_in_its_log: Path,
) -> None:
    # Damage a crash cannot leave: recovery drops the intact records after
    # it (nothing can bring them back), and must say so.
    flip_middle("*.log")(queue_in_its_log)
    pending = inspection.check_queue(queue_in_its_log)
    assert pending.damage == () and len(pending.dropped_records) == 1
    assert "the next open keeps the records before the damage" in pending.dropped_records[0]

    with pytest.warns(rocksq.RecoveryWarning) as warned:
        queue = PersistentQueueWithCapacity(str(queue_in_its_log))
    message = str(warned[0].message)
    assert message.startswith(f"{queue_in_its_log}: recovery dropped write-ahead log records"), message
    assert warned[0].filename == __file__, "the warning points at the caller's line"
    items, error = read_all(queue)
    queue.close()

    assert error is None
    assert 0 < len(items) < len(ITEMS) and items == ITEMS[: len(items)]
    assert f"the {len(ITEMS) - len(items)} records from the damage on are lost" in message
    noted = inspection.check_queue(queue_in_its_log)
    assert noted.damage == () and len(noted.dropped_records) == 1
    assert noted.dropped_records[0].startswith("an open at ")
    assert inspection.inspect_queue(queue_in_its_log).dropped_records == noted.dropped_records
    PersistentQueueWithCapacity(str(queue_in_its_log)).close()  # No second warning (errors here).


def test_a_damaged_last_log_record_as_a_power_loss_can_leave_opens_without_a_warning(
    queue_in_its_log: Path,
) -> None:
    # Without sync, a machine crash can leave the last records garbage rather
    # than cut short: that drops no intact record, and is no cause to warn.
    log = largest(queue_in_its_log, "*.log")
    with open(log, "r+b") as file:
        file.seek(log.stat().st_size - 100)  # Inside the last item's record.
        file.write(b"\xa5" * 16)
    assert inspection.check_queue(queue_in_its_log).healthy

    items, error = read_all(PersistentQueueWithCapacity(str(queue_in_its_log)))  # Warnings are errors.

    assert error is None and items == ITEMS[:-1]
    assert inspection.check_queue(queue_in_its_log).healthy


def closed_queue_in_its_log(kind: str, directory: Path) -> Path:
    """A closed queue of `kind` whose ITEMS are only in its write-ahead log."""
    if kind == "ack":
        ack = rocksq.AckQueue(str(directory))
        for item in ITEMS:
            ack.put(item)
        ack.close()
    else:
        queue = open_queue(kind, directory)
        for item in ITEMS:
            (queue.push if kind == "fifo" else queue.add)([item])
        queue.close()
    return directory


@pytest.mark.parametrize(
    ("kind", "face"),
    [
        ("fifo", lambda path: rocksq.PersistentQueueWithCapacity(path)),
        ("fifo", lambda path: rocksq.Queue(path)),
        ("fifo", lambda path: rocksq.nonblocking.PersistentQueueWithCapacity(path)),
        ("fifo", lambda path: rocksq.aio.Queue(path)),
        ("mpmc", lambda path: MpmcQueue(path, ttl=3600)),
        ("mpmc", lambda path: rocksq.nonblocking.MpmcQueue(path, ttl=3600)),
        ("ack", lambda path: rocksq.AckQueue(path)),
        ("ack", lambda path: rocksq.aio.AckQueue(path)),
    ],
    ids=["seed", "queue", "nonblocking", "aio", "mpmc", "nonblocking-mpmc", "ack", "aio-ack"],
)
def test_every_face_of_every_kind_warns_when_recovery_drops_records(
    kind: str, face: Callable[[str], rocksq.AckQueue], tmp_path: Path
) -> None:
    directory = closed_queue_in_its_log(kind, tmp_path / "queue")
    flip_middle("*.log")(directory)
    assert inspection.check_queue(directory).dropped_records

    with pytest.warns(rocksq.RecoveryWarning, match="recovery dropped write-ahead log records"):
        queue = face(str(directory))
    queue.close()
    assert inspection.check_queue(directory).dropped_records[0].startswith("an open at ")


def test_a_warning_turned_into_an_error_fails_the_open_and_releases_the_queue(
    queue_in_its_log: Path,
) -> None:
    flip_middle("*.log")(queue_in_its_log)

    with pytest.raises(rocksq.RecoveryWarning):  # filterwarnings = error
        PersistentQueueWithCapacity(str(queue_in_its_log))
    # The failed open released the directory, and the loss stays noted.
    PersistentQueueWithCapacity(str(queue_in_its_log)).close()
    assert inspection.check_queue(queue_in_its_log).dropped_records


# --- Inspection of a damaged queue: rocksq check, stats, peek ----------------


@pytest.fixture(scope="module", params=["fifo", "mpmc", "ack"])
def flushed_any(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """(kind, directory) of a closed queue of each kind holding ITEMS in a table file."""
    kind = request.param
    directory = closed_queue_in_its_log(kind, tmp_path_factory.mktemp(f"flushed-{kind}") / "queue")
    reopened = rocksq.AckQueue(str(directory)) if kind == "ack" else open_queue(kind, directory)
    reopened.close()  # Flushes the recovered log into a table.
    assert any(path.stat().st_size > 400_000 for path in directory.glob("*.sst"))
    return kind, directory


def zero(pattern: str) -> Callable[[Path], str]:
    def damage(directory: Path) -> str:
        target = largest(directory, pattern)
        target.write_bytes(bytes(target.stat().st_size))
        return target.name

    return damage


TABLE_DAMAGE = [
    ("zeroed", zero("*.sst")),
    ("cut-in-half", truncate("*.sst", 0.5)),
    ("deleted", delete("*.sst")),
]


def test_check_finds_a_sound_queue_of_each_kind_sound(flushed_any: tuple[str, Path]) -> None:
    kind, directory = flushed_any

    report = inspection.check_queue(directory)

    assert report.healthy and report.damage == () and report.dropped_records == ()
    assert report.kind == kind and report.records_checked == len(ITEMS)


@pytest.mark.parametrize("damage", [case[1] for case in TABLE_DAMAGE], ids=[case[0] for case in TABLE_DAMAGE])
def test_a_table_that_does_not_load_is_reported_by_check_and_refused_by_stats_and_peek(
    flushed_any: tuple[str, Path], tmp_path: Path, damage: Callable[[Path], str]
) -> None:
    # Before, stats and peek showed such a queue as empty and healthy, while
    # opening it raised CorruptionError.
    _, template = flushed_any
    directory = tmp_path / "queue"
    shutil.copytree(template, directory)
    damaged_file = damage(directory)
    before = digest(directory)

    report = inspection.check_queue(directory)
    assert not report.healthy and len(report.damage) == 1, report
    assert "files do not load" in report.damage[0]
    # RocksDB names the first table it misses, which need not be the one named here.
    assert damaged_file.split(".")[0] in report.damage[0] or "No such file" in report.damage[0]
    with pytest.raises(rocksq.CorruptionError, match=f"^Corruption: {directory}: .*files do not load"):
        inspection.inspect_queue(directory)
    with pytest.raises(rocksq.CorruptionError, match="files do not load"):
        inspection.peek(directory)
    assert digest(directory) == before, "inspection changes nothing"


def test_a_damaged_table_block_is_reported_by_check(flushed_any: tuple[str, Path], tmp_path: Path) -> None:
    _, template = flushed_any
    directory = tmp_path / "queue"
    shutil.copytree(template, directory)
    table = flip_middle("*.sst")(directory)

    report = inspection.check_queue(directory)

    assert len(report.damage) == 1, report
    assert report.damage[0].startswith("a checksum of the database's files does not hold: ")
    assert "checksum mismatch" in report.damage[0]
    assert table.split(".")[0] in report.damage[0]


def test_a_damaged_read_cursor_file_is_reported_by_check_and_refused_by_stats(tmp_path: Path) -> None:
    directory = tmp_path / "queue"
    queue = PersistentQueueWithCapacity(str(directory))
    queue.push(ITEMS[:10])
    queue.pop(2)
    queue.close()
    (directory / "rocksq.read_cursor").write_bytes(b"\x00" * 7 + b"\x05" + b"\x00" * 8)

    report = inspection.check_queue(directory)

    assert len(report.damage) == 1, report
    assert "read cursor file (rocksq.read_cursor) is damaged" in report.damage[0]
    with pytest.raises(rocksq.CorruptionError):
        inspection.inspect_queue(directory)


ACKING_CHILD = """
import os, sys
import rocksq
queue = rocksq.AckQueue(sys.argv[1])
deliveries = [queue.get_nowait() for _ in range(6)]
for delivery in deliveries[:3]:
    queue.ack(delivery)
queue.ack_many(deliveries[3:])
os._exit(0)  # No close: the acks stay in the ack log, not applied.
"""


@pytest.fixture
def ack_queue_with_a_log(tmp_path: Path) -> Path:
    """A closed ack queue of 10 items whose ack log holds acks of 6 of them."""
    directory = tmp_path / "queue"
    queue = rocksq.AckQueue(str(directory))
    queue.put_many([b"item %d" % number for number in range(10)])
    queue.close()
    subprocess.run([sys.executable, "-c", ACKING_CHILD, str(directory)], check=True, timeout=60, cwd=tmp_path)
    assert (directory / "rocksq.ack_log").stat().st_size > 0
    return directory


def test_an_ack_log_cut_short_is_sound_but_damage_inside_it_is_reported(
    ack_queue_with_a_log: Path,
) -> None:
    log = ack_queue_with_a_log / "rocksq.ack_log"
    whole = log.read_bytes()
    assert inspection.check_queue(ack_queue_with_a_log).healthy
    assert inspection.inspect_queue(ack_queue_with_a_log).len == 4

    log.write_bytes(whole[:-5])  # What a crash in the middle of an append leaves.
    assert inspection.check_queue(ack_queue_with_a_log).healthy

    damaged = bytearray(whole)
    damaged[20] ^= 0xFF  # In the first record's first id: its checksum fails, and every ack after it is ignored.
    log.write_bytes(bytes(damaged))
    report = inspection.check_queue(ack_queue_with_a_log)
    assert len(report.damage) == 1, report
    assert "ack log (rocksq.ack_log) is damaged after byte 0" in report.damage[0]
    assert "delivered again" in report.damage[0]
    with pytest.warns(rocksq.RecoveryWarning, match=r"ack log \(rocksq.ack_log\) is damaged"):
        queue = rocksq.AckQueue(str(ack_queue_with_a_log))
    assert queue.qsize() == 10, "the lost acks' items come back"
    queue.close()
    assert inspection.check_queue(ack_queue_with_a_log).healthy  # The open emptied the log.


@pytest.mark.parametrize("kind", ["fifo", "mpmc", "ack"])
def test_check_and_stats_say_when_a_damaged_log_will_drop_records_and_did(kind: str, tmp_path: Path) -> None:
    directory = closed_queue_in_its_log(kind, tmp_path / "queue")
    flip_middle("*.log")(directory)

    pending = inspection.inspect_queue(directory)
    assert pending.dropped_records == inspection.check_queue(directory).dropped_records
    assert len(pending.dropped_records) == 1 and "next open" in pending.dropped_records[0]
    with pytest.warns(rocksq.RecoveryWarning):
        queue = rocksq.AckQueue(str(directory)) if kind == "ack" else open_queue(kind, directory)
    length = queue.len if kind != "ack" else queue.qsize()
    queue.close()

    after = inspection.inspect_queue(directory)
    assert after.len == length == pending.len, "stats showed what the open kept"
    assert len(after.dropped_records) == 1 and after.dropped_records[0].startswith("an open at ")


# --- Misuse -----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["fifo", "mpmc"])
def test_a_path_that_is_a_file_raises_not_a_queue_and_keeps_the_file(kind: str, tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"precious")

    with pytest.raises(rocksq.NotAQueueError, match=f"^Not a queue: {path}: is a file"):
        open_queue(kind, path)
    assert path.read_bytes() == b"precious"


@pytest.mark.parametrize("kind", ["fifo", "mpmc"])
def test_a_path_below_a_file_raises_storage_error_naming_it(kind: str, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_bytes(b"precious")
    path = tmp_path / "notes.txt" / "queue"

    with pytest.raises(rocksq.StorageError, match=f"^Storage error: {path}: .*Not a directory"):
        open_queue(kind, path)
    assert (tmp_path / "notes.txt").read_bytes() == b"precious"


@pytest.mark.parametrize("kind", ["fifo", "mpmc"])
def test_a_directory_of_other_files_raises_not_a_queue_and_is_left_untouched(
    kind: str, tmp_path: Path
) -> None:
    directory = tmp_path / "photos"
    (directory / "2026").mkdir(parents=True)
    (directory / "2026" / "a.jpg").write_bytes(b"\xff\xd8 jpeg")
    (directory / "CURRENT.txt").write_text("not RocksDB's CURRENT")
    before = digest(directory)

    with pytest.raises(rocksq.NotAQueueError, match=f"^Not a queue: {directory}: .*holds no RocksQ queue"):
        open_queue(kind, directory)
    with pytest.raises(rocksq.NotAQueueError):
        (rocksq.remove_queue if kind == "fifo" else rocksq.remove_mpmc_queue)(str(directory))
    assert digest(directory) == before


def test_a_path_in_a_filesystem_that_cannot_hold_files_raises_storage_error() -> None:
    path = "/proc/rocksq-queue"
    if not os.path.isdir("/proc/self"):
        pytest.skip("no /proc on this machine")

    with pytest.raises(rocksq.StorageError, match=f"^Storage error: {path}: "):
        PersistentQueueWithCapacity(path)


@pytest.fixture
def read_only_filesystem(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs holding a FIFO queue ("fifo") and an MPMC queue ("mpmc"), remounted read-only.

    Root ignores file modes, so a read-only mount is how a root test gets
    an unwritable path. Skipped where mounting is not allowed.
    """
    if os.geteuid() != 0:
        pytest.skip("mounting a read-only tmpfs needs root")
    directory = tmp_path / "read-only"
    directory.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(directory)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs on this machine (a container may forbid mounts): {mounted.stderr.strip()}")
    try:
        # Created by a child, which has closed every file when it exits:
        # a remount read-only fails while a file is open for writing.
        subprocess.run(
            [sys.executable, "-c", textwrap.dedent(
                """
                import sys
                from rocksq.blocking import MpmcQueue, PersistentQueueWithCapacity
                fifo = PersistentQueueWithCapacity(sys.argv[1] + "/fifo")
                fifo.push([b"kept"])
                fifo.close()
                mpmc = MpmcQueue(sys.argv[1] + "/mpmc", ttl=86400)
                mpmc.add([b"kept"])
                mpmc.close()
                """
            ), str(directory)],
            check=True,
            cwd=tmp_path,
        )
        subprocess.run(["mount", "-o", "remount,ro", str(directory)], check=True)
        yield directory
    finally:
        subprocess.run(["umount", "-l", str(directory)], check=False)


@pytest.mark.parametrize("kind", ["fifo", "mpmc"])
def test_a_queue_on_a_read_only_filesystem_raises_storage_error_not_already_open(
    kind: str, read_only_filesystem: Path
) -> None:
    path = read_only_filesystem / kind
    before = digest(path)

    with pytest.raises(rocksq.StorageError, match=f"^Storage error: {path}: .*Read-only file system"):
        open_queue(kind, path)
    assert digest(path) == before


def test_a_new_queue_on_a_read_only_filesystem_raises_storage_error(read_only_filesystem: Path) -> None:
    path = read_only_filesystem / "new"

    with pytest.raises(rocksq.StorageError, match=f"^Storage error: {path}: .*Read-only file system"):
        PersistentQueueWithCapacity(str(path))
    assert not path.exists()


@pytest.mark.parametrize(
    ("max_elements", "error_type", "words"),
    [
        (0, ValueError, "max_elements must be between 1 and 4611686018427387904, got 0"),
        (2**62 + 1, ValueError, "max_elements must be between 1 and 4611686018427387904"),
        (-1, OverflowError, "can't convert negative int to unsigned"),
        (2**64, OverflowError, "int too big to convert"),
        (1.5, TypeError, "'float' object cannot be interpreted as an integer"),
    ],
    ids=["zero", "above-the-key-space", "negative", "above-64-bits", "float"],
)
def test_an_out_of_range_max_elements_is_refused_before_anything_is_created(
    queue_path: str, max_elements: object, error_type: type[Exception], words: str
) -> None:
    with pytest.raises(error_type) as raised:
        PersistentQueueWithCapacity(queue_path, max_elements=max_elements)  # type: ignore[arg-type]

    assert words in str(raised.value)
    if error_type is ValueError:  # The core's own check names the queue.
        assert queue_path in str(raised.value)
    assert not os.path.exists(queue_path)


def test_the_largest_max_elements_is_accepted(queue_path: str) -> None:
    queue = PersistentQueueWithCapacity(queue_path, max_elements=2**62)
    queue.push([b"a"])

    assert queue.pop() == [b"a"]


def test_a_queue_reopened_with_a_smaller_max_elements_keeps_its_items_and_refuses_pushes_until_below(
    queue_path: str,
) -> None:
    queue = PersistentQueueWithCapacity(queue_path, max_elements=5)
    queue.push([b"1", b"2", b"3", b"4", b"5"])
    queue.close()

    queue = PersistentQueueWithCapacity(queue_path, max_elements=2)
    assert queue.len == 5
    with pytest.raises(rocksq.QueueFull, match=f"^Queue is full: {queue_path}: 5 of 2 items stored"):
        queue.push([b"6"])
    assert queue.pop(3) == [b"1", b"2", b"3"]
    with pytest.raises(rocksq.QueueFull, match="2 of 2 items stored"):
        queue.push([b"6"])
    assert queue.pop(1) == [b"4"]
    queue.push([b"6"])
    assert queue.pop(5) == [b"5", b"6"]


@pytest.mark.parametrize(
    ("made", "opened"), [("fifo", "mpmc"), ("mpmc", "fifo")], ids=["fifo-as-mpmc", "mpmc-as-fifo"]
)
def test_a_queue_opened_or_removed_as_the_other_kind_raises_not_a_queue_and_is_left_as_it_was(
    made: str, opened: str, tmp_path: Path
) -> None:
    path = tmp_path / "queue"
    queue = open_queue(made, path)
    (queue.push if made == "fifo" else queue.add)([b"kept"])
    queue.close()
    before = digest(path)
    names = {"fifo": "FIFO queue", "mpmc": "MPMC queue"}
    expected = f"^Not a queue: {path}: holds a RocksQ {names[made]}, not an? {names[opened]}"

    with pytest.raises(rocksq.NotAQueueError, match=expected):
        open_queue(opened, path)
    with pytest.raises(rocksq.NotAQueueError, match=expected):
        (rocksq.remove_queue if opened == "fifo" else rocksq.remove_mpmc_queue)(str(path))
    assert digest(path) == before
    items, error = read_all(open_queue(made, path))
    assert error is None and items == [b"kept"]
