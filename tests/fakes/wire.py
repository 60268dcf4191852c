"""Wire-level pieces shared by the provider formats: a reply, a planned stream, SSE framing."""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson

JSON = "application/json"

#: What a proxy's error page looks like; served with a JSON content type by the `garbage` fault.
GARBAGE = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n"
)


@dataclass(slots=True)
class Reply:
    """A complete HTTP answer."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class StreamPlan:
    """The frames of a successful SSE stream; `cut` is the index just after the second content frame.

    `error`, when set, is what the error-in-stream fault sends after the cut (else the format's
    `stream_error()`), for formats whose error event depends on the stream (sequence numbers).
    """

    frames: list[bytes]
    cut: int
    error: bytes | None = None


def dumps(obj: object) -> bytes:
    return orjson.dumps(obj)


def data(obj: object) -> bytes:
    """One `data:` SSE frame holding JSON."""
    return b"data: " + orjson.dumps(obj) + b"\n\n"


def event(name: str, obj: object) -> bytes:
    """One named SSE event, as Anthropic sends them."""
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(obj) + b"\n\n"


DONE = b"data: [DONE]\n\n"
