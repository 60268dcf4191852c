"""Anthropic Messages requests to an Anthropic deployment: the client's body passes through with
only the model swapped, so nothing is lost in translation (thinking blocks and their signatures,
cache_control, citations, server tools). Answers and stream events are relayed byte for byte; only
the usage is read, for the ledger."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from rin.errors import InvalidRequest, UpstreamProtocolError
from rin.params import check_range
from rin.providers.anthropic_response import error_from_envelope, message_json, parse_usage
from rin.types import ChatRequest, ChatResult, Deployment, SSEEvent, UpstreamRequest, Usage

#: deployment defaults (litellm_params) that mean the same in a Messages body
_DEFAULTS = ("max_tokens", "temperature", "top_p", "top_k")


def check_temperature(body: dict[str, Any]) -> None:
    """Claude's temperature range, 0 to 1 (OpenAI's is 0 to 2), checked before any call."""
    try:
        check_range(body, "temperature", 0.0, 1.0)
    except InvalidRequest as exc:
        raise InvalidRequest(f"{exc.message} Anthropic models accept temperature from 0 to 1.",
                             param="temperature") from None


class AnthropicMessagesNative:
    """Built by the Anthropic adapter with its own header and URL functions."""

    def __init__(self, headers: Callable[[Deployment], dict[str, str]], url: Callable[[str], str]) -> None:
        self.headers = headers
        self.url = url

    def build(self, req: ChatRequest, dep: Deployment) -> UpstreamRequest:
        out = self.headers(dep)
        if req.forward_headers:
            out.update(req.forward_headers)
        return UpstreamRequest("POST", self.url(dep.api_base), out, orjson.dumps(self.body(req, dep)), req.stream)

    def body(self, req: ChatRequest, dep: Deployment) -> dict[str, Any]:
        """The client's body with the model swapped and the deployment's defaults filled in."""
        assert req.native is not None
        body = dict(req.native)
        check_temperature(body)
        body["model"] = dep.provider_model
        thinking = isinstance(body.get("thinking"), dict) and body["thinking"].get("type") != "disabled"
        # Anthropic refuses sampling settings beside extended thinking, and current models refuse
        # temperature and top_p together: defaults add one sampling setting at most, and only when
        # the client chose none
        sampling = thinking or any(k in body for k in _DEFAULTS[1:])
        for key in _DEFAULTS:
            value = dep.defaults.get(key)
            if value is not None and key not in body and (key == "max_tokens" or not sampling):
                body[key] = value
                sampling = sampling or key != "max_tokens"
        for name in dep.additional_drop_params:
            body.pop(name, None)
        return body

    def parse(self, body: bytes, req: ChatRequest, dep: Deployment) -> ChatResult:
        data = message_json(body)
        return ChatResult(body, parse_usage(data.get("usage")), data.get("model"))

    def stream_parser(self, req: ChatRequest, dep: Deployment) -> "MessagesRelay":
        return MessagesRelay()


class MessagesRelay:
    """Relays Anthropic's SSE events as they came; reads usage from message_start / message_delta,
    the end from message_stop, and turns an `error` event into an UpstreamError."""

    __slots__ = ("_usage", "usage_chunk", "done")

    def __init__(self) -> None:
        self._usage: dict[str, Any] = {}
        self.usage_chunk: bytes | None = None
        self.done = False

    @property
    def usage(self) -> Usage | None:
        return parse_usage(self._usage) if self._usage else None

    def feed(self, event: SSEEvent) -> list[bytes]:
        kind = event.event
        if kind in ("message_start", "message_delta", "error"):
            data = _object(event.data)
            if kind == "error" or data.get("type") == "error":
                raise error_from_envelope(None, data, usage=self.usage)
            raw = (data.get("message") or {}).get("usage") if kind == "message_start" else data.get("usage")
            if isinstance(raw, dict):
                self._usage.update({k: v for k, v in raw.items() if v is not None})
        elif kind == "message_stop":
            self.done = True
        head = b"event: " + kind.encode() + b"\n" if kind else b""
        return [head + b"data: " + event.data.encode() + b"\n\n"]

    def finish(self) -> list[bytes]:
        if not self.done:
            raise UpstreamProtocolError("Anthropic closed the stream before it finished (message_stop never came)")
        return []


def _object(data: str) -> dict[str, Any]:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise UpstreamProtocolError(f"Anthropic sent a stream event that is not JSON: {data[:80]!r}") from None
    if not isinstance(value, dict):
        raise UpstreamProtocolError("Anthropic sent a stream event that is not an object")
    return value
