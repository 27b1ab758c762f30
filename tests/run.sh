#!/usr/bin/env bash
# Builds RocksQ and runs every test: the C++ core's GoogleTest suite, then
# pytest against the package as pip installs it. Extra arguments go to pytest.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$repo/conan/bootstrap.sh" --install

echo "== C++ tests"
cmake -S "$repo" -B "$repo/build/cpp$ROCKSQ_BUILD_SUFFIX" -G Ninja \
  -DCMAKE_TOOLCHAIN_FILE="$ROCKSQ_TOOLCHAIN" -DCMAKE_BUILD_TYPE=Release \
  -DROCKSQ_BUILD_TESTS=ON >/dev/null
cmake --build "$repo/build/cpp$ROCKSQ_BUILD_SUFFIX"
ctest --test-dir "$repo/build/cpp$ROCKSQ_BUILD_SUFFIX" --output-on-failure --parallel 2

# --- Packaging: the repaired wheel that tests/packaging/test_wheel.py installs -------
echo "== Wheel"
bash "$repo/conan/build_wheel.sh" | tee "$repo/build/build-wheel.log"
ROCKSQ_WHEEL="$(tail -n 1 "$repo/build/build-wheel.log")"
export ROCKSQ_WHEEL
# --- End of packaging ------------------------------------------------------

echo "== Python tests"
cd "$repo"
python3 -m pytest "$@"
