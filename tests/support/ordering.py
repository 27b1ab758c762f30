"""Checking what concurrent consumers received from concurrent producers."""

from __future__ import annotations

from collections import Counter


def assert_each_item_once_in_producer_order(
    received: list[list[tuple[int, int]]], producers: int, items_per_producer: int
) -> None:
    """Every (producer, sequence) pair reached exactly one consumer, and each
    consumer's list holds each producer's items in the order they were produced."""
    delivered = Counter(item for items in received for item in items)
    assert delivered == Counter((p, s) for p in range(producers) for s in range(items_per_producer))
    for items in received:
        for producer in range(producers):
            sequences = [s for p, s in items if p == producer]
            assert sequences == sorted(sequences)
