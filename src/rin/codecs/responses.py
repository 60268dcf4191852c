"""POST /v1/responses: the OpenAI Responses API (Codex CLI, the Agents SDK) to any model.

To OpenAI deployments the body passes through (rin.providers.openai_native); to any other it
becomes a chat request, answered as a Response (rin.codecs.responses_wire). RIN keeps the
conversation itself: `previous_response_id` is resolved from RIN's store (per caller, in the
ledger's database) into input items before any deployment is chosen, and never forwarded, so a
chain may move between providers. `store` (default true) keeps each answer for the next turn.
"""

from __future__ import annotations

import itertools
import os
import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from rin.codecs.base import FramedCodec, TranslatingStream, parse_json_body
from rin.codecs.responses_stream import ChatToResponsesStream
from rin.codecs.responses_wire import chat_to_response, input_items, output_as_input, responses_to_chat
from rin.errors import InvalidRequest, RinError
from rin.params import validate_request
from rin.types import ChatRequest, Deployment, StreamParser


@dataclass(slots=True)
class Turn:
    """What the Responses codec keeps between decoding a request and storing its answer."""

    request: dict[str, Any]
    response_id: str
    created_at: int
    store: bool
    #: items of the earlier turns (previous_response_id), oldest first
    history: list[dict[str, Any]] = field(default_factory=list)
    #: the final Response object, once answered
    response: dict[str, Any] | None = None
    owner: str = ""
    keeper: Any = None
    #: why this turn has no chat form (only an OpenAI deployment can take it), or None
    refusal: InvalidRequest | None = None


_ID_PREFIX = os.urandom(8).hex()
_ID_COUNTER = itertools.count(1)


def new_response_id() -> str:
    """Unique across processes and restarts (a random per-process prefix), cheap per request."""
    return f"resp_{_ID_PREFIX}{next(_ID_COUNTER):016x}"


class ResponsesCodec(FramedCodec):
    endpoint = "responses"

    def decode(self, raw: bytes, request_id: str, user_header: str | None) -> ChatRequest:
        body = parse_json_body(raw)
        store = body.get("store", True)
        if not isinstance(store, bool):
            raise InvalidRequest(f"'store' must be true or false, got {store!r}.", param="store")
        previous = body.get("previous_response_id")
        if previous is not None and (not isinstance(previous, str) or not previous):
            raise InvalidRequest("'previous_response_id' must be the id of an earlier response.",
                                 param="previous_response_id")
        turn = Turn(body, new_response_id(), int(time.time()), store)
        chat = self._chat(turn)
        validate_request(chat)
        user = chat.get("user") if isinstance(chat.get("user"), str) else None
        return ChatRequest(chat, chat["model"], body.get("stream") is True, False, user_header or user,
                           request_id, len(raw), endpoint=self.endpoint, native=_native_body(body, []),
                           context=turn)

    async def prepare(self, runtime: Any, req: ChatRequest) -> None:
        """Resolves previous_response_id from the caller's own stored responses."""
        turn: Turn = req.context
        turn.owner = req.api_key_hash or ""
        turn.keeper = runtime.responses
        previous = turn.request.get("previous_response_id")
        if previous is None:
            return
        found = await runtime.responses.find(previous, turn.owner)
        if found is None:
            raise InvalidRequest(f"Previous response with id '{previous}' not found.",
                                 param="previous_response_id", code="previous_response_not_found")
        turn.history = found[1]
        req.body = self._chat(turn)
        # budgets' worst case, the context pre-check and a cut stream's bill all read the size
        req.body_size += len(orjson.dumps(turn.history))
        req.native = _native_body(turn.request, turn.history)

    @staticmethod
    def _chat(turn: Turn) -> dict[str, Any]:
        """The chat form of the turn. What has none (built-in tools, item types chat lacks) is
        refused in check() for deployments that need it, and passes through to OpenAI."""
        try:
            return responses_to_chat(turn.request, turn.history)
        except InvalidRequest as err:
            model = turn.request.get("model")
            if not isinstance(model, str) or not model or err.param == "model":
                raise
            turn.refusal = err
            return {"model": model, "messages": []}

    def check(self, req: ChatRequest, dep: Deployment) -> None:
        turn: Turn = req.context
        if turn.refusal is not None:
            raise turn.refusal

    def cacheable(self, req: ChatRequest) -> bool:
        turn: Turn = req.context
        return not turn.store and not turn.history

    def encode(self, chat: dict[str, Any], req: ChatRequest, dep: Deployment) -> bytes:
        turn: Turn = req.context
        turn.response = chat_to_response(chat, turn.request, turn.response_id, turn.created_at)
        return orjson.dumps(turn.response)

    def translator(self, req: ChatRequest, dep: Deployment) -> ChatToResponsesStream:
        turn: Turn = req.context
        return ChatToResponsesStream(turn.request, turn.response_id, turn.created_at, req.model)

    def stream_error(self, err: RinError, parser: StreamParser | None) -> bytes:
        if isinstance(parser, TranslatingStream):
            return parser.translator.error_frame(err)
        body = {"type": "error", "code": err.code, "message": err.message, "param": err.param}
        return b"event: error\ndata: " + orjson.dumps(body) + b"\n\n"

    def stored(self, req: ChatRequest, result_body: bytes | None, parser: StreamParser | None) -> None:
        turn: Turn = req.context
        response = turn.response
        if parser is not None:
            response = getattr(parser.translator, "response", None) if isinstance(parser, TranslatingStream) \
                else getattr(parser, "response", None)
        elif response is None and result_body is not None:
            response = orjson.loads(result_body)  # passed through from OpenAI
        if not turn.store or turn.keeper is None or not isinstance(response, dict):
            return
        items = turn.history + input_items(turn.request) + output_as_input(response)
        turn.keeper.put(response.get("id") or turn.response_id, turn.owner, req.model, response, items)


def _native_body(body: dict[str, Any], history: list[dict[str, Any]]) -> dict[str, Any]:
    """The body for an OpenAI deployment: the earlier turns inlined, nothing stored upstream."""
    out = {k: v for k, v in body.items() if k != "previous_response_id"}
    out["input"] = history + input_items(body)
    out["store"] = False
    return out
