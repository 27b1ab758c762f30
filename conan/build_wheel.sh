#!/usr/bin/env bash
# Builds a binary wheel of RocksQ and repairs it with auditwheel, so that it
# carries every native library it needs (RocksDB and what RocksDB links).
#   bash conan/build_wheel.sh
# The wheel as built goes to build/dist, the repaired one to build/wheelhouse;
# the last line printed is the repaired wheel's path. It shares the CMake
# build directory of `pip install .` (build/{wheel_tag}, see pyproject.toml),
# so after an install, or a first run, it only rebuilds what changed.
#
# Native dependencies come from bootstrap.sh (Debian's packages through
# Conan), which also installs the build requirements, so the wheel is built
# without build isolation, with this interpreter. Release wheels for PyPI are
# built by cibuildwheel instead (pyproject.toml, [tool.cibuildwheel]).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$repo/conan/bootstrap.sh"

dist="$repo/build/dist"
wheelhouse="$repo/build/wheelhouse"
python_tag="$(python3 -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')"

# Wheels left from an earlier run for this Python go first, so each glob
# below matches exactly one file.
rm -f "$dist"/rocksq-*-"$python_tag"-*.whl "$wheelhouse"/rocksq-*-"$python_tag"-*.whl
mkdir -p "$dist" "$wheelhouse"

echo "== Building the wheel"
CMAKE_TOOLCHAIN_FILE="$ROCKSQ_TOOLCHAIN" python3 -m pip wheel --quiet --no-deps \
  --no-build-isolation --wheel-dir "$dist" "$repo"
built=("$dist"/rocksq-*-"$python_tag"-*.whl)
test -f "${built[0]}"

echo "== Repairing it with auditwheel"
python3 -m auditwheel repair --wheel-dir "$wheelhouse" "${built[0]}" >"$repo/build/auditwheel.log" 2>&1 \
  || { cat "$repo/build/auditwheel.log"; exit 1; }
repaired=("$wheelhouse"/rocksq-*-"$python_tag"-*.whl)
test -f "${repaired[0]}"
python3 -m auditwheel show "${repaired[0]}"
echo "${repaired[0]}"
