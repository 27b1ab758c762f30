"""Creating, recognising and removing a queue's directory.

A queue's directory is used in place: an existing empty directory keeps its
owner, group, mode, setgid bit, ACLs and inode; a mount point and a symbolic
link to a directory work. A queue is created inside it behind the marker
`rocksq.creating`, renamed to `rocksq.queue` once complete, so an open after
a crash at any point of creation (or of removal) starts over cleanly. Removal
deletes only the queue's own files. Mounting needs root and a machine that
allows it; those cases skip, saying why, elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import rocksq
import rocksq.aio
import rocksq.inspection
import rocksq.nonblocking
from rocksq.blocking import MpmcQueue, PersistentQueueWithCapacity

KINDS = ["fifo", "mpmc", "ack"]
OWN_NAMES = {"rocksq.queue", "rocksq.creating", "rocksq.read_cursor", "rocksq.ack_log"}


def open_queue(kind: str, path: str | Path) -> Any:
    if kind == "fifo":
        return PersistentQueueWithCapacity(path)
    if kind == "mpmc":
        return MpmcQueue(path, ttl=86400)
    return rocksq.AckQueue(path)


def remove(kind: str, path: str | Path) -> None:
    {"fifo": rocksq.remove_queue, "mpmc": rocksq.remove_mpmc_queue, "ack": rocksq.remove_ack_queue}[
        kind
    ](path)


def push(kind: str, queue: Any, items: list[bytes]) -> None:
    if kind == "fifo":
        queue.push(items)
    elif kind == "mpmc":
        queue.add(items)
    else:
        for item in items:
            queue.put(item)


def take_all(kind: str, queue: Any) -> list[bytes]:
    if kind == "fifo":
        return list(queue.pop(1000))
    if kind == "mpmc":
        return list(queue.next("reader", rocksq.StartPosition.Oldest, 1000)[0])
    taken = []
    while count(kind, queue):
        delivery = queue.get(timeout=1)
        taken.append(bytes(delivery.data))
        queue.ack(delivery)
    return taken


def count(kind: str, queue: Any) -> int:
    return len(queue) if kind == "ack" else int(queue.len)


def create_and_check(kind: str, path: str | Path) -> None:
    """Creates a queue at `path`, stores an item, and reads it after a reopen."""
    queue = open_queue(kind, path)
    push(kind, queue, [b"kept"])
    queue.close()
    queue = open_queue(kind, path)
    try:
        assert take_all(kind, queue) == [b"kept"]
    finally:
        queue.close()


def mount_tmpfs(directory: Path, options: str = "size=16m") -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(directory)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip() or mounted.returncode}")


@pytest.fixture
def mount_point(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "mnt"
    directory.mkdir()
    yield directory
    if os.path.ismount(directory):
        subprocess.run(["umount", "-l", str(directory)], check=False)


# --- An existing directory is used in place ------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_an_existing_empty_directory_keeps_its_inode_mode_group_and_setgid_bit(
    kind: str, tmp_path: Path
) -> None:
    directory = tmp_path / "private"
    directory.mkdir()
    os.chown(directory, os.getuid(), 4321)
    os.chmod(directory, 0o2700)  # drwx--S---: after chown, which clears setgid.
    before = os.stat(directory)

    create_and_check(kind, directory)

    after = os.stat(directory)
    assert (after.st_ino, after.st_dev) == (before.st_ino, before.st_dev)
    assert stat.filemode(after.st_mode) == stat.filemode(before.st_mode) == "drwx--S---"
    assert (after.st_uid, after.st_gid) == (before.st_uid, 4321)


FACES = {
    "seed": lambda path: rocksq.PersistentQueueWithCapacity(path),
    "blocking": lambda path: PersistentQueueWithCapacity(path),
    "nonblocking": lambda path: rocksq.nonblocking.PersistentQueueWithCapacity(path),
    "Queue": lambda path: rocksq.Queue(path),
    "aio.Queue": lambda path: rocksq.aio.Queue(path),
    "nonblocking.MpmcQueue": lambda path: rocksq.nonblocking.MpmcQueue(path, ttl=60),
    "aio.MpmcQueue": lambda path: rocksq.aio.MpmcQueue(path, ttl=60),
    "AckQueue": lambda path: rocksq.AckQueue(path),
    "aio.AckQueue": lambda path: rocksq.aio.AckQueue(path),
}


@pytest.mark.parametrize("face", FACES)
def test_every_face_uses_an_existing_empty_directory_in_place(face: str, tmp_path: Path) -> None:
    directory = tmp_path / "private"
    directory.mkdir(mode=0o700)
    before = os.stat(directory)

    async def open_and_close() -> None:  # The aio faces want a running loop.
        FACES[face](directory).close()

    asyncio.run(open_and_close())

    after = os.stat(directory)
    assert (after.st_ino, stat.filemode(after.st_mode)) == (before.st_ino, "drwx------")
    assert "rocksq.queue" in os.listdir(directory)


@pytest.mark.parametrize("kind", KINDS)
def test_an_existing_empty_directory_keeps_its_acl(kind: str, tmp_path: Path) -> None:
    if shutil.which("setfacl") is None or shutil.which("getfacl") is None:
        pytest.skip("setfacl/getfacl are not installed")
    directory = tmp_path / "shared"
    directory.mkdir()
    granted = subprocess.run(
        ["setfacl", "-m", "u:4321:rwx,d:u:4321:rwx", str(directory)], capture_output=True, text=True
    )
    if granted.returncode != 0:
        pytest.skip(f"this filesystem takes no ACLs: {granted.stderr.strip()}")

    def acl() -> str:
        return subprocess.run(
            ["getfacl", "-cp", str(directory)], capture_output=True, text=True, check=True
        ).stdout

    before = acl()
    assert "user:4321:rwx" in before

    create_and_check(kind, directory)

    assert acl() == before


@pytest.mark.parametrize("kind", KINDS)
def test_an_empty_mount_point_holds_the_queue(kind: str, mount_point: Path) -> None:
    mount_tmpfs(mount_point)

    create_and_check(kind, mount_point)
    remove(kind, mount_point)

    assert os.path.ismount(mount_point) and os.listdir(mount_point) == []


@pytest.mark.parametrize("kind", KINDS)
def test_a_symbolic_link_to_an_empty_directory_holds_the_queue(kind: str, tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.mkdir()
    link = tmp_path / "link"
    link.symlink_to(target)

    create_and_check(kind, link)

    assert link.is_symlink() and "rocksq.queue" in os.listdir(target)
    remove(kind, link)
    # The link and its emptied target stay: the link was the user's.
    assert link.is_symlink() and os.listdir(target) == []


@pytest.mark.parametrize("kind", KINDS)
def test_a_name_of_255_characters_holds_the_queue(kind: str, tmp_path: Path) -> None:
    path = tmp_path / ("q" * 255)

    create_and_check(kind, path)

    assert sorted(os.listdir(tmp_path)) == [path.name]  # Nothing created beside it.
    remove(kind, path)
    assert not path.exists()


@pytest.mark.parametrize("kind", KINDS)
def test_relative_paths_and_names_with_spaces_and_newlines_hold_queues(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for path in ["relative", "sub dir/with space", "new\nline", "./dots/../dotted"]:
        create_and_check(kind, path)
        remove(kind, path)
        assert not os.path.exists(path)


@pytest.mark.parametrize("kind", KINDS)
def test_a_dangling_symbolic_link_raises_not_a_queue_and_creates_nothing(
    kind: str, tmp_path: Path
) -> None:
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "missing")

    with pytest.raises(rocksq.NotAQueueError, match="symbolic link to .*missing.*does not exist"):
        open_queue(kind, link)
    assert sorted(os.listdir(tmp_path)) == ["link"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_read_only_directory_raises_storage_error_and_stays_empty(
    kind: str, mount_point: Path
) -> None:
    mount_tmpfs(mount_point, "ro,size=1m")

    with pytest.raises(rocksq.StorageError, match="Read-only file system"):
        open_queue(kind, mount_point)
    assert os.listdir(mount_point) == []


# --- Creation interrupted --------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_a_lone_creating_marker_opens_as_a_new_queue(kind: str, tmp_path: Path) -> None:
    """A crash right after step 1 of creation (or while writing the marker)."""
    for text in ["", "RocksQ queue\nki"]:
        directory = tmp_path / f"q{len(text)}"
        directory.mkdir()
        (directory / "rocksq.creating").write_text(text)

        create_and_check(kind, directory)
        assert "rocksq.creating" not in os.listdir(directory)


def unfinish(directory: Path, keep: Callable[[str], bool]) -> None:
    """Turns a complete queue into one whose creation (or removal) stopped
    midway: the marker back to rocksq.creating, some of RocksDB's files gone."""
    (directory / "rocksq.queue").rename(directory / "rocksq.creating")
    for name in os.listdir(directory):
        if name not in OWN_NAMES and not keep(name):
            os.unlink(directory / name)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "left",
    [
        pytest.param(lambda name: True, id="everything"),
        pytest.param(lambda name: name in ("CURRENT", "IDENTITY", "LOCK"), id="no-manifest"),
        pytest.param(lambda name: name.startswith("MANIFEST"), id="no-current"),
        pytest.param(lambda name: False, id="markers-only"),
    ],
)
def test_an_unfinished_creation_or_removal_opens_as_a_new_empty_queue(
    kind: str, left: Callable[[str], bool], tmp_path: Path
) -> None:
    directory = tmp_path / "queue"
    queue = open_queue(kind, directory)
    push(kind, queue, [b"being removed"])
    queue.close()
    unfinish(directory, left)

    queue = open_queue(kind, directory)
    try:
        assert count(kind, queue) == 0
        assert "rocksq.queue" in os.listdir(directory)
        assert "rocksq.creating" not in os.listdir(directory)
    finally:
        queue.close()
    create_and_check(kind, directory)


@pytest.mark.parametrize("kind", KINDS)
def test_an_unfinished_removal_is_finished_by_the_next_removal(kind: str, tmp_path: Path) -> None:
    directory = tmp_path / "queue"
    open_queue(kind, directory).close()
    unfinish(directory, lambda name: name.endswith(".sst"))

    remove(kind, directory)

    assert not directory.exists()


# Every call that makes a step durable or visible: a process killed just
# before any of them leaves what a crash there would (strace's fault
# injection stops the child with SIGKILL at the Nth such call).
DURABLE_STEPS = "fsync,fdatasync,rename,renameat,renameat2,unlink,unlinkat,rmdir,mkdir,mkdirat"

CHILD = textwrap.dedent(
    """
    import sys
    import rocksq
    from rocksq.blocking import MpmcQueue, PersistentQueueWithCapacity
    action, kind, path = sys.argv[1:]
    if action == "create":
        if kind == "fifo":
            PersistentQueueWithCapacity(path).close()
        elif kind == "mpmc":
            MpmcQueue(path, ttl=86400).close()
        else:
            rocksq.AckQueue(path).close()
    else:
        {"fifo": rocksq.remove_queue, "mpmc": rocksq.remove_mpmc_queue,
         "ack": rocksq.remove_ack_queue}[kind](path)
    """
)


def run_killed_at(step: int, action: str, kind: str, path: Path) -> int:
    """Runs the child's `action` under strace, killed at the `step`th durable
    call; returns its exit status (0: it finished first)."""
    child = subprocess.run(
        ["strace", "-f", "-qq", "-o", os.devnull, "-e", f"trace={DURABLE_STEPS}",
         "-e", f"inject={DURABLE_STEPS}:signal=SIGKILL:when={step}",
         sys.executable, "-B", "-c", CHILD, action, kind, str(path)],
        cwd=path.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return child.returncode


@pytest.mark.parametrize("kind", KINDS)
def test_a_creation_killed_at_any_durable_step_leaves_a_queue_the_next_open_completes(
    kind: str, tmp_path: Path, strace: None
) -> None:
    broken = []
    for step in range(1, 200):
        path = tmp_path / f"step{step}"
        status = run_killed_at(step, "create", kind, path)
        finished = status == 0 or (path / "rocksq.queue").exists()
        try:
            queue = open_queue(kind, path)
        except rocksq.RocksQError as error:
            broken.append(f"step {step}: {sorted(os.listdir(path))}: {error}")
        else:
            assert count(kind, queue) == 0
            queue.close()
            assert not (path / "rocksq.creating").exists()
        if finished:  # Later steps are the open of a complete queue.
            break
    else:
        pytest.fail("the creation never finished")
    assert step > 5, f"the creation finished at step {step}: the steps were not traced"
    assert not broken, "\n".join(broken)


@pytest.mark.parametrize("kind", KINDS)
def test_a_removal_killed_at_any_durable_step_leaves_a_queue_that_opens_whole_or_new(
    kind: str, tmp_path: Path, strace: None
) -> None:
    broken = []
    for step in range(1, 200):
        path = tmp_path / f"step{step}"
        queue = open_queue(kind, path)
        push(kind, queue, [b"item"] * 10)
        queue.close()
        status = run_killed_at(step, "remove", kind, path)
        if status == 0:
            assert not path.exists()
            break
        assert status == -signal.SIGKILL
        try:
            queue = open_queue(kind, path)
        except rocksq.RocksQError as error:
            broken.append(f"step {step}: {sorted(os.listdir(path))}: {error}")
        else:
            assert count(kind, queue) in (0, 10)
            queue.close()
    else:
        pytest.fail("the removal never finished")
    assert step > 3, f"the removal finished at step {step}: the steps were not traced"
    assert not broken, "\n".join(broken)


# --- Recognising a queue --------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_a_queue_written_before_the_marker_existed_opens_and_is_marked(
    kind: str, tmp_path: Path
) -> None:
    """A queue written before the marker existed: RocksDB's files with the
    format key, and no rocksq.queue."""
    directory = tmp_path / "queue"
    queue = open_queue(kind, directory)
    push(kind, queue, [b"old"])
    queue.close()
    (directory / "rocksq.queue").unlink()

    queue = open_queue(kind, directory)
    try:
        assert take_all(kind, queue) == [b"old"]
    finally:
        queue.close()
    assert "kind: " + kind in (directory / "rocksq.queue").read_text()


@pytest.mark.parametrize("kind", KINDS)
def test_another_kinds_queue_without_the_marker_is_refused_and_left_unmarked(
    kind: str, tmp_path: Path
) -> None:
    other = "mpmc" if kind == "fifo" else "fifo"
    directory = tmp_path / "queue"
    open_queue(other, directory).close()
    (directory / "rocksq.queue").unlink()
    before = sorted(os.listdir(directory))

    with pytest.raises(rocksq.NotAQueueError, match="holds a RocksQ"):
        open_queue(kind, directory)
    with pytest.raises(rocksq.NotAQueueError, match="holds a RocksQ"):
        remove(kind, directory)
    assert sorted(os.listdir(directory)) == before


# --- Removal ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_removal_deletes_only_the_queues_files_and_keeps_the_directory_that_has_others(
    kind: str, tmp_path: Path
) -> None:
    directory = tmp_path / "queue"
    queue = open_queue(kind, directory)
    push(kind, queue, [b"gone"])
    queue.close()
    (directory / "notes.txt").write_text("mine")
    (directory / "sub").mkdir()

    remove(kind, directory)

    assert sorted(os.listdir(directory)) == ["notes.txt", "sub"]
    assert (directory / "notes.txt").read_text() == "mine"
    # A directory of other files is not a queue, so it cannot be reopened as one.
    with pytest.raises(rocksq.NotAQueueError):
        open_queue(kind, directory)


@pytest.mark.parametrize("kind", KINDS)
def test_removal_keeps_an_existing_directorys_place_only_if_it_is_not_empty(
    kind: str, tmp_path: Path
) -> None:
    directory = tmp_path / "queue"
    directory.mkdir()
    open_queue(kind, directory).close()

    remove(kind, directory)

    assert not directory.exists()


# --- Processes at once ------------------------------------------------------------------


RACER = textwrap.dedent(
    """
    import os, sys, time
    import rocksq
    from rocksq.blocking import MpmcQueue, PersistentQueueWithCapacity
    path, start, role, kind = sys.argv[1:]
    open_queue = {
        "fifo": lambda: PersistentQueueWithCapacity(path),
        "mpmc": lambda: MpmcQueue(path, ttl=86400),
        "ack": lambda: rocksq.AckQueue(path),
    }[kind]
    remove = {
        "fifo": rocksq.remove_queue,
        "mpmc": rocksq.remove_mpmc_queue,
        "ack": rocksq.remove_ack_queue,
    }[kind]
    while not os.path.exists(start):
        time.sleep(0.001)
    unexpected = []
    stored = 0
    deadline = time.monotonic() + 20
    while stored < 10 and time.monotonic() < deadline:
        try:
            if role == "remover":
                remove(path)
                stored += 1
                continue
            queue = open_queue()
        except rocksq.QueueAlreadyOpen:
            continue
        except rocksq.RocksQError as error:
            unexpected.append(str(error))
            break
        if kind == "fifo":
            queue.push([role.encode()])
        elif kind == "mpmc":
            queue.add([role.encode()])
        else:
            queue.put(role.encode())
        queue.close()
        stored += 1
    print(repr(unexpected) if unexpected else stored, flush=True)
    """
)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("with_remover", [False, True], ids=["openers", "openers-and-a-remover"])
def test_processes_creating_opening_and_removing_one_queue_at_once_see_only_already_open(
    with_remover: bool, kind: str, tmp_path: Path
) -> None:
    path = tmp_path / "queue"
    start = tmp_path / "start"
    roles = [f"opener{n}" for n in range(4)] + (["remover"] if with_remover else [])
    children = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(path), str(start), role, kind],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for role in roles
    ]
    start.touch()
    results = []
    for child in children:
        try:
            out, err = child.communicate(timeout=60)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait(timeout=30)
        assert child.returncode == 0, err
        results.append(out.strip())

    assert results == ["10"] * len(roles)
    # Whatever the last step left opens: a removal leaves no file behind.
    queue = open_queue(kind, path)
    try:
        if not with_remover:
            assert count(kind, queue) == 40
    finally:
        queue.close()


# A creation that fails and cleans up after itself, over and over: under an
# exclusive flock on the empty directory, as RocksQ creates a queue, it
# writes `rocksq.creating` and removes it again. The directory is empty only
# for moments, and the marker comes and goes as fast as it can.
FAILING_CREATOR = textwrap.dedent(
    """
    import fcntl, os, sys, time
    path, stop = sys.argv[1:]
    creating = os.path.join(path, "rocksq.creating")
    while not os.path.exists(stop):
        try:
            os.makedirs(path, exist_ok=True)
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        except (FileExistsError, FileNotFoundError):
            # makedirs raises FileExistsError when the directory it found
            # is removed before it checks that it is one.
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            named, held = os.stat(path), os.fstat(fd)
            if (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino) and not os.listdir(path):
                for _ in range(200):
                    os.close(os.open(creating, os.O_WRONLY | os.O_CREAT))
                    os.unlink(creating)
        except FileNotFoundError:
            pass  # Removed while this waited for the lock.
        finally:
            os.close(fd)  # Releases the lock.
        time.sleep(0.0002)  # Lets the others take the lock.
    os._exit(0)
    """
)


def wait_until(condition: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.0001)


@contextlib.contextmanager
def failing_creator(path: Path, stop: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Runs FAILING_CREATOR on `path` for the duration; it must stop cleanly once `stop` exists."""
    creator = subprocess.Popen(
        [sys.executable, "-c", FAILING_CREATOR, str(path), str(stop)], stderr=subprocess.PIPE
    )
    try:
        yield creator
    finally:
        stop.touch()
        try:
            _, err = creator.communicate(timeout=30)
        finally:
            if creator.poll() is None:
                creator.kill()
                creator.wait(timeout=30)
    assert creator.returncode == 0, err


@pytest.mark.parametrize("kind", KINDS)
def test_opening_and_removing_never_mistake_a_creation_in_progress_for_foreign_files(
    kind: str, tmp_path: Path
) -> None:
    # The directory is looked at before its lock is taken only to see whether
    # it exists: a look at its names then would see no marker and, a moment
    # later, the one a creation just wrote, and raise NotAQueueError.
    path = tmp_path / "queue"
    stop = tmp_path / "stop"
    with failing_creator(path, stop) as creator:
        for attempt in range(200):
            # The creator makes it again; if it stopped, its error is reported below.
            wait_until(lambda: path.exists() or creator.poll() is not None)
            if attempt % 8 == 7:
                queue = open_queue(kind, path)
                push(kind, queue, [b"item"])
                queue.close()
            remove(kind, path)
    # Whatever the last step left opens as an empty queue: nothing was left behind.
    queue = open_queue(kind, path)
    try:
        assert count(kind, queue) == 0
    finally:
        queue.close()


def test_inspecting_never_mistakes_a_creation_in_progress_for_foreign_files(
    tmp_path: Path,
) -> None:
    # Inspection looks at the names under the directory's lock, as an open does.
    path = tmp_path / "queue"
    stop = tmp_path / "stop"
    with failing_creator(path, stop):
        wait_until(path.exists)
        for _ in range(300):
            with pytest.raises(rocksq.NotAQueueError, match="is an empty directory"):
                rocksq.inspection.inspect_queue(path)
