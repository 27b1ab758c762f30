"""Reading a queue without opening it: what the ``rocksq`` command shows.

:func:`inspect_queue` and :func:`peek` read a queue's directory while the
queue may be open, in this process or another, and never change it: they
take no lock and write nothing there (the core opens the database as a
RocksDB secondary instance, with its own files in a temporary directory).
Each call sees the queue as it was at one instant during the call, every
push that had returned by then included. Each call opens the database anew
(milliseconds, plus reading the write-ahead log): these are for tools and
checks, not for a hot path.

:func:`inspect_owner` names the process that has the queue open and, when
it opened the queue with ``attach=True``, asks it for the processes attached
to it and its own counts (over the queue's socket, as ``rocksq stats`` does).

Before reading, both load every file the queue's database lists, as
opening the queue would: a table file that is missing, cut short or zeroed
raises :class:`rocksq.CorruptionError`, as opening the queue does, rather
than showing the queue without its items. :func:`check_queue` reads
everything and reports what it finds instead of raising.

Errors: :class:`rocksq.NotAQueueError` if the path does not exist, is a file
or an empty directory, or holds something other than a queue of a kind this
version can inspect; :class:`rocksq.CorruptionError` or
:class:`rocksq.StorageError` if the files cannot be read.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

from . import _core

if TYPE_CHECKING:
    import os

__all__ = [
    "AttachedProcess",
    "LabelPosition",
    "QueueCheck",
    "QueueOwner",
    "QueueStats",
    "StoredItem",
    "check_queue",
    "inspect_owner",
    "inspect_queue",
    "peek",
]

KIND_NAMES = {"fifo": "FIFO queue", "mpmc": "MPMC queue", "ack": "ack queue"}
"""The kinds :attr:`QueueStats.kind` takes, with their names for people."""


def _time(micros: int) -> Optional[datetime.datetime]:
    if micros == 0:
        return None
    return datetime.datetime.fromtimestamp(micros / 1e6, tz=datetime.timezone.utc)


@dataclass(frozen=True)
class LabelPosition:
    """A reader (label) of an MPMC queue and where it is."""

    label: str
    position: int
    """The next position the label reads."""
    unread: int
    """Stored elements at or after :attr:`position` (expired ones included)."""


@dataclass(frozen=True)
class QueueStats:
    """What a queue held at one instant; returned by :func:`inspect_queue`."""

    path: str
    kind: str
    """``"fifo"`` (:class:`rocksq.Queue` and the other FIFO faces), ``"mpmc"`` or
    ``"ack"`` (:class:`rocksq.AckQueue`)."""
    len: int
    """Items stored. For an MPMC queue: elements stored, including any that
    expired but are not deleted yet; the ttl is the opener's option and is not
    stored, so only an open queue knows which are alive. For an ack queue:
    every stored item, failed ones included (which are handed out is known
    only to the process that has it open)."""
    payload_size: int
    """The sum of those items' sizes, in bytes."""
    disk_size: int
    """The size of the queue's files, in bytes."""
    first_position: int
    """The oldest stored item's position (a FIFO queue's read cursor)."""
    end_position: int
    """One past the newest stored item's position (the write cursor)."""
    oldest_added: Optional[datetime.datetime]
    """MPMC: when the oldest stored element was added (UTC); None otherwise."""
    newest_added: Optional[datetime.datetime]
    """MPMC: when the newest stored element was added (UTC); None otherwise."""
    labels: tuple[LabelPosition, ...]
    """MPMC: the labels, sorted by name; empty otherwise."""
    failed_len: int = 0
    """Ack queue: the failed items among :attr:`len`; 0 otherwise."""
    failed_payload_size: int = 0
    """Ack queue: their payload bytes; 0 otherwise."""
    dropped_records: tuple[str, ...] = ()
    """Records lost to a damaged write-ahead log, one sentence each: first,
    if the log is damaged before its end now, that the next open will drop
    the records after the damage; then each earlier open that dropped some
    (with its UTC time; the queue keeps these notes for good). Empty when
    nothing was lost that way."""
    format_version: int = 0
    """The on-disk format version the queue is stored in (docs/format.rst)."""
    queue_id: Optional[str] = None
    """The queue's identity, as the open queue's ``queue_id``; None for a
    queue an earlier release created and no release since has opened."""
    last_background_failure: str = ""
    """The newest failure of the queue's background work (reclaiming disk
    space, deleting expired elements) written to the LOG file in its
    directory, with its UTC time, as the opener's
    ``last_background_error`` gave it; empty if the LOG holds none. The LOG
    starts over past 1 MiB, so an old failure may be gone."""

    @property
    def kind_name(self) -> str:
        """The kind for people: "FIFO queue", "MPMC queue"."""
        return KIND_NAMES.get(self.kind, self.kind)


@dataclass(frozen=True)
class AttachedProcess:
    """A process attached to a queue's owner, as the kernel named it when it connected."""

    pid: int
    uid: int
    connections: int
    """One per thread of it calling at once."""


@dataclass(frozen=True)
class QueueOwner:
    """Which process has a queue open, and what it says; returned by :func:`inspect_owner`."""

    pid: Optional[int]
    """The process holding the queue's database (RocksDB's ``LOCK`` file);
    None if no process has the queue open."""
    answered: bool
    """True if the owner opened the queue with ``attach=True`` and answered on
    the queue's socket: the fields below are its own, live figures. False for
    an owner without ``attach`` (:attr:`pid` comes from the lock on ``LOCK``)
    and when there is none: the fields below are then None or empty, and
    :func:`inspect_queue` gives the figures from the queue's files."""
    version: Optional[str]
    """The owner's RocksQ release."""
    attached: tuple[AttachedProcess, ...]
    """The processes attached to the owner, by pid; the inspecting connection
    is not among them."""
    len: Optional[int]
    """As the owner's ``len``, ``payload_size`` and ``disk_size``."""
    payload_size: Optional[int]
    disk_size: Optional[int]
    oldest_age: Optional[datetime.timedelta]
    """How long ago the oldest item was added; None when none is stored or the
    owner does not know. FIFO and ack queues store no time with their items:
    their owner notes when each write committed, to within 10 ms, so the age
    may be that much too old, never too young."""
    oldest_age_is_lower_bound: bool
    """True if the oldest item was stored before the owner opened the queue:
    :attr:`oldest_age` is then the time since the open, and the item is at
    least that old."""
    refusal: Optional[str] = None
    """Why an owner that listens did not answer (it runs another RocksQ
    release, or belongs to another user); :attr:`pid` then comes from
    ``LOCK``."""


@dataclass(frozen=True)
class QueueCheck:
    """What :func:`check_queue` found."""

    path: str
    kind: str
    """As :attr:`QueueStats.kind`."""
    damage: tuple[str, ...]
    """What is wrong, one sentence each: files that do not load or whose
    checksums fail, records that break the queue's invariants, a damaged read
    cursor file or ack log. Empty if the queue is sound."""
    dropped_records: tuple[str, ...]
    """As :attr:`QueueStats.dropped_records`."""
    records_checked: int
    """Item records read and checked."""
    format_version: int = 0
    """As :attr:`QueueStats.format_version`."""

    @property
    def healthy(self) -> bool:
        """No damage and no records dropped."""
        return not self.damage and not self.dropped_records


@dataclass(frozen=True)
class StoredItem:
    """One stored item, copied out by :func:`peek`."""

    position: int
    data: bytes
    added: Optional[datetime.datetime]
    """MPMC: when the element was added (UTC); None for a FIFO queue."""


def inspect_queue(path: str | os.PathLike[str]) -> QueueStats:
    """The kind, sizes, positions and (MPMC) labels of the queue in `path`.

    Works while the queue is open elsewhere; changes nothing.
    """
    raw = _core.inspect_queue(path)
    return QueueStats(
        path=raw["path"],
        kind=raw["kind"],
        format_version=raw["format_version"],
        queue_id=raw["queue_id"] or None,
        len=raw["len"],
        payload_size=raw["payload_size"],
        disk_size=raw["disk_size"],
        first_position=raw["first_position"],
        end_position=raw["end_position"],
        oldest_added=_time(raw["oldest_added_micros"]),
        newest_added=_time(raw["newest_added_micros"]),
        labels=tuple(LabelPosition(**label) for label in raw["labels"]),
        failed_len=raw["failed_len"],
        failed_payload_size=raw["failed_payload_size"],
        dropped_records=tuple(raw["dropped_records"]),
        last_background_failure=raw["last_background_failure"],
    )


def inspect_owner(path: str | os.PathLike[str]) -> QueueOwner:
    """Which process owns the queue in `path`, and what it says of the queue.

    Asks the owner on the queue's socket (the attach protocol's stats
    operation) if it opened the queue with ``attach=True``; otherwise reads
    which process holds the ``fcntl`` lock on the queue's ``LOCK`` file. In a
    process that has the queue open itself without ``attach``, :attr:`pid
    <QueueOwner.pid>` is its own. Takes milliseconds; changes nothing. Raises
    as :func:`inspect_queue` for a path that is not a queue.
    """
    raw = _core.inspect_owner(path)
    answered = raw["answered"]
    age = raw["oldest_age_micros"]
    return QueueOwner(
        pid=raw["pid"] or None,
        answered=answered,
        version=raw["version"] if answered else None,
        attached=tuple(AttachedProcess(**process) for process in raw["attached"]),
        len=raw["len"] if answered else None,
        payload_size=raw["payload_size"] if answered else None,
        disk_size=raw["disk_size"] if answered else None,
        oldest_age=datetime.timedelta(microseconds=age) if age >= 0 else None,
        oldest_age_is_lower_bound=raw["oldest_age_is_lower_bound"],
        refusal=raw["refusal"] or None,
    )


def check_queue(path: str | os.PathLike[str]) -> QueueCheck:
    """Checks every file and record of the queue in `path`; reports what is wrong.

    Loads every file of the queue's database and verifies every block's
    checksum; checks that the write-ahead log is whole or only cut short at
    its end (what a crash leaves); and reads every record to check the
    invariants of the queue's kind: FIFO and MPMC positions without gaps and
    payload totals that add up, a sound FIFO read cursor file within the
    items, MPMC added-at times in order and labels within the elements, ack
    queue counts that match its removal counts and a sound ack log. Takes as
    long as reading the queue once. Works while the queue is open elsewhere
    (a file a live writer deleted a moment ago is retried away). Raises
    NotAQueueError or StorageError only when `path` cannot be read at all.
    """
    raw = _core.check_queue(path)
    return QueueCheck(
        path=raw["path"],
        kind=raw["kind"],
        format_version=raw["format_version"],
        damage=tuple(raw["damage"]),
        dropped_records=tuple(raw["dropped_records"]),
        records_checked=raw["records_checked"],
    )


def peek(
    path: str | os.PathLike[str], max_items: int = 10, label: Optional[str] = None
) -> list[StoredItem]:
    """Up to `max_items` stored items, oldest first, without consuming them.

    For a FIFO queue, the items the next pops would return; for an MPMC
    queue, the oldest stored elements, or with `label` the elements that
    label reads next (ValueError if there is no such label, or the queue is
    not an MPMC queue). Works while the queue is open elsewhere.
    """
    if label == "":
        raise ValueError("label must not be empty")
    items = _core.peek_items(path, max_items, label or "")
    return [StoredItem(position, data, _time(added)) for position, data, added in items]
