"""Azure OpenAI's wire format: OpenAI's, at deployment URLs, with Azure's content-filter extras.

From learn.microsoft.com's Azure OpenAI REST reference and content-filtering pages: the key comes as
`api-key` (or an Entra ID token as `Authorization: Bearer`), every call carries `?api-version=`,
answers add `prompt_filter_results` (top level) and `content_filter_results` (per choice), a stream
opens with a chunk holding only the prompt's filter results (`choices: []`, `model: ""`), and errors
are `{"error": {"code": "<status or word>", "message"}}`; a filtered prompt is HTTP 400 with
`code: "content_filter"` and `innererror: {"code": "ResponsibleAIPolicyViolation",
"content_filter_result": {...}}`. A deployment whose name contains "filtered" answers 200 with
`finish_reason: "content_filter"` (the completion was filtered).

Faults are chosen by deployment name (the URL's), which must equal the body's `model` (RIN sends both).
"""

from __future__ import annotations

import re
import time

from .answer import Answer, new_id
from .faults import Fault
from .openai_fmt import OpenAIFormat, finish_reason
from .wire import DONE, Reply, StreamPlan, data, dumps

_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}(-preview)?$")
_SAFE = {"filtered": False, "severity": "safe"}


def categories(flagged: str | None = None) -> dict:
    out = {name: dict(_SAFE) for name in ("hate", "self_harm", "sexual", "violence")}
    if flagged:
        out[flagged] = {"filtered": True, "severity": "medium"}
    return out


def error_body(code: str, message: str, **extra: object) -> bytes:
    return dumps({"error": {"code": code, "message": message, **extra}})


def filtered(model: str) -> bool:
    return "filtered" in model


class AzureFormat(OpenAIFormat):
    name = "azure"

    def headers(self, content_type: str = "application/json") -> dict[str, str]:
        return {"Content-Type": content_type, "apim-request-id": new_id(""), "x-ms-region": "East US"}

    # requests

    def auth_error(self, headers: object) -> Reply | None:
        key = headers.get("api-key")  # type: ignore[attr-defined]
        bearer = headers.get("Authorization")  # type: ignore[attr-defined]
        if key in (None, "", "bad-key") and not (bearer and bearer.startswith("Bearer ") and bearer != "Bearer bad-key"):
            return self.error(Fault("status", status=401), "")
        return None

    def version_error(self, version: str | None) -> Reply | None:
        if not version:
            return Reply(404, error_body("404", "Resource not found"), self.headers())
        if not _VERSION.match(version):
            return Reply(400, error_body("BadRequest", "API version not supported"), self.headers())
        return None

    def wrong_deployment(self, deployment: str, model: object) -> Reply | None:
        if model is not None and model != deployment:
            msg = f"The body's model '{model}' is not the deployment in the URL '{deployment}' (fake's check)"
            return Reply(400, error_body("BadRequest", msg), self.headers())
        return None

    # successful answers

    def completion_obj(self, a: Answer, id_: str) -> dict:
        obj = super().completion_obj(a, id_)
        choice = obj["choices"][0]
        if filtered(a.model):
            choice["finish_reason"] = "content_filter"
            choice["message"]["content"] = None
            choice["content_filter_results"] = categories("violence")
        else:
            choice["content_filter_results"] = categories()
        obj["prompt_filter_results"] = [{"prompt_index": 0, "content_filter_results": categories()}]
        del obj["service_tier"]
        return obj

    def chunk(self, a: Answer, id_: str, created: int, choices: list, usage: object, with_usage: bool) -> dict:
        obj = super().chunk(a, id_, created, choices, usage, with_usage)
        obj.pop("service_tier", None)
        obj.pop("obfuscation", None)
        for choice in choices:
            choice.setdefault("content_filter_results", {} if choice.get("finish_reason") else categories())
        return obj

    def stream(self, a: Answer, body: dict) -> StreamPlan:
        prelude = {"choices": [], "created": 0, "id": "", "model": "", "object": "",
                   "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": categories()}]}
        if not filtered(a.model):
            plan = super().stream(a, body)
            return StreamPlan([data(prelude), *plan.frames], plan.cut + 1)
        id_, created = new_id(self.id_prefix), int(time.time())
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        frames = [data(prelude),
                  data(self.chunk(a, id_, created, [self.choice({"role": "assistant", "content": ""}, None)],
                                  None, include_usage)),
                  data(self.chunk(a, id_, created, [self.choice({}, "content_filter")], None, include_usage)),
                  *self.stream_tail(a, id_, created, include_usage), DONE]
        return StreamPlan(frames, 2)

    # faults

    def error(self, fault: Fault, model: str) -> Reply:
        headers = self.headers()
        if fault.kind == "content-policy":
            msg = ("The response was filtered due to the prompt triggering Azure OpenAI's content management "
                   "policy. Please modify your prompt and retry. To learn more about our content filtering "
                   "policies please read our documentation: https://go.microsoft.com/fwlink/?linkid=2198766")
            inner = {"code": "ResponsibleAIPolicyViolation",
                     "content_filter_result": {**categories("violence"),
                                               "jailbreak": {"filtered": False, "detected": False}}}
            return Reply(400, error_body("content_filter", msg, param="prompt", type=None, status=400,
                                         innererror=inner), headers)
        if fault.kind == "ctx-overflow":
            msg = ("This model's maximum context length is 128000 tokens. However, your messages resulted in "
                   "131072 tokens. Please reduce the length of the messages.")
            return Reply(400, error_body("context_length_exceeded", msg, param="messages",
                                         type="invalid_request_error"), headers)
        status = fault.status
        if status == 401:
            msg = ("Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a "
                   "valid key for an active subscription and use a correct regional API endpoint for your resource.")
            return Reply(401, error_body("401", msg), headers)
        if status == 429:
            headers["Retry-After"] = str(fault.retry_after)
            headers["retry-after-ms"] = str(fault.retry_after * 1000)
            msg = (f"Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 "
                   f"have exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after "
                   f"{fault.retry_after} seconds.")
            return Reply(429, error_body("429", msg), headers)
        if status in (400, 403):
            return super().error(fault, model)
        msg = "The server had an error while processing your request. Sorry about that!"
        return Reply(status if status >= 500 else 500, error_body("InternalServerError", msg), headers)

    def not_found(self, method: str, path: str) -> Reply:
        return Reply(404, error_body("404", "Resource not found"), self.headers())


__all__ = ["AzureFormat", "categories", "finish_reason"]
