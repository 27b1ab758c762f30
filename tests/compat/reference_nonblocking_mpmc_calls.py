"""One script of rocksq 0.3.0 nonblocking MpmcQueue calls, printing what a caller can observe.

test_reference.py runs it against this package and against
rocksq 0.3.0 and compares the output line by line. Usage: python
reference_nonblocking_mpmc_calls.py QUEUE_DIR.
"""

import sys
from rocksq import StartPosition
from rocksq.nonblocking import MpmcQueue

queue = MpmcQueue(sys.argv[1] + "/q", 60, max_inflight_ops=3)
responses = [
    ("add", queue.add([b"a", b"b", b"c"])),
    ("next", queue.next("x", StartPosition.Oldest, 2)),
    ("next", queue.next("y", StartPosition.Newest)),
    ("next", queue.next("x", StartPosition.Oldest, 10)),
    ("next", queue.next("x", StartPosition.Oldest, 10)),
    ("labels", queue.labels),
    ("len", queue.len),
    ("disk_size", queue.disk_size),
    ("remove_label", queue.remove_label("x")),
    ("remove_label", queue.remove_label("x")),
]
print("inflight_ops type", type(queue.inflight_ops).__name__)
for name, response in responses:
    variant = response.get()
    size = variant.size if name != "disk_size" else type(variant.size).__name__
    print(name, type(response).__name__, type(variant).__name__, variant.data,
          variant.labels and sorted(variant.labels), variant.removed_label,
          variant.len, size)
    try:
        response.get()
    except RuntimeError as error:
        print("second get:", str(error).split(":")[0])
