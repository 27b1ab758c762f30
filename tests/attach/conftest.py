"""Fixtures of the attach tests: processes started the ways multiprocessing users start them."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator
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
def start_process(start_method: str) -> Iterator[Callable[..., multiprocessing.process.BaseProcess]]:
    """Starts target(*args) in a process of its own (one a test may kill), killed and reaped after."""
    context = multiprocessing.get_context(start_method)
    started = []

    def start(target: Callable[..., object], *args: object) -> multiprocessing.process.BaseProcess:
        process = context.Process(target=target, args=args)
        process.start()
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()
        process.join()


@pytest.fixture
def manager(start_method: str) -> Iterator[multiprocessing.managers.SyncManager]:
    """Events shared with the pool's processes."""
    with multiprocessing.get_context(start_method).Manager() as shared:
        yield shared
