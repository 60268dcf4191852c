"""OpenAI's own protocols besides chat, passed through untranslated: the Responses API (to OpenAI
deployments) and legacy text completions (to completion-mode deployments). The client's body goes
upstream with only the model swapped; answers and stream events are relayed as they came, and only
the usage is read, for the ledger."""

from __future__ import annotations

from typing import Any

import orjson

from rin.errors import UpstreamProtocolError
from rin.types import ChatRequest, ChatResult, Deployment, SSEEvent, UpstreamRequest, Usage

#: the Responses API's last event of a stream, whatever the outcome
_TERMINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})

#: deployment defaults (litellm_params) a pass-through body gets where the client is silent
_DEFAULTS = frozenset({"temperature", "top_p", "max_tokens", "max_output_tokens"})


def responses_usage(raw: Any) -> Usage | None:
    """The Responses API's usage (input/output tokens) as RIN's Usage."""
    if not isinstance(raw, dict):
        return None
    prompt = int(raw.get("input_tokens") or 0)
    completion = int(raw.get("output_tokens") or 0)
    cached = (raw.get("input_tokens_details") or {}).get("cached_tokens") or 0
    reasoning = (raw.get("output_tokens_details") or {}).get("reasoning_tokens") or 0
    return Usage(prompt_tokens=prompt, completion_tokens=completion,
                 total_tokens=int(raw.get("total_tokens") or prompt + completion),
                 cached_tokens=int(cached), reasoning_tokens=int(reasoning))


class OpenAINative:
    """One pass-through protocol of an OpenAI-shaped adapter: `path` under the deployment's api_base."""

    def __init__(self, adapter: Any, path: str) -> None:
        self.adapter = adapter
        self.path = path

    def build(self, req: ChatRequest, dep: Deployment) -> UpstreamRequest:
        assert req.native is not None
        body = {k: v for k, v in req.native.items() if k not in self.adapter.gateway_fields}
        body["model"] = dep.provider_model
        limit = "max_output_tokens" if self.path == "/responses" else "max_tokens"
        for key, value in dep.defaults.items():
            name = limit if key == "max_tokens" else key
            if name in _DEFAULTS and name not in body:
                body[name] = value
        for name in dep.additional_drop_params:
            body.pop(name, None)
        if req.stream and self.path == "/completions":
            body["stream_options"] = {**(body.get("stream_options") or {}), "include_usage": True}
        return UpstreamRequest("POST", self.adapter.url(dep, self.path), self.adapter.headers(dep),
                               orjson.dumps(body), req.stream)

    def parse(self, body: bytes, req: ChatRequest, dep: Deployment) -> ChatResult:
        data = self.adapter.json_object(body)
        if self.path == "/responses":
            if data.get("object") != "response":
                raise UpstreamProtocolError(f"{self.adapter.name} answered /responses without a response object")
            usage = responses_usage(data.get("usage"))
            if data.get("status") == "failed":  # an error, as the stream's response.failed: never a success
                raise self.adapter.error_from_body(200, {}, {"error": data.get("error") or {"message": "failed"}},
                                                   usage=usage)
            return ChatResult(body, usage, data.get("model"))
        if data.get("error") and not data.get("choices"):
            raise self.adapter.error_from_body(200, {}, data)
        if not isinstance(data.get("choices"), list):
            raise UpstreamProtocolError(f"{self.adapter.name} answered without 'choices'")
        return ChatResult(body, self.adapter.usage(data.get("usage")), data.get("model"))

    def stream_parser(self, req: ChatRequest, dep: Deployment) -> Any:
        if self.path == "/responses":
            return ResponsesRelay(self.adapter)
        return self.adapter.stream_parser(req, dep)


class ResponsesRelay:
    """Relays Responses API events as they came; the terminal event carries the usage and the
    final response, an `error` event becomes an UpstreamError."""

    __slots__ = ("adapter", "usage", "usage_chunk", "done", "response")

    def __init__(self, adapter: Any) -> None:
        self.adapter = adapter
        self.usage: Usage | None = None
        self.usage_chunk: bytes | None = None
        self.done = False
        #: the final Response object (from the terminal event), kept for `store`
        self.response: dict[str, Any] | None = None

    def feed(self, event: SSEEvent) -> list[bytes]:
        kind = event.event
        if kind in _TERMINAL or kind == "error":
            data = self.adapter.json_object(event.data.encode())
            if kind == "error":
                raise self.adapter.error_from_body(200, {}, {"error": data}, usage=self.usage)
            response = data.get("response")
            if isinstance(response, dict):
                self.response = response
                self.usage = responses_usage(response.get("usage"))
            if kind == "response.failed":  # an error: never stored, cached or billed as a success
                failure = (response or {}).get("error") if isinstance(response, dict) else None
                raise self.adapter.error_from_body(200, {}, {"error": failure or {"message": "response.failed"}},
                                                   usage=self.usage)
            self.done = True
        head = b"event: " + kind.encode() + b"\n" if kind else b""
        return [head + b"data: " + event.data.encode() + b"\n\n"]

    def finish(self) -> list[bytes]:
        if not self.done:
            raise UpstreamProtocolError(
                f"{self.adapter.name} closed the stream before it finished (response.completed never came)")
        return []
