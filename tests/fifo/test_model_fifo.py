"""The FIFO queue behaves like a bounded deque, step by step, across reopens (Hypothesis).

A rule-based state machine pushes single items and batches, pops up to n,
fills the queue to its small capacity, and closes and reopens it (with
either face, sync on or off, another capacity no smaller than the length),
comparing every result with a collections.deque. After every step it checks
len, payload_size and is_empty. Each example uses its own fresh directory.
"""

from __future__ import annotations

import collections

import hypothesis.strategies as st
from hypothesis.stateful import (
    initialize,
    invariant,
    precondition,
    rule,
)
from support.models import MODEL_SETTINGS, QueueMachine

import rocksq
from rocksq.blocking import PersistentQueueWithCapacity as BlockingQueue

ITEMS = st.binary(max_size=40)
BATCHES = st.lists(ITEMS, max_size=6)
CAPACITIES = st.integers(min_value=1, max_value=8)


class FifoQueueMachine(QueueMachine):
    """Drives one queue and a deque model with the same calls."""

    def __init__(self) -> None:
        super().__init__("fifo")
        self.model: collections.deque[bytes] = collections.deque()
        self.max_elements = 1
        self.face = "blocking"
        self.queue: BlockingQueue | rocksq.PersistentQueueWithCapacity | None = None

    def open(self, face: str, max_elements: int, sync: bool) -> None:
        opener = BlockingQueue if face == "blocking" else rocksq.PersistentQueueWithCapacity
        self.queue = opener(self.path, max_elements, sync=sync)
        self.face, self.max_elements = face, max_elements

    @initialize(
        face=st.sampled_from(["blocking", "seed"]), max_elements=CAPACITIES, sync=st.booleans()
    )
    def create(self, face: str, max_elements: int, sync: bool) -> None:
        self.open(face, max_elements, sync)

    def fits(self, count: int) -> bool:
        return len(self.model) + count <= self.max_elements

    @rule(item=ITEMS)
    def push_one(self, item: bytes) -> None:
        fits = self.fits(1)
        try:
            if self.face == "blocking":
                self.queue.push([item])  # type: ignore[union-attr]
            else:
                self.queue.push(item)  # type: ignore[union-attr]
        except rocksq.QueueFull:
            assert not fits, "push raised QueueFull though the item fits"
        else:
            assert fits, "push stored an item beyond max_elements"
            self.model.append(item)

    @precondition(lambda self: self.face == "blocking")
    @rule(items=BATCHES)
    def push_batch(self, items: list[bytes]) -> None:
        fits = self.fits(len(items))
        try:
            self.queue.push(items)  # type: ignore[union-attr]
        except rocksq.QueueFull:
            assert not fits, f"a batch of {len(items)} raised QueueFull though it fits"
        else:
            assert fits, f"a batch of {len(items)} was stored beyond max_elements"
            self.model.extend(items)

    @precondition(lambda self: self.face == "blocking")
    @rule(count=st.integers(min_value=0, max_value=10))
    def pop_up_to(self, count: int) -> None:
        expected = [self.model.popleft() for _ in range(min(count, len(self.model)))]
        assert self.queue.pop(count) == expected  # type: ignore[union-attr]

    @precondition(lambda self: self.face == "seed")
    @rule()
    def pop_one(self) -> None:
        expected = self.model.popleft() if self.model else None
        assert self.queue.pop() == expected  # type: ignore[union-attr]

    @rule()
    def fill_to_capacity(self) -> None:
        missing = self.max_elements - len(self.model)
        items = [bytes([len(self.model) + index]) * index for index in range(missing)]
        if self.face == "blocking":
            self.queue.push(items)  # type: ignore[union-attr]
        else:
            for item in items:
                self.queue.push(item)  # type: ignore[union-attr]
        self.model.extend(items)

    @rule(
        face=st.sampled_from(["blocking", "seed"]),
        extra_room=st.integers(min_value=0, max_value=4),
        sync=st.booleans(),
    )
    def reopen(self, face: str, extra_room: int, sync: bool) -> None:
        self.queue.close()  # type: ignore[union-attr]
        self.open(face, max(1, len(self.model) + extra_room), sync)

    @invariant()
    def counters_match_the_model(self) -> None:
        if self.queue is None:
            return
        payload = sum(map(len, self.model))
        if self.face == "blocking":
            observed = (self.queue.len, self.queue.payload_size, self.queue.is_empty)
            assert observed == (len(self.model), payload, not self.model)
        else:
            observed = (self.queue.len(), self.queue.is_empty())  # type: ignore[operator]
            assert observed == (len(self.model), not self.model)


FifoQueueMachine.TestCase.settings = MODEL_SETTINGS

TestFifoQueueAgainstADequeModel = FifoQueueMachine.TestCase
