"""The MPMC queue behaves like a list with a position per label, across reopens (Hypothesis).

A rule-based state machine adds elements (one, a batch, or none), reads with
next() for a few labels from StartPosition.Oldest or Newest with max_elements
0 to 6, removes labels, and closes and reopens the queue (sync on or off),
comparing every result with a plain model: the list of elements and each
label's next index. A new label starts at index 0 with Oldest, and with
Newest at the last element (or at the next one added if there is none). The
ttl is an hour, so nothing expires and next() never reports expired
elements. After every step it checks len, payload_size, is_empty and labels.
Each example uses its own fresh directory.
"""

from __future__ import annotations

import hypothesis.strategies as st
from hypothesis.stateful import invariant, rule
from support.models import MODEL_SETTINGS, QueueMachine

from rocksq import StartPosition
from rocksq.blocking import MpmcQueue

TTL = 3600
ITEMS = st.binary(max_size=40)
# "Z" sorts before "a" and "é" after it: labels are listed in byte order. Few
# labels, so that each is read, removed and recreated often.
LABELS = st.sampled_from(["a", "Z", "é"])


class MpmcQueueMachine(QueueMachine):
    """Drives one MPMC queue and its model with the same calls."""

    def __init__(self) -> None:
        super().__init__("mpmc")
        self.elements: list[bytes] = []
        self.positions: dict[str, int] = {}
        self.queue = MpmcQueue(self.path, TTL)

    @rule(items=st.lists(ITEMS, max_size=6))
    def add(self, items: list[bytes]) -> None:
        self.queue.add(items)
        self.elements.extend(items)

    @rule(
        label=LABELS,
        start=st.sampled_from([StartPosition.Oldest, StartPosition.Newest]),
        count=st.integers(min_value=0, max_value=6),
    )
    def next(self, label: str, start: StartPosition, count: int) -> None:
        if label not in self.positions:
            newest = max(len(self.elements) - 1, 0)
            self.positions[label] = 0 if start == StartPosition.Oldest else newest
        position = self.positions[label]
        expected = self.elements[position : position + count]
        self.positions[label] = position + len(expected)
        assert self.queue.next(label, start, count) == (expected, False)

    @rule(label=LABELS)
    def remove_label(self, label: str) -> None:
        existed = self.positions.pop(label, None) is not None
        assert self.queue.remove_label(label) == existed

    @rule(sync=st.booleans())
    def reopen(self, sync: bool) -> None:
        self.queue.close()
        self.queue = MpmcQueue(self.path, TTL, sync=sync)

    @invariant()
    def observables_match_the_model(self) -> None:
        observed = (self.queue.len, self.queue.payload_size, self.queue.is_empty, self.queue.labels)
        expected = (
            len(self.elements),
            sum(map(len, self.elements)),
            not self.elements,
            sorted(self.positions, key=lambda label: label.encode()),
        )
        assert observed == expected


MpmcQueueMachine.TestCase.settings = MODEL_SETTINGS

TestMpmcQueueAgainstAListModel = MpmcQueueMachine.TestCase
