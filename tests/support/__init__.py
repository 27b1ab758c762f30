"""Helpers the tests in several folders share; fixtures live in tests/conftest.py.

pytest puts tests/ on sys.path (pyproject.toml's `pythonpath`), so a test
imports these as `from support.threads import run_threads`.
"""

from __future__ import annotations

from pathlib import Path

# The source checkout: the tests build docs, wheels and the CMake package from it.
REPO_ROOT = Path(__file__).resolve().parents[2]
