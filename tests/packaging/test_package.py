"""The module-level API: version, exceptions, StartPosition."""

from __future__ import annotations

import ast
from importlib import metadata
from pathlib import Path

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



# --- The package's import graph -----------------------------------------------

PACKAGE_DIR = Path(rocksq.__file__).parent
SUBMODULES = {path.name.split(".")[0] for path in PACKAGE_DIR.iterdir()} - {"__pycache__", "py"}
# Run as programs; no module of the package imports them. The workloads of
# benchmarks.py import rocksq as a user's program does (bench/versus.py also
# runs them against an older build of the package).
ENTRY_POINTS = {"cli", "__main__", "benchmarks"}


def imported_submodules(module: str) -> set[str]:
    """The package's modules `module` imports anywhere in its source; "__init__" for the package itself."""
    tree = ast.parse((PACKAGE_DIR / f"{module}.py").read_text(encoding="utf-8"))
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "rocksq":
                    imported.add(parts[1] if len(parts) > 1 else "__init__")
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and (node.module or "").split(".")[0] != "rocksq":
                continue
            if node.level > 1:
                imported.add("__init__")  # Above the package: only a package of its own would do.
                continue
            parts = (node.module or "").split(".")
            within = parts[1:] if node.level == 0 else parts
            if within and within[0]:
                imported.add(within[0])
            else:  # `from . import name` or `from rocksq import name`.
                imported |= {
                    alias.name if alias.name in SUBMODULES else "__init__" for alias in node.names
                }
    imported.discard(module)
    return imported


PYTHON_MODULES = sorted(path.stem for path in PACKAGE_DIR.glob("*.py"))


@pytest.mark.parametrize("module", sorted(set(PYTHON_MODULES) - ENTRY_POINTS - {"__init__"}))
def test_no_module_of_the_package_imports_names_from_the_package_itself(module: str) -> None:
    # rocksq/__init__.py imports the faces; a face that imported a name
    # from rocksq would depend on the order __init__ imports them in.
    assert "__init__" not in imported_submodules(module)


def test_the_package_s_modules_import_each_other_without_a_cycle() -> None:
    graph = {module: imported_submodules(module) & set(PYTHON_MODULES) for module in PYTHON_MODULES}
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        assert module not in path, f"import cycle: {' -> '.join((*path, module))}"
        if module in done:
            return
        for imported in sorted(graph[module]):
            visit(imported, (*path, module))
        done.add(module)

    for module in PYTHON_MODULES:
        visit(module, ())
    assert graph["__init__"], "the graph is empty: the check read nothing"
