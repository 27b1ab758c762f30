"""rocksq.AckQueue: at-least-once delivery, for threads."""

from __future__ import annotations

import collections
import os
import queue
import threading
import time

import pytest

import rocksq
from rocksq import AckQueue, Delivery


def test_get_hands_out_the_oldest_item_without_removing_it(queue_path):
    with AckQueue(queue_path) as q:
        q.put_many([b"a", b"bb"])
        delivery = q.get()
        assert delivery == Delivery(id=0, data=b"a", attempt=1)
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
        q.nack(taken[0].id)
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
def test_settling_an_already_acked_id_raises_not_outstanding(queue_path, settle):
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


def test_settling_an_unknown_id_raises_and_changes_nothing(queue_path):
    with AckQueue(queue_path) as q:
        q.put(b"a")
        delivery = q.get()
        with pytest.raises(rocksq.NotOutstanding):
            q.ack(12345)
        with pytest.raises(rocksq.NotOutstanding):
            q.ack_many([delivery.id, 12345])
        assert q.unacked == 1
        q.ack_many([delivery])
        assert len(q) == 0


def test_an_id_from_before_a_reopen_is_not_outstanding(queue_path):
    with AckQueue(queue_path) as q:
        q.put(b"a")
        delivery = q.get()
    with AckQueue(queue_path) as q:
        with pytest.raises(rocksq.NotOutstanding):
            q.ack(delivery)
        assert q.get(block=False).data == b"a"


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
        q.ack_failed(b.id)
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
