#!/usr/bin/env bash
# Builds RocksQ and runs every test: the C++ core's GoogleTest suite, then
# pytest against the package as pip installs it. Extra arguments go to pytest.
# ROCKSQ_BUILD chooses the build (conan/bootstrap.sh): debian, the default,
# is the quick one; with ROCKSQ_BUILD=release pytest runs against the x86_64
# release wheel, installed into a fresh virtual environment, which
# tests/packaging/test_wheel.py also inspects.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ "${ROCKSQ_BUILD:-debian}" = release ]; then
  source "$repo/conan/bootstrap.sh"
else
  source "$repo/conan/bootstrap.sh" --install
fi

echo "== C++ tests"
cmake -S "$repo" -B "$repo/build/cpp$ROCKSQ_BUILD_SUFFIX" -G Ninja \
  -DCMAKE_TOOLCHAIN_FILE="$ROCKSQ_TOOLCHAIN" -DCMAKE_BUILD_TYPE=Release \
  -DROCKSQ_BUILD_TESTS=ON >/dev/null
cmake --build "$repo/build/cpp$ROCKSQ_BUILD_SUFFIX"
ctest --test-dir "$repo/build/cpp$ROCKSQ_BUILD_SUFFIX" --output-on-failure --parallel 2

# --- Packaging: the release wheel, the package pytest tests ---------------
python=python3
if [ "$ROCKSQ_BUILD" = release ]; then
  echo "== Wheel"
  bash "$repo/conan/build_wheel.sh" | tee "$repo/build/build-wheel.log"
  ROCKSQ_WHEEL="$(tail -n 1 "$repo/build/build-wheel.log")"
  export ROCKSQ_WHEEL
  # The test tools come from the system's site-packages; rocksq only from
  # the wheel, which the venv's own site-packages put first.
  venv="$repo/build/wheel-venv"
  rm -rf "$venv"
  python3 -m venv --system-site-packages "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-index --no-deps "$ROCKSQ_WHEEL"
  "$venv/bin/python" -I -c 'import rocksq, sys; assert rocksq.__file__.startswith(sys.prefix), rocksq.__file__'
  python="$venv/bin/python"
  export PATH="$venv/bin:$PATH"  # the wheel's `rocksq` command
fi
# --- End of packaging ------------------------------------------------------

echo "== Python tests"
cd "$repo"
"$python" -m pytest "$@"
