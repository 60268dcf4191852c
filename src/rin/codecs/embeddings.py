"""POST /v1/embeddings: OpenAI's embeddings shape in and out, never streamed, never cached."""

from __future__ import annotations

import base64
import sys
from array import array

import orjson

from rin.codecs.base import Codec, parse_json_body
from rin.errors import InvalidRequest
from rin.providers import PROVIDERS
from rin.types import ChatRequest, ChatResult, Deployment, UpstreamRequest


class EmbeddingsCodec(Codec):
    endpoint = "embeddings"
    #: "chat" too: configs written before modes mattered leave embedding models' mode unset
    modes = frozenset({"embedding", "chat"})

    def decode(self, raw: bytes, request_id: str, user_header: str | None) -> ChatRequest:
        body = parse_json_body(raw)
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise InvalidRequest("'model' is required for embeddings.", param="model")
        if "input" not in body:
            raise InvalidRequest("'input' is required: a string or an array of strings.", param="input")
        user = body.get("user") if isinstance(body.get("user"), str) else None
        return ChatRequest(body, model, user=user_header or user, request_id=request_id, body_size=len(raw),
                           endpoint=self.endpoint)

    def build(self, req: ChatRequest, dep: Deployment) -> UpstreamRequest:
        return PROVIDERS[dep.provider].adapter.build_embeddings(req.body, dep)

    def parse(self, body: bytes, req: ChatRequest, dep: Deployment) -> ChatResult:
        out, usage = PROVIDERS[dep.provider].adapter.parse_embeddings(body, dep)
        if req.body.get("encoding_format") == "base64" and (b'"embedding":[' in out or b'"embedding": [' in out):
            out = as_base64(out)  # a provider that only speaks floats (Vertex, Bedrock, Gemini, ...)
        return ChatResult(out, usage)

    def cacheable(self, req: ChatRequest) -> bool:
        return False


def as_base64(out: bytes) -> bytes:
    """An OpenAI embeddings body with each float list as OpenAI sends it for encoding_format
    "base64": the little-endian float32 bytes, base64-encoded (the openai SDKs decode that; the
    JavaScript one reads any answer to a base64 request so)."""
    data = orjson.loads(out)
    for item in data.get("data") or ():
        vector = item.get("embedding") if isinstance(item, dict) else None
        if isinstance(vector, list):
            packed = array("f", vector)
            if sys.byteorder == "big":
                packed.byteswap()
            item["embedding"] = base64.b64encode(packed.tobytes()).decode("ascii")
    return orjson.dumps(data)
