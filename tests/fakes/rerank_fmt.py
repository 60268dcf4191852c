"""Rerank wire formats: Cohere (v2, and v1), Jina, and a local OpenAI-compatible reranker (TEI / vLLM).

Cohere v2 (docs.cohere.com/reference/rerank): {model, query, documents: [str], top_n} ->
    {"results": [{"index", "relevance_score"}], "id": <uuid>,
     "meta": {"api_version": {"version": "2", "is_experimental": false}, "billed_units": {"search_units": 1}}}
  v1 also takes `return_documents` and then puts {"document": {"text"}} in each result.
  Errors: {"id": <uuid>, "message": "..."}.
Jina (jina.ai/reranker) and the shape LiteLLM proxy / Open WebUI's external reranker speak:
    {model, query, documents: [str | {"text"}], top_n, return_documents (default true)} ->
    {"model", "usage": {"total_tokens", "prompt_tokens"}, "results": [{"index", "relevance_score", "document": {"text"}}]}
  Errors: {"detail": "..."}.

The score is deterministic: the share of the query's distinct words found in the document,
nudged by position so ties keep the input order.
"""

from __future__ import annotations

import re
import uuid

from .answer import tokens
from .faults import Fault
from .openai_fmt import OpenAIFormat, error_body, is_bad_key
from .wire import JSON, Reply, dumps

_WORD_RE = re.compile(r"\w+")


def words(text: str) -> set[str]:
    return {w.lower() for w in _WORD_RE.findall(text)}


def doc_text(doc: object) -> str | None:
    if isinstance(doc, str):
        return doc
    if isinstance(doc, dict) and isinstance(doc.get("text"), str):
        return doc["text"]
    return None


def score(query: str, document: str) -> float:
    """The share of the query's distinct words found in the document, in [0, 1]."""
    q = words(query)
    if not q:
        return 0.0
    return round(len(q & words(document)) / len(q), 6)


def ranked(query: str, texts: list[str], top_n: object) -> list[tuple[int, float]]:
    """(index, score) best first; equal scores keep the documents' order."""
    order = sorted(((i, score(query, t)) for i, t in enumerate(texts)), key=lambda p: (-p[1], p[0]))
    if isinstance(top_n, int) and top_n > 0:
        order = order[:top_n]
    return order


class CohereFormat:
    """api.cohere.com /v2/rerank (version "2") or /v1/rerank (version "1")."""

    name = "cohere"

    def __init__(self, version: str = "2") -> None:
        self.version = version

    def headers(self, content_type: str = JSON) -> dict[str, str]:
        return {"Content-Type": content_type, "x-debug-trace-id": uuid.uuid4().hex, "num_chars": "0"}

    def _err(self, status: int, message: str, headers: dict | None = None) -> Reply:
        return Reply(status, dumps({"id": str(uuid.uuid4()), "message": message}), {**self.headers(), **(headers or {})})

    def auth_error(self, headers: object) -> Reply | None:
        auth = headers.get("Authorization")  # type: ignore[attr-defined]
        if not auth:
            return self._err(401, "no api key supplied")
        if is_bad_key(auth):
            return self._err(401, "invalid api token")
        return None

    def validate(self, body: dict | None) -> Reply | None:
        if body is None:
            return self._err(400, "invalid request: could not parse the request body as JSON.")
        if not isinstance(body.get("model"), str) or not body["model"]:
            return self._err(400, "invalid request: model must be specified.")
        if not isinstance(body.get("query"), str) or not body["query"].strip():
            return self._err(400, "invalid request: query must not be empty.")
        docs = body.get("documents")
        if not isinstance(docs, list) or not docs:
            return self._err(400, "invalid request: list of documents must not be empty.")
        if self.version == "2" and not all(isinstance(d, str) for d in docs):
            return self._err(400, "invalid request: documents must be a list of strings.")
        if any(doc_text(d) is None for d in docs):
            return self._err(400, "invalid request: each document must be a string or have a 'text' field.")
        top_n = body.get("top_n")
        if top_n is not None and (not isinstance(top_n, int) or top_n < 1):
            return self._err(400, "invalid request: top_n must be a positive integer.")
        return None

    def rerank(self, body: dict) -> Reply:
        texts = [doc_text(d) or "" for d in body["documents"]]
        results = []
        for index, relevance in ranked(body["query"], texts, body.get("top_n")):
            item: dict = {"index": index, "relevance_score": relevance}
            if self.version == "1" and body.get("return_documents"):
                item["document"] = {"text": texts[index]}
            results.append(item)
        meta = {"api_version": {"version": self.version, "is_experimental": False}, "billed_units": {"search_units": 1}}
        return Reply(200, dumps({"results": results, "id": str(uuid.uuid4()), "meta": meta}), self.headers())

    def error(self, fault: Fault, model: str) -> Reply:
        status = fault.status if fault.kind == "status" else 400
        if status == 429:
            msg = ("You are using a Trial key, which is limited to 10 API calls / minute. You can continue to use the "
                   "Trial key for free or upgrade to a Production key with higher rate limits at "
                   "'https://dashboard.cohere.com/api-keys'. Contact us on 'https://discord.gg/XW44jPfYJu' or email us "
                   "at support@cohere.com with any questions")
            return self._err(429, msg, {"Retry-After": str(fault.retry_after)})
        if status == 400:
            return self._err(400, f"invalid request: model '{model}' not found, make sure the correct model ID was used.")
        if status == 401:
            return self._err(401, "invalid api token")
        if status == 403:
            return self._err(403, "You are not authorized to access this resource.")
        if status in (502, 503, 529):
            return self._err(503, "service unavailable, please try again later")
        return self._err(500, f"internal server error, this has been reported to our developers. id {uuid.uuid4()}")

    def error_in_body(self, model: str) -> Reply:
        return self._err(200, "internal server error, this has been reported to our developers.")

    def not_found(self, method: str, path: str) -> Reply:
        return self._err(404, f"{method} {path} is not a valid endpoint")


class JinaFormat:
    """api.jina.ai /v1/rerank."""

    name = "jina"
    default_model = "jina-reranker-v2-base-multilingual"

    def headers(self, content_type: str = JSON) -> dict[str, str]:
        return {"Content-Type": content_type}

    def _err(self, status: int, detail: str, headers: dict | None = None) -> Reply:
        return Reply(status, dumps({"detail": detail}), {**self.headers(), **(headers or {})})

    def auth_error(self, headers: object) -> Reply | None:
        auth = headers.get("Authorization")  # type: ignore[attr-defined]
        if not auth or is_bad_key(auth):
            return self._err(401, "Unauthorized: please provide a valid API key in the Authorization header.")
        return None

    def bad(self, message: str) -> Reply:
        return self._err(422, message)

    def validate(self, body: dict | None) -> Reply | None:
        if body is None:
            return self.bad("[RETRYABLE] Invalid JSON body")
        if not isinstance(body.get("query"), str) or not body["query"]:
            return self.bad("query: field required")
        docs = body.get("documents")
        if not isinstance(docs, list) or not docs:
            return self.bad("documents: field required")
        if any(doc_text(d) is None for d in docs):
            return self.bad("documents: each document must be a string or an object with a 'text' field")
        top_n = body.get("top_n")
        if top_n is not None and (not isinstance(top_n, int) or top_n < 1):
            return self.bad("top_n: ensure this value is greater than or equal to 1")
        return None

    def rerank(self, body: dict) -> Reply:
        texts = [doc_text(d) or "" for d in body["documents"]]
        with_docs = body.get("return_documents", True) is not False
        results = []
        for index, relevance in ranked(body["query"], texts, body.get("top_n")):
            item: dict = {"index": index, "relevance_score": relevance}
            if with_docs:
                item["document"] = {"text": texts[index]}
            results.append(item)
        used = tokens(len(body["query"]) + sum(len(t) for t in texts))
        obj = {"model": body.get("model") or self.default_model, "usage": {"total_tokens": used, "prompt_tokens": used},
               "results": results}
        return Reply(200, dumps(obj), self.headers())

    def error(self, fault: Fault, model: str) -> Reply:
        status = fault.status if fault.kind == "status" else 400
        if status == 429:
            return self._err(429, "Rate limit exceeded. Please try again later.", {"Retry-After": str(fault.retry_after)})
        if status == 400:
            return self._err(400, f"Model {model} not found")
        if status == 401:
            return self._err(401, "Unauthorized: please provide a valid API key in the Authorization header.")
        if status in (502, 503, 529):
            return self._err(503, "Service temporarily unavailable")
        return self._err(500, "Internal Server Error")

    def error_in_body(self, model: str) -> Reply:
        return self._err(200, "Internal Server Error")

    def not_found(self, method: str, path: str) -> Reply:
        return self._err(404, "Not Found")


class LocalRerankFormat(JinaFormat):
    """A reranker on an OpenAI-compatible base (TEI / vLLM / LiteLLM `/v1/rerank`): Jina's shape,
    OpenAI's error bodies; like a local server it takes any key but `bad-key`."""

    name = "openai-rerank"

    def __init__(self) -> None:
        self._openai = OpenAIFormat()

    def headers(self, content_type: str = JSON) -> dict[str, str]:
        return self._openai.headers(content_type)

    def auth_error(self, headers: object) -> Reply | None:
        if is_bad_key(headers.get("Authorization")):  # type: ignore[attr-defined]
            return self._openai.error(Fault("status", status=401), "")
        return None

    def bad(self, message: str) -> Reply:
        return Reply(400, error_body(message, "invalid_request_error"), self.headers())

    def validate(self, body: dict | None) -> Reply | None:
        if body is None:
            return self._openai.validate({}, None)
        reply = super().validate(body)
        if reply is not None:
            return reply
        if not isinstance(body.get("model"), str) or not body["model"]:
            return self._openai.validate({}, body)
        return None

    def error(self, fault: Fault, model: str) -> Reply:
        return self._openai.error(fault, model)

    def error_in_body(self, model: str) -> Reply:
        return self._openai.error_in_body(model)

    def not_found(self, method: str, path: str) -> Reply:
        return self._openai.not_found(method, path)
