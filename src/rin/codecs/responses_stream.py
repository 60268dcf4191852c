"""The Responses API's Response object, and a chat.completion.chunk stream re-told as its events.

`response_object` and the item builders are shared with `responses_wire.chat_to_response`, so a
streamed answer ends in the same Response a non-streamed one returns.

The events follow the order OpenAI sends: response.created, response.in_progress, then one output
item at a time (added, its deltas, done), then response.completed or response.incomplete with the
final Response. A new kind of delta (reasoning, text, another tool call) closes the open item.
Reasoning from the provider (`reasoning_content` / `reasoning`) becomes a reasoning item whose
summary carries the text, because that is what the SDKs and Codex show.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from rin.errors import RinError, UpstreamProtocolError
from rin.providers.openai import parse_usage
from rin.types import Usage

#: chat finish_reason values that make a Response incomplete, with the reason OpenAI gives
_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


@dataclass(slots=True)
class _Item:
    kind: str  # "reasoning", "message" or "function_call"
    index: int
    id: str
    text: str = ""  # the summary, the message text or the call's arguments
    call_id: str = ""
    name: str = ""
    status: str = "completed"

    def wire(self) -> dict[str, Any]:
        if self.kind == "reasoning":
            return reasoning_item(self.id, self.text)
        if self.kind == "message":
            return message_item(self.id, [output_text_part(self.text)], self.status)
        return function_call_item(self.id, self.call_id, self.name, self.text, self.status)


class ChatToResponsesStream:
    """Feeds on chat chunks one at a time and returns complete Responses SSE frames."""

    def __init__(self, request: dict[str, Any], response_id: str, created_at: int, model: str) -> None:
        self.request = request
        self.response_id = response_id
        self.created_at = created_at
        self.model = model
        #: the final Response object, set by close()
        self.response: dict[str, Any] | None = None
        self._sequence = 0
        self._started = False
        self._items: list[_Item] = []
        self._open: _Item | None = None
        self._calls: dict[int, _Item] = {}
        self._finish_reason: str | None = None
        self._usage: Usage | None = None

    def start(self) -> list[bytes]:
        """response.created and response.in_progress, once; feed() and close() call it too."""
        if self._started:
            return []
        self._started = True
        response = response_object(self.request, self.response_id, self.created_at, self.model, [],
                                   "in_progress", None, None)
        return [self._event("response.created", response=response),
                self._event("response.in_progress", response=response)]

    def feed(self, payload: bytes) -> list[bytes]:
        """One chat.completion.chunk (JSON bytes) in; the frames it makes out."""
        try:
            chunk = orjson.loads(payload)
        except orjson.JSONDecodeError:
            raise UpstreamProtocolError("a stream chunk to translate is not JSON") from None
        frames = self.start()
        if chunk.get("usage"):
            self._usage = parse_usage(chunk["usage"])
        for choice in chunk.get("choices") or []:
            if choice.get("index", 0) != 0:
                continue  # the Responses API has no n > 1
            frames += self._delta(choice.get("delta") or {})
            if choice.get("finish_reason"):
                self._finish_reason = choice["finish_reason"]
        return frames

    def close(self, usage: Usage | None) -> list[bytes]:
        """Finishes the open item and sends the final Response (kept in `self.response`)."""
        frames = self.start()
        status, reason = finish_status(self._finish_reason)
        if self._open is not None and status == "incomplete":
            self._open.status = "incomplete"
        frames += self._close_open()
        self.response = response_object(
            self.request, self.response_id, self.created_at, self.model,
            [item.wire() for item in self._items], status, reason, usage or self._usage)
        frames.append(self._event(f"response.{status}", response=self.response))
        return frames

    def error_frame(self, err: RinError) -> bytes:
        """The `error` event for a failure mid-stream, numbered after the frames already sent."""
        return self._event("error", code=err.code or err.type, message=err.message, param=err.param)

    def _delta(self, delta: dict[str, Any]) -> list[bytes]:
        frames: list[bytes] = []
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if isinstance(reasoning, str) and reasoning:
            frames += self._text_delta("reasoning", reasoning)
        content = delta.get("content")
        if isinstance(content, str) and content:
            frames += self._text_delta("message", content)
        for call in delta.get("tool_calls") or []:
            frames += self._call_delta(call)
        return frames

    def _text_delta(self, kind: str, text: str) -> list[bytes]:
        frames = [] if self._open is not None and self._open.kind == kind else self._open_item(kind)
        item = self._open
        assert item is not None
        item.text += text
        if kind == "reasoning":
            frames.append(self._event("response.reasoning_summary_text.delta", item_id=item.id,
                                      output_index=item.index, summary_index=0, delta=text))
        else:
            frames.append(self._event("response.output_text.delta", item_id=item.id,
                                      output_index=item.index, content_index=0, delta=text, logprobs=[]))
        return frames

    def _call_delta(self, call: dict[str, Any]) -> list[bytes]:
        function = call.get("function") or {}
        key = call.get("index", 0)
        frames: list[bytes] = []
        item = self._calls.get(key)
        if item is None:
            index = len(self._items)
            call_id = call.get("id") or item_id("call", self.response_id, index)
            frames += self._open_item("function_call", call_id, function.get("name") or "")
            item = self._open
            assert item is not None
            self._calls[key] = item
        elif not item.name and function.get("name"):
            item.name = function["name"]
        arguments = function.get("arguments") or ""
        if arguments:
            item.text += arguments
            # deltas for a call already closed (interleaved calls) only reach the final Response
            if item is self._open:
                frames.append(self._event("response.function_call_arguments.delta", item_id=item.id,
                                          output_index=item.index, delta=arguments))
        return frames

    def _open_item(self, kind: str, call_id: str = "", name: str = "") -> list[bytes]:
        frames = self._close_open()
        index = len(self._items)
        prefix = {"reasoning": "rs", "message": "msg", "function_call": "fc"}[kind]
        item = _Item(kind, index, item_id(prefix, self.response_id, index), call_id=call_id, name=name)
        self._items.append(item)
        self._open = item
        added = item.wire()
        if kind == "message":
            added.update(status="in_progress", content=[])
        elif kind == "function_call":
            added["status"] = "in_progress"
        frames.append(self._event("response.output_item.added", output_index=index, item=added))
        if kind == "message":
            frames.append(self._event("response.content_part.added", item_id=item.id, output_index=index,
                                      content_index=0, part=output_text_part("")))
        elif kind == "reasoning":
            frames.append(self._event("response.reasoning_summary_part.added", item_id=item.id,
                                      output_index=index, summary_index=0, part=_summary("")))
        return frames

    def _close_open(self) -> list[bytes]:
        item, self._open = self._open, None
        if item is None:
            return []
        where = {"item_id": item.id, "output_index": item.index}
        if item.kind == "reasoning":
            frames = [self._event("response.reasoning_summary_text.done", **where, summary_index=0,
                                  text=item.text),
                      self._event("response.reasoning_summary_part.done", **where, summary_index=0,
                                  part=_summary(item.text))]
        elif item.kind == "message":
            frames = [self._event("response.output_text.done", **where, content_index=0, text=item.text,
                                  logprobs=[]),
                      self._event("response.content_part.done", **where, content_index=0,
                                  part=output_text_part(item.text))]
        else:
            frames = [self._event("response.function_call_arguments.done", **where, arguments=item.text)]
        frames.append(self._event("response.output_item.done", output_index=item.index, item=item.wire()))
        return frames

    def _event(self, kind: str, **fields: Any) -> bytes:
        data = {"type": kind, "sequence_number": self._sequence, **fields}
        self._sequence += 1
        return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def _summary(text: str) -> dict[str, Any]:
    return {"type": "summary_text", "text": text}


def finish_status(finish_reason: str | None) -> tuple[str, str | None]:
    """A chat finish_reason as a Response status and incomplete_details reason."""
    reason = _INCOMPLETE.get(finish_reason or "")
    return ("incomplete", reason) if reason else ("completed", None)


def item_id(prefix: str, response_id: str, index: int) -> str:
    """A deterministic output item id: the response id's suffix and the item's output index."""
    return f"{prefix}_{response_id.partition('_')[2] or response_id}_{index}"


def output_text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def message_item(id_: str, content: list[dict[str, Any]], status: str) -> dict[str, Any]:
    return {"id": id_, "type": "message", "status": status, "role": "assistant", "content": content}


def function_call_item(id_: str, call_id: str, name: str, arguments: str, status: str) -> dict[str, Any]:
    return {"id": id_, "type": "function_call", "status": status, "arguments": arguments,
            "call_id": call_id, "name": name}


def reasoning_item(id_: str, text: str) -> dict[str, Any]:
    summary = [{"type": "summary_text", "text": text}] if text else []
    return {"id": id_, "type": "reasoning", "summary": summary}


def response_object(request: dict[str, Any], response_id: str, created_at: int, model: str,
                    output: list[dict[str, Any]], status: str, incomplete_reason: str | None,
                    usage: Usage | None) -> dict[str, Any]:
    """The Response envelope, echoing the request's settings the way the Responses API does."""
    reasoning = request.get("reasoning") or {}
    return {
        "id": response_id, "object": "response", "created_at": created_at, "status": status,
        "background": False, "error": None,
        "incomplete_details": {"reason": incomplete_reason} if incomplete_reason else None,
        "instructions": request.get("instructions"),
        "max_output_tokens": request.get("max_output_tokens"),
        "model": model, "output": output,
        "parallel_tool_calls": _echo(request, "parallel_tool_calls", True),
        "previous_response_id": request.get("previous_response_id"),
        "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
        "safety_identifier": request.get("safety_identifier"),
        "store": _echo(request, "store", True),
        "temperature": _echo(request, "temperature", 1.0),
        "text": {"format": {"type": "text"}, **(request.get("text") or {})},
        "tool_choice": _echo(request, "tool_choice", "auto"),
        "tools": request.get("tools") or [],
        "top_p": _echo(request, "top_p", 1.0),
        "truncation": "disabled",
        "usage": usage_object(usage) if usage is not None else None,
        "user": request.get("user"),
        "metadata": request.get("metadata") or {},
    }


def _echo(request: dict[str, Any], key: str, default: Any) -> Any:
    value = request.get(key)
    return default if value is None else value


def usage_object(usage: Usage) -> dict[str, Any]:
    """RIN's usage in the Responses API's shape."""
    return {
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {"cached_tokens": usage.cached_tokens,
                                 "cache_write_tokens": usage.cache_write_tokens},
        "output_tokens": usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": usage.total_tokens,
    }
