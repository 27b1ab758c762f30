"""The process of test_forward_outage.py: a Forwarder and a producer sharing one queue.

    python outage_worker.py QUEUE URL STREAM_TO_CREATE|- WARMUP_ITEMS OUTAGE_ITEMS ITEM_SIZE

Forwards the queue (a thread) while pushing into it, and says what it did
as JSON lines on stdout; the test reads each and answers on stdin:
1. pushes WARMUP_ITEMS and waits until they are forwarded, so that RocksDB's
   buffers and the broker client have grown to their working size; prints
   {"baseline_rss": bytes}; the test then takes the broker down and says so;
2. pushes OUTAGE_ITEMS (the broker away all the while); prints {"pushed": n,
   "forwarded_while_down": n, "peak_rss_while_down": bytes}; the test brings
   the broker back after its outage and says so;
3. waits until every item is confirmed; prints the Forwarder's counters, the
   RSS when the broker came back and the largest RSS while catching up.
RSS is sampled every 20 ms.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import threading

import rocksq
from rocksq.bridge import Forwarder
from tally import item

PUSH_BATCH_BYTES = 1 << 20

def rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def say(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


def push(queue: rocksq.AckQueue, first: int, count: int, size: int) -> None:
    batch = max(1, PUSH_BATCH_BYTES // size)
    for start in range(first, first + count, batch):
        queue.put_many([item("a", index, size) for index in range(start, min(start + batch, first + count))])


def main() -> None:
    path, url, create, warmup, outage, size = sys.argv[1:7]
    warmup_items, outage_items, item_size = int(warmup), int(outage), int(size)
    queue = rocksq.AckQueue(path, max_elements=warmup_items + outage_items)
    forwarder = Forwarder(queue, url, create_stream=None if create == "-" else create,
                          retry_initial=0.05, retry_max=1.0)
    forwarder.start()
    push(queue, 0, warmup_items, item_size)
    assert forwarder.wait_until_drained(timeout=300), forwarder.stats()
    peak = baseline = rss()
    sampling = threading.Event()
    lock = threading.Lock()

    def sample() -> None:
        nonlocal peak
        while not sampling.wait(0.02):
            with lock:
                peak = max(peak, rss())

    sampler = threading.Thread(target=sample)
    sampler.start()
    say(baseline_rss=baseline)
    sys.stdin.readline()  # The broker is down.
    forwarded_before = forwarder.stats().forwarded
    push(queue, warmup_items, outage_items, item_size)
    with lock:
        say(pushed=outage_items, forwarded_while_down=forwarder.stats().forwarded - forwarded_before,
            peak_rss_while_down=max(peak, rss()))
    sys.stdin.readline()  # The broker is back.
    with lock:
        peak = rss_when_back = rss()
    drained = forwarder.wait_until_drained(timeout=600)
    sampling.set()
    sampler.join()
    stats = forwarder.stats()
    forwarder.stop(timeout=60)
    left = queue.qsize()
    queue.close()
    say(drained=drained, left=left, rss_when_back=rss_when_back, peak_rss_catching_up=peak,
        **dataclasses.asdict(stats))


if __name__ == "__main__":
    main()
