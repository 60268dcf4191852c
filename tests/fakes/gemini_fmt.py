"""Google's Gemini API wire format: generateContent JSON, streamGenerateContent `alt=sse`, errors.

Shapes follow ai.google.dev/api/generate-content (GenerateContentResponse: candidates[].content.parts,
finishReason, usageMetadata with promptTokenCount, candidatesTokenCount, thoughtsTokenCount,
cachedContentTokenCount; promptFeedback.blockReason) and the google.rpc error envelope
`{"error": {"code", "message", "status", "details"}}` (ai.google.dev/gemini-api/docs/troubleshooting).

The model and the method are in the URL (`/models/{model}:generateContent`); the server passes them
in as `body["model"]` and `body["stream"]`. The key is the `x-goog-api-key` header: missing answers
403 PERMISSION_DENIED, "bad-key" 400 INVALID_ARGUMENT with ErrorInfo reason API_KEY_INVALID, as Google
does. Faults: content-policy is a 200 whose prompt is blocked (promptFeedback.blockReason SAFETY);
ctx-overflow a 400 INVALID_ARGUMENT "exceeds the maximum number of tokens"; 429 carries a RetryInfo
detail. "think" models with thinkingConfig.includeThoughts answer with a thought part first.
"""

from __future__ import annotations

import base64

import orjson

from .answer import Answer, decide, new_id, pieces, tokens
from .faults import Fault
from .wire import GARBAGE, JSON, Reply, StreamPlan, data, dumps

_STATUS_ERRORS = {  # status -> (google.rpc status, message)
    400: ("INVALID_ARGUMENT", "Request contains an invalid argument."),
    401: ("UNAUTHENTICATED", "Request had invalid authentication credentials."),
    403: ("PERMISSION_DENIED", "The caller does not have permission"),
    404: ("NOT_FOUND", "models/x is not found for API version v1beta, or is not supported for generateContent."),
    429: ("RESOURCE_EXHAUSTED", "You exceeded your current quota, please check your plan and billing details."),
    500: ("INTERNAL", "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting"),
    502: ("UNAVAILABLE", "Bad gateway"),
    503: ("UNAVAILABLE", "The model is overloaded. Please try again later."),
    529: ("UNAVAILABLE", "The model is overloaded. Please try again later."),
}


#: what Google documents for a replayed function call whose signature is not available
SKIP_SIGNATURE = "skip_thought_signature_validator"


def thought_signature(name: object) -> str:
    """The fake's (opaque, base64) thought signature for a call of `name`."""
    return base64.b64encode(f"fake-thought-for-{name}".encode()).decode()


def envelope(code: int, status: str, message: str, details: list | None = None) -> bytes:
    error: dict = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = details
    return dumps({"error": error})


def _texts(parts: object) -> str:
    if not isinstance(parts, list):
        return ""
    return "".join(p.get("text") or "" for p in parts if isinstance(p, dict))


def _is_function_response(content: dict) -> bool:
    parts = content.get("parts")
    return isinstance(parts, list) and any(isinstance(p, dict) and "functionResponse" in p for p in parts)


def prompt_chars(body: dict) -> int:
    system = body.get("systemInstruction")
    chars = len(_texts(system.get("parts"))) if isinstance(system, dict) else 0
    for content in body.get("contents") or ():
        if isinstance(content, dict):
            chars += len(_texts(content.get("parts")))
    return chars


class GeminiFormat:
    """Renders answers and faults the way generativelanguage.googleapis.com does."""

    name = "gemini"
    stream_content_type = "text/event-stream"

    def headers(self, content_type: str = JSON) -> dict[str, str]:
        return {"Content-Type": content_type + ("; charset=UTF-8" if content_type == JSON else ""),
                "Server": "scaffolding on HTTPServer2", "Vary": "Origin"}

    def reply(self, status: int, body: bytes) -> Reply:
        return Reply(status, body, self.headers())

    # requests

    def auth_error(self, headers: object) -> Reply | None:
        key = headers.get("x-goog-api-key")  # type: ignore[attr-defined]
        if not key:
            return self.reply(403, envelope(403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers "
                                            "(callers without established identity). Please use API Key or other "
                                            "form of API consumer identity to call this API."))
        if key == "bad-key":
            details = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                        "domain": "googleapis.com", "metadata": {"service": "generativelanguage.googleapis.com"}}]
            return self.reply(400, envelope(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.",
                                            details))
        return None

    def bad_request(self, message: str) -> Reply:
        return self.reply(400, envelope(400, "INVALID_ARGUMENT", message))

    def validate_chat(self, headers: object, body: dict | None) -> Reply | None:
        if body is None:
            return self.bad_request("Invalid JSON payload received.")
        contents = body.get("contents")
        if not isinstance(contents, list) or not contents:
            return self.bad_request("* GenerateContentRequest.contents: contents is not specified")
        for i, content in enumerate(contents):
            if not isinstance(content, dict) or content.get("role") not in ("user", "model"):
                return self.bad_request(f"Please use a valid role: user, model. (contents[{i}])")
            if not isinstance(content.get("parts"), list) or not content["parts"]:
                return self.bad_request(f"* GenerateContentRequest.contents[{i}].parts: contents.parts must not be empty.")
            if "gemini-3" in str(body.get("model")) and content["role"] == "model":
                calls = [p for p in content["parts"] if isinstance(p, dict) and isinstance(p.get("functionCall"), dict)]
                if calls and calls[0].get("thoughtSignature") not in (
                        thought_signature(calls[0]["functionCall"].get("name")), SKIP_SIGNATURE):
                    return self.bad_request(
                        "Function call is missing a thought_signature in functionCall parts. This is required for "
                        "tools to work correctly, and missing thought_signature may lead to degraded model "
                        f"performance. Additional data, function call `default_api:{calls[0]['functionCall'].get('name')}` "
                        f", position {i + 1}. Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures "
                        "for more details.")
        return None

    def decide(self, body: dict) -> Answer:
        model = body["model"]
        contents = [c for c in body.get("contents") or () if isinstance(c, dict)]
        last_user = next((_texts(c.get("parts")) for c in reversed(contents)
                          if c.get("role") == "user" and not _is_function_response(c)), "")
        tool = None
        last = contents[-1] if contents else {}
        declarations = [d for t in body.get("tools") or () if isinstance(t, dict)
                        for d in t.get("functionDeclarations") or () if isinstance(d, dict) and d.get("name")]
        if declarations and "tool" in model and last.get("role") == "user" and not _is_function_response(last):
            first = declarations[0]
            tool = (first["name"], first.get("parametersJsonSchema") or first.get("parameters") or {})
        config = body.get("generationConfig") or {}
        answer = decide(model, prompt_chars(body), last_user, tool, config.get("maxOutputTokens"))
        thinking = config.get("thinkingConfig") or {}
        if "think" in model and thinking.get("includeThoughts"):
            answer.thinking = f"The user wrote {last_user[:40]!r}. I should answer briefly."
        return answer

    # successful answers

    def usage(self, a: Answer) -> dict:
        usage = {"promptTokenCount": a.prompt_tokens, "candidatesTokenCount": a.completion_tokens,
                 "totalTokenCount": a.prompt_tokens + a.completion_tokens,
                 "promptTokensDetails": [{"modality": "TEXT", "tokenCount": a.prompt_tokens}]}
        if a.thinking:
            usage["thoughtsTokenCount"] = tokens(len(a.thinking))
            usage["totalTokenCount"] += usage["thoughtsTokenCount"]
        if a.cached_tokens:
            usage["cachedContentTokenCount"] = a.cached_tokens
        return usage

    def finish_reason(self, a: Answer) -> str:
        return "MAX_TOKENS" if a.truncated else "STOP"

    def response(self, a: Answer, parts: list, finish: str | None, usage: dict, response_id: str) -> dict:
        candidate: dict = {"content": {"parts": parts, "role": "model"}, "index": 0}
        if finish:
            candidate["finishReason"] = finish
        return {"candidates": [candidate], "usageMetadata": usage, "modelVersion": a.model, "responseId": response_id}

    def answer_parts(self, a: Answer) -> list:
        if a.tool:
            part = {"functionCall": {"name": a.tool.name, "args": orjson.loads(a.tool.arguments)}}
            if "gemini-3" in a.model:  # Gemini 3 signs every function call (and wants it back)
                part["thoughtSignature"] = thought_signature(a.tool.name)
            return [part]
        return [{"text": a.text}]

    def completion(self, a: Answer, body: dict | None = None) -> Reply:
        parts = ([{"text": a.thinking, "thought": True}] if a.thinking else []) + self.answer_parts(a)
        return self.reply(200, dumps(self.response(a, parts, self.finish_reason(a), self.usage(a), new_id(""))))

    def stream(self, a: Answer, body: dict) -> StreamPlan:
        """One `data:` event per piece, each a whole GenerateContentResponse; the last one carries the
        finishReason and the final usageMetadata. No [DONE]: the stream just ends."""
        rid = new_id("")
        partial = {"promptTokenCount": a.prompt_tokens, "totalTokenCount": a.prompt_tokens}
        steps: list[list] = []
        if a.thinking:
            steps.append([{"text": a.thinking, "thought": True}])
        if a.tool:
            steps.append(self.answer_parts(a))
        else:
            steps.extend([{"text": p}] for p in pieces(a.text))
        frames = [data(self.response(a, parts, None, partial, rid)) for parts in steps[:-1]]
        frames.append(data(self.response(a, steps[-1], self.finish_reason(a), self.usage(a), rid)))
        return StreamPlan(frames, min(2, len(frames) - 1))

    # faults

    def stream_error(self, a: Answer) -> bytes:
        return b"data: " + envelope(503, "UNAVAILABLE", "The model is overloaded. Please try again later.") + b"\n\n"

    def error_in_body(self, model: str) -> Reply:
        return self.reply(200, envelope(503, "UNAVAILABLE", "The model is overloaded. Please try again later."))

    def garbage_stream(self) -> bytes:
        return b"data: " + GARBAGE.replace(b"\r\n", b"") + b"\n\n"

    def error(self, fault: Fault, model: str) -> Reply:
        if fault.kind == "ctx-overflow":
            return self.bad_request("The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).")
        if fault.kind == "content-policy":
            return self.reply(200, self.blocked(model))
        status, message = _STATUS_ERRORS.get(fault.status, _STATUS_ERRORS[500])
        details = None
        if fault.status == 429:
            details = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{fault.retry_after}s"}]
        code = fault.status if fault.status in _STATUS_ERRORS else 500
        return self.reply(code, envelope(code, status, message, details))

    def blocked(self, model: str) -> bytes:
        """A prompt the safety filters stopped: no candidates, promptFeedback.blockReason."""
        return dumps({"promptFeedback": {"blockReason": "SAFETY", "safetyRatings": [
            {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True}]},
            "usageMetadata": {"promptTokenCount": 8, "totalTokenCount": 8}, "modelVersion": model,
            "responseId": new_id("")})

    def not_found(self, method: str, path: str) -> Reply:
        return self.reply(404, envelope(404, "NOT_FOUND", f"The requested URL {path} was not found on this server."))
