#!/usr/bin/env bash
# Builds a release wheel of RocksQ and checks and tags it with auditwheel:
#   bash conan/build_wheel.sh                 x86_64, for this machine's Python
#   bash conan/build_wheel.sh --arch aarch64  aarch64, cross-compiled for the
#                                             same Python version
# The extension links the release build's RocksDB (conan/profiles/release,
# release-aarch64) statically, so the wheel vendors no shared library: it
# needs only glibc and libstdc++, which every manylinux system has. The wheel as built goes to build/dist, the
# tagged one to build/wheelhouse; the last line printed is its path.
#
# The first run for an architecture compiles RocksDB (conan/bootstrap.sh
# shows progress); later runs rebuild only what changed, in
# build/wheel-{wheel_tag}. Wheels for PyPI's other Python versions are
# built by cibuildwheel (pyproject.toml, [tool.cibuildwheel]).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
arch=x86_64
case "${1:-}" in
  "") ;;
  --arch) arch="${2:-}" ;;
  *) echo "usage: bash conan/build_wheel.sh [--arch x86_64|aarch64]" >&2; exit 2 ;;
esac
case "$arch" in
  x86_64|aarch64) ;;
  *) echo "build_wheel: --arch must be x86_64 or aarch64, not '$arch'" >&2; exit 2 ;;
esac

# The Python tools and x86_64's release RocksDB; ROCKSQ_TOOLCHAIN.
export ROCKSQ_BUILD=release
source "$repo/conan/bootstrap.sh"

python_tag="$(python3 -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')"
python_version="$(python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
dist="$repo/build/dist"
wheelhouse="$repo/build/wheelhouse"
# RocksDB's symbols stay inside the extension (hidden), so another module
# with a RocksDB of its own cannot interpose on them. libstdc++ and libgcc_s
# stay the system's: linked statically, GCC 12's runtime on Debian 12 brings
# arc4random (glibc 2.36) and _dl_find_object (2.35), a higher tag than
# the dynamic runtime's GLIBCXX_3.4.30 (manylinux_2_35; docs/building.rst).
config=(-C "build-dir=build/wheel-{wheel_tag}"
        -C "cmake.define.CMAKE_MODULE_LINKER_FLAGS=-Wl,--exclude-libs,ALL")
environment=(CMAKE_TOOLCHAIN_FILE="$ROCKSQ_TOOLCHAIN")

if [ "$arch" = aarch64 ]; then
  if [ "$python_version" != 3.11 ]; then
    echo "build_wheel: the aarch64 wheel is built for Debian 12's arm64 python3.11, not $python_version" >&2
    exit 2
  fi
  # Debian's arm64 Python: its headers here, its interpreter for the stubs.
  aarch64_root="$(bash "$repo/conan/aarch64_root.sh" | tail -n 1)"
  # RocksDB cross-compiled by Debian's GCC 12 for armv8 (the build
  # machine's own profile for the tools), in the same cache.
  # Progress on the terminal as bootstrap.sh shows it (its show_progress).
  conan_output="$repo/build/conan-release-aarch64"
  conan_log="$conan_output-install.log"
  conan install "$repo" -pr:h "$repo/conan/profiles/release-aarch64" -pr:b default \
    --build=missing -r rocksq-system -of "$conan_output" 2>&1 | show_progress \
    || { cat "$conan_log"; exit 1; }
  # scikit-build-core names the wheel's platform and the extension's suffix
  # from these (its cross-compiling variables), not from this interpreter.
  environment=(CMAKE_TOOLCHAIN_FILE="$conan_output/build/Release/generators/conan_toolchain.cmake"
               _PYTHON_HOST_PLATFORM=linux-aarch64
               SETUPTOOLS_EXT_SUFFIX=".cpython-311-aarch64-linux-gnu.so"
               # Debian's pyconfig.h includes <aarch64-linux-gnu/python3.11/pyconfig.h>.
               CXXFLAGS="-isystem $aarch64_root/usr/include")
  config+=(-C "cmake.define.Python_INCLUDE_DIR=$aarch64_root/usr/include/python3.11"
           -C "cmake.define.ROCKSQ_STUBGEN_PYTHON=$aarch64_root/python3.11")
fi

# Wheels left from an earlier run go first, so each glob below matches one file.
rm -f "$dist"/rocksq-*-"$python_tag"-*"$arch".whl "$wheelhouse"/rocksq-*-"$python_tag"-*"$arch".whl
mkdir -p "$dist" "$wheelhouse"

echo "== Building the $arch wheel"
env "${environment[@]}" python3 -m pip wheel --quiet --no-deps --no-build-isolation \
  "${config[@]}" --wheel-dir "$dist" "$repo"
built=("$dist"/rocksq-*-"$python_tag"-*"$arch".whl)
test -f "${built[0]}"

# auditwheel names the most compatible tag the wheel's symbols allow, or
# linux_<arch> when the wheel needs a shared library that no manylinux system
# has: then it would have to vendor it, and this build vendors none.
echo "== Checking and tagging it with auditwheel"
audit="$(python3 -m auditwheel show "${built[0]}" 2>&1 | tr '\n' ' ')"
platform="$(grep -o 'platform tag: "[^"]*"' <<<"$audit" | cut -d'"' -f2)"
case "$platform" in
  manylinux_*) ;;
  *) echo "build_wheel: auditwheel gives no manylinux tag: $audit" >&2; exit 1 ;;
esac
# --plat auto: repair accepts named platforms of the build machine's own
# architecture only; auto takes the wheel's, the tag `show` printed above.
python3 -m auditwheel repair --plat auto --only-plat --wheel-dir "$wheelhouse" "${built[0]}" \
  >"$repo/build/auditwheel-$arch.log" 2>&1 || { cat "$repo/build/auditwheel-$arch.log"; exit 1; }
tagged=("$wheelhouse"/rocksq-*-"$python_tag"-"$platform".whl)
test -f "${tagged[0]}"
python3 -m auditwheel show "${tagged[0]}"
echo "${tagged[0]}"
