"""The defaults of the queues' options, read once from the C++ core that declares each.

The faces' signatures name these, so that no default is written twice; the
values are the in-class initialisers of rocksq::FifoOptions, AckOptions and
MpmcOptions (cpp/include/rocksq/), bound as rocksq._core's option types.
"""

from __future__ import annotations

from ._core import DEFAULT_MAX_INFLIGHT_OPS, AckOptions, FifoOptions

MAX_ELEMENTS: int = FifoOptions().max_elements
"""The most items a FIFO or ack queue holds unless told otherwise: no limit short of 2**62."""

SYNC: bool = FifoOptions().sync
"""Whether a queue fsyncs each write unless told otherwise (every kind alike)."""

ATTACH: bool = FifoOptions().attach
"""Whether a queue attaches to the process that has it open unless told otherwise (every kind alike)."""

VISIBILITY_TIMEOUT: float = AckOptions().visibility_timeout
"""Seconds an ack queue's handed-out item stays handed out unless told otherwise."""

MAX_INFLIGHT_OPS: int = DEFAULT_MAX_INFLIGHT_OPS
"""How many operations a nonblocking queue lets wait unfinished unless told otherwise."""

DEDUP_WINDOW: int = AckOptions().dedup_window
"""How many keys of an ack queue's put_unique() it remembers unless told otherwise."""

ATTACH_GROUP: str | None = FifoOptions().attach_group
"""Whose members may attach besides the owner's user unless told otherwise: None, the owner's user only."""
