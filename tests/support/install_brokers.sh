#!/usr/bin/env bash
# Puts Debian's nats-server and redis-server binaries in build/brokers/bin for
# the bridge tests, without installing the packages: installing them would
# start system services (and open ports) that the tests must not depend on.
# The .debs are fetched with `apt-get download` and unpacked with `dpkg -x`
# (which runs no maintainer script); the libraries redis-server links that the
# machine lacks are unpacked beside it, and build/brokers/bin holds one wrapper
# per server that points the loader at them and execs the binary, so the
# wrapper's pid is the server's. Idempotent: when both wrappers run, it does
# nothing. tests/support/brokers.py looks for the servers here first.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
brokers="$repo/build/brokers"
bin="$brokers/bin"

installed() {
  "$bin/nats-server" --version >/dev/null 2>&1 && "$bin/redis-server" --version >/dev/null 2>&1
}
if installed; then exit 0; fi

# Redis is one binary, in the redis-tools package, that runs as the server
# when called by the name redis-server: the redis-server package holds that
# link (and the service, which unpacking leaves inert). The libraries are the
# ones it links that a minimal Debian 12 lacks.
packages=(nats-server redis-server redis-tools libjemalloc2 liblzf1 libatomic1)

# A fresh machine may have no package lists yet.
if ! apt-cache show "${packages[@]}" >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then apt-get update -qq; else sudo apt-get update -qq; fi
fi

debs="$brokers/debs"
root="$brokers/root"
rm -rf "$debs" "$root" "$bin"
mkdir -p "$debs" "$root" "$bin"
# Writable by the unprivileged user apt downloads as.
chmod 0777 "$debs"
(cd "$debs" && apt-get download -qq "${packages[@]}")
for deb in "$debs"/*.deb; do dpkg -x "$deb" "$root"; done

libraries="$root/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)"
for server in usr/sbin/nats-server usr/bin/redis-server; do
  name="$(basename "$server")"
  cat >"$bin/$name" <<EOF
#!/bin/sh
# Debian's $name, unpacked by tests/support/install_brokers.sh.
LD_LIBRARY_PATH="$libraries\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}" exec "$root/$server" "\$@"
EOF
  chmod +x "$bin/$name"
done

if ! installed; then
  echo "install_brokers.sh: the unpacked servers do not run:" >&2
  "$bin/nats-server" --version >&2 || true
  "$bin/redis-server" --version >&2 || true
  exit 1
fi
"$bin/nats-server" --version
"$bin/redis-server" --version
