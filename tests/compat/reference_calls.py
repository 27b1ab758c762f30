"""One script of rocksq 0.3.0 blocking-API calls, printing what a caller can observe.

test_reference.py runs it against this package and against rocksq 0.3.0 and
compares the output line by line. Usage: python reference_calls.py QUEUE_DIR.
Only what 0.3.0 callers could rely on is printed: values, result types and
exception types; of messages only whether they say "Queue is full"; of
disk_size only its type.
"""

import gc
import os
import sys

import rocksq
from observing import error_family, show
from rocksq.blocking import PersistentQueueWithCapacity

ROOT = sys.argv[1]


def outcome(call, *args, **kwargs):
    """The result of a call, or the builtin family and gist of what it raised."""
    try:
        return ("returned", call(*args, **kwargs))
    except Exception as error:  # noqa: BLE001 - reporting it is the point
        return ("raised", error_family(error), "Queue is full" in str(error))


path = os.path.join(ROOT, "q")
queue = PersistentQueueWithCapacity(path, 3)
show("fresh len", queue.len)
show("fresh payload_size", queue.payload_size)
show("fresh is_empty", queue.is_empty)
show("disk_size type", type(queue.disk_size).__name__)
show("pop on empty", outcome(queue.pop))
# Only on an empty queue: on a non-empty one 0.3.0's pop(0) removes and
# returns every item, where this package returns [] and removes nothing.
show("pop zero on empty", outcome(queue.pop, max_elements=0))
show("push two", outcome(queue.push, [b"a", b"bb"]))
show("len", queue.len)
show("payload_size", queue.payload_size)
show("is_empty", queue.is_empty)
show("push past capacity", outcome(queue.push, [b"x", b"y"]))
show("len after refused push", queue.len)
show("payload_size after refused push", queue.payload_size)
show("push to exactly full", outcome(queue.push, [b"ccc"]))
show("push one more", outcome(queue.push, [b"d"]))
show("push empty list when full", outcome(queue.push, []))
show("pop negative", outcome(queue.pop, -1))
show("pop float", outcome(queue.pop, 1.5))
show("push bytes instead of list", outcome(queue.push, b"abc"))
show("push str instead of list", outcome(queue.push, "abc"))
show("pop default", outcome(queue.pop))
show("pop with no_gil=False", outcome(queue.pop, 1, False))
show("push bytearray and memoryview", outcome(queue.push, [bytearray(b"e"), memoryview(b"ff")]))
show("pop keyword max_elements", outcome(queue.pop, max_elements=10))
show("pop more than stored", outcome(queue.pop, max_elements=10))
show("push with no_gil=False", outcome(queue.push, [b"g"], no_gil=False))
show("push keyword items", outcome(queue.push, items=[b"h"]))
show("open same path again", outcome(PersistentQueueWithCapacity, path))
show("remove open queue", outcome(rocksq.remove_queue, path))
show("len before reopen", queue.len)
del queue
gc.collect()

queue = PersistentQueueWithCapacity(path, 3)
show("len after reopen", queue.len)
show("payload_size after reopen", queue.payload_size)
show("pop after reopen", outcome(queue.pop, 5))
show("is_empty after reopen and pop", queue.is_empty)
del queue
gc.collect()

show("remove closed queue", outcome(rocksq.remove_queue, path))
show("path exists after remove", os.path.exists(path))
show("remove missing queue", outcome(rocksq.remove_queue, os.path.join(ROOT, "missing")))
show("default capacity accepts many", outcome(
    lambda: PersistentQueueWithCapacity(os.path.join(ROOT, "big")).push([b"i"] * 1000)))
show("negative capacity", outcome(PersistentQueueWithCapacity, os.path.join(ROOT, "n"), -1))
show("version type", type(rocksq.version()).__name__)
show("StartPosition values", (rocksq.StartPosition.Oldest == 0, rocksq.StartPosition.Newest == 1))
