"""What a traced stream said of itself: its finish reasons and, with content logging on, its text.

rin.server.relay shows a `StreamView` every payload it relays, only while the request is traced
(`RequestTrace.stream_view`); the request span reads it once the stream has ended. Payloads are in
the client's protocol: OpenAI's chat or completion chunks, Anthropic's message events or the
Responses API's events, as bare JSON (chat's payloads, framed later) or whole SSE frames (`event:` and
`data:` lines: Anthropic's and the Responses API's). Without content logging, only payloads that can carry a finish reason are
parsed (an OpenAI chunk whose finish_reason is null is not).
"""

from __future__ import annotations

from typing import Any

import orjson

from rin.telemetry.attributes import CONTENT_LIMIT, clip

#: Responses API events that end a response, each with the response's final status
_RESPONSE_ENDS = frozenset({"response.completed", "response.incomplete", "response.failed"})


class StreamView:
    __slots__ = ("reasons", "parts", "size", "keep_text")

    def __init__(self, keep_text: bool) -> None:
        self.reasons: list[str] = []
        self.parts: list[str] = []
        self.size = 0
        self.keep_text = keep_text

    def see(self, payloads: list[bytes]) -> None:
        for payload in payloads:
            if not self.keep_text and (b"_reason" not in payload and b'"response.' not in payload
                                       or b'_reason":null' in payload):
                continue
            for document in _documents(payload):
                try:
                    data = orjson.loads(document)
                except orjson.JSONDecodeError:
                    continue
                if isinstance(data, dict):
                    self._read(data)

    def _read(self, data: dict[str, Any]) -> None:
        choices = data.get("choices")
        if isinstance(choices, list):  # OpenAI chat.completion.chunk or text_completion
            for choice in choices:
                if isinstance(choice, dict):
                    delta = choice.get("delta")
                    self._add(delta.get("content") if isinstance(delta, dict) else choice.get("text"))
                    if choice.get("finish_reason"):
                        self.reasons.append(str(choice["finish_reason"]))
            return
        kind = data.get("type")
        delta = data.get("delta")
        if kind == "content_block_delta" and isinstance(delta, dict):  # Anthropic
            self._add(delta.get("text"))
        elif kind == "message_delta" and isinstance(delta, dict) and delta.get("stop_reason"):
            self.reasons.append(str(delta["stop_reason"]))
        elif kind == "response.output_text.delta":  # Responses
            self._add(delta)
        elif kind in _RESPONSE_ENDS and isinstance(data.get("response"), dict):
            status = data["response"].get("status")
            if isinstance(status, str):
                self.reasons.append(status)

    def _add(self, text: Any) -> None:
        if self.keep_text and isinstance(text, str) and text and self.size <= CONTENT_LIMIT:
            self.parts.append(text)
            self.size += len(text)

    def content(self) -> str | None:
        """The streamed text as one assistant message (JSON, clipped as other content is), or None."""
        if not self.parts:
            return None
        return clip(orjson.dumps([{"role": "assistant", "content": "".join(self.parts)}]))


def _documents(payload: bytes) -> list[bytes]:
    """The JSON documents of a payload: itself, or the `data:` lines of the SSE frames it holds."""
    if payload[:1] == b"{":
        return [payload]
    return [line[5:].strip() for line in payload.split(b"\n") if line.startswith(b"data:")]
