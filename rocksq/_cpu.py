"""The processor check that runs before the extension is loaded.

The x86_64 release build compiles RocksDB and the core for SSE4.2 and
PCLMUL (hardware CRC32C: conan/profiles/release). On a processor without
them the first checksum would die of SIGILL, taking the interpreter with
it; an ImportError that says why is the better failure. Intel processors
have both since Westmere (2010), AMD's since Bulldozer and Jaguar
(2011-2013). aarch64 builds probe for the CRC extension at run time, so
need no check.
"""

from __future__ import annotations

import platform
import sys

CPUINFO = "/proc/cpuinfo"
# /proc/cpuinfo's names for the instructions the x86_64 build assumes.
REQUIRED_X86_64_FLAGS = ("sse4_2", "pclmulqdq")


def missing_x86_64_flags(cpuinfo: str) -> list[str]:
    """The REQUIRED_X86_64_FLAGS absent from the first processor listed in `cpuinfo`'s text."""
    for line in cpuinfo.splitlines():
        name, _, value = line.partition(":")
        if name.strip() == "flags":
            flags = set(value.split())
            return [flag for flag in REQUIRED_X86_64_FLAGS if flag not in flags]
    return []  # No flags line: nothing to judge by, so let the load decide.


def require_supported_processor() -> None:
    """Raises ImportError on an x86_64 Linux processor this build cannot run on."""
    if not sys.platform.startswith("linux") or platform.machine() != "x86_64":
        return
    try:
        with open(CPUINFO, encoding="utf-8", errors="replace") as cpuinfo:
            missing = missing_x86_64_flags(cpuinfo.read())
    except OSError:
        return  # No /proc (a sandbox): as above.
    if missing:
        raise ImportError(
            f"rocksq: this processor lacks {', '.join(missing)} ({CPUINFO} flags), which "
            "rocksq's x86_64 build requires for hardware CRC32C (Intel processors since "
            "2010, AMD's since 2011). Build rocksq from source for this machine "
            "(see the documentation's 'Building and packaging')."
        )
