"""The API reference (docs/) builds from the installed package's docstrings with no warning."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from support import REPO_ROOT

OUTPUT = REPO_ROOT / "build" / "docs-html"

pytest.importorskip("sphinx", reason="sphinx is not installed (conan/bootstrap.sh installs it)")


@pytest.fixture(scope="module")
def built_docs() -> Path:
    completed = subprocess.run(
        # -W: warnings are errors; -E: read every page again, not a cached environment.
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-E", "-q", "-b", "html",
         "docs", str(OUTPUT)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return OUTPUT


def test_the_docs_build_without_warnings(built_docs: Path) -> None:
    assert (built_docs / "index.html").is_file()


@pytest.mark.parametrize(
    ("page", "documented"),
    [
        ("queue", ["rocksq.Queue.get", "rocksq.Queue.put", "rocksq.Queue.qsize"]),
        ("aio", ["rocksq.aio.Queue.get", "rocksq.aio.MpmcQueue.next"]),
        ("seed", ["rocksq.PersistentQueueWithCapacity.pop", "rocksq.remove_queue"]),
        ("blocking", ["rocksq.blocking.PersistentQueueWithCapacity.push",
                      "rocksq.blocking.MpmcQueue.next"]),
        ("nonblocking", ["rocksq.nonblocking.PersistentQueueWithCapacity.pop",
                         "rocksq.nonblocking.Response.get"]),
        ("inspection", ["rocksq.inspection.inspect_queue", "rocksq.inspection.peek",
                        "rocksq.inspection.check_queue"]),
        ("exceptions", ["rocksq._errors.QueueFull", "rocksq._errors.NotAQueueError"]),
    ],
)
def test_each_face_has_its_page_from_the_docstrings(
    built_docs: Path, page: str, documented: list[str]
) -> None:
    html = (built_docs / f"{page}.html").read_text(encoding="utf-8")
    for name in documented:
        assert f'id="{name}"' in html, f"{name} is not documented on {page}.html"


def test_the_cli_page_carries_each_subcommands_help(built_docs: Path) -> None:
    html = (built_docs / "cli.html").read_text(encoding="utf-8")
    for usage in ("usage: rocksq stats", "usage: rocksq peek", "usage: rocksq check", "usage: rocksq bench"):
        assert usage in html
