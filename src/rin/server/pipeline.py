"""The one request pipeline every endpoint runs through; an endpoint is a codec (rin.codecs).

    codec.decode -> key limits -> cache lookup -> router (per attempt: codec.build, transport,
    codec.parse / codec.stream_parser) -> JSON, or SSE relayed frame by frame (rin.server.relay)
    -> runtime.finished (cost, budget settle, ledger) once per client request -> cache store

Errors reach the client in the codec's own shape (OpenAI's, Anthropic's, ...).
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from rin import deadlines
from rin.codecs.base import Codec
from rin.errors import RinError, UpstreamError
from rin.providers import stream_decoder
from rin.router import RequestState
from rin.asgi import SSE, Receive, Send, header_list, send_bytes
from rin.server.relay import (ClientGone, KeepAlive, OpenStream, RawDecoder, read_until_first, relay, unless_gone,
                              watch_disconnect)
from rin.types import ChatRequest, Deployment, StreamParser, Usage

if TYPE_CHECKING:  # rin.cache is imported only when caching is on (Runtime builds it)
    from rin.cache import CacheKey, CachedAnswer

log = logging.getLogger("rin.server")


async def send_codec_error(send: Send, codec: Codec, err: RinError, extra: list[tuple[str, str]]) -> None:
    """Any error, in the client protocol's shape, with Retry-After where it helps."""
    headers = list(extra)
    retry_after = getattr(err, "retry_after", None)
    if err.status in (429, 503) and retry_after:
        headers.append(("retry-after", str(max(1, round(retry_after)))))
    status, body = codec.error_body(err)
    await send_bytes(send, status, body, extra=headers)


def rin_headers(state: RequestState, ck: CacheKey | None = None) -> list[tuple[str, str]]:
    headers = [("x-rin-request-id", state.request.request_id), ("x-rin-attempts", str(len(state.attempts)))]
    if state.deployment is not None:
        headers.append(("x-rin-model", state.deployment.label))
    if ck is not None:
        headers.append(("x-rin-cache-hit", "false"))
    return headers



class Pipeline:
    """Serves one decoded request of any endpoint: from the cache when it can, else upstream."""

    def __init__(self, runtime: Any) -> None:
        self.rt = runtime

    async def handle(self, codec: Codec, req: ChatRequest, send: Send, receive: Receive,
                     cache_control: str | None) -> RequestState:
        cache, ck = self.rt.cache, None
        if cache is not None and codec.cacheable(req):
            scope = cache.scope(req.api_key_hash, req.user)
            if codec.endpoint != "chat":
                scope = f"{codec.endpoint}|{scope}"
            # the client's own body: a translated one may leave out what changes the answer
            body = req.native if req.native is not None else req.body
            ck = cache.key(scope, req.model, body, cache.controls(req.body, cache_control))
            hit = await cache.lookup(ck)
            if hit is not None:
                return await self._serve_hit(codec, req, hit, send)
        if req.stream:
            return await self.stream(codec, req, send, receive, ck)
        return await self.complete(codec, req, send, ck)

    async def _serve_hit(self, codec: Codec, req: ChatRequest, hit: CachedAnswer, send: Send) -> RequestState:
        state = RequestState(req)
        state.model_group = hit.model_group
        headers = [("x-rin-request-id", req.request_id), ("x-rin-attempts", "0"), ("x-rin-model", hit.deployment),
                   ("x-rin-cache-hit", "true"), ("x-rin-response-cost", "0")]
        try:
            if req.stream:
                await send({"type": "http.response.start", "status": 200,
                            "headers": header_list(SSE, headers + [("cache-control", "no-cache")])})
                await send({"type": "http.response.body",
                            "body": codec.replay(hit.chunks, hit.usage_chunk, req)})
            else:
                await send_bytes(send, 200, hit.body, extra=headers)
        finally:
            self.rt.finished(state, hit.usage, "success", None, (Decimal(0), "unpriced"), cache_hit=hit.deployment)
        return state

    async def complete(self, codec: Codec, req: ChatRequest, send: Send, ck: CacheKey | None = None) -> RequestState:
        state = RequestState(req)
        transport = self.rt.transport

        async def call(dep: Deployment, timeout: float) -> Any:
            up = codec.build(req, dep) if req.trace is None else req.trace.attempt(codec.build, req, dep)
            resp = await transport.send(up, dep.label, timeout)
            if resp.status >= 300:
                raise codec.classify_error(dep, resp.status, resp.headers, resp.body)
            return codec.parse(resp.body, req, dep)

        try:
            result = await self.rt.router.run(state, call)
        except RinError as err:
            _log_failure(req, state, err)
            await send_codec_error(send, codec, err, rin_headers(state))
            self.rt.finished(state, getattr(err, "usage", None), "error", err)
            return state
        state.answer = result
        priced = self.rt.price(state, result.usage)
        headers = rin_headers(state, ck)
        headers.append(("x-rin-response-cost", format(priced[0], "f")))
        # a client that left while the upstream answered: billed all the same, but not a success
        # (asked before the answer goes out: a Connection: close request's socket closes after it)
        status = "cancelled" if req.client_gone is not None and req.client_gone() else "success"
        try:
            if result.content_type is None:
                await send_bytes(send, 200, result.body, extra=headers)
            else:
                await send_bytes(send, 200, result.body, result.content_type.encode("latin-1"), headers)
        finally:
            self.rt.finished(state, result.usage, status, None, priced)
            _store(codec, req, result.body, None)
        if ck is not None and state.deployment is not None and state.model_group is not None:
            cache = self.rt.cache
            await cache.store(ck, cache.json_answer(result.body, result.usage, state.deployment.label,
                                                    state.model_group))
        return state

    async def stream(self, codec: Codec, req: ChatRequest, send: Send, receive: Receive,
                     ck: CacheKey | None = None) -> RequestState:
        state = RequestState(req)
        head = _StreamHead(send, state, ck)
        # SSE comments keep proxies from timing out while a model thinks; audio has no comments
        keepalive = KeepAlive(0 if codec.raw_stream else self.rt.config.litellm.stream_keepalive, head.start, send)
        watcher = watch_disconnect(receive)  # from the start: a client may give up before the first token
        try:
            try:
                opened: OpenStream = await unless_gone(self.rt.router.run(state, self._stream_call(codec, req)),
                                                       watcher)
            except RinError as err:
                _log_failure(req, state, err)
                await keepalive.stop()
                if head.sent:
                    await send({"type": "http.response.body", "body": codec.stream_error(err, None),
                                "more_body": False})
                else:
                    await send_codec_error(send, codec, err, rin_headers(state))
                self.rt.finished(state, getattr(err, "usage", None), "error", err)
                return state
            except ClientGone:  # the upstream call is stopped; the prompt is billed, as for any cut
                await keepalive.stop()
                self.rt.finished(state, _billed(req, None, "cancelled", 0), "cancelled", None)
                return state
            await keepalive.stop()
            return await self._relay(codec, req, send, state, opened, head, watcher, ck)
        finally:
            watcher.cancel()

    async def _relay(self, codec: Codec, req: ChatRequest, send: Send, state: RequestState, opened: OpenStream,
                     head: _StreamHead, watcher: Any, ck: CacheKey | None) -> RequestState:
        state.answer = opened
        if codec.raw_stream:  # the upstream's own type: audio/mpeg, audio/wav, ...
            head.content_type = opened.response.headers.get("content-type", "application/octet-stream").encode(
                "latin-1")
        status, error, relayed = "cancelled", None, 0
        recorder = self.rt.cache.recorder() if ck is not None else None
        try:
            await head.start()
            status, error, relayed = await relay(codec, opened, req, send, watcher,
                                                 self.rt.config.litellm.stream_drain_timeout, recorder)
        finally:
            self.rt.finished(state, _billed(req, opened.parser.usage, status, relayed), status, error)
            if status == "success":
                _store(codec, req, None, opened.parser)
        # only a whole answer is stored (rin.cache.cacheable): never a stream that broke or was cut off
        if recorder is not None and status == "success" and state.model_group is not None:
            answer = recorder.answer(opened.parser.usage_chunk, opened.parser.usage, opened.label, state.model_group)
            if answer is not None:
                await self.rt.cache.store(ck, answer)
        return state

    def _stream_call(self, codec: Codec, req: ChatRequest) -> Any:
        transport = self.rt.transport
        idle = self.rt.config.router.stream_timeout

        async def call(dep: Deployment, timeout: float) -> OpenStream:
            up = codec.build(req, dep) if req.trace is None else req.trace.attempt(codec.build, req, dep)
            # between two reads of a stream: its stream_timeout, else the request's timeout (as
            # LiteLLM's, an HTTP client's read timeout): a stream that stalls never hangs
            resp = await transport.open_stream(up, dep.label, timeout, dep.stream_timeout or idle or timeout)
            try:
                if resp.status >= 300:
                    raise codec.classify_error(dep, resp.status, resp.headers, await resp.read_all())
                decoder = RawDecoder() if codec.raw_stream else stream_decoder(dep)
                opened = OpenStream(resp, decoder, codec.stream_parser(req, dep), dep.label)
                async with deadlines.timeout(timeout):
                    await read_until_first(opened)
                return opened
            except BaseException:
                resp.close()
                raise

        return call


class _StreamHead:
    """A stream's response head, sent once: by the first keep-alive comment or the first payload."""

    __slots__ = ("send", "state", "ck", "sent", "content_type")

    def __init__(self, send: Send, state: RequestState, ck: CacheKey | None) -> None:
        self.send, self.state, self.ck = send, state, ck
        self.sent = False
        self.content_type = SSE

    async def start(self) -> None:
        if not self.sent:
            self.sent = True
            await self.send({"type": "http.response.start", "status": 200, "headers": header_list(
                self.content_type, rin_headers(self.state, self.ck) + [("cache-control", "no-cache")])})


def _billed(req: ChatRequest, usage: Usage | None, status: str, relayed: int) -> Usage | None:
    """What a stream is billed: the upstream's usage; for one that did not end well and whose
    upstream never said (or only said how it began, as Anthropic's message_start does), the prompt
    and what was relayed, about a token per chunk."""
    if status != "success" and (usage is None or usage.completion_tokens < relayed):
        prompt = usage.prompt_tokens if usage is not None else req.body_size // 4
        return Usage(prompt_tokens=prompt, completion_tokens=relayed, total_tokens=prompt + relayed)
    return usage


def _store(codec: Codec, req: ChatRequest, body: bytes | None, parser: StreamParser | None) -> None:
    """codec.stored, after the answer went out: a failure there is logged, never the client's."""
    try:
        codec.stored(req, body, parser)
    except Exception:  # noqa: BLE001 - the request is already answered and billed
        log.exception("could not store the answer to request %s", req.request_id)


def _log_failure(req: ChatRequest, state: RequestState, err: RinError) -> None:
    """One line per request that failed on the provider side (client mistakes are not logged)."""
    if err.status >= 500 or isinstance(err, UpstreamError):
        log.warning("request %s for %s failed after %d attempt(s): %s", req.request_id, req.model,
                    len(state.attempts), err.message,
                    extra={"request_id": req.request_id, "requested_model": req.model,
                           "attempts": len(state.attempts), "error": type(err).__name__})


