"""One script of rocksq 0.3.0 MpmcQueue calls, printing what a caller can observe.

test_reference.py runs it against this package and against rocksq 0.3.0
and compares the output line by line. Usage: python reference_mpmc_calls.py
QUEUE_DIR. Only what 0.3.0 callers could rely on is printed: values, result
types and exception families; labels sorted (0.3.0 lists them in hash
order); of disk_size only its type. Cases where 0.3.0 is wrong and this
package differs on purpose (expired elements it still returns, an empty
label, ttl=0, a tuple of items, payload_size) are left out; tests/mpmc/
cover them.
"""

import gc
import os
import sys
import time

import rocksq
from observing import outcome, show
from rocksq import StartPosition
from rocksq.blocking import MpmcQueue

ROOT = sys.argv[1]
OLDEST = StartPosition.Oldest
NEWEST = StartPosition.Newest


path = os.path.join(ROOT, "q")
queue = MpmcQueue(path, 60)
show("fresh len", queue.len)
show("fresh is_empty", queue.is_empty)
show("fresh labels", queue.labels)
show("disk_size type", type(queue.disk_size).__name__)
show("newest on empty", outcome(queue.next, "newest-on-empty", NEWEST))
show("oldest on empty", outcome(queue.next, "oldest-on-empty", OLDEST, 5))
show("labels after reading an empty queue", sorted(queue.labels))
show("add three", outcome(queue.add, [b"a", b"b", b"c"]))
show("len", queue.len)
show("is_empty", queue.is_empty)
show("newest-on-empty reads what was added", outcome(queue.next, "newest-on-empty", NEWEST, 10))
show("oldest-on-empty reads what was added", outcome(queue.next, "oldest-on-empty", OLDEST, 10))
show("newest on non-empty", outcome(queue.next, "newest", NEWEST, 10))
show("oldest on non-empty, one", outcome(queue.next, "oldest", OLDEST))
show("oldest again", outcome(queue.next, "oldest", OLDEST, 1))
show("oldest, more than left", outcome(queue.next, "oldest", OLDEST, 10))
show("oldest past the end", outcome(queue.next, "oldest", OLDEST, 10))
show("start position of an existing label is ignored", outcome(queue.next, "oldest", NEWEST, 10))
show("add bytearray and memoryview", outcome(queue.add, [bytearray(b"d"), memoryview(b"ee")]))
show("oldest sees new elements", outcome(queue.next, "oldest", OLDEST, 10))
show("newest sees new elements", outcome(queue.next, "newest", NEWEST, 10))
show("fast reader", outcome(queue.next, "fast", OLDEST, 4))
show("slow reader", outcome(queue.next, "slow", OLDEST, 1))
show("fast reader again", outcome(queue.next, "fast", OLDEST, 4))
show("slow reader again", outcome(queue.next, "slow", OLDEST, 2))
show("zero elements", outcome(queue.next, "zero", NEWEST, 0))
show("labels", sorted(queue.labels))
show("zero label reads from newest", outcome(queue.next, "zero", OLDEST, 10))
show("remove label", outcome(queue.remove_label, "oldest"))
show("remove label again", outcome(queue.remove_label, "oldest"))
show("remove unknown label", outcome(queue.remove_label, "nobody"))
show("removed label starts afresh", outcome(queue.next, "oldest", OLDEST, 10))
show("removed label at newest", outcome(
    lambda: (queue.remove_label("newest"), queue.next("newest", NEWEST, 10))))
show("labels after removals", sorted(queue.labels))
show("keyword arguments", outcome(
    queue.next, label="kw", start_position=OLDEST, max_elements=2, no_gil=False))
show("remove_label keywords", outcome(queue.remove_label, label="kw", no_gil=False))
show("add keywords", outcome(queue.add, items=[b"f"], no_gil=False))
show("len after adds", queue.len)
show("label not a str", outcome(queue.next, 7, OLDEST))
show("label bytes", outcome(queue.next, b"bytes", OLDEST))
show("start position int", outcome(queue.next, "int-start", 0))
show("start position None", outcome(queue.next, "none-start", None))
show("max_elements negative", outcome(queue.next, "negative", OLDEST, -1))
show("max_elements float", outcome(queue.next, "float", OLDEST, 1.5))
show("add bytes instead of list", outcome(queue.add, b"abc"))
show("remove_label not a str", outcome(queue.remove_label, 7))
show("labels after bad calls", sorted(queue.labels))
show("empty label", outcome(queue.next, "", OLDEST, 2))
show("empty label again", outcome(queue.next, "", NEWEST, 2))
show("labels with the empty one", sorted(queue.labels))
show("str of start positions", (str(OLDEST), str(NEWEST)))
show("open same path again", outcome(MpmcQueue, path, 60))
show("remove open queue", outcome(rocksq.remove_mpmc_queue, path))
del queue
gc.collect()

queue = MpmcQueue(path, 60)
show("len after reopen", queue.len)
show("labels after reopen", sorted(queue.labels))
show("slow after reopen", outcome(queue.next, "slow", NEWEST, 10))
show("fast after reopen", outcome(queue.next, "fast", NEWEST, 10))
show("new label after reopen", outcome(queue.next, "after-reopen", OLDEST, 10))
show("empty label after reopen", outcome(queue.next, "", OLDEST, 10))
show("remove the empty label", outcome(queue.remove_label, ""))
del queue
gc.collect()

show("remove closed queue", outcome(rocksq.remove_mpmc_queue, path))
show("path exists after remove", os.path.exists(path))
show("remove missing queue", outcome(rocksq.remove_mpmc_queue, os.path.join(ROOT, "missing")))
show("ttl float", outcome(MpmcQueue, os.path.join(ROOT, "float"), 1.5))
show("ttl str", outcome(MpmcQueue, os.path.join(ROOT, "str"), "1"))

# A reader that had read everything before its elements expired is not told.
expiring = MpmcQueue(os.path.join(ROOT, "expiring"), 1)
expiring.add([b"old"])
show("reader reads before expiry", outcome(expiring.next, "reader", OLDEST, 10))
time.sleep(1.5)
show("reader after the expired range", outcome(expiring.next, "reader", OLDEST, 10))
expiring.add([b"new"])
show("reader after the expired range sees new", outcome(expiring.next, "reader", OLDEST, 10))
