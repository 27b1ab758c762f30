"""Redis Streams: a Sink that XADDs through a deduplicating script, a Source on a consumer group.

Deduplication out. Redis has no message ids of its own to deduplicate on,
so one Lua script (DEDUP_SCRIPT) adds a whole batch atomically and keeps the
dedup ids it added in two hashes beside the stream, "STREAM:rocksq-dedup:new"
and ":old", each mapping a dedup id to the entry id it was stored as:

- an id found in either hash is not added again; its existing entry id is
  returned as a duplicate confirmation;
- when the newer hash holds `dedup_window` ids it is renamed over the older
  one (dropping the oldest generation), so between dedup_window and twice
  that many of the latest ids are remembered, exactly, whatever their order:
  a retried batch that comes after a later batch succeeded is recognised,
  and ids of another queue (another queue_id) never match;
- the script checks the three keys' types before its first write, because
  Redis does not roll back a script that fails halfway; it is declared with
  a "#!lua" line so that a Redis out of memory refuses it before it starts
  rather than failing between the XADD and the HSET.

What can still store an item twice: a resend after more than dedup_window
(up to twice that) other ids were added to the stream since the first send;
a Redis killed while appending a script's effects to its AOF, whose later
start replays part of that transaction (seen with Redis 7.0.15, which logs
"MULTI calls can not be nested" while loading): the script adds the entry
before it records the dedup id, so a cut-short script duplicates, never loses;
the dedup hashes deleted or evicted; a failover to a replica that had not
received the first write (Redis replicates asynchronously) while the first
reply reached the Forwarder.

A batch is confirmed only by the script's reply; an error reply (a key of
the wrong type, say), a timeout or a broken connection confirm nothing.
Redis 7.0 or newer; for the guarantee, run Redis with appendonly yes
(appendfsync everysec loses up to a second of confirmed writes in a power
loss; always loses none) and a maxmemory-policy that never evicts
(noeviction), and in Redis Cluster give the stream a hash tag ({name}).

Deduplication in: a message's key is the stream's name and the entry id.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Optional

from ._endpoint import require_extra
from ._interface import BrokerError, Confirmed, Incoming, Outcome, Sink, Source, describe_error

if TYPE_CHECKING:
    from collections.abc import Awaitable, Sequence

    from ._endpoint import Auth, Endpoint
    from ._interface import Message

__all__ = ["DEDUP_SCRIPT", "RedisStreamSink", "RedisStreamSource"]

CONFIRM_TIMEOUT = 5.0
"""Seconds to wait for a reply (a batch's script, a read) before counting it failed."""

DEDUP_WINDOW = 100_000
"""Dedup ids per generation of the sink's hashes (about 100 bytes each in Redis)."""

PAYLOAD_FIELD = b"data"
"""The stream entry's field that holds the item's bytes."""

DEDUP_SCRIPT = """#!lua
-- KEYS: the stream, the newer and the older dedup hash.
-- ARGV: the window, then a dedup id and a payload per message.
-- Returns per message {entry id, 1 if it was there already else 0}.
local expected = {'stream', 'hash', 'hash'}
for index, key in ipairs(KEYS) do
  local kind = redis.call('TYPE', key)['ok']
  if kind ~= 'none' and kind ~= expected[index] then
    return redis.error_reply('WRONGTYPE ' .. key .. ' holds a ' .. kind .. ', not a ' .. expected[index])
  end
end
local window = tonumber(ARGV[1])
local results = {}
for index = 2, #ARGV, 2 do
  local dedup_id = ARGV[index]
  local entry = redis.call('HGET', KEYS[2], dedup_id) or redis.call('HGET', KEYS[3], dedup_id)
  if entry then
    results[#results + 1] = {entry, 1}
  else
    entry = redis.call('XADD', KEYS[1], '*', 'data', ARGV[index + 1])
    if redis.call('HLEN', KEYS[2]) >= window then
      redis.call('RENAME', KEYS[2], KEYS[3])
    end
    redis.call('HSET', KEYS[2], dedup_id, entry)
    results[#results + 1] = {entry, 0}
  end
end
return results
"""


def _redis() -> Any:
    return require_extra("redis.asyncio", "redis", "redis-py")


def _client(endpoint: Endpoint, auth: Auth) -> Any:
    redis = _redis()
    retry = require_extra("redis.asyncio.retry", "redis", "redis-py")
    backoff = require_extra("redis.backoff", "redis", "redis-py")
    tls = bool(auth.tls_context(endpoint.tls))
    options: dict[str, Any] = {
        "host": endpoint.host,
        "port": endpoint.port,
        "username": auth.user,
        "password": auth.password,
        "socket_timeout": CONFIRM_TIMEOUT,
        "socket_connect_timeout": CONFIRM_TIMEOUT,
        # The Forwarder and Puller retry with their own backoff, and count it.
        "retry": retry.Retry(backoff.NoBackoff(), 0),
    }
    if tls:
        options.update(
            ssl=True,
            ssl_ca_certs=auth.tls_ca,
            ssl_certfile=auth.tls_cert,
            ssl_keyfile=auth.tls_key,
        )
    return redis.Redis(**options)


class RedisStreamSink(Sink):
    """Adds each message as an entry {data: payload} of the endpoint's stream, once."""

    def __init__(
        self,
        endpoint: Endpoint,
        auth: Auth,
        *,
        dedup_window: int = DEDUP_WINDOW,
        confirm_timeout: float = CONFIRM_TIMEOUT,
    ) -> None:
        _redis()  # A missing client library is an error now, not a retried failure later.
        if dedup_window < 1:
            raise ValueError(f"dedup_window must be at least 1: {dedup_window}")
        self._endpoint = endpoint
        self._auth = auth
        self._dedup_window = dedup_window
        self._confirm_timeout = confirm_timeout
        stream = endpoint.name
        self._keys = [stream, f"{stream}:rocksq-dedup:new", f"{stream}:rocksq-dedup:old"]
        self._client: Any = None
        self._script: Any = None
        # Batches run one after another, in the order send() was called.
        self._previous: Optional[asyncio.Future[Any]] = None

    def describe(self) -> str:
        return self._endpoint.describe()

    async def open(self) -> None:
        if self._client is None:
            self._client = _client(self._endpoint, self._auth)
            self._script = self._client.register_script(DEDUP_SCRIPT)
        try:
            await asyncio.wait_for(self._client.ping(), self._confirm_timeout)
        except Exception as error:
            raise BrokerError(f"cannot reach {self.describe()}: {describe_error(error)}") from error

    async def send(self, messages: Sequence[Message]) -> Awaitable[list[Outcome]]:
        if self._client is None:
            raise BrokerError(f"not connected to {self.describe()}")
        args: list[Any] = [self._dedup_window]
        for message in messages:
            args += (message.dedup_id, message.payload)
        batch = asyncio.ensure_future(self._run_after(self._previous, args, len(messages)))
        self._previous = batch
        return batch

    async def _run_after(
        self, previous: Optional[asyncio.Future[Any]], args: list[Any], count: int
    ) -> list[Outcome]:
        if previous is not None:
            await asyncio.wait([previous])
        try:
            replies = await asyncio.wait_for(
                self._script(keys=self._keys, args=args), self._confirm_timeout
            )
        except Exception as error:
            failure = BrokerError(f"{self.describe()}: {describe_error(error)}")
            return [failure] * count
        return [Confirmed(duplicate=bool(duplicate)) for _entry, duplicate in replies]

    async def close(self) -> None:
        client, self._client, self._previous = self._client, None, None
        if client is not None:
            try:
                await client.aclose()
            except Exception:
                pass


class RedisStreamSource(Source):
    """Reads the endpoint's stream as member `consumer` of the consumer group `consumer`.

    The group is created at the stream's start if it does not exist (the
    stream too). After a crash, the entries this member read and never
    acknowledged (its pending entries) are read again first.
    """

    def __init__(self, endpoint: Endpoint, auth: Auth, *, consumer: str) -> None:
        _redis()
        self._endpoint = endpoint
        self._auth = auth
        self._consumer = consumer
        self._client: Any = None
        self._reading_pending = True

    def describe(self) -> str:
        return f"{self._endpoint.describe()} (group {self._consumer})"

    async def open(self) -> None:
        if self._client is None:
            self._client = _client(self._endpoint, self._auth)
        redis = _redis()
        try:
            await self._client.xgroup_create(
                self._endpoint.name, self._consumer, id="0", mkstream=True
            )
        except redis.ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise BrokerError(f"{self.describe()}: {describe_error(error)}") from error
        except Exception as error:
            raise BrokerError(f"cannot reach {self.describe()}: {describe_error(error)}") from error
        # Whatever was read before a crash or a lost connection comes first.
        self._reading_pending = True

    async def fetch(self, max_messages: int, wait: float) -> list[Incoming]:
        if self._client is None:
            raise BrokerError(f"not connected to {self.describe()}")
        stream = self._endpoint.name
        try:
            if self._reading_pending:
                replies = await self._client.xreadgroup(
                    self._consumer, self._consumer, {stream: "0"}, count=max_messages
                )
                entries = replies[0][1] if replies else []
                if not entries:
                    self._reading_pending = False
            if not self._reading_pending:
                replies = await self._client.xreadgroup(
                    self._consumer,
                    self._consumer,
                    {stream: ">"},
                    count=max_messages,
                    block=max(1, int(wait * 1000)),
                )
                entries = replies[0][1] if replies else []
        except Exception as error:
            raise BrokerError(f"{self.describe()}: {describe_error(error)}") from error
        return [
            # A pending entry deleted since it was read has no fields: nothing to store.
            Incoming(f"{stream}#{entry_id.decode()}", (fields or {}).get(PAYLOAD_FIELD), entry_id)
            for entry_id, fields in entries
        ]

    async def acknowledge(self, messages: Sequence[Incoming]) -> None:
        if not messages:
            return
        try:
            await self._client.xack(
                self._endpoint.name, self._consumer, *[message.handle for message in messages]
            )
        except Exception as error:
            raise BrokerError(f"{self.describe()}: {describe_error(error)}") from error

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                await client.aclose()
            except Exception:
                pass
