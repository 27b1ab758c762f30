"""The processor check: on an x86_64 processor without SSE4.2 or PCLMUL, importing
rocksq raises ImportError, naming what is missing, before the extension is loaded
(rocksq/_cpu.py). A fake /proc/cpuinfo stands in for such a processor."""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path

import pytest

from rocksq import _cpu

x86_64_linux_only = pytest.mark.skipif(
    not (sys.platform.startswith("linux") and platform.machine() == "x86_64"),
    reason="the check runs on x86_64 Linux only",
)

# What /proc/cpuinfo looks like, for one processor and the flags given.
CPUINFO = "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: {flags}\nbugs\t\t:\n\n"
OLD_PROCESSOR_FLAGS = "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr sse sse2 ssse3 lm"


def test_a_processor_without_sse4_2_or_pclmul_misses_both() -> None:
    assert _cpu.missing_x86_64_flags(CPUINFO.format(flags=OLD_PROCESSOR_FLAGS)) == ["sse4_2", "pclmulqdq"]


def test_a_processor_with_sse4_2_but_without_pclmul_misses_pclmul() -> None:
    cpuinfo = CPUINFO.format(flags=OLD_PROCESSOR_FLAGS + " sse4_1 sse4_2")
    assert _cpu.missing_x86_64_flags(cpuinfo) == ["pclmulqdq"]


def test_a_processor_with_both_misses_nothing() -> None:
    cpuinfo = CPUINFO.format(flags=OLD_PROCESSOR_FLAGS + " pclmulqdq sse4_1 sse4_2")
    assert _cpu.missing_x86_64_flags(cpuinfo) == []


@x86_64_linux_only
def test_importing_rocksq_on_an_old_processor_raises_import_error_before_loading_the_extension(
    run_python, tmp_path: Path
) -> None:
    fake = tmp_path / "cpuinfo"
    fake.write_text(CPUINFO.format(flags=OLD_PROCESSOR_FLAGS), encoding="utf-8")
    output = run_python(
        """
        import builtins, json, sys

        real_open = builtins.open

        def open_the_fake_cpuinfo(file, *args, **kwargs):
            return real_open(sys.argv[1] if file == "/proc/cpuinfo" else file, *args, **kwargs)

        builtins.open = open_the_fake_cpuinfo
        try:
            import rocksq
            outcome = {"error": None}
        except ImportError as error:
            outcome = {"error": str(error)}
        outcome["extension_loaded"] = "rocksq._core" in sys.modules
        print(json.dumps(outcome))
        """,
        str(fake),
    )
    outcome = json.loads(output)
    assert outcome["error"] is not None and "sse4_2, pclmulqdq" in outcome["error"]
    assert not outcome["extension_loaded"]
