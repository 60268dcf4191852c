"""The only code that talks HTTP to providers: one pooled aiohttp session.

It never retries (the router is RIN's only retry loop) and it is the one place where aiohttp,
asyncio and OS exceptions become `rin.errors` upstream errors.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any
from types import TracebackType

import aiohttp

from rin import deadlines
from rin.errors import UpstreamConnectionError, UpstreamError, UpstreamTimeout
from rin.types import UpstreamRequest


@dataclass(slots=True)
class Response:
    status: int
    headers: Mapping[str, str]
    body: bytes


class StreamResponse:
    """An upstream response whose headers have arrived; the body is read chunk by chunk."""

    def __init__(self, resp: aiohttp.ClientResponse, label: str, idle_timeout: float | None) -> None:
        self._resp = resp
        self._label = label
        self._idle = idle_timeout
        self.status = resp.status
        self.headers: Mapping[str, str] = resp.headers

    async def read_all(self) -> bytes:
        with translate_errors(self._label, "reading the error body"):
            return await self._resp.read()

    async def chunks(self) -> AsyncIterator[bytes]:
        content = self._resp.content
        while True:
            with translate_errors(self._label, "streaming"):
                if self._idle:
                    async with deadlines.timeout(self._idle):
                        chunk = await content.readany()
                else:
                    chunk = await content.readany()
            if not chunk:
                return
            yield chunk

    def close(self) -> None:
        self._resp.close()

    async def __aenter__(self) -> StreamResponse:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


class translate_errors:
    """Context manager mapping network failures to UpstreamConnectionError / UpstreamTimeout."""

    __slots__ = ("label", "doing")

    def __init__(self, label: str, doing: str) -> None:
        self.label = label
        self.doing = doing

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        if exc is None or isinstance(exc, UpstreamError):
            return False
        if isinstance(exc, (TimeoutError, asyncio.TimeoutError, aiohttp.ServerTimeoutError)):
            raise UpstreamTimeout(f"{self.label} timed out while {self.doing}") from None
        if isinstance(exc, (aiohttp.ClientError, OSError)):
            raise UpstreamConnectionError(
                f"{self.label} connection failed while {self.doing} ({type(exc).__name__})"
            ) from None
        return False


class Transport:
    def __init__(self, *, connect_timeout: float = 10.0, limit: int = 1000) -> None:
        self._connect_timeout = connect_timeout
        self._limit = limit
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self._limit, limit_per_host=0, ttl_dns_cache=300, keepalive_timeout=30
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=self._connect_timeout),
                skip_auto_headers=("User-Agent",),
                headers={"user-agent": "rin/1.1"},
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(self, up: UpstreamRequest, label: str, timeout: float) -> Response:
        """One non-streaming call; the whole exchange must finish within `timeout` seconds."""
        with translate_errors(label, "waiting for the answer"):
            async with deadlines.timeout(timeout):
                async with self.session.request(
                    up.method, up.url, data=_body(up), headers=up.headers, allow_redirects=False
                ) as resp:
                    body = await resp.read()
                    return Response(resp.status, resp.headers, body)

    async def open_stream(
        self, up: UpstreamRequest, label: str, first_byte_timeout: float, idle_timeout: float | None
    ) -> StreamResponse:
        """Sends the request and returns once the response headers have arrived."""
        with translate_errors(label, "waiting for response headers"):
            async with deadlines.timeout(first_byte_timeout):
                resp = await self.session.request(
                    up.method, up.url, data=_body(up), headers=up.headers, allow_redirects=False
                )
        return StreamResponse(resp, label, idle_timeout)


def _body(up: UpstreamRequest) -> Any:
    """The bytes, or for an upload assembled from pieces of the client's body (rin.codecs.multipart)
    those pieces as they are: sent one after another under their total Content-Length, never joined
    into a second copy."""
    body = up.body
    if isinstance(body, bytes):
        return body
    up.headers["content-length"] = str(sum(len(piece) for piece in body))

    async def pieces() -> Any:
        for piece in body:
            yield piece

    return pieces()
