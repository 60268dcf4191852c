"""Span attributes, as pure functions of what the gateway already knows (no OpenTelemetry import).

OpenTelemetry's GenAI conventions (`gen_ai.*`) where they have a name, RIN's own (`rin.*`)
otherwise, and the `langfuse.*` names Langfuse maps (observation type, metadata, tags) when it is
a destination. Credentials never appear: only model names, deployment labels, counts, outcomes
and, when content logging is on, the messages themselves.
"""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import orjson

from rin.errors import BudgetExceeded, RinError
from rin.types import ChatRequest, ChatResult, Deployment, Usage

Attributes = dict[str, Any]

#: the client protocol (rin.codecs endpoint) -> gen_ai.operation.name
OPERATIONS = {
    "chat": "chat", "messages": "chat", "responses": "chat", "completions": "text_completion",
    "embeddings": "embeddings", "images": "generate_content", "image_edits": "generate_content",
    "speech": "generate_content", "transcriptions": "generate_content", "translations": "generate_content",
    "rerank": "rerank",
}
#: RIN's provider prefix -> gen_ai.provider.name, where the conventions name it differently
PROVIDERS = {
    "azure": "azure.ai.openai", "azure_ai": "azure.ai.inference", "gemini": "gcp.gemini",
    "vertex_ai": "gcp.vertex_ai", "bedrock": "aws.bedrock", "mistral": "mistral_ai", "xai": "x_ai",
}
_PARAMS = (("temperature", "gen_ai.request.temperature"), ("top_p", "gen_ai.request.top_p"),
           ("max_tokens", "gen_ai.request.max_tokens"), ("max_completion_tokens", "gen_ai.request.max_tokens"),
           ("seed", "gen_ai.request.seed"), ("frequency_penalty", "gen_ai.request.frequency_penalty"),
           ("presence_penalty", "gen_ai.request.presence_penalty"))
#: the parts of a client's body that are the prompt (never keys, URLs or headers)
_INPUT_FIELDS = ("system", "instructions", "messages", "input", "prompt", "query", "documents", "tools")
#: the most of a prompt or an answer one attribute carries
CONTENT_LIMIT = 64 * 1024
#: answers larger than this are not parsed for their finish reasons
_PARSE_LIMIT = 1024 * 1024


def operation(req: ChatRequest) -> str:
    return OPERATIONS.get(req.endpoint, req.endpoint)


def request_start(req: ChatRequest, route: str) -> Attributes:
    attrs: Attributes = {
        "gen_ai.operation.name": operation(req), "gen_ai.request.model": req.model,
        "rin.request_id": req.request_id, "rin.endpoint": req.endpoint, "http.route": route,
        "rin.stream": req.stream,
    }
    if req.user:
        attrs["user.id"] = req.user
    body = req.body
    for key, name in _PARAMS:
        value = body.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            attrs[name] = value
    return attrs


def attempt_start(dep: Deployment, req: ChatRequest, number: int) -> Attributes:
    attrs: Attributes = {
        "gen_ai.operation.name": operation(req), "gen_ai.provider.name": provider_name(dep),
        "gen_ai.request.model": dep.provider_model, "rin.deployment": dep.label,
        "rin.model_group": dep.model_name, "rin.attempt": number, "rin.request_id": req.request_id,
    }
    host = _host(dep.api_base) if dep.api_base else None
    if host:
        attrs["server.address"] = host
    if dep.model_name != req.model:
        attrs["rin.fallback_from"] = req.model
    return attrs


@lru_cache(maxsize=1024)
def _host(url: str) -> str | None:
    return urlsplit(url).hostname


def provider_name(dep: Deployment) -> str:
    return PROVIDERS.get(dep.provider, dep.provider)


def request_end(state: Any, usage: Usage | None, status: str, error: RinError | None, cost: Decimal,
                source: str, cache_hit: str | None) -> Attributes:
    """`state` is the request's rin.router.RequestState."""
    req: ChatRequest = state.request
    dep: Deployment | None = state.deployment
    attrs: Attributes = {
        "rin.request.status": status, "rin.attempts": len(state.attempts), "rin.cost_usd": float(cost),
        "rin.cost_source": source, "rin.cache_hit": cache_hit is not None,
        "rin.budget.decision": budget_decision(state, error, cache_hit),
    }
    if dep is not None:
        attrs["gen_ai.provider.name"] = provider_name(dep)
        attrs["rin.deployment"] = dep.label
        attrs["gen_ai.response.model"] = dep.provider_model
    elif cache_hit is not None:
        attrs["rin.deployment"] = cache_hit
    if state.model_group:
        attrs["rin.model_group"] = state.model_group
    if state.fallback_from:
        attrs["rin.fallback_from"] = state.fallback_from
        attrs["rin.fallback.reason"] = fallback_reason(state, req.model)
    if usage is not None:
        attrs["gen_ai.usage.input_tokens"] = usage.prompt_tokens
        attrs["gen_ai.usage.output_tokens"] = usage.completion_tokens
        # not a convention of OpenTelemetry's, but the name Langfuse reads a generation's cost from
        attrs["gen_ai.usage.cost"] = float(cost)
    if error is not None:
        attrs["error.type"] = type(error).__name__
    attrs.update(answer_attributes(state.answer))
    return attrs


def budget_decision(state: Any, error: RinError | None, cache_hit: str | None) -> str:
    """allowed | refused (the request was turned away) | fallback (refused on some deployment,
    answered by another) | not_checked (a cache hit, or nothing was tried)."""
    if cache_hit is not None:
        return "not_checked"
    if isinstance(error, BudgetExceeded):
        return "refused"
    if state.budget_refusals:
        return "fallback" if state.deployment is not None else "refused"
    return "allowed" if state.attempts else "not_checked"


def fallback_reason(state: Any, requested: str) -> str:
    """Why the request left its model group: the last failure before the first attempt elsewhere."""
    previous = None
    for attempt in state.attempts:
        if attempt.model_group != requested:
            break
        previous = attempt
    if previous is not None and previous.error:
        return previous.error + (f" HTTP {previous.status}" if previous.status else "")
    return "budget" if state.budget_refusals else "no deployment available"


def attempt_end(attempt: Any, previous: list[Any], request_status: str) -> Attributes:
    """An attempt's outcome from the router's record (rin.router.Attempt)."""
    attrs: Attributes = {
        "rin.retry": sum(1 for p in previous if p.deployment == attempt.deployment and
                         p.model_group == attempt.model_group),
        "rin.request.status": request_status,
    }
    if attempt.status is not None:
        attrs["http.response.status_code"] = attempt.status
    if attempt.error:
        attrs["error.type"] = attempt.error
    return attrs


def answer_attributes(answer: Any) -> Attributes:
    """What the upstream's answer says of itself: model, id, finish reasons (where known)."""
    if answer is None:
        return {}
    if not isinstance(answer, ChatResult):  # a stream: its parser saw the model, if anything
        model = getattr(getattr(answer, "parser", None), "provider_model", None)
        return {"gen_ai.response.model": model} if isinstance(model, str) and model else {}
    attrs: Attributes = {}
    if answer.provider_model:
        attrs["gen_ai.response.model"] = answer.provider_model
    data = answer_data(answer)
    if data is None:
        return attrs
    if isinstance(data.get("model"), str) and "gen_ai.response.model" not in attrs:
        attrs["gen_ai.response.model"] = data["model"]
    if isinstance(data.get("id"), str):
        attrs["gen_ai.response.id"] = data["id"]
    reasons = finish_reasons(data)
    if reasons:
        attrs["gen_ai.response.finish_reasons"] = reasons
    return attrs


def answer_data(answer: ChatResult) -> dict[str, Any] | None:
    if answer.data is not None:
        return answer.data
    if answer.content_type is not None or len(answer.body) > _PARSE_LIMIT:
        return None
    try:
        data = orjson.loads(answer.body)
    except orjson.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def finish_reasons(data: dict[str, Any]) -> list[str]:
    """OpenAI's choices[].finish_reason, Anthropic's stop_reason, the Responses API's status."""
    choices = data.get("choices")
    if isinstance(choices, list):
        return [str(c["finish_reason"]) for c in choices if isinstance(c, dict) and c.get("finish_reason")]
    for key in ("stop_reason", "status"):
        if isinstance(data.get(key), str):
            return [data[key]]
    return []


def prompt_content(req: ChatRequest) -> str | None:
    """The prompt, as JSON (the client's own body's prompt fields), or None if it has none."""
    body = req.native if req.native is not None else req.body
    picked = {k: body[k] for k in _INPUT_FIELDS if k in body}
    return clip(orjson.dumps(picked)) if picked else None


def answer_content(answer: Any) -> str | None:
    """The answer's messages as JSON, for non-streamed answers (a stream's: StreamView.content)."""
    if not isinstance(answer, ChatResult):
        return None
    data = answer_data(answer)
    if data is None:
        return None
    if isinstance(data.get("choices"), list):
        picked: Any = [c.get("message") or c.get("text") for c in data["choices"] if isinstance(c, dict)]
    elif "content" in data:
        picked = data["content"]
    elif "output" in data:
        picked = data["output"]
    elif isinstance(data.get("text"), str):
        picked = data["text"]
    else:
        return None
    return clip(orjson.dumps(picked))


def clip(raw: bytes) -> str:
    text = raw.decode("utf-8", "replace")
    return text if len(text) <= CONTENT_LIMIT else text[:CONTENT_LIMIT] + "…"


def langfuse_request(state: Any, tags: tuple[str, ...]) -> Attributes:
    """Langfuse's names for the request span: a generation (an embedding for embeddings), its
    metadata and the trace's tags."""
    req: ChatRequest = state.request
    attrs: Attributes = {
        "langfuse.observation.type": "embedding" if req.endpoint == "embeddings" else "generation",
        "langfuse.observation.metadata.request_id": req.request_id,
        "langfuse.observation.metadata.endpoint": req.endpoint,
        "langfuse.observation.metadata.attempts": len(state.attempts),
    }
    if state.deployment is not None:
        attrs["langfuse.observation.metadata.deployment"] = state.deployment.label
    if state.fallback_from:
        attrs["langfuse.observation.metadata.fallback_from"] = state.fallback_from
    if tags:
        attrs["langfuse.trace.tags"] = list(tags)
    return attrs
