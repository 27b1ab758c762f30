"""Sphinx configuration: the guides, the reports and the API reference of rocksq.

Build it (warnings are errors; tests/packaging/test_docs.py runs the same command):

    python3 -m sphinx -W -b html docs build/docs-html

autodoc imports the *installed* package, whose rocksq/ holds the compiled
rocksq._core; the checkout's rocksq/ has none, so the repository root is
taken off sys.path first, as tests/conftest.py does.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from docutils import nodes
from sphinx.util.docutils import SphinxDirective

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != REPO_ROOT]

import rocksq  # noqa: E402  (after the sys.path fix above)
import rocksq.cli  # noqa: E402

project = "RocksQ"
author = "the RocksQ authors"
copyright = "the RocksQ authors"
release = version = rocksq.version()

extensions = ["sphinx.ext.autodoc"]
# Members in source order, which follows each face's story; signatures as
# written (annotations are strings: the package uses `from __future__ import annotations`).
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"members": True, "show-inheritance": True}
default_role = "code"  # `name` in docstrings is code, as the package writes it.
# furo: a sidebar that shows the three toctrees at once, and code blocks and
# tables that scroll instead of overflowing (conan/bootstrap.sh installs it).
html_theme = "furo"
html_title = f"RocksQ {release}"
html_static_path = ["_static"]
html_css_files = ["rocksq.css"]
# generated/ holds the reports' fragments, which their pages include.
exclude_patterns = ["_build", "generated"]


class CommandHelp(SphinxDirective):
    """``.. rocksq-help:: [SUBCOMMAND]``: the `rocksq` command's own --help text.

    The reference then cannot drift from the parser in rocksq/cli.py.
    """

    optional_arguments = 1

    def run(self) -> list[nodes.Node]:
        os.environ["COLUMNS"] = "88"  # argparse wraps to the terminal's width.
        parser = rocksq.cli.build_parser()
        if self.arguments:
            subparsers = next(
                action for action in parser._actions if action.dest == "command"
            )
            parser = subparsers.choices[self.arguments[0]]
        text = parser.format_help()
        block = nodes.literal_block(text, text)
        block["language"] = "text"  # Not highlighted: the help is plain text.
        return [block]


def setup(app):
    app.add_directive("rocksq-help", CommandHelp)
