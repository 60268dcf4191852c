"""A lean Redis connection for the Lua scripts on the request path: one pipelined socket, RESP2.

redis-py's asyncio client spends ~135 µs of CPU on one EVALSHA (connection pool, retry wrapper,
command packing and a pure-Python parser); this spends ~25 µs. Every call here writes its commands
at once and waits for their replies in order; any number of callers share the one connection,
which is what Redis (one thread) serves best anyway.

It knows only what the scripts need: EVALSHA (EVAL when Redis answers NOSCRIPT, which also caches
the script), AUTH and SELECT at connect, and plain commands for tests and probes. Timeouts and
the breaker belong to RedisLink, which bounds every call: a caller that gives up leaves its place
in the queue, and the reply, whenever it comes, is read and dropped, so later replies still match.
A lost connection fails every waiting call (ConnectionError); the next call connects again.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import deque
from collections.abc import Sequence
from typing import Any

_INCOMPLETE = object()


class RedisReplyError(Exception):
    """An error reply from Redis ("-ERR ...", "-NOSCRIPT ...", "-WRONGPASS ...")."""

    @property
    def noscript(self) -> bool:
        return str(self).startswith("NOSCRIPT")


class RedisProtocolError(ConnectionError):
    """Redis sent bytes that are not RESP: the connection is closed."""


class Lua:
    """A script: its source and the SHA1 that EVALSHA names it by."""

    __slots__ = ("source", "sha")

    def __init__(self, source: str) -> None:
        self.source = source.encode()
        self.sha = hashlib.sha1(self.source).hexdigest().encode()


def _bulk(value: Any) -> bytes:
    if isinstance(value, bytes):
        data = value
    elif isinstance(value, str):
        data = value.encode()
    elif isinstance(value, int) and not isinstance(value, bool):
        data = b"%d" % value
    else:
        raise TypeError(f"a Redis argument must be bytes, str or int, not {type(value).__name__}")
    return b"$%d\r\n%s\r\n" % (len(data), data)


def encode(args: Sequence[Any]) -> bytes:
    """One command as a RESP array of bulk strings."""
    return b"*%d\r\n" % len(args) + b"".join(_bulk(a) for a in args)


def parse(buf: bytes, pos: int) -> tuple[Any, int]:
    """The reply starting at `pos` and the position after it, or (_INCOMPLETE, pos) when `buf`
    does not hold all of it yet. Error replies are returned as RedisReplyError instances."""
    end = buf.find(b"\r\n", pos)
    if end < 0:
        return _INCOMPLETE, pos
    kind, line, after = buf[pos], buf[pos + 1:end], end + 2
    if kind == 58:  # ':'
        return int(line), after
    if kind == 36:  # '$'
        size = int(line)
        if size < 0:
            return None, after
        if len(buf) < after + size + 2:
            return _INCOMPLETE, pos
        return buf[after:after + size], after + size + 2
    if kind == 42:  # '*'
        count = int(line)
        if count < 0:
            return None, after
        items = []
        for _ in range(count):
            item, after = parse(buf, after)
            if item is _INCOMPLETE:
                return _INCOMPLETE, pos
            items.append(item)
        return items, after
    if kind == 43:  # '+'
        return line, after
    if kind == 45:  # '-'
        return RedisReplyError(line.decode("utf-8", "replace")), after
    raise RedisProtocolError(f"Redis sent a reply of unknown type {bytes([kind])!r}")


class _Batch:
    __slots__ = ("future", "replies", "count")

    def __init__(self, future: asyncio.Future[list[Any]], count: int) -> None:
        self.future = future
        self.replies: list[Any] = []
        self.count = count


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.batches: deque[_Batch] = deque()
        self.buffer = b""
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buf = self.buffer + data if self.buffer else data
        pos = 0
        batches = self.batches
        try:
            while batches:
                reply, after = parse(buf, pos)
                if reply is _INCOMPLETE:
                    break
                pos = after
                batch = batches[0]
                batch.replies.append(reply)
                if len(batch.replies) == batch.count:
                    batches.popleft()
                    if not batch.future.done():  # done: its caller gave up; the reply is dropped
                        batch.future.set_result(batch.replies)
        except (RedisProtocolError, ValueError) as err:
            self._fail(err if isinstance(err, RedisProtocolError) else RedisProtocolError(str(err)))
            return
        self.buffer = buf[pos:]

    def connection_lost(self, exc: Exception | None) -> None:
        reason = f"the connection to Redis was lost ({type(exc).__name__})" if exc else "Redis closed the connection"
        self._fail(ConnectionError(reason))

    def _fail(self, err: Exception) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()
        while self.batches:
            batch = self.batches.popleft()
            if not batch.future.done():
                batch.future.set_exception(err)

    def send(self, payload: bytes, count: int) -> asyncio.Future[list[Any]]:
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self.batches.append(_Batch(future, count))
        assert self.transport is not None
        self.transport.write(payload)
        return future


class Wire:
    """One pipelined connection to one Redis, connected on first use and again after a loss."""

    def __init__(self, host: str, port: int = 6379, *, username: str | None = None,
                 password: str | None = None, db: int = 0, connect_timeout: float = 0.25) -> None:
        self.host = host
        self.port = port
        self._username = username
        self._password = password
        self._db = db
        self.connect_timeout = connect_timeout
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Future[_Protocol] | None = None

    async def execute(self, *args: Any) -> Any:
        """One plain command; an error reply raises RedisReplyError."""
        (reply,) = await self._send([encode(args)])
        if isinstance(reply, RedisReplyError):
            raise reply
        return reply

    async def run(self, script: Lua, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """EVALSHA `script` (EVAL if Redis does not know it yet); an error reply raises."""
        return (await self.run_many([(script, keys, args)]))[0]

    async def run_many(self, calls: Sequence[tuple[Lua, Sequence[str], Sequence[Any]]]) -> list[Any]:
        """Several scripts in one write, their replies in order; the first error reply raises (the
        others have run: scripts sent together are not a transaction)."""
        replies = await self._send([encode([b"EVALSHA", s.sha, len(k), *k, *a]) for s, k, a in calls])
        missing = [i for i, reply in enumerate(replies) if isinstance(reply, RedisReplyError) and reply.noscript]
        if missing:  # not run at all: send those with their source, which also caches them
            again = await self._send([encode([b"EVAL", calls[i][0].source, len(calls[i][1]), *calls[i][1],
                                               *calls[i][2]]) for i in missing])
            for i, reply in zip(missing, again):
                replies[i] = reply
        for reply in replies:
            if isinstance(reply, RedisReplyError):
                raise reply
        return replies

    async def _send(self, commands: list[bytes]) -> list[Any]:
        protocol = self._protocol
        if protocol is None or protocol.closed:
            protocol = await self._connected()
        return await protocol.send(b"".join(commands), len(commands))

    async def _connected(self) -> _Protocol:
        if self._connecting is None:
            self._connecting = asyncio.ensure_future(self._connect())
            self._connecting.add_done_callback(self._connected_or_not)
        # shielded: a caller that gives up does not cancel the connection the others wait for
        return await asyncio.shield(self._connecting)

    def _connected_or_not(self, future: asyncio.Future[_Protocol]) -> None:
        self._connecting = None
        if not future.cancelled() and future.exception() is None:
            self._protocol = future.result()

    async def _connect(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(self.connect_timeout):
            _, protocol = await loop.create_connection(_Protocol, self.host, self.port)
            setup = []
            if self._password is not None:
                setup.append(encode([b"AUTH", *([self._username] if self._username else []), self._password]))
            if self._db:
                setup.append(encode([b"SELECT", self._db]))
            if setup:
                try:
                    for reply in await protocol.send(b"".join(setup), len(setup)):
                        if isinstance(reply, RedisReplyError):
                            raise reply
                except BaseException:
                    protocol._fail(ConnectionError("setting up the connection failed"))
                    raise
        return protocol

    def close(self) -> None:
        protocol, self._protocol = self._protocol, None
        if protocol is not None:
            protocol._fail(ConnectionError("the connection was closed by RIN"))
