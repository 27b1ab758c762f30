"""``rocksq forward`` and ``rocksq pull``: the Forwarder and the Puller as commands.

Each runs until Ctrl-C or SIGTERM, printing a line of progress every few
seconds on stderr, or until its --until-* condition holds, and stops
cleanly (exit 0: every confirmed item acked, no delivery held). The queue
must not be open in another process: the command says so in one line and
exits 3 (rocksq's status for a queue it cannot use). Exit 1: the broker
refused items for good (forward), or the run failed; 2: usage (a bad URL,
a missing client library).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import signal
import sys
import time
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

from .._ack_face import AckQueue
from ._endpoint import Auth, MissingExtraError, parse_url, read_secret_file
from ._forwarder import BATCH_SIZE, MAX_IN_FLIGHT, MAX_IN_FLIGHT_BYTES, Forwarder
from ._puller import CONSUMER, Puller

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["add_commands"]

PROGRESS_INTERVAL = 5.0
"""Seconds between two progress lines."""

CHECK_INTERVAL = 0.1
"""Seconds between two checks of an --until-* condition."""

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def add_commands(
    commands: Any, queue_path: Callable[[str], Path], count: Callable[[str], int]
) -> None:
    """Adds the forward and pull subcommands to the `rocksq` parser's `commands`."""
    credentials = argparse.ArgumentParser(add_help=False)
    group = credentials.add_argument_group(
        "credentials and TLS (secrets never on the command line: also ROCKSQ_* variables)"
    )
    group.add_argument("--user", help="user name (NATS user, Redis ACL user)")
    group.add_argument("--password-file", metavar="FILE", help="a file holding the password")
    group.add_argument("--token-file", metavar="FILE", help="NATS: a file holding the token")
    group.add_argument("--creds", metavar="FILE", help="NATS: a user credentials file")
    group.add_argument("--tls-ca", metavar="FILE", help="CA certificates (PEM) to trust")
    group.add_argument("--tls-cert", metavar="FILE", help="client certificate (PEM)")
    group.add_argument("--tls-key", metavar="FILE", help="client certificate's key (PEM)")

    forward_parser = commands.add_parser(
        "forward",
        parents=[credentials],
        help="forward a local ack queue's items to NATS JetStream or a Redis stream",
        description="Forwards the items of the ack queue QUEUE_PATH to URL "
        "(nats://HOST:PORT/SUBJECT, tls://..., redis://HOST:PORT/STREAM, rediss://...), "
        "acking each only once the broker confirmed it. Runs until Ctrl-C or SIGTERM, "
        "printing progress on stderr; stops cleanly.",
    )
    forward_parser.add_argument("path", type=queue_path, metavar="QUEUE_PATH")
    forward_parser.add_argument("url", type=_url, metavar="URL")
    forward_parser.add_argument(
        "--create-stream", metavar="NAME", help="JetStream: create stream NAME if none binds SUBJECT"
    )
    forward_parser.add_argument(
        "--until-empty",
        action="store_true",
        help="exit 0 once the queue is empty and every item confirmed",
    )
    forward_parser.add_argument(
        "--batch-size", type=_positive(count), default=BATCH_SIZE, metavar="N",
        help=f"items per batch (default {BATCH_SIZE})",
    )
    forward_parser.add_argument(
        "--max-in-flight", type=_positive(count), default=MAX_IN_FLIGHT, metavar="N",
        help=f"batches unconfirmed at once (default {MAX_IN_FLIGHT})",
    )
    forward_parser.add_argument(
        "--max-in-flight-bytes", type=_positive(count), default=MAX_IN_FLIGHT_BYTES, metavar="N",
        help=f"payload bytes unconfirmed at once (default {MAX_IN_FLIGHT_BYTES})",
    )
    forward_parser.set_defaults(run=forward)

    pull_parser = commands.add_parser(
        "pull",
        parents=[credentials],
        help="pull a JetStream stream or Redis stream into a local ack queue",
        description="Pulls the messages of URL into the ack queue QUEUE_PATH (created if "
        "missing), acknowledging each to the broker only after the local push returned, "
        "and storing none twice. Runs until Ctrl-C or SIGTERM, printing progress on "
        "stderr; stops cleanly.",
    )
    pull_parser.add_argument("url", type=_url, metavar="URL")
    pull_parser.add_argument("path", type=queue_path, metavar="QUEUE_PATH")
    pull_parser.add_argument(
        "--consumer", default=CONSUMER, metavar="NAME",
        help=f"JetStream durable consumer / Redis consumer group (default {CONSUMER})",
    )
    pull_parser.add_argument(
        "--until-idle", type=_seconds, metavar="SECONDS",
        help="exit 0 after SECONDS with nothing new",
    )
    pull_parser.add_argument(
        "--batch-size", type=_positive(count), default=BATCH_SIZE, metavar="N",
        help=f"messages per fetch (default {BATCH_SIZE})",
    )
    pull_parser.add_argument(
        "--sync", action="store_true", help="fsync each push before acknowledging the broker"
    )
    pull_parser.set_defaults(run=pull)


def _url(text: str) -> str:
    try:
        parse_url(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def _positive(count: Callable[[str], int]) -> Callable[[str], int]:
    def positive(text: str) -> int:
        value = count(text)
        if value < 1:
            raise argparse.ArgumentTypeError("must be at least 1")
        return value

    return positive


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number, not negative: {text}")
    return value


def _auth(args: argparse.Namespace) -> Auth:
    """The environment's credentials, with the command line's files and user over them."""
    auth = Auth.from_environment(parse_url(args.url).broker)
    given: dict[str, Optional[str]] = {
        "user": args.user,
        "password": read_secret_file(args.password_file) if args.password_file else None,
        "token": read_secret_file(args.token_file) if args.token_file else None,
        "creds_file": args.creds,
        "tls_ca": args.tls_ca,
        "tls_cert": args.tls_cert,
        "tls_key": args.tls_key,
    }
    return dataclasses.replace(auth, **{k: v for k, v in given.items() if v is not None})


def _say(command: str, text: str) -> None:
    print(f"rocksq {command}: {text}", file=sys.stderr, flush=True)


def forward(args: argparse.Namespace) -> int:
    """Runs ``rocksq forward``."""
    try:
        auth = _auth(args)
        with AckQueue(args.path) as queue:
            forwarder = Forwarder(
                queue,
                args.url,
                batch_size=args.batch_size,
                max_in_flight=args.max_in_flight,
                max_in_flight_bytes=args.max_in_flight_bytes,
                create_stream=args.create_stream,
                auth=auth,
            )
            done = forwarder.drained if args.until_empty else None
            asyncio.run(_serve("forward", forwarder, done, lambda: _forward_progress(forwarder)))
            stats = forwarder.stats()
            _say("forward", f"stopped: {_forward_progress(forwarder)}")
    except (MissingExtraError, OSError) as error:
        _say("forward", str(error))
        return EXIT_USAGE
    if stats.refused:
        _say(
            "forward",
            f"{stats.refused} items refused by the broker, kept among the queue's failed "
            f"items: {stats.last_error}",
        )
        return EXIT_FAILED
    return EXIT_OK


def pull(args: argparse.Namespace) -> int:
    """Runs ``rocksq pull``."""
    try:
        auth = _auth(args)
        with AckQueue(args.path, sync=args.sync) as queue:
            puller = Puller(
                args.url, queue, consumer=args.consumer, batch_size=args.batch_size, auth=auth
            )
            idle = args.until_idle
            done = None if idle is None else lambda: puller.stats().idle_seconds >= idle
            asyncio.run(_serve("pull", puller, done, lambda: _pull_progress(puller)))
            _say("pull", f"stopped: {_pull_progress(puller)}")
    except (MissingExtraError, OSError) as error:
        _say("pull", str(error))
        return EXIT_USAGE
    return EXIT_OK


async def _serve(
    command: str,
    service: Union[Forwarder, Puller],
    done: Optional[Callable[[], bool]],
    progress: Callable[[], str],
) -> None:
    """Runs `service` until SIGINT/SIGTERM or `done()`, printing `progress()` now and then."""
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signal_number, service.request_stop)
    _say(command, f"{service.describe()}: running (Ctrl-C stops)")
    running = asyncio.ensure_future(service.run())
    next_report = time.monotonic() + PROGRESS_INTERVAL
    while not running.done():
        await asyncio.wait([running], timeout=CHECK_INTERVAL)
        if done is not None and done():
            service.request_stop()
        if time.monotonic() >= next_report:
            _say(command, progress())
            next_report += PROGRESS_INTERVAL
    running.result()


class _Rate:
    """Items per second between two progress lines."""

    def __init__(self) -> None:
        self._count = 0
        self._when = time.monotonic()

    def __call__(self, count: int) -> float:
        now = time.monotonic()
        rate = (count - self._count) / max(now - self._when, 1e-9)
        self._count, self._when = count, now
        return rate


_forward_rate = _Rate()
_pull_rate = _Rate()


def _forward_progress(forwarder: Forwarder) -> str:
    stats = forwarder.stats()
    line = (
        f"forwarded {stats.forwarded} ({_forward_rate(stats.forwarded):.0f}/s), "
        f"backlog {stats.pending}, in flight {stats.in_flight}, retries {stats.retries}"
    )
    if not stats.connected and stats.last_error:
        line += f", last error: {stats.last_error}"
    return line


def _pull_progress(puller: Puller) -> str:
    stats = puller.stats()
    line = (
        f"pulled {stats.pulled} ({_pull_rate(stats.pulled):.0f}/s), "
        f"duplicates {stats.duplicates}, retries {stats.retries}"
    )
    if not stats.connected and stats.last_error:
        line += f", last error: {stats.last_error}"
    return line
