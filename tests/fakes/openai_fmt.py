"""OpenAI's wire format: chat completions (JSON and SSE), embeddings, models, and error bodies.

Shapes follow the recorded transcripts in ../shared/fixtures/transcripts (openai_chat_stream_*,
openai_error_400_*) and OpenAI's API reference. `OpenRouterFormat` (openrouter_fmt.py) overrides
the envelope, usage and error hooks.
"""

from __future__ import annotations

import base64
import hashlib
import math
import struct
import time

from .answer import Answer, decide, fragments, new_id, pieces, text_of, tokens
from .faults import Fault
from .wire import DONE, GARBAGE, JSON, Reply, StreamPlan, data, dumps

_FINGERPRINT = "fp_d0469e1700"
_MODELS = [  # (id, created) of real OpenAI models
    ("gpt-4o", 1715367049),
    ("gpt-4o-mini", 1721172741),
    ("gpt-4-turbo", 1712361441),
    ("text-embedding-3-small", 1705948997),
    ("text-embedding-3-large", 1705953180),
]
_MODELS_BODY = dumps(
    {
        "object": "list",
        "data": [{"id": i, "object": "model", "created": c, "owned_by": "system"} for i, c in _MODELS],
    }
)
_NO_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header "
    "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank "
    "username) if you're accessing the API from your browser and are prompted for a username and "
    "password. You can obtain an API key from https://platform.openai.com/account/api-keys."
)
_EMBED_DIM = 8


def error_body(message: str, type_: str, param: str | None = None, code: object = None) -> bytes:
    return dumps({"error": {"message": message, "type": type_, "param": param, "code": code}})


def is_bad_key(value: str | None) -> bool:
    return value in ("Bearer bad-key", "bad-key")


def finish_reason(a: Answer) -> str:
    return "tool_calls" if a.tool else "length" if a.truncated else "stop"


class OpenAIFormat:
    """Renders answers and faults the way api.openai.com does."""

    name = "openai"
    stream_content_type = "text/event-stream; charset=utf-8"
    id_prefix = "chatcmpl-"

    def headers(self, content_type: str = JSON) -> dict[str, str]:
        return {
            "Content-Type": content_type,
            "x-request-id": new_id("req_"),
            "openai-version": "2020-10-01",
            "openai-processing-ms": "1",
        }

    # requests

    def auth_error(self, headers: dict[str, str] | object) -> Reply | None:
        auth = headers.get("Authorization")  # type: ignore[attr-defined]
        if not auth:
            return Reply(401, error_body(_NO_KEY, "invalid_request_error"), self.headers())
        if is_bad_key(auth):
            return self.error(Fault("status", status=401), "")
        return None

    def validate(self, headers: object, body: dict | None) -> Reply | None:
        if body is None:
            msg = (
                "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
                "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was "
                "sent was not valid JSON. If you have trouble figuring out how to fix this, please "
                "contact us through our help center at help.openai.com.)"
            )
            return Reply(400, error_body(msg, "invalid_request_error"), self.headers())
        if not isinstance(body.get("model"), str) or not body["model"]:
            return Reply(400, error_body("you must provide a model parameter", "invalid_request_error"), self.headers())
        return None

    def bad_request(self, message: str) -> Reply:
        return Reply(400, error_body(message, "invalid_request_error", "messages"), self.headers())

    def validate_chat(self, headers: object, body: dict | None) -> Reply | None:
        reply = self.validate(headers, body)
        if reply is None and body is not None and not body.get("messages"):
            body_ = error_body(
                "Missing required parameter: 'messages'.",
                "invalid_request_error",
                "messages",
                "missing_required_parameter",
            )
            return Reply(400, body_, self.headers())
        return reply

    def decide(self, body: dict) -> Answer:
        model = body["model"]
        messages = [m for m in body.get("messages") or () if isinstance(m, dict)]
        prompt_chars = sum(len(text_of(m.get("content"))) for m in messages)
        last_user = next((text_of(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), "")
        tool = None
        tools = body.get("tools")
        if tools and "tool" in model and messages and messages[-1].get("role") == "user":
            fn = next((t.get("function") for t in tools if isinstance(t, dict) and t.get("function")), None)
            if fn:
                tool = (fn.get("name", "tool"), fn.get("parameters") or {})
        max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
        return decide(model, prompt_chars, last_user, tool, max_tokens)

    # successful answers

    def usage(self, a: Answer) -> dict:
        return {
            "prompt_tokens": a.prompt_tokens,
            "completion_tokens": a.completion_tokens,
            "total_tokens": a.prompt_tokens + a.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": a.cached_tokens, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }

    def message(self, a: Answer) -> dict:
        if a.tool:
            call = {"id": a.tool.id, "type": "function", "function": {"name": a.tool.name, "arguments": a.tool.arguments}}
            return {"role": "assistant", "content": None, "tool_calls": [call], "refusal": None, "annotations": []}
        return {"role": "assistant", "content": a.text, "refusal": None, "annotations": []}

    def completion_obj(self, a: Answer, id_: str) -> dict:
        choice = {"index": 0, "message": self.message(a), "logprobs": None, "finish_reason": finish_reason(a)}
        return {
            "id": id_,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": a.model,
            "choices": [choice],
            "usage": self.usage(a),
            "service_tier": "default",
            "system_fingerprint": _FINGERPRINT,
        }

    def completion(self, a: Answer, body: dict | None = None) -> Reply:
        return Reply(200, dumps(self.completion_obj(a, new_id(self.id_prefix))), self.headers())

    def chunk(self, a: Answer, id_: str, created: int, choices: list, usage: object, with_usage: bool) -> dict:
        obj = {
            "id": id_,
            "object": "chat.completion.chunk",
            "created": created,
            "model": a.model,
            "service_tier": "default",
            "system_fingerprint": _FINGERPRINT,
            "choices": choices,
        }
        if with_usage:
            obj["usage"] = usage
        obj["obfuscation"] = "Xq5Xx9"
        return obj

    def choice(self, delta: dict, finish: str | None) -> dict:
        return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}

    def first_delta(self, a: Answer) -> dict:
        if a.tool:
            call = {"index": 0, "id": a.tool.id, "type": "function", "function": {"name": a.tool.name, "arguments": ""}}
            return {"role": "assistant", "content": None, "tool_calls": [call], "refusal": None}
        return {"role": "assistant", "content": "", "refusal": None}

    def content_deltas(self, a: Answer) -> list[dict]:
        if a.tool:
            return [{"tool_calls": [{"index": 0, "function": {"arguments": f}}]} for f in fragments(a.tool.arguments)]
        return [{"content": p} for p in pieces(a.text)]

    def prelude(self) -> list[bytes]:
        return []

    def stream(self, a: Answer, body: dict) -> StreamPlan:
        """Role chunk, content (or tool-call argument) chunks, finish chunk, usage chunk, [DONE]."""
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        id_, created = new_id(self.id_prefix), int(time.time())
        frames = self.prelude()

        def add(choices: list, usage: object = None) -> None:
            frames.append(data(self.chunk(a, id_, created, choices, usage, include_usage)))

        add([self.choice(self.first_delta(a), None)])
        cut = len(frames) + 2
        for delta in self.content_deltas(a):
            add([self.choice(delta, None)])
        add([self.choice({}, finish_reason(a))])
        frames.extend(self.stream_tail(a, id_, created, include_usage))
        frames.append(DONE)
        return StreamPlan(frames, cut)

    def stream_tail(self, a: Answer, id_: str, created: int, include_usage: bool) -> list[bytes]:
        if not include_usage:
            return []
        return [data(self.chunk(a, id_, created, [], self.usage(a), True))]

    # faults

    def stream_error(self, a: Answer) -> bytes:
        """An error event inside a 200 stream, then the terminator."""
        msg = "The server had an error while processing your request. Sorry about that!"
        return b"data: " + error_body(msg, "server_error") + b"\n\n" + DONE

    def error_in_body(self, model: str) -> Reply:
        msg = "The server had an error while processing your request. Sorry about that!"
        return Reply(200, error_body(msg, "server_error"), self.headers())

    def garbage_stream(self) -> bytes:
        return b"data: " + GARBAGE.replace(b"\r\n", b"") + b"\n\n" + DONE

    def error(self, fault: Fault, model: str) -> Reply:
        status, headers = fault.status, self.headers()
        if fault.kind == "ctx-overflow":
            msg = (
                "This model's maximum context length is 128000 tokens. However, your messages "
                "resulted in 131072 tokens. Please reduce the length of the messages."
            )
            return Reply(400, error_body(msg, "invalid_request_error", "messages", "context_length_exceeded"), headers)
        if fault.kind == "content-policy":
            msg = (
                "Your request was rejected as a result of our safety system. Your prompt may contain "
                "text that is not allowed by our safety system."
            )
            return Reply(400, error_body(msg, "invalid_request_error", None, "content_policy_violation"), headers)
        if status == 429:
            headers["Retry-After"] = str(fault.retry_after)
            headers["x-ratelimit-limit-requests"] = "500"
            headers["x-ratelimit-remaining-requests"] = "0"
            headers["x-ratelimit-reset-requests"] = f"{fault.retry_after}s"
            msg = (
                f"Rate limit reached for {model} in organization org-fakeupstream on requests per min "
                f"(RPM): Limit 500, Used 500, Requested 1. Please try again in {fault.retry_after}s. "
                "Visit https://platform.openai.com/account/rate-limits to learn more."
            )
            return Reply(429, error_body(msg, "requests", None, "rate_limit_exceeded"), headers)
        if status == 400:
            msg = "Unsupported value: 'messages[0].role' does not support 'system' with this model."
            return Reply(400, error_body(msg, "invalid_request_error", "messages[0].role", "unsupported_value"), headers)
        if status == 401:
            msg = (
                "Incorrect API key provided: bad-key. You can find your API key at "
                "https://platform.openai.com/account/api-keys."
            )
            return Reply(401, error_body(msg, "invalid_request_error", None, "invalid_api_key"), headers)
        if status == 403:
            msg, code = "Country, region, or territory not supported", "unsupported_country_region_territory"
            return Reply(403, error_body(msg, "request_forbidden", None, code), headers)
        if status == 502:
            body = {"error": {"code": 502, "message": "Bad gateway.", "param": None, "type": "cf_bad_gateway"}}
            return Reply(502, dumps(body), headers)
        if status in (503, 529):
            msg = "The engine is currently overloaded, please try again later"
            return Reply(503, error_body(msg, "server_error"), headers)
        msg = "The server had an error while processing your request. Sorry about that!"
        return Reply(500, error_body(msg, "server_error"), headers)

    def not_found(self, method: str, path: str) -> Reply:
        msg = f"Invalid URL ({method} {path})"
        return Reply(404, error_body(msg, "invalid_request_error"), self.headers())

    # embeddings and models

    def embeddings(self, body: dict) -> Reply:
        inputs = body.get("input")
        if inputs is None or inputs == "" or inputs == []:
            return Reply(400, error_body("'input' is a required property", "invalid_request_error"), self.headers())
        if isinstance(inputs, str) or (isinstance(inputs, list) and inputs and isinstance(inputs[0], int)):
            inputs = [inputs]
        if not isinstance(inputs, list) or not all(isinstance(i, (str, list)) for i in inputs):
            # as the real API: a string, an array of strings, or an array of token arrays
            return Reply(400, error_body("'input' must be a string, an array of strings, or an array of "
                                         "token arrays", "invalid_request_error", param="input"), self.headers())
        as_base64 = body.get("encoding_format") == "base64"
        items, chars = [], 0
        for i, item in enumerate(inputs):
            text = item if isinstance(item, str) else str(item)
            chars += len(text)
            vec = embed(text)
            value = base64.b64encode(struct.pack(f"<{_EMBED_DIM}f", *vec)).decode() if as_base64 else vec
            items.append({"object": "embedding", "index": i, "embedding": value})
        usage = {"prompt_tokens": tokens(chars), "total_tokens": tokens(chars)}
        obj = {"object": "list", "data": items, "model": body["model"], "usage": usage}
        return Reply(200, dumps(obj), self.headers())

    def models(self) -> Reply:
        return Reply(200, _MODELS_BODY, self.headers())


def embed(text: str) -> list[float]:
    """A deterministic unit vector of `_EMBED_DIM` floats for a text."""
    raw = hashlib.blake2b(text.encode(), digest_size=_EMBED_DIM).digest()
    vec = [(b - 127.5) / 127.5 for b in raw]
    norm = math.sqrt(sum(v * v for v in vec)) or 1.0
    return [round(v / norm, 6) for v in vec]
