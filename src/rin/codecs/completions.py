"""POST /v1/completions: legacy text completions (editors' autocomplete, older tools).

To a deployment that serves them (`text-completion-openai/`, `model_info.mode: completion`) the body
passes through; to a chat model the prompt becomes one user message and the answer comes back as a
`text_completion`. Through chat, what chat can't express (`suffix`, `echo`, `logprobs`, several
prompts at once) is refused with a 400 before any upstream call.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from rin.codecs.base import Codec, TranslatingStream, parse_json_body
from rin.errors import InvalidRequest
from rin.params import validate_request
from rin.providers import PROVIDERS
from rin.types import ChatRequest, ChatResult, Deployment, StreamParser, UpstreamRequest, Usage

#: fields that mean the same in both protocols
_SHARED = ("model", "max_tokens", "temperature", "top_p", "n", "stop", "presence_penalty", "frequency_penalty",
           "seed", "user", "logit_bias", "stream", "stream_options")
_FINISH = {"tool_calls": "stop", "function_call": "stop"}


def _prompt(body: dict[str, Any]) -> list[str]:
    prompt = body.get("prompt")
    if isinstance(prompt, str):
        return [prompt]
    if isinstance(prompt, list) and prompt and all(isinstance(p, str) for p in prompt):
        return prompt
    if isinstance(prompt, list) and prompt and all(isinstance(p, int) for p in prompt):
        raise InvalidRequest("'prompt' as token ids is not supported by RIN: send the prompt as text.",
                             param="prompt")
    raise InvalidRequest("'prompt' is required: a string or an array of strings.", param="prompt")


class CompletionsCodec(Codec):
    endpoint = "completions"

    def decode(self, raw: bytes, request_id: str, user_header: str | None) -> ChatRequest:
        body = parse_json_body(raw)
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise InvalidRequest("'model' is required: name one of the models listed by GET /v1/models.",
                                 param="model")
        prompts = _prompt(body)
        chat = {k: body[k] for k in _SHARED if k in body}
        chat.setdefault("max_tokens", 16)  # the legacy endpoint's documented default
        chat["messages"] = [{"role": "user", "content": prompts[0]}]
        validate_request(chat)
        stream = body.get("stream") is True
        options = body.get("stream_options")
        include_usage = stream and isinstance(options, dict) and options.get("include_usage") is True
        if stream:
            chat["stream_options"] = {"include_usage": True}
        user = body.get("user") if isinstance(body.get("user"), str) else None
        return ChatRequest(chat, model, stream, include_usage, user_header or user, request_id, len(raw),
                           endpoint=self.endpoint, native=body, context=len(prompts))

    def _native(self, dep: Deployment) -> Any:
        return PROVIDERS[dep.provider].adapter.native(self.endpoint, dep)

    def build(self, req: ChatRequest, dep: Deployment) -> UpstreamRequest:
        native = self._native(dep)
        if native is not None:
            return native.build(req, dep)
        asked = req.native or {}
        for name in ("suffix", "echo", "logprobs", "best_of"):
            if asked.get(name) not in (None, False, "", 1 if name == "best_of" else None):
                raise InvalidRequest(
                    f"'{name}' needs a completion model, and '{req.model}' ({dep.label}) is a chat model: "
                    f"remove '{name}' or use a deployment with model_info.mode: completion.", param=name)
        if req.context != 1:
            raise InvalidRequest(f"'{req.model}' ({dep.label}) is a chat model: send one prompt per request.",
                                 param="prompt")
        return PROVIDERS[dep.provider].adapter.build_chat(req, dep)

    def parse(self, body: bytes, req: ChatRequest, dep: Deployment) -> ChatResult:
        native = self._native(dep)
        if native is not None:
            return native.parse(body, req, dep)
        result = PROVIDERS[dep.provider].adapter.parse_chat(body, req, dep)
        chat = result.data if result.data is not None else orjson.loads(result.body)
        return ChatResult(_text_completion(chat), result.usage, result.provider_model)

    def stream_parser(self, req: ChatRequest, dep: Deployment) -> StreamParser:
        native = self._native(dep)
        if native is not None:
            return native.stream_parser(req, dep)
        return TranslatingStream(PROVIDERS[dep.provider].adapter.stream_parser(req, dep), _ChunkTranslator())


def _text_completion(chat: dict[str, Any]) -> bytes:
    choices = [{"text": (c.get("message") or {}).get("content") or "", "index": c.get("index", i),
                "logprobs": None, "finish_reason": _FINISH.get(c.get("finish_reason"), c.get("finish_reason"))}
               for i, c in enumerate(chat.get("choices") or [])]
    out = {"id": _cmpl_id(chat.get("id")), "object": "text_completion", "created": chat.get("created") or int(time.time()),
           "model": chat.get("model"), "choices": choices}
    if chat.get("usage"):
        out["usage"] = chat["usage"]
    if chat.get("system_fingerprint"):
        out["system_fingerprint"] = chat["system_fingerprint"]
    return orjson.dumps(out)


def _cmpl_id(chat_id: Any) -> str:
    text = chat_id if isinstance(chat_id, str) else ""
    return "cmpl-" + text.removeprefix("chatcmpl-") if text else "cmpl-rin"


class _ChunkTranslator:
    """chat.completion.chunk payloads -> text_completion chunk payloads (still `data:` lines)."""

    __slots__ = ("id", "model", "created")

    def __init__(self) -> None:
        self.id, self.model, self.created = "cmpl-rin", None, int(time.time())

    def feed(self, payload: bytes) -> list[bytes]:
        chunk = orjson.loads(payload)
        self.id = _cmpl_id(chunk.get("id"))
        self.model = chunk.get("model") or self.model
        self.created = chunk.get("created") or self.created
        out = []
        for c in chunk.get("choices") or ():
            text = (c.get("delta") or {}).get("content") or ""
            finish = c.get("finish_reason")
            if text or finish:
                out.append(orjson.dumps({
                    "id": self.id, "object": "text_completion", "created": self.created, "model": self.model,
                    "choices": [{"text": text, "index": c.get("index", 0), "logprobs": None,
                                 "finish_reason": _FINISH.get(finish, finish)}]}))
        return out

    def usage_chunk(self, usage: Usage) -> bytes:
        return orjson.dumps({
            "id": self.id, "object": "text_completion", "created": self.created, "model": self.model,
            "choices": [], "usage": {"prompt_tokens": usage.prompt_tokens,
                                     "completion_tokens": usage.completion_tokens,
                                     "total_tokens": usage.total_tokens}})
