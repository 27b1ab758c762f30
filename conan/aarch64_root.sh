#!/usr/bin/env bash
# Prepares build/aarch64-root: Debian's arm64 python3.11 and the libraries it
# and the extension load, unpacked (dpkg -x), never installed, so the host's
# Python and packages stay as they are. Two users:
#   conan/build_wheel.sh --arch aarch64   Python's arm64 headers (pyconfig.h);
#   tests/aarch64/run.sh                  the interpreter, run by
#       build/aarch64-root/python3.11: qemu-aarch64-static -L build/aarch64-root
#       build/aarch64-root/usr/bin/python3.11
# Installs what it needs as root (arm64 as a foreign architecture,
# qemu-user-static); idempotent: a second run only checks. Prints the root.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
root="$repo/build/aarch64-root"
# The interpreter and its standard library, the headers an extension is
# compiled against, and the C++ runtime the extension links.
wanted=(python3.11:arm64 libpython3.11-dev:arm64 libstdc++6:arm64)

sudo=()
if [ "$(id -u)" != 0 ]; then sudo=(sudo); fi

if [ ! -x "$root/usr/bin/python3.11" ] || [ ! -f "$root/usr/include/python3.11/Python.h" ]; then
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    "${sudo[@]}" dpkg --add-architecture arm64
  fi
  if ! apt-cache show python3.11:arm64 >/dev/null 2>&1; then
    "${sudo[@]}" apt-get update -qq
  fi
  # Every arm64 package they depend on, however deep, but for development
  # files and the tools some of them name (dpkg, tar): neither runs Python.
  mapfile -t packages < <(
    apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
        --no-replaces --no-enhances "${wanted[@]}" \
      | grep -E '^[a-z0-9][^ ]*:arm64$' \
      | grep -vE -- '-dev:arm64$|-dev-bin:arm64$|^(dpkg|tar|install-info|rpcsvc-proto):' | sort -u)
  packages+=(libpython3.11-dev:arm64)
  downloads="$repo/build/aarch64-debs"
  rm -rf "$downloads" "$root"
  mkdir -p "$downloads" "$root"
  (cd "$downloads" && apt-get download -qq "${packages[@]}" 2>/dev/null)
  for deb in "$downloads"/*.deb; do dpkg -x "$deb" "$root"; done
fi

if ! command -v qemu-aarch64-static >/dev/null; then
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq qemu-user-static >/dev/null
fi

# The one spelling of "run Python on aarch64" (no binfmt registration needed).
cat >"$root/python3.11" <<WRAPPER
#!/bin/sh
exec qemu-aarch64-static -L "$root" "$root/usr/bin/python3.11" "\$@"
WRAPPER
chmod +x "$root/python3.11"

echo "$root"
