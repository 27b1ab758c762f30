"""rocksq.bridge: store-and-forward between a local rocksq.AckQueue and a broker.

A Forwarder drains a local queue into a NATS JetStream stream or a Redis
stream, at least once and deduplicated; a Puller takes a stream's messages
into a local queue. The local queue is the buffer that keeps accepting items
while the network or the broker is down. The guide is docs/forwarding.rst;
the commands are ``rocksq forward`` and ``rocksq pull``.

URLs name the broker and the stream (rocksq.bridge._endpoint has the full
rules): nats://HOST:PORT/SUBJECT or tls://... for JetStream, and
redis://HOST:PORT/STREAM or rediss://... for Redis. Credentials and TLS
files come from an Auth, by default read from ROCKSQ_* environment
variables, never from the URL.

The broker clients are optional: ``pip install 'rocksq[nats]'`` (nats-py)
and ``pip install 'rocksq[redis]'`` (redis-py). Importing this module needs
neither; using a URL whose client is missing raises MissingExtraError, an
ImportError naming the extra to install.

Another broker plugs in as a Sink (for the Forwarder) and a Source (for the
Puller): pass an instance where a URL goes.
"""

from __future__ import annotations

from ._endpoint import Auth, Endpoint, MissingExtraError, parse_url
from ._forwarder import ForwardStats, Forwarder
from ._interface import (
    BrokerError,
    Confirmed,
    Incoming,
    Message,
    Outcome,
    Refused,
    Sink,
    Source,
)
from ._puller import PullStats, Puller

__all__ = [
    "Auth",
    "BrokerError",
    "Confirmed",
    "Endpoint",
    "ForwardStats",
    "Forwarder",
    "Incoming",
    "Message",
    "MissingExtraError",
    "Outcome",
    "PullStats",
    "Puller",
    "Refused",
    "Sink",
    "Source",
    "parse_url",
]
