"""Attached queues used as a hostile but ordinary user would (issue 17).

A full disk under the owner, a damaged or replaced `rocksq.sock`, clients
that break the attach protocol (docs/format.rst, "Attach protocol") or
flood the owner with connections, and handles kept past their queue's
close. Each time the owner keeps serving its own calls and the processes
that follow the protocol, nothing acknowledged is lost, and the misused
side gets a clear error or is dropped, never a hang past the documented
patience.

Owners that a test expects to survive misuse run in a process of their own
(hostile_owner.py): a crash there is the test's failure, not pytest's.
"""

from __future__ import annotations

import mmap
import os
import socket
import stat
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support.full_disk import close_regardless, fill, item, item_number, make_room

import rocksq
import rocksq.blocking
from rocksq._core import AckQueue, FifoOptions, FifoQueue, MpmcQueue

OWNER_SCRIPT = Path(__file__).with_name("hostile_owner.py")
MPMC_TTL = 86400
# Longer than any wait below is allowed to take: a regression fails, never hangs.
REPLY_SECONDS = 15
# How long the owner gives a connection to send its Hello (attach_server.cc).
HELLO_TIMEOUT_SECONDS = 5
# How long an attaching open waits for an owner to answer (attach_client.h).
ATTACH_PATIENCE_SECONDS = 10


class Owner:
    """A process owning a queue (hostile_owner.py), one command line at a time."""

    def __init__(self, kind: str, path: str, max_open_files: int | None = None) -> None:
        extra = [] if max_open_files is None else [str(max_open_files)]
        self.process = subprocess.Popen(
            [sys.executable, str(OWNER_SCRIPT), kind, path, *extra],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.ask_line() == "ready"

    @property
    def pid(self) -> int:
        return self.process.pid

    def ask_line(self) -> str:
        assert self.process.stdout is not None
        return self.process.stdout.readline().strip()

    def ask(self, command: str) -> str:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self.ask_line()

    def exit(self) -> int:
        """Ends the script (without closing the queue if it is open) and reaps it."""
        assert self.process.stdin is not None
        if not self.process.stdin.closed:
            try:
                self.process.stdin.write("exit\n")
                self.process.stdin.close()
            except BrokenPipeError:  # It died already: its status says how.
                pass
        return self.process.wait(REPLY_SECONDS)

    def kill(self) -> None:
        """Kills it if it still runs, reaps it and closes its pipes."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()


@pytest.fixture
def start_owner() -> Iterator[Callable[..., Owner]]:
    """Starts owners; each is killed (if still running) and reaped after the test."""
    owners: list[Owner] = []

    def start(kind: str, path: str, max_open_files: int | None = None) -> Owner:
        owners.append(Owner(kind, path, max_open_files))
        return owners[-1]

    yield start
    for owner in owners:
        owner.kill()


# --- the wire, as docs/format.rst "Attach protocol" describes it ----------------

HELLO, PUSH_BATCH, POP, LEN = 1, 2, 4, 6
UNSUPPORTED_FORMAT, STORAGE = 11, 2


def frame(op: int, body: bytes = b"", seq: int = 1, body_bytes: int | None = None) -> bytes:
    declared = len(body) if body_bytes is None else body_bytes
    return struct.pack("<QHHIQ", declared, op, 0, 0, seq) + body


def items_body(*items: bytes) -> bytes:
    lengths = b"".join(struct.pack("<I", len(data)) for data in items)
    return struct.pack("<I", len(items)) + lengths + b"".join(items)


ATTACH_PROTOCOL = 6


def hello_frame(kind: int = 1, protocol: int = ATTACH_PROTOCOL, shared_lane: bool = False) -> bytes:
    """A Hello of client id 1, lane 0; without `shared_lane`, the socket carries every frame."""
    version = rocksq.__version__.encode()
    fixed = struct.pack("<IIII", protocol, kind, os.getpid(), len(version))
    return frame(HELLO, b"RQATTACH" + fixed + version + struct.pack("<QIB", 1, 0, shared_lane))


class RawClient:
    """A client that writes the attach protocol's bytes itself."""

    def __init__(self, path: str, hello: bool = True, kind: int = 1) -> None:
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.socket.settimeout(REPLY_SECONDS)
        self.socket.connect(os.path.join(path, "rocksq.sock"))
        if hello:
            self.socket.sendall(hello_frame(kind))
            reply = self.reply()
            assert reply is not None and reply[1] == 0, reply

    def reply(self) -> tuple[int, int, int, bytes] | None:
        """(op, status, seq, body) of the next frame; None once the owner closed the connection."""
        head = self.receive(24)
        if head is None:
            return None
        body_bytes, op, _, status, seq = struct.unpack("<QHHIQ", head)
        body = self.receive(body_bytes)
        return None if body is None else (op, status, seq, body)

    def receive(self, count: int) -> bytes | None:
        data = b""
        while len(data) < count:
            try:
                chunk = self.socket.recv(count - len(data))
            except ConnectionResetError:
                return None
            if not chunk:
                return None
            data += chunk
        return data

    def dropped_by_owner(self) -> bool:
        """True once the owner ends the connection (within REPLY_SECONDS), False if it answers."""
        return self.reply() is None

    def close(self) -> None:
        self.socket.close()


def attach_and_count(path: str) -> int:
    """What a well-behaved attached process sees: len() through a fresh attached open."""
    queue = FifoQueue(path, attach=True)
    try:
        return queue.len
    finally:
        queue.close()


def attach_in_a_process(path: str, timeout: float = ATTACH_PATIENCE_SECONDS + REPLY_SECONDS) -> str:
    """Attaches from a fresh process, pops what is there: "popped N items", or the error."""
    script = (
        "import sys\n"
        "from rocksq._core import FifoQueue\n"
        "try:\n"
        "    queue = FifoQueue(sys.argv[1], attach=True)\n"
        "except Exception as error:\n"
        "    print(f'{type(error).__name__}: {error}')\n"
        "else:\n"
        "    print(f'popped {len(queue.pop(1 << 20))} items')\n"
        "    queue.close()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, path],
        cwd=Path(path).parent,  # Not the checkout, whose rocksq/ has no _core.
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


# --- 1. a full disk under the owner ---------------------------------------------


def test_attached_pushes_on_a_full_disk_fail_as_the_owners_and_work_again_once_space_returns(
    small_disk: Path, start_owner: Callable[..., Owner]
) -> None:
    path = str(small_disk / "queue")
    owner = start_owner("fifo", path)
    attached = rocksq.blocking.PersistentQueueWithCapacity(path, attach=True)

    # fill() checks that the attached push that finds no room raises
    # StorageError "No space left on device", as an owner's own push does.
    stored = fill(small_disk, lambda data: attached.push([data]))
    owners_push = owner.ask(f"push {stored}")
    assert owners_push.startswith("StorageError: ") and "No space left on device" in owners_push

    first = attached.pop(2)  # Pops need no new space, attached too.
    assert [item_number(data) for data in first] == [0, 1]
    # Enough room for RocksDB to resume by itself: an attached process
    # cannot reopen the owner's database.
    make_room(small_disk, RESUMING_ROOM)
    push_once_writes_resume(attached, item(stored))

    assert owner.ask("pop") == ",".join(str(number) for number in [*range(2, stored), stored])
    close_regardless(attached)
    assert owner.exit() == 0


RESUMING_ROOM = 96 << 20
# RocksDB looks at the free space every 5 s (docs/durability.rst).
RESUME_SECONDS = 30


def push_once_writes_resume(queue, data: bytes) -> None:
    """Pushes `data`, retrying while the owner's RocksDB still refuses writes."""
    deadline = time.monotonic() + RESUME_SECONDS
    while True:
        try:
            queue.push([data])
            return
        except rocksq.StorageError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)  # RocksDB's recovery gives no event to wait on.


# --- 2. a damaged or replaced rocksq.sock ---------------------------------------


def make_queue(path: str) -> None:
    FifoQueue(path).close()


def test_a_regular_file_named_rocksq_sock_is_replaced_by_the_owners_socket(queue_path: str) -> None:
    make_queue(queue_path)
    (Path(queue_path) / "rocksq.sock").write_bytes(b"not a socket")

    owner = FifoQueue(queue_path, attach=True)
    owner.push(b"x")

    assert stat.S_ISSOCK(os.stat(Path(queue_path) / "rocksq.sock").st_mode)
    assert attach_in_a_process(queue_path) == "popped 1 items"
    owner.close()


def test_a_symlink_named_rocksq_sock_is_removed_and_its_target_left_alone(
    queue_path: str, tmp_path: Path
) -> None:
    make_queue(queue_path)
    target = tmp_path / "someone's file"
    target.write_bytes(b"kept")
    (Path(queue_path) / "rocksq.sock").symlink_to(target)

    owner = FifoQueue(queue_path, attach=True)
    owner.push(b"x")

    assert stat.S_ISSOCK(os.lstat(Path(queue_path) / "rocksq.sock").st_mode)
    assert target.read_bytes() == b"kept"
    assert attach_in_a_process(queue_path) == "popped 1 items"
    owner.close()


def test_another_programs_socket_left_at_rocksq_sock_gets_no_attached_process(
    queue_path: str,
) -> None:
    make_queue(queue_path)
    squatter = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    squatter.bind(os.path.join(queue_path, "rocksq.sock"))
    squatter.listen()
    squatter.setblocking(False)

    owner = FifoQueue(queue_path, attach=True)
    owner.push(b"x")

    assert attach_in_a_process(queue_path) == "popped 1 items"
    with pytest.raises(BlockingIOError):
        squatter.accept()  # Nobody connected to it.
    squatter.close()
    owner.close()


def test_a_directory_named_rocksq_sock_makes_the_attach_open_raise_naming_it(
    queue_path: str,
) -> None:
    make_queue(queue_path)
    (Path(queue_path) / "rocksq.sock").mkdir()

    with pytest.raises(rocksq.StorageError, match=r"rocksq\.sock: Is a directory"):
        FifoQueue(queue_path, attach=True)

    (Path(queue_path) / "rocksq.sock").rmdir()
    owner = FifoQueue(queue_path, attach=True)  # The failed open left no lock behind.
    owner.close()


def wait_until_rebound(socket_path: Path) -> None:
    """Waits (polling, bounded: no event says so) until an owner's socket,
    mode 0600, is back at `socket_path`. Not by inode: a freed one is reused."""
    deadline = time.monotonic() + REPLY_SECONDS
    while time.monotonic() < deadline:
        try:
            now = os.lstat(socket_path)
        except FileNotFoundError:
            now = None
        if now is not None and stat.S_ISSOCK(now.st_mode) and stat.S_IMODE(now.st_mode) == 0o600:
            return
        time.sleep(0.01)
    pytest.fail(f"the owner did not bind {socket_path} again")


@pytest.mark.parametrize("damage", ["deleted", "another program's socket", "symlink"])
def test_the_owner_binds_its_socket_again_when_it_is_deleted_or_replaced(
    damage: str, queue_path: str, tmp_path: Path, start_owner: Callable[..., Owner]
) -> None:
    owner = start_owner("fifo", queue_path)
    assert owner.ask("push 7") == "ok"
    attached_before = FifoQueue(queue_path, attach=True)
    socket_path = Path(queue_path) / "rocksq.sock"

    # Another file takes the name at once, as rename(2) puts it there.
    stand_in = Path(queue_path) / "stand-in"
    squatter = None
    if damage == "deleted":
        socket_path.unlink()
    elif damage == "another program's socket":
        squatter = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        squatter.bind(str(stand_in))
        squatter.listen()
        stand_in.chmod(0o666)  # Not the owner's 0600, which wait_until_rebound looks for.
    else:
        other = FifoQueue(str(tmp_path / "other"), attach=True)
        stand_in.symlink_to(tmp_path / "other" / "rocksq.sock")
    if damage != "deleted":
        stand_in.rename(socket_path)
    wait_until_rebound(socket_path)

    assert attach_in_a_process(queue_path) == "popped 1 items"
    # The handle attached before goes on, its new connections too.
    assert attached_before.len == 0
    attached_before.close()
    if squatter is not None:
        squatter.setblocking(False)
        with pytest.raises(BlockingIOError):
            squatter.accept()
        squatter.close()
    if damage == "symlink":
        other.close()
    assert owner.exit() == 0


# --- 3. clients that break the protocol -----------------------------------------


# Per kind: its Hello kind, a push of b"a" and a take of one item.
PIPELINED = {
    "fifo": (1, frame(PUSH_BATCH, items_body(b"a")), frame(POP, struct.pack("<Q", 1))),
    "ack": (3, frame(32, items_body(b"a")), frame(36, struct.pack("<Q", 1))),
    "mpmc": (
        2,
        frame(64, items_body(b"a")),
        frame(65, struct.pack("<I", 1) + b"x" + struct.pack("<BQ", 0, 1)),
    ),
}


@pytest.mark.parametrize("kind", PIPELINED)
def test_a_client_sending_requests_before_their_replies_is_dropped_and_the_owner_serves_on(
    kind: str, queue_path: str, start_owner: Callable[..., Owner]
) -> None:
    """Two pushes and two takes in one write, then a hang-up: the FIFO owner
    once replied to the pushes, dropped the connection, and crashed
    (std::terminate) looking it up for the pops."""
    owner = start_owner(kind, queue_path)
    hello_kind, push, take = PIPELINED[kind]
    client = RawClient(queue_path, kind=hello_kind)
    client.socket.sendall(push + push + take + take)
    client.close()

    assert owner.ask("push 1") == "ok"  # Alive, and serving its own calls.
    assert owner.ask("pop") == "1"  # Nothing the dropped client sent was run.
    assert owner.exit() == 0


# A connection's shared-memory lane (docs/format.rst, "Shared-memory lanes").
LANE_DOORBELL = 19
LANE_REQUEST_POSTED = 0  # u64, the client's last request's number.
LANE_REQUEST_FRAME = 4096
LANE_FRAME_CAPACITY = 64 * 1024


class LaneClient(RawClient):
    """A raw client whose Hello asks for a shared-memory lane, mapped here."""

    def __init__(self, path: str) -> None:
        super().__init__(path, hello=False)
        self.socket.sendall(hello_frame(shared_lane=True))
        head, fds, _, _ = socket.recv_fds(self.socket, 24, 1)
        assert len(head) == 24 and len(fds) == 1, "the Welcome passes the lane"
        body_bytes, _, _, status, _ = struct.unpack("<QHHIQ", head)
        assert status == 0 and self.receive(body_bytes) is not None
        self.lane_fd = fds[0]
        self.lane = mmap.mmap(self.lane_fd, LANE_REQUEST_FRAME + 2 * LANE_FRAME_CAPACITY)

    def post(self, header_and_body: bytes, number: int) -> None:
        """Writes a request frame in the lane, posts it and rings."""
        self.lane[LANE_REQUEST_FRAME : LANE_REQUEST_FRAME + len(header_and_body)] = header_and_body
        self.lane[LANE_REQUEST_POSTED : LANE_REQUEST_POSTED + 8] = struct.pack("<Q", number)
        self.socket.sendall(frame(LANE_DOORBELL, seq=0))

    def close(self) -> None:
        self.lane.close()
        os.close(self.lane_fd)
        super().close()


def test_a_lane_request_declaring_more_than_the_lane_holds_drops_only_its_connection(
    queue_path: str, start_owner: Callable[..., Owner]
) -> None:
    owner = start_owner("fifo", queue_path)
    client = LaneClient(queue_path)
    client.post(frame(PUSH_BATCH, items_body(b"x"), 2, body_bytes=1 << 20), 1)

    assert client.dropped_by_owner()
    client.close()
    assert owner.ask("push 1") == "ok"
    assert attach_and_count(queue_path) == 1
    assert owner.exit() == 0


def test_a_client_scribbling_over_its_lane_cannot_shrink_it_or_stop_the_owner(
    queue_path: str, start_owner: Callable[..., Owner]
) -> None:
    owner = start_owner("fifo", queue_path)
    client = LaneClient(queue_path)
    # Sealed: a lane the owner maps cannot shrink under it (a read past the
    # end would kill the owner with SIGBUS).
    with pytest.raises(PermissionError):
        os.ftruncate(client.lane_fd, 0)
    # Garbage requests, posted without waiting for replies, while the owner
    # reads them: it answers or drops, and goes on.
    random_bytes = os.urandom(LANE_FRAME_CAPACITY)
    for number in range(1, 500):
        start = number * 97 % (LANE_FRAME_CAPACITY - 64)
        client.lane[LANE_REQUEST_FRAME : LANE_REQUEST_FRAME + 64] = random_bytes[start : start + 64]
        client.lane[LANE_REQUEST_POSTED : LANE_REQUEST_POSTED + 8] = struct.pack("<Q", number)
        try:
            client.socket.sendall(frame(LANE_DOORBELL, seq=0))
        except (BrokenPipeError, ConnectionResetError):  # Dropped: fine.
            break
    client.close()

    assert owner.ask("push 1") == "ok"
    assert attach_and_count(queue_path) == 1
    assert owner.exit() == 0


def test_a_hello_of_the_previous_protocol_is_refused_naming_both_protocols(
    queue_path: str, start_owner: Callable[..., Owner]
) -> None:
    owner = start_owner("fifo", queue_path)
    client = RawClient(queue_path, hello=False)

    client.socket.sendall(hello_frame(protocol=ATTACH_PROTOCOL - 1))
    op, status, _, detail = client.reply()

    assert (op, status) == (HELLO, UNSUPPORTED_FORMAT)
    assert (
        f"(attach protocol {ATTACH_PROTOCOL}); process {os.getpid()} runs RocksQ"
        f" {rocksq.__version__} (attach protocol {ATTACH_PROTOCOL - 1}):"
        " use one RocksQ version per queue"
    ) in detail.decode()
    client.close()
    assert owner.exit() == 0


def test_unknown_operations_and_malformed_bodies_get_error_replies_and_store_nothing(
    queue_path: str, start_owner: Callable[..., Owner]
) -> None:
    owner = start_owner("fifo", queue_path)
    client = RawClient(queue_path)

    client.socket.sendall(frame(999, b"abc", 2))
    op, status, seq, detail = client.reply()
    assert (op, status, seq) == (999, UNSUPPORTED_FORMAT, 2)
    assert b"unknown attach operation 999" in detail

    # 1,000 items announced, one length sent.
    client.socket.sendall(frame(PUSH_BATCH, struct.pack("<II", 1000, 5), 3))
    op, status, seq, detail = client.reply()
    assert (op, status, seq) == (PUSH_BATCH, STORAGE, 3)
    assert b"malformed attach frame" in detail

    client.socket.sendall(frame(LEN, b"", 4))
    assert client.reply() == (LEN, 0, 4, struct.pack("<Q", 0))
    client.close()
    assert owner.exit() == 0


def test_a_truncated_frame_holds_up_only_its_own_connection(
    queue_path: str, start_owner: Callable[..., Owner]
) -> None:
    owner = start_owner("fifo", queue_path)
    stalled = RawClient(queue_path)
    stalled.socket.sendall(frame(PUSH_BATCH, items_body(b"cut short")[:6], 2, body_bytes=17))
    hung_up = RawClient(queue_path)
    hung_up.socket.sendall(frame(PUSH_BATCH, items_body(b"cut short")[:6], 2, body_bytes=17))
    hung_up.close()

    assert owner.ask("push 1") == "ok"
    assert attach_and_count(queue_path) == 1
    stalled.close()
    assert owner.exit() == 0


# A request's body is bounded by the protocol (2**32 bytes), a Hello's by
# the owner (64 KiB): either way the owner drops the connection at the header.
OVERSIZED = {
    "request": (True, frame(PUSH_BATCH, b"\0" * 1024, 2, body_bytes=(1 << 32) + 1)),
    "first frame": (False, frame(HELLO, b"RQATTACH", body_bytes=1 << 20)),
}


@pytest.mark.parametrize("which", OVERSIZED)
def test_a_body_declared_over_its_bound_is_refused_before_it_arrives(
    which: str, queue_path: str, start_owner: Callable[..., Owner]
) -> None:
    owner = start_owner("fifo", queue_path)
    hello, oversized = OVERSIZED[which]
    client = RawClient(queue_path, hello=hello)

    client.socket.sendall(oversized)
    started = time.monotonic()

    assert client.dropped_by_owner()
    assert time.monotonic() - started < HELLO_TIMEOUT_SECONDS / 2  # Not by the Hello's deadline.
    client.close()
    assert attach_and_count(queue_path) == 0
    assert owner.exit() == 0


def test_a_connection_that_never_says_hello_is_dropped_while_others_are_served(
    queue_path: str, start_owner: Callable[..., Owner]
) -> None:
    owner = start_owner("fifo", queue_path)
    silent = RawClient(queue_path, hello=False)
    assert owner.ask("push 1") == "ok"
    assert attach_and_count(queue_path) == 1
    started = time.monotonic()

    assert silent.dropped_by_owner()

    assert time.monotonic() - started < HELLO_TIMEOUT_SECONDS + 2
    silent.close()
    assert owner.exit() == 0


def test_a_flood_of_connections_past_the_owners_descriptors_does_not_spin_it(
    queue_path: str, start_owner: Callable[..., Owner]
) -> None:
    """With no descriptor left, the listener stays readable: an owner that
    retried accept() at once spun a core until the flood ended."""
    owner = start_owner("fifo", queue_path, max_open_files=256)
    flood = [RawClient(queue_path, hello=False) for _ in range(300)]
    cpu_before = float(owner.ask("cpu"))
    time.sleep(1)
    cpu_used = float(owner.ask("cpu")) - cpu_before
    for client in flood:
        client.close()

    assert cpu_used < 0.3
    assert attach_and_count(queue_path) == 0
    assert owner.exit() == 0


# --- 4. handles kept past their queue's close -----------------------------------

FACES: dict[str, Callable[[str], object]] = {
    "rocksq.Queue": lambda path: rocksq.Queue(path, attach=True),
    "rocksq.blocking": lambda path: rocksq.blocking.PersistentQueueWithCapacity(path, attach=True),
    "seed API": lambda path: rocksq.PersistentQueueWithCapacity(path, attach=True),
    "rocksq.AckQueue": lambda path: rocksq.AckQueue(path, attach=True),
    "rocksq.blocking.MpmcQueue": lambda path: rocksq.blocking.MpmcQueue(
        path, ttl=MPMC_TTL, attach=True
    ),
}
# What hostile_owner.py opens: each face's defaults, so that the options agree.
OWNER_OF_FACE = {
    "rocksq.Queue": "Queue",
    "rocksq.blocking": "fifo",
    "seed API": "seed",
    "rocksq.AckQueue": "ack",
    "rocksq.blocking.MpmcQueue": "mpmc",
}


def use(face: str, queue) -> None:
    """A call that reaches the owner, in the face's own words."""
    if face == "rocksq.Queue":
        queue.put(b"x")
    elif face == "rocksq.AckQueue":
        queue.put_nowait(b"x")
    elif face == "rocksq.blocking.MpmcQueue":
        queue.add([b"x"])
    elif face == "seed API":
        queue.push(b"x")
    else:
        queue.push([b"x"])


@pytest.mark.parametrize("face", FACES)
def test_an_attached_handle_used_after_its_own_close_raises_queue_closed(
    face: str, queue_path: str, start_owner: Callable[..., Owner]
) -> None:
    owner = start_owner(OWNER_OF_FACE[face], queue_path)
    queue = FACES[face](queue_path)
    use(face, queue)

    queue.close()

    with pytest.raises(rocksq.QueueClosed, match="the queue was closed"):
        use(face, queue)
    queue.close()  # Closing again is harmless.
    assert owner.exit() == 0


def leave(owner: Owner, how: str) -> None:
    if how == "closes the queue":
        assert owner.ask("close") == "closed"
    else:
        assert owner.exit() == 0


@pytest.mark.parametrize(
    "face",
    ["rocksq.Queue", "rocksq.blocking", "seed API", "rocksq.AckQueue", "rocksq.blocking.MpmcQueue"],
)
@pytest.mark.parametrize("how", ["closes the queue", "exits"])
def test_an_attached_handle_takes_the_queue_over_from_the_owner_that_left(
    face: str, how: str, queue_path: str, start_owner: Callable[..., Owner]
) -> None:
    owner = start_owner(OWNER_OF_FACE[face], queue_path)
    queue = FACES[face](queue_path)
    use(face, queue)

    leave(owner, how)

    use(face, queue)  # Served by this process now, or by another attached one.
    queue.close()
    owner.exit()


def test_an_attached_ack_get_waiting_for_ever_is_served_by_the_next_owner_when_the_owner_exits(
    queue_path: str, start_owner: Callable[..., Owner]
) -> None:
    owner = start_owner("ack", queue_path)
    queue = rocksq.AckQueue(queue_path, attach=True)
    outcome: list[object] = []

    def get() -> None:
        try:
            outcome.append(queue.get())
        except BaseException as error:  # noqa: BLE001 - the outcome is the test
            outcome.append(error)

    waiter = threading.Thread(target=get)
    waiter.start()
    assert owner.exit() == 0
    queue.put(b"after the owner left")  # Through whichever process owns it now.
    waiter.join(REPLY_SECONDS)

    assert not waiter.is_alive()
    assert isinstance(outcome[0], rocksq.Delivery), outcome
    assert outcome[0].data == b"after the owner left"
    queue.close()


# --- 5. what an attaching process finds at rocksq.sock --------------------------
#
# In these tests this process holds the queue's LOCK (opened without attach),
# so a listener it binds at rocksq.sock passes for the owner's as far as the
# LOCK goes; the attaching process is a fresh one.

# How long each side waits for the other's greeting (attach_wire.h).
GREETING_TIMEOUT_SECONDS = 5
WELCOME_BODY_BOUND = 64 * 1024


def welcome_body(owner_pid: int, max_elements: int) -> bytes:
    """A FIFO queue's Welcome (docs/format.rst), naming `owner_pid` and `max_elements`."""

    def string(text: bytes) -> bytes:
        return struct.pack("<I", len(text)) + text

    return (
        struct.pack("<II", ATTACH_PROTOCOL, owner_pid)
        + string(rocksq.__version__.encode())
        + string(b"a queue id")
        + string(b"")
        + struct.pack("<QBqQq", max_elements, 0, 0, 0, 0)
    )


def read_frame(connection: socket.socket) -> tuple[int, int] | None:
    """(op, seq) of the next whole frame on `connection`; None once it closed."""
    head = b""
    while len(head) < 24:
        chunk = connection.recv(24 - len(head))
        if not chunk:
            return None
        head += chunk
    body_bytes, op, _, _, seq = struct.unpack("<QHHIQ", head)
    while body_bytes > 0:
        chunk = connection.recv(min(body_bytes, 1 << 16))
        if not chunk:
            return None
        body_bytes -= len(chunk)
    return op, seq


class FakeOwner:
    """A listener at the queue's rocksq.sock run by this process: each connection,
    numbered from 1 in accept order, is served by serve(connection, number) in a thread."""

    def __init__(self, path: str, serve: Callable[[socket.socket, int], None]) -> None:
        self.address = os.path.join(path, "rocksq.sock")
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.address)
        self.listener.listen()
        self.closing = False
        self.serve = serve
        self.threads: list[threading.Thread] = []
        self.connections: list[socket.socket] = []
        self.accepting = threading.Thread(target=self.accept)
        self.accepting.start()

    def accept(self) -> None:
        while True:
            connection, _ = self.listener.accept()
            if self.closing:  # close()'s own connection, made to wake this thread.
                connection.close()
                return
            self.connections.append(connection)
            thread = threading.Thread(target=self.serve, args=(connection, len(self.connections)))
            thread.start()
            self.threads.append(thread)

    def close(self) -> None:
        self.closing = True
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as waking:
            waking.connect(self.address)
        self.accepting.join(REPLY_SECONDS)
        self.listener.close()
        for connection in self.connections:
            connection.shutdown(socket.SHUT_RDWR)
        for thread in self.threads:
            thread.join(REPLY_SECONDS)
        for connection in self.connections:
            connection.close()


@pytest.fixture
def held_queue(queue_path: str) -> Iterator[str]:
    """The queue's path, held by this process without attach (so with no socket of its own)."""
    held = FifoQueue(queue_path, attach=False)
    yield queue_path
    held.close()


def test_an_open_whose_hello_the_listener_never_answers_raises_once_the_greeting_times_out(
    held_queue: str,
) -> None:
    silent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    silent.bind(os.path.join(held_queue, "rocksq.sock"))
    silent.listen()  # Connections complete in its backlog; nothing is ever read.

    outcome = attach_in_a_process(held_queue)

    assert outcome.startswith("StorageError: "), outcome
    assert (
        f"the process {os.getpid()} listening on rocksq.sock did not answer this process's Hello"
        f" within {GREETING_TIMEOUT_SECONDS} s" in outcome
    )
    silent.close()


def test_a_welcome_declared_over_its_bound_is_refused_before_it_arrives(held_queue: str) -> None:
    def declare_two_gib(connection: socket.socket, number: int) -> None:
        read_frame(connection)
        connection.sendall(frame(HELLO, body_bytes=1 << 31))
        read_frame(connection)  # Until the client hangs up.

    fake = FakeOwner(held_queue, declare_two_gib)

    outcome = attach_in_a_process(held_queue)

    assert outcome.startswith("StorageError: "), outcome
    assert f"a reply declares {1 << 31} bytes, more than the {WELCOME_BODY_BOUND}" in outcome
    fake.close()


def test_a_welcome_that_trickles_in_is_bounded_as_a_whole_by_the_greeting_timeout(
    held_queue: str,
) -> None:
    welcome = frame(HELLO, welcome_body(os.getpid(), FifoOptions().max_elements))
    # Each byte well within the bound, all of them twice over it.
    pause_seconds = 2 * GREETING_TIMEOUT_SECONDS / len(welcome)

    def trickle(connection: socket.socket, number: int) -> None:
        read_frame(connection)
        for byte in welcome:
            try:
                connection.send(bytes([byte]))
            except OSError:  # The client hung up.
                return
            time.sleep(pause_seconds)  # Pacing the bytes, not waiting for an event.
        read_frame(connection)  # Until the client hangs up.

    fake = FakeOwner(held_queue, trickle)
    try:
        outcome = attach_in_a_process(held_queue)
    finally:
        fake.close()

    assert outcome.startswith("StorageError: "), outcome
    assert (
        f"the process {os.getpid()} listening on rocksq.sock sent only" in outcome
        and f"bytes of its answer to this process's Hello within {GREETING_TIMEOUT_SECONDS} s"
        in outcome
    ), outcome


def test_an_open_whose_listener_accepts_no_connection_says_so(held_queue: str) -> None:
    address = os.path.join(held_queue, "rocksq.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(address)
    listener.listen(0)
    backlog: list[socket.socket] = []  # Connections it never accepts, until one is refused.
    while True:
        waiting = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        waiting.setblocking(False)
        try:
            waiting.connect(address)
        except BlockingIOError:
            waiting.close()
            break
        backlog.append(waiting)

    # Each connect of the attaching open waits the greeting's bound, through
    # its patience, then once more to say why.
    try:
        outcome = attach_in_a_process(
            held_queue, ATTACH_PATIENCE_SECONDS + 3 * GREETING_TIMEOUT_SECONDS + REPLY_SECONDS
        )
    finally:
        for waiting in backlog:
            waiting.close()
        listener.close()

    assert outcome.startswith("QueueAlreadyOpen: "), outcome
    assert outcome.endswith(
        ", which answers no attached process:"
        " the process listening on rocksq.sock accepts no connection"
    ), outcome


def test_a_later_connection_welcomed_by_another_owner_hands_over_instead_of_calling_it(
    held_queue: str,
) -> None:
    first_owner, next_owner, next_owners_max_elements = 1111, 2222, 7
    second_welcomed = threading.Event()

    def serve(connection: socket.socket, number: int) -> None:
        # The first connection is the first owner's; every later one is
        # welcomed by another, whose options differ from the attached open's.
        request = read_frame(connection)
        if number == 1:
            connection.sendall(frame(HELLO, welcome_body(first_owner, FifoOptions().max_elements)))
        else:
            connection.sendall(frame(HELLO, welcome_body(next_owner, next_owners_max_elements)))
            second_welcomed.set()
        while (request := read_frame(connection)) is not None:
            if number == 1:  # Held until a second connection exists, so that one is made.
                second_welcomed.wait(REPLY_SECONDS)
            connection.sendall(frame(request[0], seq=request[1]))  # A push's reply: empty.

    fake = FakeOwner(held_queue, serve)
    script = (
        "import sys, threading\n"
        "from rocksq._core import FifoQueue\n"
        "queue = FifoQueue(sys.argv[1], attach=True)\n"
        "outcomes = []\n"
        "def push():\n"
        "    try:\n"
        "        outcomes.append(str(queue.push(b'x')))\n"
        "    except Exception as error:\n"
        "        outcomes.append(f'{type(error).__name__}: {error}')\n"
        "threads = [threading.Thread(target=push) for _ in range(2)]\n"
        "for thread in threads: thread.start()\n"
        "for thread in threads: thread.join()\n"
        "queue.close()\n"
        "print('\\n'.join(sorted(outcomes)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, held_queue],
        cwd=Path(held_queue).parent,
        capture_output=True,
        text=True,
        timeout=ATTACH_PATIENCE_SECONDS + REPLY_SECONDS,
    )

    assert done.returncode == 0, done.stderr
    served, handed_over = done.stdout.strip().split("\n")
    # The call on the new connection went through the hand-over, which
    # checks the new owner's options as an open does.
    assert served == "None"
    assert handed_over.startswith("ValueError: "), handed_over
    assert f"the owning process {next_owner}'s {next_owners_max_elements}" in handed_over
    fake.close()


class StrayListener:
    """Another program's socket at the queue's rocksq.sock: a process that holds no
    LOCK, accepting connections and closing them, until its stdin closes."""

    def __init__(self, path: str) -> None:
        script = (
            "import socket, sys, threading\n"
            "stray = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
            "stray.bind(sys.argv[1])\n"
            "stray.listen()\n"
            "def accept():\n"
            "    while True:\n"
            "        stray.accept()[0].close()\n"
            "threading.Thread(target=accept, daemon=True).start()\n"
            "print('ready', flush=True)\n"
            "sys.stdin.read()\n"
        )
        self.process = subprocess.Popen(
            [sys.executable, "-c", script, os.path.join(path, "rocksq.sock")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        assert self.process.stdout.readline().strip() == "ready"

    def close(self) -> None:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.close()
        self.process.wait(REPLY_SECONDS)
        self.process.stdout.close()


@pytest.mark.parametrize("found", ["nothing", "a directory", "a regular file", "a stray listener"])
def test_an_open_that_no_owner_answers_says_what_it_found_at_rocksq_sock(
    held_queue: str, found: str
) -> None:
    socket_path = Path(held_queue) / "rocksq.sock"
    stray = None
    if found == "a directory":
        socket_path.mkdir()
    elif found == "a regular file":
        socket_path.write_bytes(b"not a socket")
    elif found == "a stray listener":
        stray = StrayListener(held_queue)
    expected = {
        "nothing": "no rocksq.sock is in the queue's directory"
        " (it opened the queue without attach)",
        "a directory": "a directory has the name of its socket rocksq.sock",
        "a regular file": "rocksq.sock is not a socket (another kind of file)",
        "a stray listener": f"the process {stray.process.pid if stray else 0} listening on"
        f" rocksq.sock does not hold the queue's LOCK (process {os.getpid()} does)",
    }[found]

    outcome = attach_in_a_process(held_queue)

    assert outcome.startswith("QueueAlreadyOpen: "), outcome
    assert outcome.endswith(f", which answers no attached process: {expected}"), outcome
    if stray is not None:
        stray.close()
