"""OpenAI chat `messages` as Anthropic's top-level `system` plus alternating user/assistant turns."""

from __future__ import annotations

from typing import Any

from rin.errors import InvalidRequest
from rin.params import tool_call_arguments

Block = dict[str, Any]


def translate_messages(messages: Any) -> tuple[str | list[Block] | None, list[dict[str, Any]]]:
    """`(system, messages)` for the Messages API. Consecutive turns of one role are merged, because
    Anthropic requires user and assistant to alternate; tool results become user turns."""
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("'messages' must be a non-empty list.", param="messages")
    system: list[Block] = []
    turns: list[dict[str, Any]] = []
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            raise InvalidRequest(f"messages[{i}] must be an object.", param="messages")
        role = msg.get("role")
        if role in ("system", "developer"):
            system.extend(_content_blocks(msg.get("content"), i))
            continue
        if role == "user":
            blocks = _content_blocks(msg.get("content"), i)
        elif role == "assistant":
            role, blocks = "assistant", _assistant_blocks(msg, i)
        elif role == "tool":
            role, blocks = "user", [_tool_result(msg, i)]
        else:
            raise InvalidRequest(
                f"messages[{i}] has role {role!r}; Anthropic models take system, developer, user, "
                "assistant and tool messages.",
                param="messages",
            )
        if not blocks:
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    for turn in turns:
        # Anthropic wants a user turn's tool results before anything else in it
        turn["content"].sort(key=lambda block: block.get("type") != "tool_result")
        turn["content"] = _collapse(turn["content"])
    return _system(system), turns


def _system(blocks: list[Block]) -> str | list[Block] | None:
    if not blocks:
        return None
    if all(set(b) == {"type", "text"} and b["type"] == "text" for b in blocks):
        return "\n\n".join(b["text"] for b in blocks)
    return blocks


def _collapse(blocks: list[Block]) -> str | list[Block]:
    """A lone plain text block is sent as a string, the way people write Anthropic requests."""
    if len(blocks) == 1 and set(blocks[0]) == {"type", "text"} and blocks[0]["type"] == "text":
        return str(blocks[0]["text"])
    return blocks


def _content_blocks(content: Any, i: int) -> list[Block]:
    if content is None:
        return []
    if isinstance(content, str):
        # Anthropic rejects empty text blocks
        return [{"type": "text", "text": content}] if content else []
    if not isinstance(content, list):
        raise InvalidRequest(f"messages[{i}].content must be a string or a list of parts.", param="messages")
    blocks = []
    for part in content:
        block = _part(part, i)
        if block is not None:
            blocks.append(block)
    return blocks


def _part(part: Any, i: int) -> Block | None:
    if isinstance(part, str):
        return {"type": "text", "text": part} if part else None
    if not isinstance(part, dict):
        raise InvalidRequest(f"messages[{i}].content has a part that is not an object.", param="messages")
    kind = part.get("type")
    if kind == "text":
        if not part.get("text"):
            return None
        block: Block = {"type": "text", "text": part["text"]}
    elif kind == "image_url":
        block = _image(part.get("image_url"), i)
    elif kind == "file":
        block = _document(part.get("file"), i)
    elif kind == "input_audio":
        raise InvalidRequest(
            f"messages[{i}] contains audio, which Anthropic models do not accept.", param="messages"
        )
    else:
        # Anthropic-native blocks (image with source, document, search_result, ...) pass as written
        return dict(part)
    if "cache_control" in part:
        block["cache_control"] = part["cache_control"]
    return block


def _image(image_url: Any, i: int) -> Block:
    url = image_url.get("url") if isinstance(image_url, dict) else image_url
    if not isinstance(url, str) or not url:
        raise InvalidRequest(f"messages[{i}] has an image_url part without a url.", param="messages")
    if url.startswith("data:"):
        media_type, data = _data_url(url, i)
        return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}
    if url.startswith(("http://", "https://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise InvalidRequest(
        f"messages[{i}] has an image url that is neither a data: URL nor http(s).", param="messages"
    )


def _document(file: Any, i: int) -> Block:
    data_url = file.get("file_data") if isinstance(file, dict) else None
    if not isinstance(data_url, str) or not data_url.startswith("data:"):
        raise InvalidRequest(
            f"messages[{i}] has a file part without inline file_data; Anthropic needs the file's "
            "content as a data: URL.",
            param="messages",
        )
    media_type, data = _data_url(data_url, i)
    return {"type": "document", "source": {"type": "base64", "media_type": media_type, "data": data}}


def _data_url(url: str, i: int) -> tuple[str, str]:
    header, sep, data = url.partition(",")
    media_type, _, encoding = header[len("data:"):].partition(";")
    if not sep or encoding != "base64" or not media_type:
        raise InvalidRequest(
            f"messages[{i}] has a data: URL that is not 'data:<media type>;base64,<data>'.", param="messages"
        )
    return media_type, data


def _assistant_blocks(msg: dict[str, Any], i: int) -> list[Block]:
    # thinking blocks (with signatures) must be sent back unchanged when tools are used with thinking
    blocks: list[Block] = [dict(b) for b in msg.get("thinking_blocks") or [] if isinstance(b, dict)]
    blocks.extend(_content_blocks(msg.get("content"), i))
    for call in msg.get("tool_calls") or []:
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or not fn.get("name") or not call.get("id"):
            raise InvalidRequest(
                f"messages[{i}].tool_calls has an entry without id or function name.", param="messages"
            )
        blocks.append({"type": "tool_use", "id": call["id"], "name": fn["name"],
                       "input": _arguments(fn.get("arguments"), i)})
    return blocks


def _arguments(arguments: Any, i: int) -> Any:
    """Anthropic takes a tool_use `input` object and nothing else."""
    value = tool_call_arguments(arguments, i)
    if not isinstance(value, dict):
        raise InvalidRequest(
            f"messages[{i}].tool_calls has function arguments that are not a JSON object.", param="messages"
        )
    return value


def _tool_result(msg: dict[str, Any], i: int) -> Block:
    tool_use_id = msg.get("tool_call_id")
    if not tool_use_id:
        raise InvalidRequest(f"messages[{i}] is a tool message without tool_call_id.", param="messages")
    content = msg.get("content")
    block: Block = {"type": "tool_result", "tool_use_id": tool_use_id}
    if isinstance(content, list):
        block["content"] = _content_blocks(content, i)
    elif content:
        block["content"] = str(content)
    return block
