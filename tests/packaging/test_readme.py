"""The README stays a short front page whose examples run as written."""

from __future__ import annotations

import pathlib
import re

import pytest
from support import REPO_ROOT

README = REPO_ROOT / "README.md"
TEXT = README.read_text(encoding="utf-8")
BLOCKS = re.findall(r"```python\n(.*?)```", TEXT, re.S)
CPP_BLOCKS = re.findall(r"```cpp\n(.*?)```", TEXT, re.S)
CMAKE_CONSUMER = REPO_ROOT / "tests" / "packaging" / "cmake_consumer" / "main.cc"
# Each face the README shows, by a name its example must use.
FACES = ["PersistentQueueWithCapacity", "rocksq.blocking", "MpmcQueue", "rocksq.Queue",
         "rocksq.aio.Queue", "rocksq.AckQueue", "rocksq.nonblocking"]


def test_the_readme_has_python_examples():
    assert len(BLOCKS) >= 4


def test_the_readme_fits_in_250_lines():
    assert len(TEXT.splitlines()) <= 250


def test_the_readme_keeps_the_two_commands_ci_runs():
    assert "bash bench/run_seed_example.sh" in TEXT
    assert "bash tests/run.sh" in TEXT


@pytest.mark.parametrize("face", FACES)
def test_the_readme_has_an_example_of_each_face(face):
    assert any(face in block for block in BLOCKS), f"no Python example uses {face}"


def test_the_readme_links_only_to_pages_that_exist():
    for target in re.findall(r"\]\((docs/[^)#]+)", TEXT):
        assert (REPO_ROOT / target).is_file(), target


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_example_runs(code, run_example):
    run_example(code, "README.md")


def test_the_readme_cpp_example_is_part_of_the_program_the_cmake_test_builds():
    """tests/packaging/test_cmake_package.py compiles and runs main.cc, so these lines compile."""
    program = {line.strip() for line in CMAKE_CONSUMER.read_text(encoding="utf-8").splitlines()}
    assert CPP_BLOCKS
    for block in CPP_BLOCKS:
        for line in block.splitlines():
            assert line.strip() in program, f"{line!r} is not in {CMAKE_CONSUMER.name}"
