"""A producer process for test_unique_crash.py: puts keyed items with put_unique until SIGKILLed.

    python unique_crash_worker.py PATH LOG FIRST

Opens rocksq.AckQueue(PATH, sync=True), prints "ready", then for NUM = FIRST,
FIRST + 1, ... calls put_unique(b"key-NUM", b"item-NUM") and logs the
result as one line of LOG, written with one write() and fsynced:

    "P NUM 1"   put_unique returned True: the item was stored now
    "P NUM 0"   it returned False: the key was stored before

Starting below the numbers an earlier worker put is how a producer retries
what it cannot tell was stored (a broker message redelivered after a crash).
"""

from __future__ import annotations

import os
import sys

import rocksq


def main() -> None:
    path, log_path, first = sys.argv[1], sys.argv[2], int(sys.argv[3])
    queue = rocksq.AckQueue(path, sync=True)
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    print("ready", flush=True)
    number = first
    while True:
        stored = queue.put_unique(b"key-%d" % number, b"item-%d" % number)
        os.write(log, b"P %d %d\n" % (number, stored))
        os.fsync(log)
        number += 1


if __name__ == "__main__":
    main()
