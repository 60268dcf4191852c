"""POST /v1/rerank: the Cohere / Jina shape that Open WebUI's external reranker and LiteLLM proxy
use, to Cohere, Jina or any compatible server (TEI, vLLM). Answers come back in one shape whatever
the provider: `results` of `index`, `relevance_score` (and `document` when asked), and `meta` with
the billed search units; billed per search unit or per token."""

from __future__ import annotations

import os
from typing import Any

import orjson

from rin.codecs.base import parse_json_body
from rin.codecs.media import MediaCodec, _json, _model
from rin.errors import InvalidRequest, UpstreamProtocolError
from rin.types import ChatRequest, ChatResult, Deployment, UpstreamRequest, Usage


def _documents(value: Any) -> list[str]:
    if not isinstance(value, list) or not value:
        raise InvalidRequest("'documents' is required: a non-empty list of texts.", param="documents")
    out = []
    for i, doc in enumerate(value):
        text = doc.get("text") if isinstance(doc, dict) else doc
        if not isinstance(text, str):
            raise InvalidRequest(f"documents[{i}] must be a string or an object with 'text'.", param="documents")
        out.append(text)
    return out


class RerankCodec(MediaCodec):
    endpoint = "rerank"
    modes = frozenset({"rerank"})

    def decode(self, raw: bytes, request_id: str, user_header: str | None,
               headers: dict[bytes, bytes] | None = None) -> ChatRequest:
        body = parse_json_body(raw)
        model = _model(body.get("model") if isinstance(body.get("model"), str) else None)
        query = body.get("query")
        if not isinstance(query, str) or not query:
            raise InvalidRequest("'query' is required: the text to rank the documents against.", param="query")
        documents = _documents(body.get("documents"))
        top_n = body.get("top_n")
        if top_n is not None and (isinstance(top_n, bool) or not isinstance(top_n, int) or top_n < 1):
            raise InvalidRequest(f"'top_n' is {top_n!r}; send a positive integer.", param="top_n")
        canonical = {"model": model, "query": query, "documents": documents, "top_n": top_n}
        tokens = (len(query) + sum(len(d) for d in documents)) // 3 + 100
        return ChatRequest(canonical, model, request_id=request_id, body_size=len(raw), endpoint=self.endpoint,
                           native=canonical, user=user_header, context=body.get("return_documents") is True,
                           expected=Usage(prompt_tokens=tokens, completion_tokens=1, search_units=1))

    def build(self, req: ChatRequest, dep: Deployment) -> UpstreamRequest:
        up = super().build(req, dep)
        if dep.provider != "cohere":  # Jina, TEI and vLLM can return the documents themselves
            body = orjson.loads(up.body)
            body["return_documents"] = False
            up.body = orjson.dumps({k: v for k, v in body.items() if v is not None})
        return up

    def parse(self, body: bytes, req: ChatRequest, dep: Deployment) -> ChatResult:
        data = _json(body, "rerank")
        results = data.get("results")
        if not isinstance(results, list):
            raise UpstreamProtocolError("the provider answered rerank without 'results'")
        documents = req.body["documents"]
        out = []
        for r in results:
            index = r.get("index") if isinstance(r, dict) else None
            if not isinstance(index, int) or not 0 <= index < len(documents):
                raise UpstreamProtocolError("the provider answered rerank with a result of no valid 'index'")
            item: dict[str, Any] = {"index": index, "relevance_score": r.get("relevance_score")}
            if req.context:
                item["document"] = {"text": documents[index]}
            out.append(item)
        billed = (data.get("meta") or {}).get("billed_units") or {}
        units = int(billed.get("search_units") or 1)
        tokens = int((data.get("usage") or {}).get("total_tokens") or 0)
        usage = Usage(prompt_tokens=tokens, total_tokens=tokens, search_units=units)
        answer = {"id": data.get("id") or "rerank-" + os.urandom(8).hex(), "results": out,
                  "meta": {"billed_units": {"search_units": units}}}
        if tokens:
            answer["usage"] = {"total_tokens": tokens}
        return ChatResult(orjson.dumps(answer), usage)

    def cacheable(self, req: ChatRequest) -> bool:
        return True
