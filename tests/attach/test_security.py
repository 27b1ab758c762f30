"""Only the owner's user attaches, and the members of its attach_group (issue 17, item 3)."""

from __future__ import annotations

import multiprocessing
import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import attach_workers
import pytest
from conftest import WAIT_SECONDS

import rocksq
import rocksq.aio
import rocksq.blocking
import rocksq.nonblocking
from rocksq._core import AckQueue, FifoQueue, MpmcQueue

NOBODY = 65534
# A user and groups no account of the test machine has (the tests that use
# them run as root, which may become anyone).
STRANGER, GROUP, OTHER_GROUP = 47001, 47000, 47002
needs_root = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root"
)


def test_the_owner_socket_is_for_its_user_only(queue_path: str) -> None:
    owner = FifoQueue(queue_path, attach=True)

    mode = os.stat(Path(queue_path) / "rocksq.sock").st_mode

    assert stat.S_ISSOCK(mode)
    assert stat.S_IMODE(mode) == 0o600
    owner.close()


@pytest.fixture
def shared_directory() -> Iterator[Path]:
    """A directory every user may enter and write, outside pytest's private tmp_path."""
    with tempfile.TemporaryDirectory() as directory:
        os.chmod(directory, 0o777)
        yield Path(directory)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root")
def test_a_process_of_another_user_is_refused_even_when_the_files_let_it_in(
    shared_directory: Path,
) -> None:
    queue_path = shared_directory / "queue"
    owner = FifoQueue(str(queue_path), attach=True)
    # Every file open to every user, the socket included: only the owner's
    # check of its peer's credentials is left to refuse.
    for entry in [queue_path, *queue_path.iterdir()]:
        os.chmod(entry, 0o777 if entry.is_dir() else 0o666)

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as other_user:
        outcome = other_user.submit(
            attach_workers.open_attached_as_user, str(queue_path), NOBODY
        ).result(WAIT_SECONDS)

    assert outcome.startswith("QueueAlreadyOpen: "), outcome
    assert "(65534) may not attach (same user only, unless the owner sets attach_group)" in outcome
    owner.close()


def test_the_socket_of_an_owner_with_attach_group_is_the_groups_mode_0660(queue_path: str) -> None:
    group = os.getgid()  # One the owner may give its files to, root or not.
    owner = FifoQueue(queue_path, attach=True, attach_group=group)

    socket_file = os.stat(Path(queue_path) / "rocksq.sock")

    assert stat.S_IMODE(socket_file.st_mode) == 0o660
    assert socket_file.st_gid == group
    owner.close()


# Every face that takes attach: opens(path, attach_group=...) opens it.
TTL = 60
OPENS: dict[str, Callable[..., Any]] = {
    "seed": rocksq.PersistentQueueWithCapacity,
    "blocking": rocksq.blocking.PersistentQueueWithCapacity,
    "nonblocking": rocksq.nonblocking.PersistentQueueWithCapacity,
    "Queue": rocksq.Queue,
    "aio": rocksq.aio.Queue,
    "AckQueue": rocksq.AckQueue,
    "aio AckQueue": rocksq.aio.AckQueue,
    "blocking MpmcQueue": partial(rocksq.blocking.MpmcQueue, ttl=TTL),
    "nonblocking MpmcQueue": partial(rocksq.nonblocking.MpmcQueue, ttl=TTL),
    "aio MpmcQueue": partial(rocksq.aio.MpmcQueue, ttl=TTL),
    "core FifoQueue": FifoQueue,
    "core AckQueue": AckQueue,
    "core MpmcQueue": partial(MpmcQueue, ttl=TTL),
}


@pytest.mark.parametrize("face", OPENS)
def test_every_face_refuses_an_unknown_attach_group_at_open(queue_path: str, face: str) -> None:
    with pytest.raises(ValueError, match="attach_group no-such-group is neither a group"):
        OPENS[face](queue_path, attach_group="no-such-group")


@pytest.mark.parametrize("face", OPENS)
def test_every_face_serves_its_attach_group(queue_path: str, face: str) -> None:
    queue = OPENS[face](queue_path, attach_group=os.getgid())

    assert stat.S_IMODE(os.stat(Path(queue_path) / "rocksq.sock").st_mode) == 0o660
    queue.close()


def attach_as(queue_path: Path, gid: int, groups: list[int]) -> str:
    """What a process of user STRANGER, group `gid` and supplementary `groups` gets attaching."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as stranger:
        return stranger.submit(
            attach_workers.push_and_pop_as, str(queue_path), STRANGER, gid, groups
        ).result(WAIT_SECONDS)


@needs_root
@pytest.mark.parametrize(
    ("gid", "groups"),
    [(GROUP, []), (OTHER_GROUP, [GROUP])],
    ids=["primary group", "supplementary group"],
)
def test_a_member_of_the_attach_group_attaches_pushes_and_pops(
    shared_directory: Path, gid: int, groups: list[int]
) -> None:
    queue_path = shared_directory / "queue"
    owner = FifoQueue(str(queue_path), attach=True, attach_group=GROUP)
    owner.push(b"from the owner")

    # The member opens with no attach_group of its own: the owner's counts.
    outcome = attach_as(queue_path, gid, groups)

    assert outcome == "popped [b'from the owner', b'from a member of the group']", outcome
    owner.close()


@needs_root
def test_a_process_of_another_user_outside_the_attach_group_is_refused(
    shared_directory: Path,
) -> None:
    queue_path = shared_directory / "queue"
    owner = FifoQueue(str(queue_path), attach=True, attach_group=GROUP)

    outcome = attach_as(queue_path, OTHER_GROUP, [])

    assert outcome.startswith("QueueAlreadyOpen: "), outcome
    assert "user 47001 may not use (user root (0) and group 47000 only)" in outcome
    owner.close()


@needs_root
def test_the_owner_refuses_a_process_outside_the_attach_group_even_when_the_socket_lets_it_in(
    shared_directory: Path,
) -> None:
    queue_path = shared_directory / "queue"
    owner = FifoQueue(str(queue_path), attach=True, attach_group=GROUP)
    os.chmod(queue_path / "rocksq.sock", 0o666)

    outcome = attach_as(queue_path, OTHER_GROUP, [])

    assert outcome.startswith("QueueAlreadyOpen: "), outcome
    assert (
        "of user root (0); user 47001, not in group 47000, may not attach"
        " (user root (0) and group 47000 only)" in outcome
    )
    owner.close()
