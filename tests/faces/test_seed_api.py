"""The seed's API: one bytes-like item per push, one item (or None) per pop."""

from __future__ import annotations

from typing import TYPE_CHECKING

import rocksq

if TYPE_CHECKING:
    from conftest import RunPython

# The usage example of the seed's README, verbatim but for its queue path.
SEED_README_EXAMPLE = '''\
import time
from rocksq import PersistentQueueWithCapacity

# Create a queue that will persist to disk

# try:
#     PersistentQueue.remove_db('/tmp/queue')
# except:
#     pass

q = PersistentQueueWithCapacity('/tmp/queue')

start = time.time()
buf = bytes(256 * 1024)

OPS = 8 * 30
RELEASE_GIL = True

print("begin writing")
for i in range(OPS):
    q.push(buf, no_gil=RELEASE_GIL)

print("begin reading")
for i in range(OPS):
    v = q.pop(no_gil=RELEASE_GIL)


end = time.time()

print("Time taken: %f" % (end - start))
'''


def test_seed_readme_example_runs_unchanged(queue_path: str, run_python: RunPython) -> None:
    script = SEED_README_EXAMPLE.replace("'/tmp/queue'", repr(queue_path))

    output = run_python(script).splitlines()

    assert output[:2] == ["begin writing", "begin reading"]
    assert output[2].startswith("Time taken: ")
    assert rocksq.PersistentQueueWithCapacity(queue_path).len() == 0


def test_seed_pop_returns_one_item_at_a_time_in_push_order(queue_path: str) -> None:
    queue = rocksq.PersistentQueueWithCapacity(queue_path)
    queue.push(b"first")
    queue.push(b"second")

    assert [queue.pop(), queue.pop()] == [b"first", b"second"]


def test_seed_pop_on_an_empty_queue_returns_none(queue_path: str) -> None:
    queue = rocksq.PersistentQueueWithCapacity(queue_path)

    assert queue.pop() is None


def test_seed_push_and_pop_work_without_releasing_the_gil(queue_path: str) -> None:
    queue = rocksq.PersistentQueueWithCapacity(queue_path)
    queue.push(b"item", no_gil=False)

    assert queue.pop(no_gil=False) == b"item"
