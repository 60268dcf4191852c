"""OpenAI's Responses API (`POST /v1/responses`): Response objects (JSON) and semantic SSE events.

Shapes follow OpenAI's API reference (responses/create, responses-streaming) and Response bodies
captured from api.openai.com: every stream event is `event: <type>` + `data: {"type", "sequence_number",
...}`, there is no `data: [DONE]`, and the stream ends with response.completed / .incomplete / .failed.
The SDK's pydantic types (openai.types.responses) parse every body and event produced here.

What the fake checks before answering, as the real API does (400 invalid_request_error):
`previous_response_id` (the fake stores no responses, so any id is unknown: the gateway must resolve
conversation state itself and never forward the field), missing `input`, chat-style function tools
(`{"type": "function", "function": {...}}` lacks `tools[i].name`), `role: "tool"` input messages, and
`max_output_tokens` below 16.
"""

from __future__ import annotations

import time

from .answer import Answer, decide, fragments, new_id, pieces, text_of
from .openai_fmt import OpenAIFormat, error_body
from .wire import GARBAGE, Reply, StreamPlan, dumps, event

_ROLES = ("user", "assistant", "system", "developer")
_FAILED = (
    "An error occurred while processing your request. You can retry your request, or contact us "
    "through our help center at help.openai.com if the error persists. Please include the request ID "
    "{} in your message."
)


def _items(body: dict) -> list[dict]:
    """The `input` as a list of items: a string is one user message."""
    inp = body.get("input")
    if isinstance(inp, str):
        return [{"type": "message", "role": "user", "content": inp}]
    return [i for i in inp or () if isinstance(i, dict)] if isinstance(inp, list) else []


def _is_message(item: dict) -> bool:
    return item.get("type", "message") == "message" and "role" in item


def _output_chars(output: object) -> int:
    return len(output) if isinstance(output, str) else len(text_of(output))


def _tool_echo(tool: object) -> object:
    """A request tool as the Response echoes it (function tools gain their defaults)."""
    if not isinstance(tool, dict) or tool.get("type") != "function":
        return tool
    return {
        "type": "function",
        "description": tool.get("description"),
        "name": tool.get("name"),
        "parameters": tool.get("parameters"),
        "strict": tool.get("strict", True),
    }


def _obfuscation(text: str) -> str:
    """The padding OpenAI adds to delta events so their sizes do not leak the text's length."""
    return "Xq5Xx9Yz0Ab1Cd2"[: max(1, 15 - len(text) % 15)]


class ResponsesFormat(OpenAIFormat):
    """Renders answers and faults the way api.openai.com's /v1/responses does."""

    name = "openai-responses"

    # requests

    def _invalid(self, message: str, param: str | None, code: str | None) -> Reply:
        return Reply(400, error_body(message, "invalid_request_error", param, code), self.headers())

    def validate_chat(self, headers: object, body: dict | None) -> Reply | None:
        reply = self.validate(headers, body)
        if reply is not None or body is None:
            return reply
        previous = body.get("previous_response_id")
        if previous:
            return self._invalid(
                f"Previous response with id '{previous}' not found.",
                "previous_response_id",
                "previous_response_not_found",
            )
        if body.get("input") is None:
            return self._invalid("Missing required parameter: 'input'.", "input", "missing_required_parameter")
        for i, tool in enumerate(body.get("tools") or ()):
            if isinstance(tool, dict) and tool.get("type") == "function" and not tool.get("name"):
                return self._invalid(
                    f"Missing required parameter: 'tools[{i}].name'.", f"tools[{i}].name", "missing_required_parameter"
                )
        if isinstance(body.get("input"), list):
            for i, item in enumerate(body["input"]):
                if isinstance(item, dict) and "role" in item and item["role"] not in _ROLES:
                    message = (
                        f"Invalid value: '{item['role']}'. Supported values are: 'assistant', 'system', "
                        "'developer', and 'user'."
                    )
                    return self._invalid(message, f"input[{i}].role", "invalid_value")
        limit = body.get("max_output_tokens")
        if isinstance(limit, int) and not isinstance(limit, bool) and limit < 16:
            message = (
                "Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 16, "
                f"but got {limit} instead."
            )
            return self._invalid(message, "max_output_tokens", "integer_below_min_value")
        return None

    def bad_request(self, message: str) -> Reply:
        return self._invalid(message, "input", None)

    def decide(self, body: dict) -> Answer:
        """Prompt = instructions + message texts + function_call_output outputs; tool call as for chat."""
        model = body["model"]
        items = _items(body)
        instructions = body.get("instructions")
        prompt_chars = len(instructions) if isinstance(instructions, str) else 0
        for item in items:
            if _is_message(item):
                prompt_chars += len(text_of(item.get("content")))
            elif item.get("type") == "function_call_output":
                prompt_chars += _output_chars(item.get("output"))
        users = [i for i in items if _is_message(i) and i.get("role") == "user"]
        last_user = text_of(users[-1].get("content")) if users else ""
        tool = None
        tools = body.get("tools")
        last = items[-1] if items else {}
        if tools and "tool" in model and _is_message(last) and last.get("role") == "user":
            fn = next((t for t in tools if isinstance(t, dict) and t.get("type") == "function" and t.get("name")), None)
            if fn:
                tool = (fn["name"], fn.get("parameters") or {})
        return decide(model, prompt_chars, last_user, tool, body.get("max_output_tokens"))

    # successful answers

    def usage(self, a: Answer) -> dict:
        return {
            "input_tokens": a.prompt_tokens,
            # cache_write_tokens: required by the SDK's ResponseUsage (openai>=3), sent by the API
            "input_tokens_details": {"cached_tokens": a.cached_tokens, "cache_write_tokens": 0},
            "output_tokens": a.completion_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": a.prompt_tokens + a.completion_tokens,
        }

    def response_obj(
        self, a: Answer, body: dict, id_: str, created: int, status: str, output: list, usage: dict | None
    ) -> dict:
        """A Response, field for field as api.openai.com returns it (request parameters echoed)."""
        reasoning = body.get("reasoning") if isinstance(body.get("reasoning"), dict) else {}
        text = body.get("text") if isinstance(body.get("text"), dict) else {}
        incomplete = status == "incomplete"
        return {
            "id": id_,
            "object": "response",
            "created_at": created,
            "status": status,
            "background": bool(body.get("background", False)),
            "billing": {"payer": "developer"},
            "completed_at": int(time.time()) if status == "completed" else None,
            "error": None,
            "frequency_penalty": 0.0,
            "incomplete_details": {"reason": "max_output_tokens"} if incomplete else None,
            "instructions": body.get("instructions"),
            "max_output_tokens": body.get("max_output_tokens"),
            "max_tool_calls": body.get("max_tool_calls"),
            "model": a.model,
            "output": output,
            "parallel_tool_calls": body.get("parallel_tool_calls", True),
            "presence_penalty": 0.0,
            "previous_response_id": None,
            "prompt_cache_key": body.get("prompt_cache_key"),
            "prompt_cache_retention": body.get("prompt_cache_retention"),
            "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
            "safety_identifier": body.get("safety_identifier"),
            "service_tier": "default",
            "store": body.get("store", True),
            "temperature": body.get("temperature", 1.0),
            "text": {"format": text.get("format") or {"type": "text"}, "verbosity": text.get("verbosity", "medium")},
            "tool_choice": body.get("tool_choice", "auto"),
            "tools": [_tool_echo(t) for t in body.get("tools") or ()],
            "top_logprobs": body.get("top_logprobs", 0),
            "top_p": body.get("top_p", 1.0),
            "truncation": body.get("truncation", "disabled"),
            "usage": usage,
            "user": body.get("user"),
            "metadata": body.get("metadata") or {},
        }

    def status(self, a: Answer) -> str:
        return "incomplete" if a.truncated else "completed"

    def text_part(self, text: str) -> dict:
        return {"type": "output_text", "annotations": [], "logprobs": [], "text": text}

    def item(self, a: Answer, item_id: str, done: bool) -> dict:
        """The answer's output item: a message or a function_call, in progress or done."""
        status = ("incomplete" if a.truncated else "completed") if done else "in_progress"
        if a.tool:
            args = a.tool.arguments if done else ""
            return {"id": item_id, "type": "function_call", "status": status, "arguments": args,
                    "call_id": a.tool.id, "name": a.tool.name}
        content = [self.text_part(a.text)] if done else []
        return {"id": item_id, "type": "message", "status": status, "content": content, "role": "assistant"}

    def item_id(self, a: Answer) -> str:
        return new_id("fc_" if a.tool else "msg_")

    def completion(self, a: Answer, body: dict | None = None) -> Reply:
        obj = self.response_obj(
            a, body or {}, new_id("resp_"), int(time.time()), self.status(a), [self.item(a, self.item_id(a), True)],
            self.usage(a),
        )
        return Reply(200, dumps(obj), self.headers())

    def stream(self, a: Answer, body: dict) -> StreamPlan:
        """created, in_progress, output_item.added, [content_part.added], deltas, *.done, completed."""
        id_, created, item_id = new_id("resp_"), int(time.time()), self.item_id(a)
        frames: list[bytes] = []

        def add(type_: str, **fields: object) -> None:
            frames.append(event(type_, {"type": type_, "sequence_number": len(frames), **fields}))

        def response(status: str, output: list, usage: dict | None) -> dict:
            return self.response_obj(a, body, id_, created, status, output, usage)

        add("response.created", response=response("in_progress", [], None))
        add("response.in_progress", response=response("in_progress", [], None))
        add("response.output_item.added", output_index=0, item=self.item(a, item_id, False))
        where = {"item_id": item_id, "output_index": 0}
        if a.tool:
            cut = len(frames) + 2
            for f in fragments(a.tool.arguments):
                add("response.function_call_arguments.delta", **where, delta=f, obfuscation=_obfuscation(f))
            add("response.function_call_arguments.done", **where, arguments=a.tool.arguments)
        else:
            part = {**where, "content_index": 0}
            add("response.content_part.added", **part, part=self.text_part(""))
            cut = len(frames) + 2
            for p in pieces(a.text):
                add("response.output_text.delta", **part, delta=p, logprobs=[], obfuscation=_obfuscation(p))
            add("response.output_text.done", **part, text=a.text, logprobs=[])
            add("response.content_part.done", **part, part=self.text_part(a.text))
        done = self.item(a, item_id, True)
        add("response.output_item.done", output_index=0, item=done)
        status = self.status(a)
        add(f"response.{status}", response=response(status, [done], self.usage(a)))
        # The error-in-stream fault: response.failed continues the sequence after the cut.
        failed = response("failed", [], None)
        failed["error"] = {"code": "server_error", "message": _FAILED.format(new_id("req_"))}
        error = event("response.failed", {"type": "response.failed", "sequence_number": cut, "response": failed})
        return StreamPlan(frames, cut, error)

    # faults

    def error_in_body(self, model: str) -> Reply:
        """A 200 whose Response failed (as a background response that failed is returned)."""
        a = decide(model, 0, "", None, None)
        obj = self.response_obj(a, {}, new_id("resp_"), int(time.time()), "failed", [], None)
        obj["error"] = {"code": "server_error", "message": _FAILED.format(new_id("req_"))}
        return Reply(200, dumps(obj), self.headers())

    def garbage_stream(self) -> bytes:
        return b"event: response.created\ndata: " + GARBAGE.replace(b"\r\n", b"") + b"\n\n"
