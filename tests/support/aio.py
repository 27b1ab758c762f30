"""Running a test's coroutine: bounded, so a missed wake-up fails instead of hanging."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T], deadline: float = 10) -> T:
    """Runs `coroutine` in a new event loop; fails if it takes over `deadline` seconds."""
    return asyncio.run(asyncio.wait_for(coroutine, deadline))


async def settle() -> None:
    """Lets every ready task run until it waits (a few loop iterations)."""
    for _ in range(5):
        await asyncio.sleep(0)
    await asyncio.sleep(0.01)


async def cancel_waiters_at_random(
    rng: random.Random,
    wait: Callable[[], Coroutine[Any, Any, None]],
    add_some: Callable[[], None],
    rounds: int = 300,
    waiters: int = 20,
) -> int:
    """Keeps `waiters` tasks running wait(), calls add_some() every round, and
    cancels waiters at random points of their wake-up: at once, after the loop
    read the change, or after they retried. Returns how many cancels took
    effect; every waiter is done or cancelled when it returns.
    """
    cancelled = 0
    tasks: set[asyncio.Task[None]] = set()
    for round_number in range(rounds):
        while len(tasks) < waiters:
            task = asyncio.ensure_future(wait())
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        add_some()
        for step in range(3):
            for task in rng.sample(sorted(tasks, key=id), k=rng.randint(0, 3)):
                cancelled += task.cancel()
            if rng.random() < 0.5 or step == 2:
                await asyncio.sleep(0)
        if round_number % 50 == 0:
            await asyncio.sleep(0.001)
    for task in list(tasks):
        cancelled += task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return cancelled
