"""What an endpoint is: a codec over the one request pipeline (rin.server.pipeline).

    client bytes ─► codec.decode ─► ChatRequest (canonical: an OpenAI chat body)
                 ─► pipeline: key limits, cache, router, budgets ─► per attempt, for deployment `dep`:
                        codec.build(req, dep)          the upstream call: the adapter's chat request,
                                                       or the client's own body when `dep` speaks the
                                                       client's protocol (adapter.native)
                        codec.parse(body, req, dep)    the answer in the client's wire format
                        codec.stream_parser(req, dep)  stream events -> the client's SSE frames
                 ─► finished(): cost, budget settle, ledger row (its `endpoint` is codec.endpoint)

A codec translates and nothing else: no I/O, no retries, no billing. `ChatCodec` is the identity.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable
from typing import Any

import orjson

from rin.errors import InvalidRequest, RinError, UpstreamError
from rin.params import validate_request
from rin.providers import PROVIDERS
from rin.types import ChatRequest, ChatResult, Deployment, SSEEvent, StreamParser, UpstreamRequest, Usage


DONE = b"data: [DONE]\n\n"


def sse_data(payloads: list[bytes]) -> bytes:
    return b"".join(b"data: " + p + b"\n\n" for p in payloads)


def parse_json_body(raw: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"The request body is not valid JSON ({exc}).") from None
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    return body


class Codec:
    """The chat-completions codec, and the base of every other: OpenAI's shapes in and out."""

    #: the ledger's `endpoint` column and the cache's key space
    endpoint = "chat"
    #: streamed payloads are bare JSON to wrap in `data:` lines (chat), or ready SSE frames
    framed = False
    #: the stream is the upstream's bytes as they come (audio), not Server-Sent Events
    raw_stream = False
    #: the model_info.mode values this endpoint serves (rin.codecs.modes)
    modes: frozenset[str] = frozenset({"chat", "completion", "responses"})
    #: the body is an upload, limited by general_settings.max_upload_size_mb (25 MB by default)
    # rather than max_request_size_mb
    takes_uploads = False
    #: the body is multipart/form-data (decode gets the request headers, for the boundary)
    multipart = False

    def decode(self, raw: bytes, request_id: str, user_header: str | None,
               headers: dict[bytes, bytes] | None = None) -> ChatRequest:
        """The client's request as RIN's canonical one; `headers` only for codecs that need them."""
        body = parse_json_body(raw)
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise InvalidRequest("'model' is required: name one of the models listed by GET /v1/models.",
                                 param="model")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise InvalidRequest("'messages' must be a non-empty array of messages.", param="messages")
        validate_request(body)
        stream = body.get("stream") is True
        options = body.get("stream_options")
        include_usage = stream and isinstance(options, dict) and options.get("include_usage") is True
        user = body.get("user") if isinstance(body.get("user"), str) else None
        # a header set by a trusted front end (Open WebUI's signed-in user) outranks the body's `user`,
        # which any of its users can set: spend and budgets must not move to someone else
        return ChatRequest(body, model, stream, include_usage, user_header or user, request_id, len(raw))

    def accept_headers(self, req: ChatRequest, headers: Iterable[tuple[bytes, bytes]]) -> None:
        """Keeps the request headers of the client's protocol that a native deployment should see."""

    def prepare(self, runtime: Any, req: ChatRequest) -> Awaitable[None] | None:
        """Anything the request needs from RIN's state before routing (an awaitable, or None)."""
        return None

    # one upstream attempt

    def build(self, req: ChatRequest, dep: Deployment) -> UpstreamRequest:
        return PROVIDERS[dep.provider].adapter.build_chat(req, dep)

    def parse(self, body: bytes, req: ChatRequest, dep: Deployment) -> ChatResult:
        return PROVIDERS[dep.provider].adapter.parse_chat(body, req, dep)

    def stream_parser(self, req: ChatRequest, dep: Deployment) -> StreamParser:
        return PROVIDERS[dep.provider].adapter.stream_parser(req, dep)

    def classify_error(self, dep: Deployment, status: int, headers: Any, body: bytes) -> UpstreamError:
        """A non-2xx upstream answer as RIN's error (the adapter decides, by status and body),
        naming the deployment's provider (one OpenAI-compatible adapter serves groq, jina_ai, ...)."""
        adapter = PROVIDERS[dep.provider].adapter
        err = adapter.classify_error(status, headers, body)
        if dep.provider != adapter.name and err.message.startswith(adapter.name + " "):
            err.message = dep.provider + err.message[len(adapter.name):]
        return err

    # the client's wire format

    def frames(self, payloads: list[bytes]) -> bytes:
        return sse_data(payloads)

    def stream_end(self, parser: StreamParser, req: ChatRequest) -> bytes:
        """What ends a successful stream (after the upstream's last event)."""
        if req.include_usage and parser.usage_chunk is not None:
            return b"data: " + parser.usage_chunk + b"\n\n" + DONE
        return DONE

    def error_body(self, err: RinError) -> tuple[int, bytes]:
        return err.status, orjson.dumps(err.to_body())

    def stream_error(self, err: RinError, parser: StreamParser | None) -> bytes:
        """The event a stream ends with when it fails after it started: never a clean end."""
        return b"data: " + orjson.dumps(err.to_body()) + b"\n\n"

    def replay(self, chunks: list[bytes], usage_chunk: bytes | None, req: ChatRequest) -> bytes:
        """A cached stream, as recorded by `frames` (plus `stream_end` for framed codecs)."""
        parts = [b"data: " + c + b"\n\n" for c in chunks]
        if req.include_usage and usage_chunk is not None:
            parts.append(b"data: " + usage_chunk + b"\n\n")
        parts.append(DONE)
        return b"".join(parts)

    def cacheable(self, req: ChatRequest) -> bool:
        return True

    def stored(self, req: ChatRequest, result_body: bytes | None, parser: StreamParser | None) -> Any:
        """A hook for codecs that keep what they answered (the Responses API's `store`)."""
        return None


class TranslatingStream:
    """An adapter's chat-chunk parser followed by a codec's translator of chunks into the client's
    frames. Usage and completion come from the inner parser; the translator closes the stream."""

    __slots__ = ("inner", "translator")

    def __init__(self, inner: StreamParser, translator: Any) -> None:
        self.inner = inner
        self.translator = translator

    @property
    def usage(self) -> Usage | None:
        return self.inner.usage

    @property
    def usage_chunk(self) -> bytes | None:
        """The client's own usage chunk, for translators that make one (framed ones close with usage)."""
        make = getattr(self.translator, "usage_chunk", None)
        usage = self.inner.usage
        return make(usage) if make is not None and usage is not None else None

    @property
    def done(self) -> bool:
        return self.inner.done

    def feed(self, event: SSEEvent) -> list[bytes]:
        out: list[bytes] = []
        for payload in self.inner.feed(event):
            out.extend(self.translator.feed(payload))
        return out

    def finish(self) -> list[bytes]:
        out: list[bytes] = []
        for payload in self.inner.finish():
            out.extend(self.translator.feed(payload))
        return out


class FramedCodec(Codec):
    """A codec whose streams are ready SSE frames (`event:` + `data:`), translated from chat chunks
    or relayed from a deployment that speaks the client's protocol natively."""

    framed = True

    def native(self, dep: Deployment) -> Any:
        """The adapter's pass-through for this protocol, or None to go through chat."""
        return PROVIDERS[dep.provider].adapter.native(self.endpoint, dep)

    def build(self, req: ChatRequest, dep: Deployment) -> UpstreamRequest:
        native = self.native(dep)
        if native is not None:
            return native.build(req, dep)
        self.check(req, dep)
        return PROVIDERS[dep.provider].adapter.build_chat(self.adjust(req, dep), dep)

    def classify_error(self, dep: Deployment, status: int, headers: Any, body: bytes) -> UpstreamError:
        err = super().classify_error(dep, status, headers, body)
        if status in (404, 405) and self.native(dep) is not None:
            # an OpenAI-compatible server without this API (an older vLLM or Ollama, say): the
            # deployment is fine for chat, so it is not cooled for it
            err.counts_against_deployment = False
            err.message += (f" ({dep.label} may not serve the {self.endpoint} API itself; RIN passes "
                            f"{self.endpoint} requests through to {dep.provider} deployments.)")
        return err

    def check(self, req: ChatRequest, dep: Deployment) -> None:
        """Refuses, before any upstream call, what `dep` can't do through chat."""

    def adjust(self, req: ChatRequest, dep: Deployment) -> ChatRequest:
        """The request as `dep` should get it through chat (a copy when anything changes)."""
        return req

    def parse(self, body: bytes, req: ChatRequest, dep: Deployment) -> ChatResult:
        native = self.native(dep)
        if native is not None:
            return native.parse(body, req, dep)
        result = PROVIDERS[dep.provider].adapter.parse_chat(body, req, dep)
        chat = result.data if result.data is not None else orjson.loads(result.body)
        return ChatResult(self.encode(chat, req, dep), result.usage, result.provider_model)

    def stream_parser(self, req: ChatRequest, dep: Deployment) -> StreamParser:
        native = self.native(dep)
        if native is not None:
            return native.stream_parser(req, dep)
        return TranslatingStream(PROVIDERS[dep.provider].adapter.stream_parser(req, dep), self.translator(req, dep))

    def encode(self, chat: dict[str, Any], req: ChatRequest, dep: Deployment) -> bytes:
        """A chat.completion (parsed) in the client's wire format."""
        raise NotImplementedError

    def translator(self, req: ChatRequest, dep: Deployment) -> Any:
        """Turns chat chunk payloads into the client's frames: feed(payload), close(usage)."""
        raise NotImplementedError

    def frames(self, payloads: list[bytes]) -> bytes:
        return b"".join(payloads)

    def stream_end(self, parser: StreamParser, req: ChatRequest) -> bytes:
        if isinstance(parser, TranslatingStream):
            return b"".join(parser.translator.close(parser.usage))
        return b""

    def replay(self, chunks: list[bytes], usage_chunk: bytes | None, req: ChatRequest) -> bytes:
        return b"".join(chunks)
