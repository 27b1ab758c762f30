"""The documentation site (docs/) builds with no warning, and its examples run."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from support import REPO_ROOT

OUTPUT = REPO_ROOT / "build" / "docs-html"
DOCS = REPO_ROOT / "docs"


def python_examples() -> list[tuple[str, str]]:
    """(page:line, code) of every ``.. code-block:: python`` on the site's pages."""
    examples = []
    for page in sorted(DOCS.glob("*.rst")):
        lines = page.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines):
            if line.strip() != ".. code-block:: python":
                continue
            body = []
            for following in lines[number + 1:]:
                if following.strip() and not following.startswith(" "):
                    break
                body.append(following)
            while body and body[0].strip().startswith(":"):  # the directive's options
                body.pop(0)
            code = textwrap.dedent("\n".join(body)).strip()
            examples.append((f"{page.name}:{number + 1}", code + "\n"))
    return examples


EXAMPLES = python_examples()


@pytest.fixture(scope="module")
def built_docs() -> Path:
    # Only the build needs them; the examples run without.
    pytest.importorskip("sphinx", reason="sphinx is not installed (conan/bootstrap.sh installs it)")
    pytest.importorskip("furo", reason="the theme, furo, is not installed (conan/bootstrap.sh installs it)")
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


def test_the_guides_have_python_examples() -> None:
    pages = {where.split(":")[0] for where, _ in EXAMPLES}
    assert {"getting-started.rst", "faces.rst", "delivery.rst", "mpmc.rst",
            "multiprocessing.rst"} <= pages


@pytest.mark.parametrize(("where", "code"), EXAMPLES, ids=[where for where, _ in EXAMPLES])
def test_each_python_example_on_the_site_runs(where: str, code: str, run_example) -> None:
    run_example(code, where)


@pytest.mark.parametrize(("page", "toctree_caption"),
                         [("faces", "Guides"), ("performance", "Reports"), ("queue", "API reference")])
def test_the_index_groups_the_pages_in_three_toctrees(
    built_docs: Path, page: str, toctree_caption: str
) -> None:
    index = (DOCS / "index.rst").read_text(encoding="utf-8")
    caption = index.index(f":caption: {toctree_caption}")
    following = index.find(":caption:", caption + 1)
    assert f"   {page}\n" in index[caption:following if following > 0 else None]
    assert (built_docs / f"{page}.html").is_file()


def test_the_reports_are_the_generated_pages(built_docs: Path) -> None:
    # Each page names the command that regenerates it, interpreter or shell included.
    for page, command in [
        ("performance", "build/wheel-venv/bin/python bench/compare.py --report "
                        "docs/generated/performance.rst"),
        ("performance", "ROCKSQ_BUILD=release bash bench/run_cpp_bench.sh --report "
                        "docs/generated/performance-cpp.rst"),
        ("reliability", "python3 tests/reliability_report.py"),
    ]:
        html = (built_docs / f"{page}.html").read_text(encoding="utf-8")
        text = re.sub(r"<[^>]+>", "", html)
        assert re.search(rf"Generated \S+ by {re.escape(command)}", text), command
    # The benchmark pages publish the release build's figures only.
    performance = re.sub(r"<[^>]+>", "", (built_docs / "performance.html").read_text("utf-8"))
    assert len(re.findall(r"release build, RocksDB [0-9.]+, CRC32C in hardware", performance)) >= 2


def load_bench_report():
    """bench/report.py, which renders the benchmark tables into the performance page."""
    spec = importlib.util.spec_from_file_location("bench_report", REPO_ROOT / "bench" / "report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_benchmark_table_renders_as_rst_that_docutils_reads_without_a_warning() -> None:
    docutils_core = pytest.importorskip("docutils.core")
    markdown = ("Measured with `compare.py`.\n\n| workload | ours |\n|---|---:|\n"
                "| W1 push | **436** |\n| W2 pop | |\n\nn/a:\n- W4: not thread-safe\n")
    rst = load_bench_report().markdown_to_rst(markdown)
    # halt_level 2: a warning (a list without its blank line, a short row) raises.
    tree = docutils_core.publish_doctree(rst, settings_overrides={"halt_level": 2})
    rows = [row.astext().split() for row in tree.findall(
        lambda node: node.tagname == "row")]
    assert rows == [["workload", "ours"], ["W1", "push", "436"], ["W2", "pop"]]
    assert "``compare.py``" in rst
    assert [item.astext() for item in tree.findall(
        lambda node: node.tagname == "list_item")] == ["W4: not thread-safe"]


def test_the_reliability_report_counts_each_outcome_by_test_file(tmp_path: Path) -> None:
    (tmp_path / "test_area.py").write_text(textwrap.dedent("""
        import pytest

        def test_passes(): pass

        @pytest.mark.skip(reason="no such mechanism here")
        def test_is_skipped(): pass

        def test_fails(): assert False

        @pytest.fixture
        def broken(): raise RuntimeError

        def test_errors_in_setup(broken): pass
    """))
    counting = textwrap.dedent(f"""
        import importlib.util, json, sys, pytest
        spec = importlib.util.spec_from_file_location(
            "report", {str(REPO_ROOT / "tests" / "reliability_report.py")!r})
        report = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(report)
        outcomes = report.Outcomes()
        pytest.main(["-q", "-p", "no:cacheprovider", "test_area.py"], plugins=[outcomes])
        print(json.dumps([outcomes.counts, outcomes.skip_reasons]))
    """)
    completed = subprocess.run([sys.executable, "-c", counting], cwd=tmp_path,
                               capture_output=True, text=True, timeout=60)
    counts, skip_reasons = json.loads(completed.stdout.splitlines()[-1])
    assert counts == {"test_area.py": {"cases": 4, "passed": 1, "skipped": 1, "failed": 2}}
    assert skip_reasons == {"test_area.py": {"no such mechanism here": 1}}
