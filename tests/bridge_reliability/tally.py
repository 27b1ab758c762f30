"""Items that say where they came from, and the count of what a stream holds of them.

Each item carries its source's name and its index within the source, so a
stream's payloads, read back in stream order, tell which items were lost,
which arrived twice, and whether each source's items kept their order.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass


def item(source: str, index: int, size: int = 32) -> bytes:
    """The `index`-th item of `source`, padded to `size` bytes."""
    head = f"{source}:{index:09d}:".encode()
    return head + b"." * max(0, size - len(head))


def origin(payload: bytes) -> tuple[str, int]:
    source, index, _ = payload.split(b":", 2)
    return source.decode(), int(index)


@dataclass(frozen=True)
class Tally:
    items: int
    """Items pushed, all sources together."""
    lost: int
    """Items pushed that the stream does not hold."""
    duplicates: int
    """Copies beyond the first of any item."""
    out_of_order: int
    """Items whose first copy comes before an earlier item of the same source."""
    unexpected: int
    """Payloads that no source pushed."""


def tally(pushed: dict[str, int], payloads: list[bytes]) -> Tally:
    """What the stream's `payloads` hold of `pushed[source]` items from each source (indexes 0..n-1)."""
    copies = Counter(origin(payload) for payload in payloads)
    expected = {(source, index) for source, count in pushed.items() for index in range(count)}
    latest: dict[str, int] = {}
    out_of_order = 0
    seen: set[tuple[str, int]] = set()
    for payload in payloads:
        source, index = origin(payload)
        if (source, index) in seen:
            continue
        seen.add((source, index))
        if index < latest.get(source, -1):
            out_of_order += 1
        latest[source] = max(index, latest.get(source, -1))
    return Tally(
        items=len(expected),
        lost=len(expected - copies.keys()),
        duplicates=sum(count - 1 for count in copies.values()),
        out_of_order=out_of_order,
        unexpected=len(copies.keys() - expected),
    )
