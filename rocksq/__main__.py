"""``python -m rocksq``: the ``rocksq`` command (see rocksq.cli)."""

import sys

from .cli import main

sys.exit(main())
