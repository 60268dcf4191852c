"""POST /v1/messages: the Anthropic Messages API (Claude Code, the `anthropic` SDK) to any model.

To an Anthropic deployment the client's body passes through untouched but for the model
(rin.providers.anthropic_native); to any other it becomes a chat request and the answer, or the
stream, is translated back (rin.codecs.anthropic_request, anthropic_wire). Errors use Anthropic's shape.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

import orjson

from rin.codecs.anthropic_request import anthropic_only, estimate_tokens, messages_to_chat
from rin.codecs.anthropic_wire import ChatToMessagesStream, chat_to_message, error_body, error_frame
from rin.codecs.base import FramedCodec, parse_json_body
from rin.errors import InvalidRequest, RinError
from rin.params import validate_request
from rin.types import ChatRequest, Deployment, StreamParser

#: request headers of Anthropic's protocol, forwarded to Anthropic deployments
_FORWARD = (b"anthropic-version", b"anthropic-beta")


class MessagesCodec(FramedCodec):
    endpoint = "messages"

    def decode(self, raw: bytes, request_id: str, user_header: str | None) -> ChatRequest:
        body = parse_json_body(raw)
        # Anthropic-only content (documents, server tools) is left out of the chat form; a
        # deployment that needs that form refuses it in check()
        chat = messages_to_chat(body, native_ok=True)
        validate_request(chat)
        model = chat.get("model")
        if not isinstance(model, str) or not model:
            raise InvalidRequest("model: field required (name one of the models listed by GET /v1/models).",
                                 param="model")
        stream = chat.get("stream") is True
        user = _user(chat.get("user"))
        return ChatRequest(chat, model, stream, False, user_header or user, request_id, len(raw),
                           endpoint=self.endpoint, native=body)

    def accept_headers(self, req: ChatRequest, headers: Iterable[tuple[bytes, bytes]]) -> None:
        forward = {name.decode(): value.decode("latin-1") for name, value in headers if name in _FORWARD}
        if forward:
            req.forward_headers = forward

    def check(self, req: ChatRequest, dep: Deployment) -> None:
        refusal = anthropic_only(req.native or {})
        if refusal is not None:
            raise refusal
        if "reasoning_effort" in req.body and dep.info.supports_reasoning is False:
            raise InvalidRequest(
                f"thinking: '{req.model}' ({dep.label}) has no extended thinking; remove 'thinking' "
                "or pick a model that reasons.", param="thinking")

    def adjust(self, req: ChatRequest, dep: Deployment) -> ChatRequest:
        """Anthropic clients must send max_tokens and often ask for more than a smaller model can
        give (Claude Code: 32,000): a limit, so the model's own maximum is what it means there."""
        limit = dep.info.max_output_tokens
        asked = req.body.get("max_tokens")
        if limit and isinstance(asked, int) and asked > limit:
            return replace(req, body={**req.body, "max_tokens": limit})
        return req

    def encode(self, chat: dict[str, Any], req: ChatRequest, dep: Deployment) -> bytes:
        return orjson.dumps(chat_to_message(chat, req.model))

    def translator(self, req: ChatRequest, dep: Deployment) -> ChatToMessagesStream:
        return ChatToMessagesStream(req.model, input_tokens=estimate_tokens(req.native or {}))

    def error_body(self, err: RinError) -> tuple[int, bytes]:
        return error_body(err)

    def stream_error(self, err: RinError, parser: StreamParser | None) -> bytes:
        return error_frame(err)


def _user(value: object) -> str | None:
    """metadata.user_id as the ledger's user. Claude Code sends a JSON object there (device, account
    and session ids): its account, else its device, so one person is one user across sessions."""
    if not isinstance(value, str):
        return None
    if value.startswith("{"):
        try:
            ids = orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
        if isinstance(ids, dict):
            for key in ("account_uuid", "user_id", "device_id"):
                if isinstance(ids.get(key), str) and ids[key]:
                    return ids[key]
    return value
