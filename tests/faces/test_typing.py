"""Typing: the installed package ships stubs for its extension and checks under mypy --strict.

typed_usage.py (beside this file) uses every face with assert_type() on its results;
mypy checks it against the installed package (its py.typed, its faces'
annotations and the generated rocksq/_core.pyi), from a directory where the
source tree's rocksq/ cannot be found instead. The package itself passes
mypy --strict too: the faces' calls into the core are checked against the
generated stub, so a face and the core cannot drift apart unseen.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import rocksq
import rocksq._core

TYPED_USAGE = Path(__file__).resolve().parent / "typed_usage.py"
PACKAGE_DIR = Path(rocksq.__file__).parent


def test_the_installed_package_is_marked_typed_and_has_the_extensions_stub() -> None:
    assert (PACKAGE_DIR / "py.typed").is_file()
    assert (PACKAGE_DIR / "_core.pyi").is_file()


def test_the_stub_declares_every_public_name_of_the_extension() -> None:
    stub = ast.parse((PACKAGE_DIR / "_core.pyi").read_text(encoding="utf-8"))
    declared: set[str] = set()
    for node in stub.body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        declared.update(target.id for target in targets if isinstance(target, ast.Name))
    classes = {node.name: node for node in stub.body if isinstance(node, ast.ClassDef)}
    declared |= set(classes)
    declared |= {node.name for node in stub.body if isinstance(node, ast.FunctionDef)}
    public = {name for name in dir(rocksq._core) if not name.startswith("_")}
    assert public <= declared
    for name, node in classes.items():
        methods = {item.name for item in node.body if isinstance(item, ast.FunctionDef)}
        # An enum's members are assignments in its class body.
        methods |= {
            target.id
            for item in node.body
            if isinstance(item, ast.Assign)
            for target in item.targets
            if isinstance(target, ast.Name)
        }
        runtime = {attr for attr in vars(getattr(rocksq._core, name)) if not attr.startswith("_")}
        assert runtime <= methods, f"{name}: {sorted(runtime - methods)} missing from the stub"


def run_mypy_strict(tmp_path: Path, *targets: str) -> subprocess.CompletedProcess[str]:
    """mypy --strict on `targets`, run where only the installed rocksq is importable."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-error-summary",
            "--cache-dir",
            str(tmp_path / "mypy-cache"),
            *targets,
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_typed_usage_passes_mypy_strict_against_the_installed_package(tmp_path: Path) -> None:
    completed = run_mypy_strict(tmp_path, str(TYPED_USAGE))
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_the_installed_package_itself_passes_mypy_strict(tmp_path: Path) -> None:
    completed = run_mypy_strict(tmp_path, "-p", "rocksq")
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_typed_usage_runs(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, str(TYPED_USAGE)], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert completed.stdout == "typed usage: ok\n"
