"""rocksq.AckQueue: at-least-once delivery, for threads."""

from __future__ import annotations

import collections
import os
import queue
import random
import select
import signal
import threading
import time
import warnings

import pytest

import rocksq
from rocksq import AckQueue, Delivery


def test_get_hands_out_the_oldest_item_without_removing_it(queue_path):
    with AckQueue(queue_path) as q:
        q.put_many([b"a", b"bb"])
        delivery = q.get()
        assert isinstance(delivery, Delivery)
        assert delivery[:3] == (0, b"a", 1)
        assert (delivery.id, delivery.data, delivery.attempt) == (0, b"a", 1)
        assert (q.ready, q.unacked, q.failed_count, len(q)) == (1, 1, 0, 2)
        assert q.payload_size == 3


def test_ack_removes_the_item_for_good(queue_path):
    with AckQueue(queue_path) as q:
        q.put(b"a")
        q.ack(q.get())
        assert len(q) == 0 and q.empty()
        assert q.payload_size == 0
        with pytest.raises(rocksq.Empty):
            q.get_nowait()
    with AckQueue(queue_path) as q:
        assert len(q) == 0
        with pytest.raises(rocksq.Empty):
            q.get(timeout=0.05)


def test_nack_returns_items_to_the_head_oldest_first(queue_path):
    with AckQueue(queue_path) as q:
        q.put_many([b"0", b"1", b"2", b"3"])
        taken = q.get_many(3)
        q.nack(taken[2])
        q.nack(taken[0])
        again = q.get_many(3)
        assert [d.data for d in again] == [b"0", b"2", b"3"]
        assert [d.attempt for d in again] == [2, 2, 1]
        assert again[0].id == taken[0].id


def test_reopen_redelivers_exactly_the_unacked_items(queue_path):
    with AckQueue(queue_path) as q:
        q.put_many([b"%d" % i for i in range(6)])
        taken = q.get_many(4)
        q.ack(taken[1])
        q.ack(taken[3])
        q.nack(taken[2])
    with AckQueue(queue_path) as q:
        assert (q.ready, q.unacked, len(q)) == (4, 0, 4)
        got = q.get_many(10, block=False)
        assert [d.data for d in got] == [b"0", b"2", b"4", b"5"]
        assert all(d.attempt == 1 for d in got)


@pytest.mark.parametrize("settle", ["ack", "nack", "ack_failed"])
def test_settling_an_already_acked_delivery_raises_not_outstanding(queue_path, settle):
    with AckQueue(queue_path) as q:
        q.put(b"a")
        delivery = q.get()
        q.ack(delivery)
        with pytest.raises(rocksq.NotOutstanding) as raised:
            getattr(q, settle)(delivery)
        message = str(raised.value)
        assert message == (
            f"Not outstanding: {queue_path}: item {delivery.id} is not handed out "
            "(acked, nacked, failed, expired, or never delivered)"
        )
        assert isinstance(raised.value, KeyError)
        assert isinstance(raised.value, rocksq.RocksQError)


def test_settling_an_unknown_delivery_raises_and_changes_nothing(queue_path):
    with AckQueue(queue_path) as q:
        q.put(b"a")
        delivery = q.get()
        unknown = delivery._replace(id=12345)
        with pytest.raises(rocksq.NotOutstanding):
            q.ack(unknown)
        with pytest.raises(rocksq.NotOutstanding):
            q.ack_many([delivery, unknown])
        assert q.unacked == 1
        q.ack_many([delivery])
        assert len(q) == 0


SETTLE_ONE = ["ack", "nack", "ack_failed"]
SETTLE_MANY = ["ack_many", "nack_many", "ack_failed_many"]


def settle(q: AckQueue, how: str, delivery: Delivery) -> None:
    if how.endswith("_many"):
        getattr(q, how)([delivery])
    else:
        getattr(q, how)(delivery)


@pytest.mark.parametrize("how", SETTLE_ONE + SETTLE_MANY)
def test_a_bare_id_is_refused_with_type_error(queue_path, how):
    with AckQueue(queue_path) as q:
        q.put(b"a")
        delivery = q.get()
        with pytest.raises(TypeError, match=r"expected a Delivery .* got int \(an id alone"):
            settle(q, how, delivery.id)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="got tuple"):
            settle(q, how, tuple(delivery[:3]))  # type: ignore[arg-type]
        assert (q.ready, q.unacked) == (0, 1)
        q.ack(delivery)


@pytest.mark.parametrize("how", SETTLE_ONE + SETTLE_MANY)
def test_an_expired_delivery_cannot_settle_the_item_handed_out_again(queue_path, how):
    # Issue 16, defect 7: the late nack of `first` returned the item while
    # `second` still worked on it, and a third consumer got it as well.
    with AckQueue(queue_path, visibility_timeout=0.1) as q:
        q.put(b"job")
        first = q.get()
        time.sleep(0.2)
        second = q.get(block=False)
        assert (second.id, second.attempt) == (first.id, 2)
        assert second.receipt != first.receipt
        with pytest.raises(rocksq.NotOutstanding, match="handed out by another delivery"):
            settle(q, how, first)
        assert (q.ready, q.unacked, q.failed_count, len(q)) == (0, 1, 0, 1)
        with pytest.raises(rocksq.Empty):
            q.get(block=False)  # No third consumer gets it.
        settle(q, how, second)


@pytest.mark.parametrize("how", SETTLE_ONE + SETTLE_MANY)
def test_a_nacked_delivery_cannot_settle_the_item_handed_out_again(queue_path, how):
    with AckQueue(queue_path, visibility_timeout=0) as q:
        q.put(b"job")
        first = q.get()
        q.nack(first)
        second = q.get(block=False)
        with pytest.raises(rocksq.NotOutstanding):
            settle(q, how, first)
        assert (q.ready, q.unacked) == (0, 1)
        settle(q, how, second)


@pytest.mark.parametrize(
    "first_how, then_how",
    [("ack", "nack"), ("nack", "ack"), ("ack_failed", "ack"), ("nack", "ack_failed"),
     ("ack", "ack_many"), ("nack", "nack_many")],
)
def test_a_delivery_settles_once(queue_path, first_how, then_how):
    with AckQueue(queue_path) as q:
        q.put(b"job")
        delivery = q.get()
        settle(q, first_how, delivery)
        counts = (q.ready, q.unacked, q.failed_count, len(q))
        with pytest.raises(rocksq.NotOutstanding):
            settle(q, then_how, delivery)
        assert (q.ready, q.unacked, q.failed_count, len(q)) == counts


def test_a_delivery_of_a_failed_then_requeued_item_settles_nothing(queue_path):
    with AckQueue(queue_path) as q:
        q.put(b"job")
        delivery = q.get()
        q.ack_failed(delivery)
        assert q.requeue_failed() == 1
        again = q.get(block=False)
        assert again.data == b"job" and again.id != delivery.id
        for how in SETTLE_ONE:
            with pytest.raises(rocksq.NotOutstanding):
                settle(q, how, delivery)
        assert (q.ready, q.unacked, q.failed_count) == (0, 1, 0)
        q.ack(again)
        assert len(q) == 0


def test_ack_many_names_an_item_listed_twice_and_acks_none(queue_path):
    with AckQueue(queue_path) as q:
        q.put_many([b"a", b"b"])
        a, b = q.get_many(2)
        with pytest.raises(rocksq.NotOutstanding) as raised:
            q.ack_many([a, b, a])
        assert str(raised.value) == f"Not outstanding: {queue_path}: item {a.id} is listed twice"
        assert (q.ready, q.unacked, len(q)) == (0, 2, 2)
        q.ack_many([a, b])
        assert len(q) == 0


@pytest.mark.parametrize("how", SETTLE_ONE + SETTLE_MANY)
def test_a_delivery_from_before_a_reopen_settles_nothing(queue_path, how):
    with AckQueue(queue_path) as q:
        q.put(b"a")
        before = q.get()
    with AckQueue(queue_path) as q:
        with pytest.raises(rocksq.NotOutstanding):
            settle(q, how, before)
        # The same item, handed out by this open under the same id.
        now = q.get(block=False)
        assert (now.id, now.data) == (before.id, b"a")
        with pytest.raises(rocksq.NotOutstanding):
            settle(q, how, before)
        assert (q.ready, q.unacked, len(q)) == (0, 1, 1)
        settle(q, how, now)


@pytest.mark.parametrize("how", SETTLE_ONE + SETTLE_MANY)
def test_a_delivery_from_another_queue_settles_nothing(tmp_path, how):
    with AckQueue(tmp_path / "one") as one, AckQueue(tmp_path / "two") as two:
        one.put(b"one's")
        two.put(b"two's")
        ones, twos = one.get(), two.get()
        assert ones.id == twos.id
        with pytest.raises(rocksq.NotOutstanding):
            settle(one, how, twos)
        assert (one.ready, one.unacked, len(one)) == (0, 1, 1)
        settle(one, how, ones)
        settle(two, how, twos)


def test_an_item_not_acked_in_time_is_delivered_again(queue_path):
    with AckQueue(queue_path, visibility_timeout=0.2) as q:
        q.put(b"a")
        first = q.get()
        with pytest.raises(rocksq.Empty):
            q.get(block=False)
        start = time.monotonic()
        second = q.get(timeout=5)
        assert time.monotonic() - start >= 0.1
        assert (second.id, second.data, second.attempt) == (first.id, b"a", 2)
        q.ack(second)
        assert len(q) == 0


def test_an_expired_id_cannot_be_acked(queue_path):
    with AckQueue(queue_path, visibility_timeout=0.1) as q:
        q.put(b"a")
        first = q.get()
        time.sleep(0.2)
        assert (q.ready, q.unacked) == (1, 0)
        with pytest.raises(rocksq.NotOutstanding):
            q.ack(first)
        assert len(q) == 1


def test_zero_visibility_timeout_never_expires(queue_path):
    with AckQueue(queue_path, visibility_timeout=0) as q:
        q.put(b"a")
        q.get()
        with pytest.raises(rocksq.Empty):
            q.get(timeout=0.2)
        assert q.unacked == 1


def test_negative_visibility_timeout_is_a_value_error(queue_path):
    with pytest.raises(ValueError):
        AckQueue(queue_path, visibility_timeout=-1)


def test_failed_items_are_listed_and_requeued(queue_path):
    with AckQueue(queue_path) as q:
        q.put_many([b"a", b"b", b"c"])
        a, b = q.get_many(2)
        q.ack_failed(a)
        q.ack_failed(b)
        assert q.failed() == [(a.id, b"a"), (b.id, b"b")]
        assert q.failed(1) == [(a.id, b"a")]
        assert (q.ready, q.unacked, q.failed_count, len(q)) == (1, 0, 2, 3)
    with AckQueue(queue_path) as q:
        assert q.failed_count == 2 and q.payload_size == 3
        assert q.requeue_failed([b.id, 999]) == 1
        assert q.requeue_failed() == 1
        assert q.failed() == [] and q.failed_count == 0
        assert [d.data for d in q.get_many(5, block=False)] == [b"c", b"b", b"a"]


def test_capacity_counts_unacked_and_failed_items(queue_path):
    with AckQueue(queue_path, max_elements=2) as q:
        q.put_many([b"a", b"b"])
        a = q.get()
        q.ack_failed(a)
        with pytest.raises(rocksq.Full):
            q.put_nowait(b"c")
        with pytest.raises(queue.Full):
            q.put(b"c", timeout=0.05)
        b = q.get()

        def ack_later():
            time.sleep(0.1)
            q.ack(b)

        thread = threading.Thread(target=ack_later)
        thread.start()
        q.put(b"c", timeout=5)  # Woken by the ack.
        thread.join()
        assert len(q) == 2


def test_get_waits_for_a_put(queue_path):
    with AckQueue(queue_path) as q:
        timer = threading.Timer(0.1, q.put, args=(b"late",))
        timer.start()
        assert q.get(timeout=5).data == b"late"
        timer.join()


def test_many_consumer_threads_ack_every_item_exactly_once(queue_path):
    total = 3000
    with AckQueue(queue_path, visibility_timeout=0) as q:
        q.put_many([b"%d" % i for i in range(total)])
        acked: collections.Counter[bytes] = collections.Counter()
        lock = threading.Lock()

        def consume(seed: int) -> None:
            nacks = 0
            while True:
                try:
                    got = q.get_many(1 + seed % 4, timeout=0.2)
                except rocksq.Empty:
                    if q.ready == 0 and q.unacked == 0:
                        return
                    continue
                for delivery in got:
                    nacks += 1
                    if nacks % 11 == 0:
                        q.nack(delivery)
                        continue
                    q.ack(delivery)
                    with lock:
                        acked[delivery.data] += 1

        threads = [threading.Thread(target=consume, args=(i,)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(acked) == total
        assert set(acked.values()) == {1}
        assert len(q) == 0


def test_a_forked_child_hands_out_receipts_its_parent_does_not(tmp_path):
    # Receipts come from one counter per process; a forked child must not
    # continue its parent's, or a delivery of one could settle the other's.
    with AckQueue(tmp_path / "parent") as q:
        q.put(b"a")
        q.get()  # The counter is in use before the fork.
    # Created before the fork: creating a queue in a forked child waits for
    # RocksDB's background threads, which the fork did not copy.
    AckQueue(tmp_path / "child").close()
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # Python 3.12: fork with threads.
        pid = os.fork()
    if pid == 0:
        try:
            os.close(read_end)
            child_queue = AckQueue(tmp_path / "child")  # Opened after the fork.
            child_queue.put(b"c")
            os.write(write_end, b"%d" % child_queue.get(block=False).receipt)
        finally:
            os._exit(0)  # Always; the queue goes with the process.
    os.close(write_end)
    try:
        with AckQueue(tmp_path / "parent") as q:
            parents = q.get(block=False).receipt
        ready, _, _ = select.select([read_end], [], [], 30)
        assert ready, "the child did not report in time"
        childs = int(os.read(read_end, 64))
    finally:
        os.close(read_end)
        for _ in range(3000):
            if os.waitpid(pid, os.WNOHANG) != (0, 0):
                break
            time.sleep(0.01)
        else:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    assert childs != parents


def test_settles_racing_visibility_timeouts_only_ever_take_the_latest_delivery(queue_path):
    # Consumers settle at about the moment their deliveries expire, while
    # others get the expired items again. A settle that is accepted must come
    # from the item's latest delivery; every item ends acked or failed once.
    total = 300
    deadline = time.monotonic() + 60
    with AckQueue(queue_path, visibility_timeout=0.003) as q:
        q.put_many([b"%d" % i for i in range(total)])
        lock = threading.Lock()
        latest: dict[int, tuple[int, int]] = {}  # Id -> (attempt, receipt) handed out last.
        finished: collections.Counter[bytes] = collections.Counter()
        stale_accepted: list[Delivery] = []

        def consume(seed: int) -> None:
            rng = random.Random(seed)
            while len(finished) < total and time.monotonic() < deadline:
                try:
                    delivery = q.get(timeout=0.01)
                except rocksq.Empty:
                    continue
                with lock:
                    if latest.get(delivery.id, (0, 0)) < (delivery.attempt, delivery.receipt):
                        latest[delivery.id] = (delivery.attempt, delivery.receipt)
                time.sleep(rng.uniform(0, 0.006))  # Before or after the expiry.
                how = rng.choice(["ack", "ack", "nack", "ack_failed", "ack_many"])
                with lock:
                    try:
                        settle(q, how, delivery)
                    except rocksq.NotOutstanding:
                        continue
                    if latest[delivery.id] != (delivery.attempt, delivery.receipt):
                        stale_accepted.append(delivery)
                    if how != "nack":
                        finished[delivery.data] += 1

        threads = [threading.Thread(target=consume, args=(i,)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not stale_accepted
        assert len(finished) == total and set(finished.values()) == {1}
        assert (q.ready, q.unacked, len(q)) == (0, 0, q.failed_count)


def test_remove_ack_queue_and_kind_mismatch(queue_path):
    with AckQueue(queue_path):
        pass
    with pytest.raises(rocksq.NotAQueueError, match="not a FIFO queue"):
        rocksq.Queue(queue_path)
    with pytest.raises(rocksq.NotAQueueError):
        rocksq.remove_queue(queue_path)
    rocksq.remove_ack_queue(queue_path)
    with rocksq.Queue(queue_path):
        pass
    with pytest.raises(rocksq.NotAQueueError, match="not an ack queue"):
        AckQueue(queue_path)


def test_closed_queue_raises_queue_closed(queue_path):
    q = AckQueue(queue_path)
    q.put(b"a")
    delivery = q.get()
    q.close()
    with pytest.raises(rocksq.QueueClosed):
        q.ack(delivery)
    with pytest.raises(rocksq.QueueClosed):
        q.get(block=False)


def test_acked_items_give_their_disk_space_back(queue_path):
    item = os.urandom(256 * 1024)
    with AckQueue(queue_path) as q:
        for _ in range(512):  # 128 MiB, two memtables' worth.
            q.put(item)
        peak = q.disk_size
        assert peak > 100 * 1024 * 1024
        while got := q.get_many(64, block=False) if q.ready else []:
            q.ack_many(got)
        deadline = time.monotonic() + 10
        while q.disk_size > peak // 10 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert q.disk_size <= peak // 10
