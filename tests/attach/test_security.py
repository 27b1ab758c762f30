"""Only the owner's user attaches (issue 17, stage 2: same user only)."""

from __future__ import annotations

import multiprocessing
import os
import stat
import tempfile
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import attach_workers
import pytest
from conftest import WAIT_SECONDS

from rocksq._core import FifoQueue

NOBODY = 65534


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
    assert "(65534) may not attach (same user only)" in outcome
    owner.close()
