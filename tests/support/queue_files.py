"""Copies of a queue's directory, as tests take them to read what a crash left."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path


def _sockets(directory: str, names: list[str]) -> list[str]:
    return [name for name in names if stat.S_ISSOCK((Path(directory) / name).lstat().st_mode)]


def copy_queue_directory(source: Path | str, target: Path | str) -> Path:
    """Copies a queue's directory, leaving out its attach socket.

    A killed owner leaves its socket ``rocksq.sock`` behind (the next owner
    replaces it), and a socket cannot be copied as a file.
    """
    return Path(shutil.copytree(source, target, ignore=_sockets))
