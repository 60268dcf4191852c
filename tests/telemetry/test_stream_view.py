"""What a traced stream said of itself (rin.telemetry.stream_view), from payloads in each client
protocol's own shape: bare OpenAI chunks, Anthropic's and the Responses API's SSE frames."""

from __future__ import annotations

import orjson
import pytest

from rin.telemetry.attributes import CONTENT_LIMIT
from rin.telemetry.stream_view import StreamView


def chunk(content: str | None, finish: str | None = None) -> bytes:
    delta = {} if content is None else {"content": content}
    return orjson.dumps({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o",
                         "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})


def frame(event: str, data: dict) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


OPENAI = [chunk(""), chunk("Hel"), chunk("lo"), chunk(None, "stop"),
          b'{"id":"chatcmpl-1","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":3}}']
COMPLETIONS = [orjson.dumps({"object": "text_completion", "choices": [{"index": 0, "text": t, "finish_reason": f}]})
               for t, f in (("Hel", None), ("lo", None), ("", "length"))]
ANTHROPIC = [
    frame("message_start", {"type": "message_start", "message": {"id": "msg_1", "usage": {"input_tokens": 3}}}),
    frame("content_block_start", {"type": "content_block_start", "index": 0,
                                  "content_block": {"type": "text", "text": ""}}),
    frame("ping", {"type": "ping"}),
    frame("content_block_delta", {"type": "content_block_delta", "index": 0,
                                  "delta": {"type": "text_delta", "text": "Hel"}}),
    frame("content_block_delta", {"type": "content_block_delta", "index": 0,
                                  "delta": {"type": "text_delta", "text": "lo"}}),
    frame("content_block_stop", {"type": "content_block_stop", "index": 0})
    + frame("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                              "usage": {"output_tokens": 2}})
    + frame("message_stop", {"type": "message_stop"}),  # a translated stream's end: several frames at once
]
RESPONSES = [
    frame("response.created", {"type": "response.created", "response": {"id": "resp_1", "status": "in_progress"}}),
    frame("response.output_text.delta", {"type": "response.output_text.delta", "delta": "Hel", "sequence_number": 3}),
    frame("response.output_text.delta", {"type": "response.output_text.delta", "delta": "lo", "sequence_number": 4}),
    frame("response.output_text.done", {"type": "response.output_text.done", "text": "Hello"}),
    frame("response.completed", {"type": "response.completed", "response": {"id": "resp_1", "status": "completed"}}),
]


@pytest.mark.parametrize("payloads, reasons", [
    (OPENAI, ["stop"]), (COMPLETIONS, ["length"]), (ANTHROPIC, ["end_turn"]), (RESPONSES, ["completed"]),
])
def test_each_protocol_gives_its_text_and_finish_reasons(payloads: list[bytes], reasons: list[str]) -> None:
    view = StreamView(keep_text=True)
    for payload in payloads:
        view.see([payload])
    assert view.reasons == reasons
    assert orjson.loads(view.content() or "null") == [{"role": "assistant", "content": "Hello"}]
    quiet = StreamView(keep_text=False)
    quiet.see(payloads)
    assert quiet.reasons == reasons and quiet.content() is None


def test_without_content_a_chunk_with_no_finish_reason_is_not_even_parsed() -> None:
    view = StreamView(keep_text=False)
    view.see([chunk("x") + b"not json"])  # would fail to parse: skipped before parsing
    view.see([b"garbage", b"data: {broken", chunk(None, "tool_calls")])
    assert view.reasons == ["tool_calls"]


def test_the_text_kept_is_bounded() -> None:
    view = StreamView(keep_text=True)
    piece = "x" * 1000
    view.see([chunk(piece) for _ in range(CONTENT_LIMIT // 1000 + 50)])
    assert view.size <= CONTENT_LIMIT + len(piece)
    assert (view.content() or "").endswith("…")
