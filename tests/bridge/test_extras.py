"""The broker clients are optional: importing rocksq needs neither, a missing one names its extra."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

import rocksq
from rocksq.bridge import Forwarder, MissingExtraError, Puller


def test_importing_rocksq_and_its_bridge_loads_no_broker_client(tmp_path) -> None:
    code = "import sys, rocksq, rocksq.bridge, rocksq.cli; print(sorted({'nats', 'redis'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(("url", "extra"), [("nats://127.0.0.1:1/s", "nats"), ("redis://127.0.0.1:1/s", "redis")])
def test_a_missing_client_raises_an_error_naming_the_extra(
    url: str, extra: str, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    # None in sys.modules makes `import` fail as if the package were absent.
    for name in list(sys.modules):
        if name == extra or name.startswith(extra + "."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, extra, None)
    with rocksq.AckQueue(tmp_path / "q") as queue:
        with pytest.raises(MissingExtraError, match=rf"pip install 'rocksq\[{extra}\]'"):
            with Forwarder(queue, url):
                pass
        with pytest.raises(MissingExtraError, match=rf"rocksq\[{extra}\]"):
            with Puller(url, queue):
                pass


def test_the_command_says_which_extra_to_install(tmp_path) -> None:
    code = textwrap.dedent(
        """
        import sys
        sys.modules["redis"] = None
        from rocksq.cli import main
        sys.exit(main(sys.argv[1:]))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code, "forward", str(tmp_path / "q"), "redis://127.0.0.1:1/s"],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert result.returncode == 2
    assert "pip install 'rocksq[redis]'" in result.stderr
    assert "Traceback" not in result.stderr
