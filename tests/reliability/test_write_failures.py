"""A write the filesystem refuses raises StorageError and damages nothing.

Two mechanisms make writes fail. A size-limited tmpfs runs out of space
(ENOSPC); mounting it needs root on a machine that allows mounts, so those
cases are skipped, saying why, where it cannot be mounted. RLIMIT_FSIZE
refuses any write past a file size (EFBIG, with SIGXFSZ ignored); it needs no
privileges, so those cases always run.

Each case runs in a child process: the file size limit binds the whole
process, and a failure that aborts the process (as RocksDB's own LOG writer
did on a full disk) must fail the test, not end pytest. The child fills a
queue with numbered 64 KiB items until a push raises, then reports what it
saw; the test asserts that:

- the failed push raised StorageError naming the path and the cause, and a
  failed batch after it did too;
- neither changed len or payload_size, and none of their items ever pops
  (nothing partial);
- a pop during the failure either returned the oldest item or raised
  StorageError (never anything else);
- once space is back the queue takes pushes again: by itself when at least
  64 MiB are free (RocksDB polls every 5 s), otherwise after a reopen;
- every acknowledged item then pops exactly once, intact and in order, half
  of them before a reopen and the rest after it.

What RocksDB does after a failed write (7.8.3, measured by these tests): it
stops all writes of that database ("background error"), so later pushes and
pops raise the same StorageError. For ENOSPC its SstFileManager checks the
free space every 5 s and resumes by itself once 64 MiB (the write buffer
size) are free. For any other error, or less free space, the queue works
again after close() and a reopen; close() itself may then raise StorageError
(RocksDB reports the earlier failure), and closes the queue regardless.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ITEM_BYTES = 64 * 1024
MiB = 1 << 20

log = logging.getLogger(__name__)

# The child: fills the queue, injects the failure's aftermath, and prints
# one JSON object of observations (the assertions are the parent's).
CHILD = textwrap.dedent(
    """
    import json, os, resource, signal, sys, time
    import rocksq
    from rocksq import StartPosition
    from rocksq.blocking import MpmcQueue, PersistentQueueWithCapacity

    kind, mechanism, path, ballast, item_bytes, limit = sys.argv[1:7]
    item_bytes, limit = int(item_bytes), int(limit)
    facts = {"failed_calls": 0}

    def item(number):  # Every 8 bytes say which item this is.
        return number.to_bytes(8, "big") * (item_bytes // 8)

    def failed_item(number):  # Never acknowledged: must never pop.
        return b"FAILED!!" + number.to_bytes(8, "big") * (item_bytes // 8 - 1)

    def open_queue():
        if kind == "fifo":
            return PersistentQueueWithCapacity(path)
        return MpmcQueue(path, ttl=86400)

    def push(queue, items):
        (queue.push if kind == "fifo" else queue.add)(items)

    def pop(queue, count):
        if kind == "fifo":
            return queue.pop(max_elements=count)
        return queue.next("reader", StartPosition.Oldest, count)[0]

    def describe(error):
        return {"type": type(error).__name__, "message": str(error)}

    popped = []

    def take(queue, count):
        for value in pop(queue, count):
            number = int.from_bytes(value[:8], "big")
            popped.append(number if value == item(number) else "damaged: " + repr(value[:16]))

    def push_probe(queue, number):
        try:
            push(queue, [item(number)])
            return None
        except rocksq.RocksQError as error:
            facts["failed_calls"] += 1
            return describe(error)

    if mechanism == "efbig":
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # write() returns EFBIG instead
    queue = open_queue()
    if mechanism == "efbig":
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))

    acked = 0
    while True:
        try:
            push(queue, [item(acked)])
        except rocksq.RocksQError as error:
            facts["failed_calls"] += 1
            facts["push_error"] = describe(error)
            break
        acked += 1
        if acked * item_bytes > 512 << 20:
            sys.exit("no write failed after 512 MiB")
    facts["sizes_before"] = [acked, acked * item_bytes]
    facts["sizes_after_failed_push"] = [queue.len, queue.payload_size]

    try:
        push(queue, [failed_item(1), failed_item(2), failed_item(3)])
        facts["batch_error"] = None
    except rocksq.RocksQError as error:
        facts["failed_calls"] += 1
        facts["batch_error"] = describe(error)
    facts["sizes_after_failed_batch"] = [queue.len, queue.payload_size]

    try:
        take(queue, 1)
        facts["pop_during_failure"] = "returned " + repr(popped)
    except rocksq.RocksQError as error:
        facts["failed_calls"] += 1
        facts["pop_during_failure"] = describe(error)

    # Space comes back.
    if mechanism == "efbig":
        resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY,) * 2)
    else:
        os.unlink(ballast)
    started = time.monotonic()
    wait = 30 if mechanism == "enospc-recovers" else 6
    while True:
        error = push_probe(queue, acked)
        if error is None:
            acked += 1
            facts["pushes_work_without_reopen_after_s"] = round(time.monotonic() - started, 1)
            break
        facts["push_error_after_space_back"] = error
        if time.monotonic() - started > wait:
            facts["pushes_work_without_reopen_after_s"] = None
            break
        time.sleep(0.25)

    try:
        queue.close()
        facts["close_error"] = None
    except rocksq.RocksQError as error:
        facts["close_error"] = describe(error)
    queue = open_queue()
    if push_probe(queue, acked) is None:
        acked += 1
        facts["push_after_reopen"] = "ok"
    else:
        facts["push_after_reopen"] = "failed"
    facts["acked"] = acked
    facts["len_after_reopen"] = queue.len

    take(queue, (acked - len(popped)) // 2)
    queue.close()
    queue = open_queue()
    take(queue, acked)
    facts["popped"] = popped
    facts["final_len"] = queue.len
    queue.close()
    print(json.dumps(facts))
    """
)


def run_child(kind: str, mechanism: str, path: str, ballast: str = "", limit: int = 0) -> dict:
    completed = subprocess.run(
        [sys.executable, "-c", CHILD, kind, mechanism, path, ballast, str(ITEM_BYTES), str(limit)],
        cwd=os.path.dirname(path),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert completed.returncode == 0, (
        f"child exited with {completed.returncode}\n"
        f"stdout:\n{completed.stdout}\nstderr:\n{completed.stderr[-4000:]}"
    )
    facts = json.loads(completed.stdout.splitlines()[-1])
    log.info("%s %s: %s failed calls; %s", kind, mechanism, facts["failed_calls"],
             {key: value for key, value in facts.items() if key != "popped"})
    return facts


def mount_tmpfs(directory: Path, size_bytes: int) -> None:
    """Mounts a tmpfs of `size_bytes` on `directory`, or skips the test saying why."""
    if os.geteuid() != 0:
        pytest.skip("mounting a size-limited tmpfs needs root; RLIMIT_FSIZE cases still run")
    directory.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_bytes}", "tmpfs", str(directory)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(
            "cannot mount a size-limited tmpfs on this machine (a container may forbid "
            f"mounts): {mounted.stderr.strip() or mounted.returncode}; RLIMIT_FSIZE cases still run"
        )


@pytest.fixture
def small_filesystem(tmp_path: Path) -> Iterator[Path]:
    """A directory where a tmpfs will be mounted; unmounted after the test."""
    directory = tmp_path / f"fs-{uuid.uuid4().hex[:8]}"
    yield directory
    if directory.is_dir() and os.path.ismount(directory):
        subprocess.run(["umount", "-l", str(directory)], check=False)


def write_ballast(path: Path, size_bytes: int) -> None:
    with open(path, "wb") as ballast:
        for _ in range(size_bytes // MiB):
            ballast.write(b"\0" * MiB)


def assert_failure_left_the_queue_intact(facts: dict, path: str, kind: str, cause: str) -> None:
    action = "writing items" if kind == "fifo" else "writing elements"
    for key in ("push_error", "batch_error"):
        error = facts[key]
        assert error is not None, f"{key}: the call succeeded"
        assert error["type"] == "StorageError", error
        assert error["message"].startswith(f"Storage error: {path}: {action}: "), error
        assert cause in error["message"], error
    assert facts["sizes_after_failed_push"] == facts["sizes_before"]
    assert facts["sizes_after_failed_batch"] == facts["sizes_before"]

    during = facts["pop_during_failure"]
    assert during == "returned [0]" or (
        isinstance(during, dict) and during["type"] == "StorageError" and path in during["message"]
    ), during

    assert facts["push_after_reopen"] == "ok"
    acked = facts["acked"]
    assert acked > 1
    assert facts["popped"] == list(range(acked)), "acknowledged items lost, repeated or damaged"
    # An MPMC queue keeps what its labels read (until ttl); a FIFO pops it.
    assert facts["final_len"] == (0 if kind == "fifo" else acked)


@pytest.mark.parametrize("kind", ["fifo", "mpmc"])
def test_a_full_disk_fails_the_push_and_the_queue_resumes_by_itself_when_space_returns(
    kind: str, small_filesystem: Path
) -> None:
    # 80 MiB of ballast leave 16 MiB to the queue; deleting it frees more than
    # the 64 MiB RocksDB waits for before it resumes.
    mount_tmpfs(small_filesystem, 96 * MiB)
    ballast = small_filesystem / "ballast"
    write_ballast(ballast, 80 * MiB)
    path = str(small_filesystem / "queue")

    facts = run_child(kind, "enospc-recovers", path, str(ballast))

    assert_failure_left_the_queue_intact(facts, path, kind, "No space left on device")
    assert facts["pushes_work_without_reopen_after_s"] is not None, facts.get(
        "push_error_after_space_back"
    )
    assert facts["close_error"] is None


@pytest.mark.parametrize("kind", ["fifo", "mpmc"])
def test_a_full_small_disk_works_again_after_a_reopen(kind: str, small_filesystem: Path) -> None:
    # Freeing 3 MiB is less than RocksDB waits for: pushes keep failing until
    # the queue is reopened, and then every item is there.
    mount_tmpfs(small_filesystem, 8 * MiB)
    ballast = small_filesystem / "ballast"
    write_ballast(ballast, 3 * MiB)
    path = str(small_filesystem / "queue")

    facts = run_child(kind, "enospc-small", path, str(ballast))

    assert_failure_left_the_queue_intact(facts, path, kind, "No space left on device")
    assert facts["pushes_work_without_reopen_after_s"] is None
    assert facts["push_error_after_space_back"]["type"] == "StorageError"


@pytest.mark.parametrize("kind", ["fifo", "mpmc"])
def test_a_file_size_limit_fails_the_push_and_the_queue_works_again_after_a_reopen(
    kind: str, tmp_path: Path
) -> None:
    path = str(tmp_path / "queue")

    facts = run_child(kind, "efbig", path, limit=4 * MiB)

    assert_failure_left_the_queue_intact(facts, path, kind, "File too large")
    # RocksDB resumes by itself only from a full disk.
    assert facts["pushes_work_without_reopen_after_s"] is None
    error = facts["push_error_after_space_back"]
    assert error["type"] == "StorageError" and "File too large" in error["message"]
    if facts["close_error"] is not None:
        assert facts["close_error"]["type"] == "StorageError"
        assert path in facts["close_error"]["message"]


def test_a_queue_left_on_a_full_disk_does_not_abort_the_process(
    small_filesystem: Path, tmp_path: Path
) -> None:
    # RocksDB's own LOG writer aborted the process within seconds once the
    # disk was full to the last byte: RocksDB's free-space poll logs a line
    # every 5 s, and its writer asserts after a failed write. 15 s covers
    # three polls.
    mount_tmpfs(small_filesystem, 8 * MiB)
    path = str(small_filesystem / "queue")
    script = textwrap.dedent(
        """
        import sys, time
        import rocksq
        from rocksq.blocking import PersistentQueueWithCapacity
        queue = PersistentQueueWithCapacity(sys.argv[1])
        try:
            while True:
                queue.push([b"x" * 65536])
        except rocksq.StorageError:
            pass
        with open(sys.argv[2], "wb", buffering=0) as filler:  # every last byte
            try:
                while True:
                    filler.write(b"x" * 4096)
            except OSError:
                pass
        time.sleep(15)
        assert queue.len > 0
        print("alive")
        """
    )
    completed = subprocess.run(
        [sys.executable, "-c", script, path, str(small_filesystem / "filler")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0 and completed.stdout == "alive\n", (
        f"child exited with {completed.returncode}\nstderr:\n{completed.stderr[-3000:]}"
    )


def test_an_ack_the_full_disk_refuses_leaves_the_item_handed_out_until_it_succeeds(
    small_filesystem: Path,
) -> None:
    """An ack appends to the ack log (a file of its own): on a full disk that
    append fails with StorageError, the item stays handed out (not lost, not
    acked), and the same ack succeeds once there is room. The log was just
    emptied by the open, so the append needs a fresh page of the tmpfs."""
    import rocksq

    mount_tmpfs(small_filesystem, 32 * MiB)
    path = small_filesystem / "queue"
    queue = rocksq.AckQueue(path)
    queue.put_many([b"item-%d" % number for number in range(5)])
    queue.close()
    queue = rocksq.AckQueue(path)  # Open empties the log: no page held.
    taken = queue.get_many(3, block=False)
    ballast = small_filesystem / "ballast"
    filler = os.open(ballast, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        for chunk in (MiB, 4096):  # Whole MiBs, then the last pages.
            try:
                while os.write(filler, b"\0" * chunk) == chunk:
                    pass
            except OSError:
                pass
    finally:
        os.close(filler)
    with pytest.raises(rocksq.StorageError) as refused:
        queue.ack(taken[0])
    assert str(path) in str(refused.value) and "ack log" in str(refused.value)
    assert (queue.ready, queue.unacked, len(queue)) == (2, 3, 5)
    queue.nack(taken[1])  # Nacks write nothing: they work on a full disk.
    ballast.unlink()
    queue.ack(taken[0])  # The same id: still handed out, now acked.
    queue.ack(taken[2])
    assert (queue.ready, queue.unacked, len(queue)) == (3, 0, 3)
    queue.close()
    with rocksq.AckQueue(path) as reopened:
        remaining = [reopened.get_nowait() for _ in range(len(reopened))]
        assert [delivery.data for delivery in remaining] == [b"item-1", b"item-3", b"item-4"]


# A FIFO queue's pop takes effect when its read cursor is stored; with
# sync=True, when the cursor file's fdatasync returns. strace makes every
# fdatasync of that file fail from the `FAILING_SYNC`th on, as a disk that
# fails for good; the child pops once before and twice after.
FAILING_SYNC = 2
SYNC_FAILURE_CHILD = textwrap.dedent(
    """
    import json, sys
    import rocksq
    from rocksq.blocking import PersistentQueueWithCapacity

    path, count = sys.argv[1], int(sys.argv[2])
    queue = PersistentQueueWithCapacity(path, sync=True, attach=False)
    queue.push([b"%06d" % number for number in range(count)])
    outcomes = []
    for size in (1, count - 2, 1):
        try:
            outcomes.append([data.decode() for data in queue.pop(size)])
        except rocksq.StorageError as error:
            outcomes.append(str(error))
    queue.close()
    print(json.dumps(outcomes))
    """
)


def test_a_failed_sync_of_the_read_cursor_fails_the_pop_and_every_later_one_and_a_reopen_delivers_their_items(
        tmp_path: Path, strace: None) -> None:
    # More items than the pop deletes at once (1024): the failed pop must not
    # delete the keys of the items it could not make durable.
    from rocksq.blocking import PersistentQueueWithCapacity

    count = 2000
    path = tmp_path / "queue"
    PersistentQueueWithCapacity(path).close()
    cursor = path / "rocksq.read_cursor"
    child = subprocess.run(
        ["strace", "-f", "-qq", "-o", os.devnull, "-P", str(cursor), "-e", "trace=fdatasync",
         "-e", f"inject=fdatasync:error=EIO:when={FAILING_SYNC}+",
         sys.executable, "-B", "-c", SYNC_FAILURE_CHILD, str(path), str(count)],
        cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert child.returncode == 0, child.stderr
    first, failed, later = json.loads(child.stdout)
    assert first == ["000000"]
    for error in (failed, later):
        assert isinstance(error, str) and str(cursor) in error and "syncing the read cursor" in error \
            and "Input/output error" in error and "reopen" in error, error

    with PersistentQueueWithCapacity(path) as reopened:
        assert [data.decode() for data in reopened.pop(count)] == \
            ["%06d" % number for number in range(1, count)]
