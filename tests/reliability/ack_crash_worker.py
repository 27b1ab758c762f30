"""A consumer process for test_ack_crash.py: settles an ack queue's items until SIGKILLed.

    python ack_crash_worker.py PATH LOG SEED

Opens rocksq.AckQueue(PATH, visibility_timeout=VISIBILITY_TIMEOUT), prints
"ready", then gets batches of 1-5 items and settles each at random: ack
(alone or with others, in one ack_many), nack, ack_failed, or nothing (it
stays handed out, and comes back when its timeout expires). Now and then it
settles a delivery it left to expire, once its timeout has passed: that must
raise NotOutstanding and change nothing, or the worker stops with an error.
It never puts: the test fills the queue. Items are crash_worker.make_item(number).

Every event is one line of LOG, written with one write() and fsynced before
the worker goes on:

    "G NUM ATTEMPT"     get() handed out item NUM (logged after it returned)
    "T NUM NUM ..."     about to ack these items (one ack or ack_many call)
    "A NUM NUM ..."     that ack returned
    "U NUM"             about to fail this item (ack_failed)
    "X NUM"             that ack_failed returned

A get handed out and killed before its "G" line was written is harmless: the
items stay stored. An "about to" line without its "returned" line is an ack
or fail the kill may or may not have let reach the disk.
"""

from __future__ import annotations

import os
import random
import sys
import time
import traceback

from crash_worker import item_number

import rocksq

VISIBILITY_TIMEOUT = 0.2


def main() -> None:
    path, log_path, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
    rng = random.Random(seed)
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def write(line: str) -> None:
        os.write(log, (line + "\n").encode())
        os.fsync(log)

    queue = rocksq.AckQueue(path, visibility_timeout=VISIBILITY_TIMEOUT)
    print("ready", flush=True)
    left_to_expire: list[tuple[float, rocksq.Delivery]] = []  # (handed out at, delivery)
    while True:
        if left_to_expire and time.monotonic() - left_to_expire[0][0] > VISIBILITY_TIMEOUT:
            _, stale = left_to_expire.pop(0)
            how = rng.choice(["ack", "nack", "ack_failed"])
            try:
                if rng.random() < 0.5:
                    getattr(queue, how)(stale)
                else:
                    getattr(queue, how + "_many")([stale])
            except rocksq.NotOutstanding:
                pass
            else:
                raise AssertionError(
                    f"{how} of expired delivery {stale.id} #{stale.attempt} was accepted"
                )
        try:
            got = queue.get_many(rng.randint(1, 5), timeout=0.05)
        except rocksq.Empty:
            continue
        numbers = []
        for delivery in got:
            number = item_number(delivery.data)
            if number is None:
                raise AssertionError(f"torn item {delivery.data[:16].hex()}")
            write(f"G {number} {delivery.attempt}")
            numbers.append(number)
        to_ack = []
        handed_out_at = time.monotonic()
        for delivery, number in zip(got, numbers):
            choice = rng.random()
            if choice < 0.65:
                to_ack.append((delivery, number))
            elif choice < 0.75:
                queue.nack(delivery)
            elif choice < 0.80:
                write(f"U {number}")
                queue.ack_failed(delivery)
                write(f"X {number}")
            else:  # Left handed out, to expire.
                left_to_expire.append((handed_out_at, delivery))
        if not to_ack:
            continue
        if len(to_ack) > 1 and rng.random() < 0.5:
            chunks = [to_ack]
        else:
            chunks = [[entry] for entry in to_ack]
        for chunk in chunks:
            line = " ".join(str(number) for _, number in chunk)
            write(f"T {line}")
            if len(chunk) == 1:
                queue.ack(chunk[0][0])
            else:
                queue.ack_many([delivery for delivery, _ in chunk])
            write(f"A {line}")


if __name__ == "__main__":
    try:
        main()
    except BaseException:  # noqa: BLE001 - any error ends the worker, reported by the test
        traceback.print_exc()
        sys.exit(3)
