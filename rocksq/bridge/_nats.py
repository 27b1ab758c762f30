"""NATS JetStream: a Sink that publishes with acknowledgement, a Source on a durable pull consumer.

Deduplication out: every message carries Nats-Msg-Id = the item's dedup id
("{queue_id}-{item_id}"); JetStream stores a message once per id within the
stream's duplicate_window (2 minutes unless configured) and answers a resend
with a PubAck marked duplicate, which confirms it. Only a PubAck confirms: an
error reply, no reply (timeout), "no responders" (no stream binds the
subject) or a closed connection does not.

What can still store an item twice: a resend later than the stream's
duplicate_window after the first send (the broker or the network away that
long while a publish was unconfirmed, or a forwarder restarted that much
later), and a stream deleted and created again in between.

Deduplication in: a message's key is the stream's name, its creation time
and the message's stream sequence, stable across redeliveries and distinct
for a stream deleted and created again.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import TYPE_CHECKING, Any, Optional

from ._endpoint import require_extra
from ._interface import (
    BrokerError,
    Confirmed,
    Incoming,
    Outcome,
    Refused,
    Sink,
    Source,
    describe_error,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Sequence

    from ._endpoint import Auth, Endpoint
    from ._interface import Message

__all__ = ["JetStreamSink", "JetStreamSource"]

CONFIRM_TIMEOUT = 5.0
"""Seconds to wait for a message's PubAck before sending it again."""

CONNECT_TIMEOUT = 2.0
"""Seconds a connection attempt may take before it counts as failed."""

MESSAGE_TOO_LARGE = 10054
"""JetStream's error code for a message larger than the stream's max_msg_size."""

# Replies carry a status header instead of a PubAck when nothing answers.
NO_RESPONDERS = "503"


async def _close(client: Any) -> None:
    """Closes a nats-py client, giving up after CONNECT_TIMEOUT.

    (nats-py's close() never returns after a failed TLS handshake.)
    """
    try:
        await asyncio.wait_for(client.close(), CONNECT_TIMEOUT)
    except Exception:  # Broken or stuck: the connection is gone either way.
        pass


def _nats() -> Any:
    return require_extra("nats", "nats", "nats-py")


async def _connect(endpoint: Endpoint, auth: Auth, on_closed: Any = None) -> Any:
    """A connection that does not reconnect by itself: the caller's open() does, after a backoff.

    (nats-py's own reconnection would buffer publishes unseen while the
    server is away; the Forwarder keeps them in the local queue instead.)
    """
    nats = _nats()
    scheme = "tls" if auth.tls_context(endpoint.tls) else "nats"

    async def quiet(error: Exception) -> None:
        # Failures reach the caller as exceptions or failed outcomes; the
        # library's own report would only repeat them on stderr.
        pass

    options: dict[str, Any] = {
        "servers": [f"{scheme}://{endpoint.host}:{endpoint.port}"],
        "allow_reconnect": False,
        "connect_timeout": CONNECT_TIMEOUT,
        # Without these nats-py tries the server again for two minutes
        # before the first connect() fails (and 0 means for ever).
        "max_reconnect_attempts": 1,
        "reconnect_time_wait": 0,
        "error_cb": quiet,
        "tls": auth.tls_context(endpoint.tls),
        "user": auth.user,
        "password": auth.password,
        "token": auth.token,
        "user_credentials": auth.creds_file,
    }
    if on_closed is not None:
        options["closed_cb"] = on_closed
        options["disconnected_cb"] = on_closed
    client = nats.aio.client.Client()
    try:
        await client.connect(**{key: value for key, value in options.items() if value is not None})
    except Exception as error:  # nats-py raises several unrelated types here.
        await _close(client)  # A failed connect leaves its socket open otherwise.
        raise BrokerError(f"cannot connect to {endpoint.describe()}: {describe_error(error)}") from error
    return client


class JetStreamSink(Sink):
    """Publishes to the JetStream stream that binds the endpoint's subject."""

    def __init__(
        self,
        endpoint: Endpoint,
        auth: Auth,
        *,
        create_stream: Optional[str] = None,
        confirm_timeout: float = CONFIRM_TIMEOUT,
    ) -> None:
        _nats()  # A missing client library is an error now, not a retried failure later.
        self._endpoint = endpoint
        self._auth = auth
        self._create_stream = create_stream
        self._confirm_timeout = confirm_timeout
        self._connection: Any = None
        self._reply_prefix = ""
        self._tokens = itertools.count()
        self._awaiting: dict[str, asyncio.Future[Outcome]] = {}

    def describe(self) -> str:
        return self._endpoint.describe()

    async def open(self) -> None:
        if self._connection is not None and self._connection.is_connected:
            return
        await self.close()
        connection = await _connect(self._endpoint, self._auth, self._closed)
        try:
            if self._create_stream is not None:
                await self._ensure_stream(connection)
            # One subscription receives every PubAck: its subject ends in a
            # token that names the message it answers.
            self._reply_prefix = connection.new_inbox() + "."
            await connection.subscribe(self._reply_prefix + "*", cb=self._on_reply)
            await connection.flush()
        except Exception as error:
            await _close(connection)
            raise BrokerError(f"{self.describe()}: {describe_error(error)}") from error
        self._connection = connection

    async def _ensure_stream(self, connection: Any) -> None:
        js = connection.jetstream()
        errors = _nats().js.errors
        try:
            await js.find_stream_name_by_subject(self._endpoint.name)
        except errors.NotFoundError:
            await js.add_stream(name=self._create_stream, subjects=[self._endpoint.name])

    async def send(self, messages: Sequence[Message]) -> Awaitable[list[Outcome]]:
        connection = self._connection
        if connection is None or not connection.is_connected:
            raise BrokerError(f"not connected to {self.describe()}")
        loop = asyncio.get_running_loop()
        replies = []
        try:
            for message in messages:
                reply = self._reply_prefix + str(next(self._tokens))
                self._awaiting[reply] = future = loop.create_future()
                replies.append(reply)
                if len(message.payload) > connection.max_payload:
                    future.set_result(
                        Refused(
                            f"{self.describe()}: {len(message.payload)} bytes, more than the "
                            f"server's max_payload of {connection.max_payload}"
                        )
                    )
                    continue
                await connection.publish(
                    self._endpoint.name,
                    message.payload,
                    reply=reply,
                    headers={"Nats-Msg-Id": message.dedup_id},
                )
        except Exception as error:
            self._forget(replies)
            raise BrokerError(f"{self.describe()}: {describe_error(error)}") from error
        return self._outcomes(replies)

    async def _outcomes(self, replies: list[str]) -> list[Outcome]:
        futures = [self._awaiting[reply] for reply in replies]
        try:
            await asyncio.wait(futures, timeout=self._confirm_timeout)
            timeout = BrokerError(
                f"{self.describe()}: no PubAck within {self._confirm_timeout:g} s"
            )
            return [future.result() if future.done() else timeout for future in futures]
        finally:
            self._forget(replies)

    def _forget(self, replies: list[str]) -> None:
        for reply in replies:
            future = self._awaiting.pop(reply, None)
            if future is not None and not future.done():
                future.cancel()

    async def _on_reply(self, msg: Any) -> None:
        future = self._awaiting.get(msg.subject)
        if future is not None and not future.done():
            future.set_result(self._outcome(msg))

    def _outcome(self, msg: Any) -> Outcome:
        if msg.headers and msg.headers.get("Status") == NO_RESPONDERS:
            return BrokerError(
                f"{self.describe()}: no JetStream stream binds the subject "
                "(create one, or pass create_stream / --create-stream)"
            )
        try:
            reply = json.loads(msg.data)
        except ValueError:
            return BrokerError(f"{self.describe()}: not a PubAck: {msg.data[:100]!r}")
        error = reply.get("error") if isinstance(reply, dict) else None
        if error is not None or not isinstance(reply, dict) or "seq" not in reply:
            text = f"{self.describe()}: JetStream refused the message: {error or reply}"
            if isinstance(error, dict) and error.get("err_code") == MESSAGE_TOO_LARGE:
                return Refused(text)
            return BrokerError(text)
        return Confirmed(duplicate=bool(reply.get("duplicate")))

    async def _closed(self) -> None:
        for reply in list(self._awaiting):
            future = self._awaiting[reply]
            if not future.done():
                future.set_result(BrokerError(f"{self.describe()}: the connection closed"))

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            await _close(connection)
        await self._closed()


class JetStreamSource(Source):
    """Reads the stream that binds the endpoint's subject through a durable pull consumer."""

    def __init__(self, endpoint: Endpoint, auth: Auth, *, consumer: str) -> None:
        _nats()
        self._endpoint = endpoint
        self._auth = auth
        self._consumer = consumer
        self._connection: Any = None
        self._subscription: Any = None
        self._key_prefix = ""

    def describe(self) -> str:
        return f"{self._endpoint.describe()} (consumer {self._consumer})"

    async def open(self) -> None:
        if self._connection is not None and self._connection.is_connected:
            return
        await self.close()
        connection = await _connect(self._endpoint, self._auth)
        try:
            js = connection.jetstream()
            stream = await js.find_stream_name_by_subject(self._endpoint.name)
            info = await js.stream_info(stream)
            self._subscription = await js.pull_subscribe(
                self._endpoint.name, durable=self._consumer, stream=stream
            )
        except Exception as error:
            await _close(connection)
            raise BrokerError(f"{self.describe()}: {describe_error(error)}") from error
        created = info.created.isoformat() if info.created else ""
        self._key_prefix = f"{stream}@{created}#"
        self._connection = connection

    async def fetch(self, max_messages: int, wait: float) -> list[Incoming]:
        if self._subscription is None or not self._connection.is_connected:
            raise BrokerError(f"not connected to {self.describe()}")
        nats = _nats()
        try:
            batch = await self._subscription.fetch(max_messages, timeout=wait)
        except nats.errors.TimeoutError:
            return []
        except Exception as error:
            raise BrokerError(f"{self.describe()}: {describe_error(error)}") from error
        return [
            Incoming(self._key_prefix + str(msg.metadata.sequence.stream), msg.data, msg)
            for msg in batch
        ]

    async def acknowledge(self, messages: Sequence[Incoming]) -> None:
        try:
            for message in messages:
                await message.handle.ack()  # type: ignore[attr-defined]
            # The acks are on their way once the server answered the flush's ping.
            await self._connection.flush()
        except Exception as error:
            raise BrokerError(f"{self.describe()}: {describe_error(error)}") from error

    async def close(self) -> None:
        connection, self._connection, self._subscription = self._connection, None, None
        if connection is not None:
            await _close(connection)
