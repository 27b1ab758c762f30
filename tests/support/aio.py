"""Running a test's coroutine: bounded, so a missed wake-up fails instead of hanging."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
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
