"""An upstream stream relayed to the client: the streaming half of rin.server.pipeline.

    read_until_first   per attempt, the stream read up to its first payload: until then the router
                       may still retry or fall back (`OpenStream`)
    KeepAlive          `: keep-alive` comments while that first payload is awaited
    relay              the payloads as the codec's frames, then its end; a failure after the start
                       becomes codec.stream_error, and an abandoned stream is drained for its usage

`RawDecoder` stands in for the SSE decoder when the stream is binary (audio).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rin.asgi import KEEPALIVE, Receive, Send
from rin.codecs.base import Codec
from rin.deadlines import cancel_and_wait
from rin.errors import RinError, UpstreamError
from rin.transport import StreamResponse
from rin.types import ChatRequest, SSEEvent, StreamParser

if TYPE_CHECKING:  # rin.cache is imported only when caching is on (Runtime builds it)
    from rin.cache import StreamRecorder

log = logging.getLogger("rin.server")


@dataclass(slots=True)
class OpenStream:
    """An upstream stream that has produced its first payload (or finished)."""

    response: StreamResponse
    decoder: Any
    parser: StreamParser
    label: str
    first: list[bytes] = field(default_factory=list)
    #: events that arrived in the same read as the first payload, not yet parsed
    backlog: list[SSEEvent] = field(default_factory=list)


class RawDecoder:
    """A binary stream (audio) as it comes: each read is one "event" for the codec's parser."""

    __slots__ = ()

    def feed(self, chunk: bytes) -> list[bytes]:
        return [chunk] if chunk else []

    def flush(self) -> list[bytes]:
        return []


async def read_until_first(opened: OpenStream) -> None:
    """Parses events up to the first payload; later events wait in the backlog, so what happens
    does not depend on how the network split the stream."""
    async for raw in opened.response.chunks():
        events = opened.decoder.feed(raw)
        for i, event in enumerate(events):
            opened.first.extend(opened.parser.feed(event))
            if opened.first or opened.parser.done:
                opened.backlog = events[i + 1:]
                return
    for event in opened.decoder.flush():
        opened.first.extend(opened.parser.feed(event))
    opened.first.extend(opened.parser.finish())


class KeepAlive:
    """Sends SSE comments while a stream waits for its first token, so proxies don't time out."""

    def __init__(self, interval: float, start: Any, send: Send) -> None:
        self._start = start
        self._send = send
        self._interval = interval
        self._task: asyncio.Task[None] | None = None
        self._handle = asyncio.get_running_loop().call_later(interval, self._begin) if interval > 0 else None

    def _begin(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        await self._start()
        while True:
            await self._send({"type": "http.response.body", "body": KEEPALIVE, "more_body": True})
            await asyncio.sleep(self._interval)

    async def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
        await cancel_and_wait(self._task)


class ClientGone(Exception):
    """The client disconnected before the stream's first payload."""


def watch_disconnect(receive: Receive) -> asyncio.Future[None]:
    """A task that ends when the client disconnects (the request's body is already read)."""
    return asyncio.ensure_future(_wait_disconnect(receive))


async def unless_gone(work: Any, watcher: asyncio.Future[None]) -> Any:
    """`work`'s result; ClientGone, with `work` cancelled (its upstream call closed), if the client
    disconnects first: a client that gave up waiting for the first token stops the call."""
    task = asyncio.ensure_future(work)
    try:
        await asyncio.wait((task, watcher), return_when=asyncio.FIRST_COMPLETED)
    except BaseException:  # this request cancelled (shutdown): the work with it, as an await would
        task.cancel()
        raise
    if task.done():
        return task.result()
    task.cancel()
    try:
        await task
    except (asyncio.CancelledError, Exception):  # noqa: BLE001 - the client is gone: nothing to answer
        pass
    raise ClientGone


async def relay(
    codec: Codec, opened: OpenStream, req: ChatRequest, send: Send, watcher: asyncio.Future[None],
    drain: float, recorder: StreamRecorder | None = None,
) -> tuple[str, RinError | None, int]:
    """Sends the stream to the client; returns the ledger status, the error if any, and how
    many payloads were relayed. Once the client is gone (`watcher`, from watch_disconnect, ends),
    reads on for the usage for at most `drain` seconds."""
    loop = asyncio.get_running_loop()
    # once the client is gone, keep reading for the usage, but only for `drain` seconds
    watcher.add_done_callback(
        lambda w: None if w.cancelled() else loop.call_later(drain, opened.response.close))
    parser, decoder, frames = opened.parser, opened.decoder, codec.frames
    relayed = 0
    view = req.trace.stream_view() if req.trace is not None else None  # the trace's finish reasons, text

    async def emit(payloads: list[bytes]) -> None:
        nonlocal relayed
        if payloads:
            relayed += len(payloads)
            if recorder is not None:
                recorder.add(payloads)
            if view is not None:
                view.see(payloads)
            await send({"type": "http.response.body", "body": frames(payloads), "more_body": True})

    try:
        await emit(opened.first)
        if opened.backlog and not parser.done:
            await emit(_parse_until_done(parser, opened.backlog))
        if not parser.done:
            async for raw in opened.response.chunks():
                payloads = _parse_until_done(parser, decoder.feed(raw))
                if watcher.done():
                    await _drain(opened, drain)
                    return "cancelled", None, relayed
                await emit(payloads)
                if parser.done:
                    break
            else:
                tail = _parse_until_done(parser, decoder.flush())
                tail.extend(parser.finish())
                await emit(tail)
        end = codec.stream_end(parser, req)
        if recorder is not None and codec.framed and end:
            recorder.add([end])
        if view is not None and end:
            view.see([end])
        await send({"type": "http.response.body", "body": end, "more_body": False})
        return "success", None, relayed
    except UpstreamError as err:
        if watcher.done():
            return "cancelled", None, relayed
        log.warning("stream from %s failed after it started: %s", opened.label, err.message)
        await send({"type": "http.response.body", "body": codec.stream_error(err, parser), "more_body": False})
        return "error", err, relayed
    except OSError:
        # the client went away and the server refused our write (uvicorn's ClientDisconnected)
        await _drain(opened, drain)
        return "cancelled", None, relayed
    except asyncio.CancelledError:
        await _drain(opened, drain)
        raise
    finally:
        watcher.cancel()
        opened.response.close()


def _parse_until_done(parser: StreamParser, events: list[SSEEvent]) -> list[bytes]:
    """The payloads of `events`, stopping at the upstream's end marker (later bytes are ignored)."""
    payloads: list[bytes] = []
    for event in events:
        payloads.extend(parser.feed(event))
        if parser.done:
            break
    return payloads


async def _wait_disconnect(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


async def _drain(opened: OpenStream, seconds: float) -> None:
    """Reads what is left of an abandoned stream (bounded) so its usage can still be billed."""
    try:
        async with asyncio.timeout(seconds):
            async for raw in opened.response.chunks():
                for event in opened.decoder.feed(raw):
                    opened.parser.feed(event)
                if opened.parser.done:
                    break
    except (TimeoutError, RinError):
        pass
