"""OpenAI's legacy completions (`POST /v1/completions`): text_completion JSON and `data:` SSE chunks.

Only models whose name contains "instruct" or "completion" serve it (as gpt-3.5-turbo-instruct /
davinci-002 do); any other model answers 404 as api.openai.com does for a chat model. `prompt` is a
string, a list of strings (one choice per prompt, `index` i), or token arrays; `suffix` counts toward
the prompt; `echo` is ignored; `max_tokens` defaults to 16, as on the real endpoint.
"""

from __future__ import annotations

import time

from .answer import Answer, decide, new_id, pieces
from .openai_fmt import OpenAIFormat, error_body
from .wire import DONE, Reply, StreamPlan, data, dumps

_CHAT_MODEL = (
    "This is a chat model and not supported in the v1/completions endpoint. "
    "Did you mean to use v1/chat/completions?"
)
_DEFAULT_MAX_TOKENS = 16


def serves_completions(model: str) -> bool:
    return "instruct" in model or "completion" in model


def _prompts(prompt: object) -> list[str] | None:
    """The prompts of a request, as texts; None when `prompt` has no valid shape."""
    if isinstance(prompt, str):
        return [prompt]
    if isinstance(prompt, list) and prompt:
        if all(isinstance(t, int) for t in prompt):  # one prompt as a token array
            return [" ".join(map(str, prompt))]
        if all(isinstance(p, str) for p in prompt):
            return list(prompt)
        if all(isinstance(p, list) and all(isinstance(t, int) for t in p) for p in prompt):
            return [" ".join(map(str, p)) for p in prompt]
    return None


def _finish(a: Answer) -> str:
    return "length" if a.truncated else "stop"


class CompletionsFormat(OpenAIFormat):
    """Renders answers the way api.openai.com's /v1/completions does; `decide` gives one Answer per prompt."""

    name = "openai-completions"
    id_prefix = "cmpl-"

    def validate_chat(self, headers: object, body: dict | None) -> Reply | None:
        reply = self.validate(headers, body)
        if reply is not None or body is None:
            return reply
        if not serves_completions(body["model"]):
            return Reply(404, error_body(_CHAT_MODEL, "invalid_request_error", "model", None), self.headers())
        if "prompt" not in body:
            body_ = error_body(
                "Missing required parameter: 'prompt'.", "invalid_request_error", "prompt", "missing_required_parameter"
            )
            return Reply(400, body_, self.headers())
        if _prompts(body["prompt"]) is None:
            message = "Invalid type for 'prompt': expected a string, an array of strings, or an array of token arrays."
            return Reply(400, error_body(message, "invalid_request_error", "prompt", "invalid_type"), self.headers())
        return None

    def bad_request(self, message: str) -> Reply:
        return Reply(400, error_body(message, "invalid_request_error", "prompt"), self.headers())

    def decide(self, body: dict) -> list[Answer]:  # type: ignore[override]
        suffix = body.get("suffix")
        extra = len(suffix) if isinstance(suffix, str) else 0
        limit = body.get("max_tokens", _DEFAULT_MAX_TOKENS)
        return [
            decide(body["model"], len(p) + extra, p, None, limit)
            for p in _prompts(body["prompt"]) or ()
        ]

    def usage(self, answers: list[Answer]) -> dict:  # type: ignore[override]
        prompt = sum(a.prompt_tokens for a in answers)
        completion = sum(a.completion_tokens for a in answers)
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    def choice_obj(self, text: str, index: int, finish: str | None) -> dict:
        return {"text": text, "index": index, "logprobs": None, "finish_reason": finish}

    def completion(self, answers: list[Answer], body: dict | None = None) -> Reply:  # type: ignore[override]
        obj = {
            "id": new_id(self.id_prefix),
            "object": "text_completion",
            "created": int(time.time()),
            "model": answers[0].model if answers else (body or {}).get("model"),
            "choices": [self.choice_obj(a.text, i, _finish(a)) for i, a in enumerate(answers)],
            "usage": self.usage(answers),
        }
        return Reply(200, dumps(obj), self.headers())

    def stream(self, answers: list[Answer], body: dict) -> StreamPlan:  # type: ignore[override]
        """Text chunks (each holding one choice), a finish chunk per choice, usage chunk if asked, [DONE]."""
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        id_, created, model = new_id(self.id_prefix), int(time.time()), body["model"]
        frames: list[bytes] = []

        def add(choices: list, usage: object = None) -> None:
            obj = {"id": id_, "object": "text_completion", "created": created, "choices": choices, "model": model}
            if include_usage:
                obj["usage"] = usage
            frames.append(data(obj))

        for i, a in enumerate(answers):
            for p in pieces(a.text):
                add([self.choice_obj(p, i, None)])
        for i, a in enumerate(answers):
            add([self.choice_obj("", i, _finish(a))])
        if include_usage:
            add([], self.usage(answers))
        frames.append(DONE)
        return StreamPlan(frames, 2)
