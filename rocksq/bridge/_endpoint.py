"""Broker URLs, credentials and TLS, and the Sink or Source each URL names.

A URL names the broker and the stream, never a secret:

    nats://HOST[:PORT]/SUBJECT     tls://HOST[:PORT]/SUBJECT      (JetStream)
    redis://HOST[:PORT]/STREAM     rediss://HOST[:PORT]/STREAM    (Redis Streams)

A user name may stand before the host (nats://alice@HOST/SUBJECT); a
password in a URL is refused, because URLs end up in shell histories,
process lists and logs. Secrets come from the environment (or files the
environment names), read by Auth.from_environment():

    ROCKSQ_NATS_CREDS            a NATS user credentials file (.creds: JWT and NKey seed)
    ROCKSQ_NATS_USER             NATS user name
    ROCKSQ_NATS_PASSWORD         NATS password (or ROCKSQ_NATS_PASSWORD_FILE: a file holding it)
    ROCKSQ_NATS_TOKEN            NATS token (or ROCKSQ_NATS_TOKEN_FILE)
    ROCKSQ_REDIS_USER            Redis ACL user (without it, AUTH uses the default user)
    ROCKSQ_REDIS_PASSWORD        Redis password (or ROCKSQ_REDIS_PASSWORD_FILE)
    ROCKSQ_TLS_CA                CA certificates (PEM) to trust instead of the system's
    ROCKSQ_TLS_CERT, ROCKSQ_TLS_KEY   a client certificate and its key (PEM), for mutual TLS

TLS is used for tls:// and rediss:// URLs, and for nats:// when a TLS file
is given (the NATS server may also demand it).
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import ssl
from collections.abc import Mapping
from typing import TYPE_CHECKING, NamedTuple, Optional
from urllib.parse import unquote, urlsplit

if TYPE_CHECKING:
    from types import ModuleType

    from ._interface import Sink, Source

__all__ = ["Auth", "Endpoint", "MissingExtraError", "parse_url", "require_extra"]

NATS_SCHEMES = {"nats": False, "tls": True}
REDIS_SCHEMES = {"redis": False, "rediss": True}
DEFAULT_PORTS = {"nats": 4222, "redis": 6379}


class MissingExtraError(ImportError):
    """Raised when a broker's client library is not installed: names the extra to install."""


def require_extra(module: str, extra: str, library: str) -> ModuleType:
    """Imports `module`, or raises MissingExtraError naming `pip install 'rocksq[extra]'`."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise MissingExtraError(
            f"{extra}:// URLs need the {library} client library: pip install 'rocksq[{extra}]'"
        ) from error


class Endpoint(NamedTuple):
    """A parsed broker URL."""

    broker: str
    """"nats" or "redis"."""
    host: str
    port: int
    name: str
    """The NATS subject or the Redis stream key."""
    tls: bool
    user: Optional[str]

    def describe(self) -> str:
        """The URL without its user name, for messages."""
        scheme = {("nats", False): "nats", ("nats", True): "tls"}.get(
            (self.broker, self.tls), "rediss" if self.tls else "redis"
        )
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}/{self.name}"


def parse_url(url: str) -> Endpoint:
    """Parses a broker URL (see the module's text); raises ValueError saying what is wrong."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in NATS_SCHEMES:
        broker, tls = "nats", NATS_SCHEMES[scheme]
    elif scheme in REDIS_SCHEMES:
        broker, tls = "redis", REDIS_SCHEMES[scheme]
    else:
        raise ValueError(
            f"not a broker URL: {url!r}: expected nats://HOST:PORT/SUBJECT, tls://..., "
            "redis://HOST:PORT/STREAM or rediss://..."
        )
    if parts.password is not None:
        raise ValueError(
            f"a password in the URL {parts.hostname}: put it in ROCKSQ_{broker.upper()}_PASSWORD "
            "or a file, never on the command line"
        )
    name = unquote(parts.path[1:]) if parts.path.startswith("/") else ""
    if not name or parts.query or parts.fragment:
        what = "subject" if broker == "nats" else "stream"
        raise ValueError(f"the URL {url!r} must end in /{what.upper()}: the {what} to use")
    if not parts.hostname:
        raise ValueError(f"the URL {url!r} names no host")
    try:
        port = parts.port or DEFAULT_PORTS[broker]
    except ValueError as error:
        raise ValueError(f"the URL {url!r}: {error}") from None
    user = unquote(parts.username) if parts.username else None
    return Endpoint(broker, parts.hostname, port, name, tls, user)


@dataclasses.dataclass(frozen=True)
class Auth:
    """Credentials and TLS files for a broker connection; every field optional.

    Build it from the environment with from_environment() (what the
    Forwarder and Puller do when given none), or directly in an application
    that keeps its secrets elsewhere.
    """

    user: Optional[str] = None
    password: Optional[str] = dataclasses.field(default=None, repr=False)
    token: Optional[str] = dataclasses.field(default=None, repr=False)
    """NATS only: an authorization token."""
    creds_file: Optional[str] = None
    """NATS only: a user credentials file (JWT and NKey seed)."""
    tls_ca: Optional[str] = None
    tls_cert: Optional[str] = None
    tls_key: Optional[str] = None

    @classmethod
    def from_environment(
        cls, broker: str, environ: Optional[Mapping[str, str]] = None
    ) -> Auth:
        """The `broker`'s ("nats" or "redis") credentials from ROCKSQ_* variables (module text)."""
        environ = os.environ if environ is None else environ
        prefix = f"ROCKSQ_{broker.upper()}_"
        return cls(
            user=environ.get(prefix + "USER") or None,
            password=_secret(environ, prefix + "PASSWORD"),
            token=_secret(environ, prefix + "TOKEN") if broker == "nats" else None,
            creds_file=environ.get(prefix + "CREDS") or None if broker == "nats" else None,
            tls_ca=environ.get("ROCKSQ_TLS_CA") or None,
            tls_cert=environ.get("ROCKSQ_TLS_CERT") or None,
            tls_key=environ.get("ROCKSQ_TLS_KEY") or None,
        )

    def with_user(self, user: Optional[str]) -> Auth:
        """This Auth with the URL's user name, unless it names one itself."""
        return self if user is None or self.user else dataclasses.replace(self, user=user)

    def tls_context(self, required: bool) -> Optional[ssl.SSLContext]:
        """The TLS settings, or None for a plain connection (not `required`, no TLS file)."""
        if not (required or self.tls_ca or self.tls_cert):
            return None
        context = ssl.create_default_context(cafile=self.tls_ca)
        if self.tls_cert:
            context.load_cert_chain(self.tls_cert, self.tls_key)
        return context


def read_secret_file(path: str) -> str:
    """A secret kept in a file: its text without the trailing newline."""
    with open(path, encoding="utf-8") as file:
        return file.read().rstrip("\r\n")


def _secret(environ: Mapping[str, str], name: str) -> Optional[str]:
    if environ.get(name):
        return environ[name]
    path = environ.get(name + "_FILE")
    return read_secret_file(path) if path else None


def open_sink(
    url: str, auth: Optional[Auth], *, create_stream: Optional[str] = None
) -> Sink:
    """The Sink a URL names, with `auth` (None: from the environment)."""
    endpoint = parse_url(url)
    auth = (auth or Auth.from_environment(endpoint.broker)).with_user(endpoint.user)
    if endpoint.broker == "nats":
        from ._nats import JetStreamSink

        return JetStreamSink(endpoint, auth, create_stream=create_stream)
    if create_stream is not None:
        raise ValueError("create_stream is for JetStream: XADD creates a Redis stream itself")
    from ._redis import RedisStreamSink

    return RedisStreamSink(endpoint, auth)


def open_source(url: str, auth: Optional[Auth], *, consumer: str) -> Source:
    """The Source a URL names, read as `consumer`, with `auth` (None: from the environment)."""
    endpoint = parse_url(url)
    auth = (auth or Auth.from_environment(endpoint.broker)).with_user(endpoint.user)
    if endpoint.broker == "nats":
        from ._nats import JetStreamSource

        return JetStreamSource(endpoint, auth, consumer=consumer)
    from ._redis import RedisStreamSource

    return RedisStreamSource(endpoint, auth, consumer=consumer)
