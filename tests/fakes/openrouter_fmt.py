"""OpenRouter's wire format: OpenAI's, with its own envelope, usage cost and error bodies.

From the transcripts openrouter_stream_* / openrouter_error_429_* and openrouter.ai/docs:
`: OPENROUTER PROCESSING` comments before the first chunk, `provider` and `native_finish_reason`
in chunks, usage (with `cost`, `is_byok`, `cost_details`) always in the last chunk, errors shaped
`{"error": {"code": <int>, "message", "metadata"?}}`, and mid-stream errors inside a 200 stream.
"""

from __future__ import annotations

import time
from pathlib import Path

import orjson

from .answer import Answer, new_id
from .faults import Fault
from .media_fmt import PNG_DATA_URL
from .openai_fmt import OpenAIFormat, finish_reason, is_bad_key
from .wire import DONE, JSON, Reply, StreamPlan, data, dumps

DEFAULT_CATALOG = Path(__file__).parent / "data" / "openrouter_models_excerpt.json"
_PROCESSING = b": OPENROUTER PROCESSING\n\n"
_PROVIDERS = {"openai": "OpenAI", "anthropic": "Anthropic", "google": "Google", "meta-llama": "DeepInfra",
              "mistralai": "Mistral", "cohere": "Cohere", "perplexity": "Perplexity", "x-ai": "xAI"}
_USER_ID = "user_2wT5ElBE4Es3R4QrNLpZiXICmQP"


def error_body(code: int, message: str, metadata: dict | None = None, user_id: bool = False) -> bytes:
    err: dict = {"code": code, "message": message}
    if metadata is not None:
        err["metadata"] = metadata
    obj: dict = {"error": err}
    if user_id:
        obj["user_id"] = _USER_ID
    return dumps(obj)


def provider_of(model: str) -> str:
    return _PROVIDERS.get(model.split("/", 1)[0].lstrip("~"), "OpenAI")


def wants_image(body: dict | None) -> bool:
    """An image answer: `"modalities"` asks for "image" and the model's name contains "image"."""
    if not body:
        return False
    modalities = body.get("modalities")
    return isinstance(modalities, list) and "image" in modalities and "image" in str(body.get("model"))


def image_parts() -> list[dict]:
    """`message.images` (and `delta.images`) as openrouter.ai/docs/features/multimodal/image-generation shows."""
    return [{"type": "image_url", "image_url": {"url": PNG_DATA_URL}}]


def cost(a: Answer) -> tuple[float, float]:
    """(prompt cost, completion cost) in USD: $1 per million prompt tokens, $2 per million completion."""
    return round(a.prompt_tokens * 1e-6, 12), round(a.completion_tokens * 2e-6, 12)


class OpenRouterFormat(OpenAIFormat):
    name = "openrouter"
    stream_content_type = "text/event-stream"
    id_prefix = "gen-"

    def __init__(self, catalog_path: str | Path | None = None) -> None:
        self.catalog = Path(catalog_path or DEFAULT_CATALOG).read_bytes()

    def headers(self, content_type: str = JSON) -> dict[str, str]:
        return {"Content-Type": content_type, "access-control-allow-origin": "*"}

    def auth_error(self, headers: object) -> Reply | None:
        auth = headers.get("Authorization")  # type: ignore[attr-defined]
        if not auth:
            return Reply(401, error_body(401, "No auth credentials found"), self.headers())
        if is_bad_key(auth):
            return Reply(401, error_body(401, "User not found."), self.headers())
        return None

    def usage(self, a: Answer) -> dict:
        prompt_cost, completion_cost = cost(a)
        return {
            "prompt_tokens": a.prompt_tokens,
            "completion_tokens": a.completion_tokens,
            "total_tokens": a.prompt_tokens + a.completion_tokens,
            "cost": round(prompt_cost + completion_cost, 12),
            "is_byok": False,
            "prompt_tokens_details": {"cached_tokens": a.cached_tokens, "audio_tokens": 0},
            "cost_details": {
                "upstream_inference_cost": None,
                "upstream_inference_prompt_cost": prompt_cost,
                "upstream_inference_completions_cost": completion_cost,
            },
            "completion_tokens_details": {"reasoning_tokens": 0, "image_tokens": 0},
        }

    def message(self, a: Answer) -> dict:
        msg = super().message(a)
        del msg["annotations"]
        msg["reasoning"] = None
        return msg

    def completion_obj(self, a: Answer, id_: str) -> dict:
        finish = finish_reason(a)
        choice = {"logprobs": None, "finish_reason": finish, "native_finish_reason": finish, "index": 0,
                  "message": self.message(a)}
        return {"id": id_, "provider": provider_of(a.model), "model": a.model, "object": "chat.completion",
                "created": int(time.time()), "choices": [choice], "usage": self.usage(a)}

    def completion(self, a: Answer, body: dict | None = None) -> Reply:
        obj = self.completion_obj(a, new_id(self.id_prefix))
        if wants_image(body):
            obj["choices"][0]["message"]["images"] = image_parts()
        return Reply(200, dumps(obj), self.headers())

    def stream(self, a: Answer, body: dict) -> StreamPlan:
        """For an image answer, one more chunk before the finish chunk: `delta.images`."""
        plan = super().stream(a, body)
        if not wants_image(body) or a.tool:
            return plan
        finish = len(plan.frames) - 3  # the finish chunk: then the usage chunk and [DONE]
        template = orjson.loads(plan.frames[finish][len(b"data: "):])
        delta = {"role": "assistant", "content": "", "images": image_parts()}
        template["choices"] = [self.choice(delta, None)]
        plan.frames.insert(finish, data(template))
        return plan

    def chunk(self, a: Answer, id_: str, created: int, choices: list, usage: object, with_usage: bool) -> dict:
        obj = {"id": id_, "provider": provider_of(a.model), "model": a.model, "object": "chat.completion.chunk",
               "created": created, "choices": choices}
        if usage is not None:
            obj["usage"] = usage
        return obj

    def choice(self, delta: dict, finish: str | None) -> dict:
        return {"index": 0, "delta": delta, "finish_reason": finish, "native_finish_reason": finish, "logprobs": None}

    def first_delta(self, a: Answer) -> dict:
        delta = super().first_delta(a)
        del delta["refusal"]
        return delta

    def content_deltas(self, a: Answer) -> list[dict]:
        deltas = super().content_deltas(a)
        if not a.tool:
            for d in deltas:
                d["role"] = "assistant"
        return deltas

    def prelude(self) -> list[bytes]:
        return [_PROCESSING, _PROCESSING]

    def stream_tail(self, a: Answer, id_: str, created: int, include_usage: bool) -> list[bytes]:
        # OpenRouter always sends usage now; stream_options.include_usage is deprecated there.
        empty = self.choice({"role": "assistant", "content": ""}, None)
        return [data(self.chunk(a, id_, created, [empty], self.usage(a), True))]

    def stream_error(self, a: Answer) -> bytes:
        chunk = {"id": new_id("gen-"), "provider": provider_of(a.model),
                 "error": {"code": 502, "message": "Provider returned error"}, "model": a.model,
                 "object": "chat.completion.chunk", "created": int(time.time()),
                 "choices": [self.choice({"role": "assistant", "content": ""}, None)], "usage": self.usage(a)}
        return data(chunk) + DONE

    def error_in_body(self, model: str) -> Reply:
        meta = {"provider_name": provider_of(model), "raw": "upstream connection reset"}
        return Reply(200, error_body(502, "Provider returned error", meta, user_id=True), self.headers())

    def error(self, fault: Fault, model: str) -> Reply:
        status, headers, provider = fault.status, self.headers(), provider_of(model)
        if fault.kind == "ctx-overflow":
            msg = (
                "This endpoint's maximum context length is 128000 tokens. However, you requested about "
                "131072 tokens (131072 of text input). Please reduce the length of either one, or use "
                'the "middle-out" transform to compress your prompt automatically.'
            )
            return Reply(400, error_body(400, msg, {"provider_name": None}), headers)
        if fault.kind == "content-policy" or status == 403:
            meta = {"reasons": ["violence"], "flagged_input": "...", "provider_name": provider, "model_slug": model}
            msg = f'{model} requires moderation on {provider}. Your input was flagged for "violence". No credits were charged.'
            return Reply(403, error_body(403, msg, meta), headers)
        if status == 429:
            headers["Retry-After"] = str(fault.retry_after)
            raw = (f"{model} is temporarily rate-limited upstream. Please retry shortly, or add your own key "
                   "to accumulate your rate limits: https://openrouter.ai/settings/integrations")
            meta = {"provider_name": provider, "raw": raw}
            return Reply(429, error_body(429, "Provider returned error", meta, user_id=True), headers)
        if status == 400:
            return Reply(400, error_body(400, f"{model} is not a valid model ID", None, user_id=True), headers)
        if status == 401:
            return Reply(401, error_body(401, "User not found."), headers)
        if status == 502:
            meta = {"provider_name": provider, "raw": "upstream connect error or disconnect/reset before headers"}
            return Reply(502, error_body(502, "Provider returned error", meta, user_id=True), headers)
        if status in (503, 529):
            msg = "No allowed providers are available for the selected model."
            return Reply(503, error_body(503, msg, None, user_id=True), headers)
        return Reply(500, error_body(500, "Internal Server Error"), headers)

    def not_found(self, method: str, path: str) -> Reply:
        return Reply(404, error_body(404, "Not Found"), self.headers())

    def models(self) -> Reply:
        return Reply(200, self.catalog, self.headers())
