"""Fixtures of the attach tests: processes started the ways multiprocessing users start them."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor

import pytest

# Every wait on another process is bounded, so a regression fails instead of
# hanging the suite.
WAIT_SECONDS = 60


@pytest.fixture(params=["spawn", "forkserver"])
def start_method(request: pytest.FixtureRequest) -> str:
    """How the other processes start: both ways that never inherit the owner's queue."""
    return request.param


@pytest.fixture
def processes(start_method: str) -> Iterator[ProcessPoolExecutor]:
    """A pool of 4 processes started by `start_method`, shut down (and reaped) after the test."""
    context = multiprocessing.get_context(start_method)
    pool = ProcessPoolExecutor(max_workers=4, mp_context=context)
    try:
        yield pool
    finally:
        # A failed test may leave a worker waiting for ever: kill it, then reap.
        for process in list(getattr(pool, "_processes", {}).values()):
            process.kill()
        pool.shutdown(wait=True, cancel_futures=True)


@pytest.fixture
def manager(start_method: str) -> Iterator[multiprocessing.managers.SyncManager]:
    """Events shared with the pool's processes."""
    with multiprocessing.get_context(start_method).Manager() as shared:
        yield shared
