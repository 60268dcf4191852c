"""AWS Bedrock behind RIN's OpenAI-shaped requests: the Converse API (one request shape for every
model Bedrock serves: Claude, Llama, Mistral, Nova, ...) and Titan / Cohere embeddings.

Every request is signed here with botocore's SigV4 (CPU only: the credentials are already in
memory, refreshed in the background by `bedrock_auth.AWSCredential`), or carries a Bedrock API key
as a bearer token. The translation of requests is in `bedrock_request`, of answers in
`bedrock_response`, of streams (AWS event streams, decoded by botocore) in `bedrock_stream`; errors
are classified in `bedrock_errors`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import orjson

from rin.errors import CredentialRefreshFailed, InvalidRequest, UpstreamError
from rin.params import effective_body
from rin.providers.base import NativeProtocol
from rin.providers.bedrock_auth import base_model_id, model_id_of
from rin.providers.bedrock_errors import classify_error
from rin.providers.bedrock_request import JSON_TOOL, converse_body, json_schema
from rin.providers.bedrock_response import chat_completion, embeddings_json, response_json
from rin.providers.bedrock_stream import ConverseStreamParser, EventStreamDecoder
from rin.types import ChatRequest, ChatResult, Deployment, UpstreamRequest, Usage

#: Cohere embed fields passed through as the client wrote them
_COHERE_FIELDS = ("truncate", "embedding_types", "output_dimension", "max_tokens")


class BedrockAdapter:
    name = "bedrock"

    def build_chat(self, req: ChatRequest, dep: Deployment) -> UpstreamRequest:
        body = orjson.dumps(converse_body(effective_body(req, dep), req.body, _model_id(dep)))
        url = model_url(dep, "converse-stream" if req.stream else "converse")
        return UpstreamRequest("POST", url, signed_headers(dep, url, body), body, req.stream)

    def parse_chat(self, body: bytes, req: ChatRequest, dep: Deployment) -> ChatResult:
        chat, usage = chat_completion(response_json(body), _model_id(dep), int(time.time()), _json_tool(req, dep))
        return ChatResult(orjson.dumps(chat), usage, None, chat)

    def stream_parser(self, req: ChatRequest, dep: Deployment) -> ConverseStreamParser:
        return ConverseStreamParser(_model_id(dep), _json_tool(req, dep))

    def stream_decoder(self, dep: Deployment) -> EventStreamDecoder:
        return EventStreamDecoder()

    def media_url(self, endpoint: str, dep: Deployment) -> str | None:
        return None

    def native(self, endpoint: str, dep: Deployment) -> NativeProtocol | None:
        return None

    def build_embeddings(self, body: dict[str, Any], dep: Deployment) -> UpstreamRequest:
        out = orjson.dumps(embeddings_body(body, _model_id(dep)))
        url = model_url(dep, "invoke")
        return UpstreamRequest("POST", url, signed_headers(dep, url, out), out)

    def parse_embeddings(self, body: bytes, dep: Deployment) -> tuple[bytes, Usage | None]:
        return embeddings_json(response_json(body), _model_id(dep))

    def classify_error(self, status: int, headers: Mapping[str, str], body: bytes) -> UpstreamError:
        return classify_error(status, headers, body)


def _json_tool(req: ChatRequest, dep: Deployment) -> str | None:
    """The tool whose call is the answer, when the request (or the deployment's defaults) asked
    for a JSON schema."""
    asked = req.body if "response_format" in req.body else dep.defaults
    return JSON_TOOL if json_schema(asked) is not None else None


def _model_id(dep: Deployment) -> str:
    return dep.options.get("model_id") or model_id_of(dep.provider_model)


def model_url(dep: Deployment, action: str) -> str:
    """`{api_base}/model/{id}/{action}`. The id is quoted as aiohttp sends it (`:` as is, `/` of an
    ARN as %2F): the signature covers the path exactly as it goes on the wire."""
    return f"{dep.api_base.rstrip('/')}/model/{quote(_model_id(dep), safe=':@')}/{action}"


def signed_headers(dep: Deployment, url: str, body: bytes) -> dict[str, str]:
    """The request's headers with its SigV4 signature (or the Bedrock API key)."""
    headers = {"content-type": "application/json", "accept": "application/json", **dep.extra_headers}
    if dep.api_key:
        headers["authorization"] = "Bearer " + dep.api_key.get()
        return headers
    if dep.credential is None:
        raise CredentialRefreshFailed(f"The Bedrock deployment {dep.label} has no AWS credentials configured.")
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    request = AWSRequest("POST", url, data=body, headers=headers)
    SigV4Auth(dep.credential.current(), "bedrock", dep.options["region"]).add_auth(request)
    return dict(request.headers.items())


def embeddings_body(body: dict[str, Any], model_id: str) -> dict[str, Any]:
    """InvokeModel's body for Bedrock's embedding models: Titan takes one text, Cohere a list."""
    texts = body.get("input")
    texts = [texts] if isinstance(texts, str) else texts
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        raise InvalidRequest("Bedrock embeddings take 'input' as a string or a list of strings (not token "
                             "arrays).", param="input")
    base = base_model_id(model_id)
    if base.startswith("cohere.embed"):
        out: dict[str, Any] = {"texts": texts, "input_type": body.get("input_type") or "search_document"}
        out.update({k: body[k] for k in _COHERE_FIELDS if body.get(k) is not None})
        return out
    if base.startswith("amazon.titan-embed"):
        if len(texts) != 1:
            raise InvalidRequest(
                f"Titan embedding models embed one text per request and this one has {len(texts)}: send "
                "them one at a time, or use a Cohere embed model, which takes up to 96.", param="input")
        out = {"inputText": texts[0]}
        out.update({k: body[k] for k in ("dimensions", "normalize") if body.get(k) is not None})
        return out
    raise InvalidRequest(f"RIN speaks Bedrock's Titan (amazon.titan-embed-*) and Cohere (cohere.embed-*) "
                         f"embedding models; {model_id} is neither.", param="model")
