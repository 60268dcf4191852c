"""What every HTTP handler of RIN's shares, below the app that routes to them (the server, the
key admin API, the dashboard): the ASGI callables' types, reading the query string, sending JSON,
errors in OpenAI's shape, the content types of JSON and Server-Sent Events."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

import orjson

from rin.errors import RinError

Send = Callable[[dict[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[dict[str, Any]]]

JSON = b"application/json"
SSE = b"text/event-stream; charset=utf-8"
KEEPALIVE = b": keep-alive\n\n"


def query(scope: dict[str, Any]) -> dict[str, str]:
    """The query string's parameters, the last value of each."""
    raw = scope.get("query_string", b"").decode("latin-1")
    return {k: v[-1] for k, v in parse_qs(raw, keep_blank_values=False).items()}


def _json(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    raise TypeError


def dumps(data: Any) -> bytes:
    """JSON, with money (Decimal) as an exact string rather than a rounded number."""
    return orjson.dumps(data, default=_json)


def header_list(content_type: bytes, extra: Iterable[tuple[str, str]] = ()) -> list[tuple[bytes, bytes]]:
    headers = [(b"content-type", content_type)]
    headers.extend((k.encode("latin-1"), v.encode("latin-1")) for k, v in extra)
    return headers


async def send_bytes(
    send: Send, status: int, body: bytes, content_type: bytes = JSON,
    extra: Iterable[tuple[str, str]] = (),
) -> None:
    headers = header_list(content_type, extra)
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def send_json(send: Send, status: int, data: Any, extra: Iterable[tuple[str, str]] = ()) -> None:
    await send_bytes(send, status, orjson.dumps(data), JSON, extra)


async def send_error(send: Send, err: RinError, extra: Iterable[tuple[str, str]] = ()) -> None:
    headers = list(extra)
    retry_after = getattr(err, "retry_after", None)
    if err.status in (429, 503) and retry_after:
        headers.append(("retry-after", str(max(1, round(retry_after)))))
    await send_json(send, err.status, err.to_body(), headers)
