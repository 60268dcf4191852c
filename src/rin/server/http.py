"""uvicorn's httptools protocol, sending a response's head and its first body bytes in one write.

uvicorn writes the status line and headers as soon as the app sends `http.response.start`, and the
body as a second write: two system calls and two TCP segments a response, and often two wakeups
of the client. On loopback each small write cost the gateway about 20 µs of CPU (the kernel runs
the receiver's side of TCP in the sender's context), ~5 % of a request's CPU in RIN (py-spy under
wrk, bench/README.md). The pipeline sends the body in the same step as the head, so holding the
head until the next write makes the two one. A head that no write follows in the same turn of the
event loop (a stream waiting for its first event) goes out at the end of that turn.

`rin serve` passes `HttpProtocol` to uvicorn as its `http` implementation, which also publishes
`scope["rin.client_gone"]` (below); everything else (parsing, keep-alive, pipelining, flow control,
shutdown) is uvicorn's.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


def _is_head(data: bytes) -> bool:
    """uvicorn writes a response's status line and headers as one bytes object (and nothing else
    that looks like this but `100 Continue`, which may be held the same way)."""
    return data.endswith(b"\r\n\r\n") and data.startswith(b"HTTP/1.1 ")


class OneWrite:
    """A connection's transport that holds a response head until the next write or the end of
    the loop's turn; order is kept, and closing sends what is held first."""

    __slots__ = ("transport", "loop", "_held", "_flush")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self.transport = transport
        self.loop = loop
        self._held: bytes | None = None
        self._flush: asyncio.Handle | None = None

    def write(self, data: bytes) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._flush.cancel()  # type: ignore[union-attr]
            self.transport.write(held + data)
        elif _is_head(data):
            self._held = data
            self._flush = self.loop.call_soon(self.flush)
        else:
            self.transport.write(data)

    def flush(self) -> None:
        held, self._held = self._held, None
        if held is not None and not self.transport.is_closing():
            self.transport.write(held)

    def close(self) -> None:
        if self._held is not None:
            self._flush.cancel()  # type: ignore[union-attr]
            self.flush()
        self.transport.close()

    def is_closing(self) -> bool:
        return self.transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.transport.get_extra_info(name, default)

    def pause_reading(self) -> None:
        self.transport.pause_reading()

    def resume_reading(self) -> None:
        self.transport.resume_reading()

    def __getattr__(self, name: str) -> Any:  # the rest of the transport's interface, as it is
        return getattr(self.transport, name)


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol writing through OneWrite, and telling the app whether the
    client is still there: `scope["rin.client_gone"]()` is True once the connection is closed (a
    non-streaming answer whose client left meanwhile is recorded as cancelled, not a success)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(OneWrite(transport, self.loop))  # type: ignore[arg-type]

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.scope["rin.client_gone"] = self.transport.is_closing  # type: ignore[typeddict-unknown-key]
