"""pytest plugin for tests/aarch64/run.sh: the interpreter runs under qemu-user,
which cannot start another aarch64 program by itself (no binfmt registration),
so the tests' child interpreters (sys.executable) go through the same qemu
command, conan/aarch64_root.sh's wrapper script."""

import os
import sys

sys.executable = os.environ["ROCKSQ_AARCH64_PYTHON"]
