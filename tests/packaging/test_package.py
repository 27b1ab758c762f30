"""The module-level API: version, exceptions, StartPosition."""

from __future__ import annotations

from importlib import metadata

import pytest

import rocksq

ERRORS = [
    rocksq.QueueFull,
    rocksq.StorageError,
    rocksq.CorruptionError,
    rocksq.QueueAlreadyOpen,
    rocksq.NotAQueueError,
    rocksq.QueueClosed,
]


def test_version_is_the_installed_distribution_version() -> None:
    assert rocksq.version() == metadata.version("rocksq") == "0.4.0"
    assert rocksq.__version__ == rocksq.version()


@pytest.mark.parametrize("error", ERRORS, ids=lambda error: error.__name__)
def test_every_queue_error_is_a_rocksq_error_and_a_runtime_error(error: type) -> None:
    assert issubclass(error, rocksq.RocksQError)
    assert issubclass(error, RuntimeError)


@pytest.mark.parametrize("error", ERRORS, ids=lambda error: error.__name__)
def test_every_queue_error_says_who_raises_it(error: type) -> None:
    assert error.__doc__ and "Raised by" in error.__doc__


def test_start_position_has_rocksq_0_3_0_values() -> None:
    assert (rocksq.StartPosition.Oldest, rocksq.StartPosition.Newest) == (0, 1)

