"""The ack queue behaves like a simple model, step by step, across reopens (Hypothesis).

A rule-based state machine puts items and batches, gets up to n, acks,
nacks and fails the deliveries that hold items (and stale ones: settled,
nacked before the item was handed out again, or from before a reopen,
which must raise NotOutstanding and change nothing), lists and requeues
failed items, puts keyed items with put_many_unique, extends deliveries,
and closes and reopens the queue, comparing every result with a model: a
dict of stored items by id, the delivery that holds each handed-out id,
the failed ids, each id's attempt count, and the newest DEDUP_WINDOW keys. The model's
rules are the header's: the ready item with the smallest id goes first;
ids are positions and never reused; requeued items get new ids at the
tail; only an item's latest delivery settles it; a reopen makes every
handed-out item ready again, with attempts starting over. The visibility timeout is 0
(never), so no step depends on time. After every step it checks ready,
unacked, failed_count, len and payload_size.
"""

from __future__ import annotations

import hypothesis.strategies as st
import pytest
from hypothesis.stateful import initialize, invariant, rule
from support.models import MODEL_SETTINGS, QueueMachine

import rocksq

ITEMS = st.binary(max_size=30)
BATCHES = st.lists(ITEMS, min_size=1, max_size=5)
CAPACITIES = st.integers(min_value=1, max_value=8)
PICKS = st.integers(min_value=0, max_value=1000)
KEYED_BATCHES = st.lists(st.tuples(st.sampled_from([b"a", b"b", b"c", b"d", b"e"]), ITEMS), max_size=4)
DEDUP_WINDOW = 3


class AckQueueMachine(QueueMachine):
    """Drives one ack queue and the model with the same calls."""

    def __init__(self) -> None:
        super().__init__("ack")
        self.queue: rocksq.AckQueue | None = None
        self.max_elements = 1
        self.items: dict[
            int, bytes
        ] = {}  # Every stored item (ready, handed out, failed).
        self.handed_out: dict[int, rocksq.Delivery] = {}  # Id -> its current delivery.
        self.stale: list[rocksq.Delivery] = []  # Deliveries that hold nothing.
        self.failed: set[int] = set()
        self.attempts: dict[int, int] = {}
        self.next_id = 0
        self.keys: list[bytes] = []  # The keys remembered, oldest first.

    def open(self, max_elements: int, sync: bool) -> None:
        self.queue = rocksq.AckQueue(
            self.path, max_elements, sync=sync, visibility_timeout=0, dedup_window=DEDUP_WINDOW
        )
        self.max_elements = max_elements

    @initialize(max_elements=CAPACITIES, sync=st.booleans())
    def create(self, max_elements: int, sync: bool) -> None:
        self.open(max_elements, sync)

    def ready_ids(self) -> list[int]:
        return sorted(set(self.items) - set(self.handed_out) - self.failed)

    def pick(self, ids: set[int], index: int) -> int:
        return sorted(ids)[index % len(ids)]

    def store(self, items: list[bytes]) -> None:
        for item in items:
            self.items[self.next_id] = item
            self.next_id += 1

    @rule(items=BATCHES, one_by_one=st.booleans())
    def put(self, items: list[bytes], one_by_one: bool) -> None:
        assert self.queue is not None
        if one_by_one:
            items = items[:1]
        fits = len(self.items) + len(items) <= self.max_elements
        try:
            if one_by_one:
                self.queue.put_nowait(items[0])
            else:
                self.queue.put_many(items, block=False)
        except rocksq.Full:
            assert not fits, "put raised Full though the items fit"
        else:
            assert fits, "put stored items beyond max_elements"
            self.store(items)

    @rule(pairs=KEYED_BATCHES)
    def put_many_unique(self, pairs: list[tuple[bytes, bytes]]) -> None:
        assert self.queue is not None
        new_keys: list[bytes] = []
        expected = []
        for key, _ in pairs:
            expected.append(key not in self.keys and key not in new_keys)
            if expected[-1]:
                new_keys.append(key)
        fits = len(self.items) + len(new_keys) <= self.max_elements
        try:
            stored = self.queue.put_many_unique(pairs, block=False)
        except rocksq.Full:
            assert not fits, "put_many_unique raised Full though the new items fit"
        else:
            assert fits, "put_many_unique stored items beyond max_elements"
            assert stored == expected
            self.store([item for (_, item), new in zip(pairs, expected) if new])
            self.keys = (self.keys + new_keys)[-DEDUP_WINDOW:]

    @rule(index=PICKS, stale=st.booleans())
    def extend(self, index: int, stale: bool) -> None:
        # Leases never expire here (visibility_timeout 0): extending only checks.
        assert self.queue is not None
        if stale and self.stale:
            with pytest.raises(rocksq.NotOutstanding):
                self.queue.extend(self.stale[index % len(self.stale)], 1)
        elif self.handed_out:
            self.queue.extend(self.handed_out[self.pick(set(self.handed_out), index)], 1)

    @rule(count=st.integers(min_value=0, max_value=5))
    def get(self, count: int) -> None:
        assert self.queue is not None
        expected = self.ready_ids()[:count]
        try:
            got = self.queue.get_many(count, block=False)
        except rocksq.Empty:
            got = []
        for id_ in expected:
            self.attempts[id_] = self.attempts.get(id_, 0) + 1
        assert [(d.id, d.data, d.attempt) for d in got] == [
            (id_, self.items[id_], self.attempts[id_]) for id_ in expected
        ]
        self.handed_out.update((d.id, d) for d in got)

    @rule(action=st.sampled_from(["ack", "nack", "ack_failed"]), index=PICKS)
    def settle_one(self, action: str, index: int) -> None:
        assert self.queue is not None
        if not self.handed_out:
            return
        id_ = self.pick(set(self.handed_out), index)
        getattr(self.queue, action)(self.handed_out[id_])
        self.stale.append(self.handed_out.pop(id_))
        if action == "ack":
            del self.items[id_]
        elif action == "ack_failed":
            self.failed.add(id_)

    @rule(
        action=st.sampled_from(["ack_many", "nack_many", "ack_failed_many"]),
        data=st.data(),
    )
    def settle_many(self, action: str, data: st.DataObject) -> None:
        assert self.queue is not None
        if not self.handed_out:
            return
        ids = data.draw(
            st.lists(st.sampled_from(sorted(self.handed_out)), unique=True, max_size=4)
        )
        getattr(self.queue, action)([self.handed_out[id_] for id_ in ids])
        for id_ in ids:
            self.stale.append(self.handed_out.pop(id_))
            if action == "ack_many":
                del self.items[id_]
            elif action == "ack_failed_many":
                self.failed.add(id_)

    @rule(
        action=st.sampled_from(
            ["ack", "nack", "ack_failed", "ack_many", "nack_many", "ack_failed_many"]
        ),
        index=PICKS,
        id_=PICKS,
        with_current=st.booleans(),
    )
    def settling_a_stale_delivery_changes_nothing(
        self, action: str, index: int, id_: int, with_current: bool
    ) -> None:
        assert self.queue is not None
        if self.stale:
            stale = self.stale[index % len(self.stale)]
        else:  # One that was never handed out, with a receipt no delivery has.
            stale = rocksq.Delivery(id_ + 10_000, b"", 1, 0)
        if action.endswith("_many"):
            # All or none: a current delivery listed beside it stays handed out.
            current = list(self.handed_out.values())[:1] if with_current else []
            settling: object = current + [stale]
        else:
            settling = stale
        try:
            getattr(self.queue, action)(settling)
        except rocksq.NotOutstanding:
            pass
        else:
            raise AssertionError(f"{action} of stale {stale} did not raise")

    @rule(data=st.data(), everything=st.booleans())
    def requeue_failed(self, data: st.DataObject, everything: bool) -> None:
        assert self.queue is not None
        assert self.queue.failed() == [
            (id_, self.items[id_]) for id_ in sorted(self.failed)
        ]
        if everything:
            ids = sorted(self.failed)
            assert self.queue.requeue_failed() == len(ids)
        else:
            candidates = sorted(self.failed) + [10_000]
            ids = data.draw(
                st.lists(st.sampled_from(candidates), unique=True, max_size=3)
            )
            assert self.queue.requeue_failed(ids) == len(
                [i for i in ids if i in self.failed]
            )
        for id_ in ids:
            if id_ in self.failed:
                self.failed.discard(id_)
                self.store([self.items.pop(id_)])

    @rule(extra_room=st.integers(min_value=0, max_value=4), sync=st.booleans())
    def reopen(self, extra_room: int, sync: bool) -> None:
        assert self.queue is not None
        self.queue.close()
        self.stale.extend(self.handed_out.values())
        self.handed_out.clear()
        self.attempts.clear()
        self.open(max(1, len(self.items) + extra_room), sync)

    @invariant()
    def counters_match_the_model(self) -> None:
        if self.queue is None:
            return
        ready = len(self.ready_ids())
        observed = (
            self.queue.ready,
            self.queue.unacked,
            self.queue.failed_count,
            len(self.queue),
            self.queue.payload_size,
        )
        expected = (
            ready,
            len(self.handed_out),
            len(self.failed),
            len(self.items),
            sum(map(len, self.items.values())),
        )
        assert observed == expected


AckQueueMachine.TestCase.settings = MODEL_SETTINGS

TestAckQueueAgainstAModel = AckQueueMachine.TestCase
