"""Options and StartPosition as the core declares them: each default written once, in C++.

rocksq._core binds rocksq::FifoOptions, MpmcOptions and AckOptions (their
in-class initialisers are the defaults) and rocksq::StartPosition; the
faces' signatures take their defaults from there.
"""

from __future__ import annotations

import inspect
import pickle
from pathlib import Path
from typing import Any

import pytest

import rocksq
import rocksq.aio
import rocksq.blocking
import rocksq.nonblocking
from rocksq import _core

# Every face constructor, and the core's own.
CONSTRUCTORS = [
    rocksq.Queue,
    rocksq.PersistentQueueWithCapacity,
    rocksq.AckQueue,
    rocksq.blocking.PersistentQueueWithCapacity,
    rocksq.blocking.MpmcQueue,
    rocksq.nonblocking.PersistentQueueWithCapacity,
    rocksq.nonblocking.MpmcQueue,
    rocksq.aio.Queue,
    rocksq.aio.MpmcQueue,
    rocksq.aio.AckQueue,
]


def core_default(constructor: Any, option: str) -> Any:
    """What the core's options type of `constructor`'s kind holds for `option`."""
    if option == "max_inflight_ops":
        return _core.DEFAULT_MAX_INFLIGHT_OPS
    name = constructor.__name__
    options = (
        _core.AckOptions()
        if "Ack" in name
        else _core.MpmcOptions()
        if "Mpmc" in name
        else _core.FifoOptions()
    )
    return getattr(options, option)


def test_the_options_types_hold_the_documented_defaults() -> None:
    fifo, mpmc, ack = _core.FifoOptions(), _core.MpmcOptions(), _core.AckOptions()

    assert (fifo.max_elements, fifo.sync) == (2**62, False)
    assert (mpmc.ttl, mpmc.sync) == (24 * 60 * 60, False)
    assert (ack.max_elements, ack.sync, ack.visibility_timeout) == (2**62, False, 30.0)
    assert _core.DEFAULT_MAX_INFLIGHT_OPS == 1_000


@pytest.mark.parametrize("constructor", CONSTRUCTORS, ids=lambda c: f"{c.__module__}.{c.__name__}")
def test_every_face_default_is_the_core_options_default(constructor: Any) -> None:
    parameters = inspect.signature(constructor).parameters
    options = ["max_elements", "sync", "visibility_timeout", "max_inflight_ops"]
    checked = [name for name in options if name in parameters]

    assert "sync" in checked
    for name in checked:
        assert parameters[name].default == core_default(constructor, name), name


@pytest.mark.parametrize(
    "core, option",
    [
        (_core.FifoQueue, "max_elements"),
        (_core.FifoQueue, "sync"),
        (_core.AckQueue, "max_elements"),
        (_core.AckQueue, "sync"),
        (_core.AckQueue, "visibility_timeout"),
        (_core.MpmcQueue, "sync"),
    ],
)
def test_the_core_queue_defaults_are_its_options_defaults(core: Any, option: str) -> None:
    # nanobind's signature text is the first line of __init__'s docstring.
    signature = core.__init__.__doc__.splitlines()[0]
    declared = signature.split(f"{option}: ", 1)[1].split(",")[0]

    assert f" = {core_default(core, option)!r}" in declared


def test_an_option_set_on_the_type_reads_back() -> None:
    fifo, mpmc, ack = _core.FifoOptions(), _core.MpmcOptions(), _core.AckOptions()

    fifo.max_elements, fifo.sync = 7, True
    mpmc.ttl = 60
    ack.visibility_timeout = 0.5

    assert (fifo.max_elements, fifo.sync, mpmc.ttl, ack.visibility_timeout) == (7, True, 60, 0.5)


@pytest.mark.parametrize(
    "options, field, value, error, message",
    [
        (_core.FifoOptions, "max_elements", -1, OverflowError, "max_elements"),
        (_core.FifoOptions, "max_elements", None, TypeError, "max_elements"),
        (_core.FifoOptions, "sync", 1, TypeError, "sync must be True or False"),
        (_core.MpmcOptions, "ttl", 0, ValueError, "ttl must be a positive"),
        (_core.MpmcOptions, "ttl", 1.5, TypeError, "ttl must be an int"),
        (_core.AckOptions, "visibility_timeout", -1, ValueError, "visibility_timeout"),
        (_core.AckOptions, "visibility_timeout", "1", TypeError, "visibility_timeout"),
    ],
)
def test_an_option_field_checks_its_value_as_the_queue_does(
    options: Any, field: str, value: object, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        setattr(options(), field, value)


# --- StartPosition ----------------------------------------------------------------


def test_start_position_is_the_core_enum_public_under_rocksq() -> None:
    assert rocksq.StartPosition is _core.StartPosition
    assert rocksq.StartPosition.__module__ == "rocksq"
    assert pickle.loads(pickle.dumps(rocksq.StartPosition.Newest)) is rocksq.StartPosition.Newest


def test_start_position_reprs_as_an_int_enum_does() -> None:
    assert repr(rocksq.StartPosition.Newest) == "<StartPosition.Newest: 1>"
    assert [member.name for member in rocksq.StartPosition] == ["Oldest", "Newest"]


@pytest.mark.parametrize("start", [0, 1, True, None])
def test_the_core_takes_only_start_position_members(tmp_path: Path, start: object) -> None:
    queue = _core.MpmcQueue(tmp_path / "q", 60)

    with pytest.raises(TypeError, match=r"next\(\): start_position must be rocksq.StartPosition"):
        queue.next("reader", start)  # type: ignore[arg-type]
    assert queue.next("reader", rocksq.StartPosition.Oldest) == ([], False)
    queue.close()
