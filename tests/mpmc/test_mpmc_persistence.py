"""MpmcQueue's elements, labels and label positions survive a restart."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from rocksq import StartPosition
from rocksq.blocking import MpmcQueue

if TYPE_CHECKING:
    from conftest import RunPython

OLDEST = StartPosition.Oldest

# Prints the queue's state as a fresh process sees it, then what each label
# reads next.
READ_QUEUE_IN_CHILD = """
    import json, sys
    from rocksq import StartPosition
    from rocksq.blocking import MpmcQueue
    queue = MpmcQueue(sys.argv[1], 3600)
    state = {"len": queue.len, "payload_size": queue.payload_size, "labels": queue.labels}
    state["reads"] = {
        label: [item.decode() for item in queue.next(label, StartPosition.Newest, 100)[0]]
        for label in queue.labels
    }
    print(json.dumps(state))
"""


def test_labels_and_positions_survive_reopen_in_a_fresh_process(
    queue_path: str, run_python: RunPython
) -> None:
    with MpmcQueue(queue_path, 3600) as queue:
        queue.add([b"one", b"two", b"three", b"four"])
        queue.next("fast", OLDEST, 3)
        queue.next("slow", OLDEST, 1)
        queue.next("idle", OLDEST, 0)
        queue.next("gone", OLDEST, 2)
        queue.remove_label("gone")

    state = json.loads(run_python(READ_QUEUE_IN_CHILD, queue_path))

    assert state == {
        "len": 4,
        "payload_size": 15,
        "labels": ["fast", "idle", "slow"],
        "reads": {
            "fast": ["four"],
            "idle": ["one", "two", "three", "four"],
            "slow": ["two", "three", "four"],
        },
    }


def test_adds_and_reads_survive_a_process_that_exits_without_closing(
    queue_path: str, run_python: RunPython
) -> None:
    run_python(
        """
        import os, sys
        from rocksq import StartPosition
        from rocksq.blocking import MpmcQueue
        queue = MpmcQueue(sys.argv[1], 3600)
        queue.add([b"added", b"before", b"exit"])
        queue.next("reader", StartPosition.Oldest, 2)
        os._exit(0)  # No close, no destructor: as if the process crashed.
        """,
        queue_path,
    )

    queue = MpmcQueue(queue_path, 3600)

    assert (queue.len, queue.labels) == (3, ["reader"])
    assert queue.next("reader", OLDEST, 10) == ([b"exit"], False)


def test_elements_added_after_reopen_follow_the_earlier_ones(queue_path: str) -> None:
    with MpmcQueue(queue_path, 3600) as queue:
        queue.add([b"a", b"b"])
        queue.next("reader", OLDEST, 10)

    queue = MpmcQueue(queue_path, 3600)
    queue.add([b"c"])

    assert queue.next("reader", OLDEST, 10) == ([b"c"], False)
    assert queue.next("new label", OLDEST, 10) == ([b"a", b"b", b"c"], False)


def test_a_synced_queue_keeps_its_elements_and_labels_across_reopen(queue_path: str) -> None:
    with MpmcQueue(queue_path, 3600, sync=True) as queue:
        queue.add([b"a", b"b"])
        queue.next("reader", OLDEST, 1)

    queue = MpmcQueue(queue_path, 3600)

    assert queue.next("reader", OLDEST, 10) == ([b"b"], False)
