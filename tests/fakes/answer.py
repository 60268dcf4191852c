"""What the fake model answers: deterministic text or tool call, and token counts from lengths.

Provider formats (openai_fmt, anthropic_fmt) extract the prompt from their request shape, call
`decide()`, and render the resulting `Answer` in their own wire format.
"""

from __future__ import annotations

import itertools
import os
import re
from dataclasses import dataclass

import orjson

_ID_PREFIX = os.urandom(4).hex()
_ids = itertools.count(1)


def new_id(prefix: str) -> str:
    """A unique id in the provider's style (`chatcmpl-…`, `msg_…`, `call_…`), cheap to make."""
    return f"{prefix}{_ID_PREFIX}{next(_ids):012d}"


def text_of(content: object) -> str:
    """The text in a message `content`: a string, or a list of parts/blocks with `text`."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text") or "" for p in content if isinstance(p, dict))
    return ""


def tokens(chars: int) -> int:
    return chars // 4 + 1


@dataclass(slots=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text, as OpenAI sends it


@dataclass(slots=True)
class Answer:
    model: str
    text: str  # "" when the answer is a tool call
    tool: ToolCall | None
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int  # part of prompt_tokens read from a prompt cache ("cache" models)
    truncated: bool  # stopped by max_tokens
    thinking: str = ""  # extended thinking shown before the answer (Anthropic "think" models)


def decide(
    model: str,
    prompt_chars: int,
    last_user: str,
    tool: tuple[str, dict] | None,
    max_tokens: int | None,
    tool_id_prefix: str = "call_",
) -> Answer:
    """The answer for a prompt. `tool` is (name, JSON-schema) when the fake should call a tool."""
    prompt_tokens = tokens(prompt_chars)
    cached = max(1, prompt_tokens // 2) if "cache" in model else 0
    if tool is not None:
        name, schema = tool
        props = schema.get("properties") if isinstance(schema, dict) else None
        key = next(iter(props), "input") if isinstance(props, dict) and props else "input"
        args = orjson.dumps({key: last_user[:40]}).decode()
        call = ToolCall(new_id(tool_id_prefix), name, args)
        return Answer(model, "", call, prompt_tokens, tokens(len(args)), cached, False)
    text = "Echo: " + last_user[:40]
    truncated = False
    if isinstance(max_tokens, int) and tokens(len(text)) > max_tokens:
        text, truncated = text[: max(1, max_tokens) * 4 - 1], True  # now fits, by tokens()
    return Answer(model, text, None, prompt_tokens, tokens(len(text)), cached, truncated)


_PIECE_RE = re.compile(r"\S+\s*|\s+")


def pieces(text: str, at_least: int = 3) -> list[str]:
    """Split text into stream deltas: word by word, or evenly when that gives too few pieces."""
    parts = _PIECE_RE.findall(text)
    if len(parts) >= at_least or len(text) < at_least:
        return parts or [text]
    step = -(-len(text) // at_least)
    return [text[i : i + step] for i in range(0, len(text), step)]


def fragments(arguments: str, n: int = 4) -> list[str]:
    """Split tool-call arguments JSON into `n` fragments, as models stream them."""
    step = max(1, -(-len(arguments) // n))
    return [arguments[i : i + step] for i in range(0, len(arguments), step)]
