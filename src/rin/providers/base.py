"""The one interface every provider adapter implements: pure translation, no I/O."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from rin.types import ChatRequest, ChatResult, Deployment, SSEEvent, StreamParser, UpstreamRequest, Usage
from rin.errors import UpstreamError, UpstreamProtocolError


class Adapter(Protocol):
    name: str

    def build_chat(self, req: ChatRequest, dep: Deployment) -> UpstreamRequest:
        """The upstream call for a chat request. Raises InvalidRequest for values the provider rejects."""
        ...

    def parse_chat(self, body: bytes, req: ChatRequest, dep: Deployment) -> ChatResult:
        """A 2xx non-streaming body, as an OpenAI chat.completion."""
        ...

    def stream_parser(self, req: ChatRequest, dep: Deployment) -> StreamParser:
        ...

    def native(self, endpoint: str, dep: Deployment) -> "NativeProtocol | None":
        """The pass-through for a client protocol this provider speaks itself ("messages",
        "responses", "completions"), or None: then the request goes through build_chat."""
        ...

    def media_url(self, endpoint: str, dep: Deployment) -> str | None:
        """Where `dep` serves a media endpoint ("transcriptions", "speech", "images", "rerank", ...)
        in OpenAI's wire format, or None when its provider does not."""
        ...

    def build_embeddings(self, body: dict[str, Any], dep: Deployment) -> UpstreamRequest:
        ...

    def parse_embeddings(self, body: bytes, dep: Deployment) -> tuple[bytes, Usage | None]:
        ...

    def classify_error(self, status: int, headers: Mapping[str, str], body: bytes) -> UpstreamError:
        """A non-2xx answer as an UpstreamError, decided by status and structured body."""
        ...


class StreamDecoder(Protocol):
    """Bytes of an upstream stream, as they arrive, into events for the adapter's StreamParser
    (rin.providers.sse.SSEDecoder for Server-Sent Events, the default)."""

    def feed(self, chunk: bytes) -> list[SSEEvent]: ...

    def flush(self) -> list[SSEEvent]: ...


class NativeProtocol(Protocol):
    """A client protocol the provider speaks itself: the client's body (ChatRequest.native) passes
    through with the model swapped; answers come back in the client's wire format."""

    def build(self, req: ChatRequest, dep: Deployment) -> UpstreamRequest: ...

    def parse(self, body: bytes, req: ChatRequest, dep: Deployment) -> ChatResult: ...

    def stream_parser(self, req: ChatRequest, dep: Deployment) -> StreamParser: ...


@dataclass(slots=True)
class SetupInput:
    """What a provider's load-time setup sees of one deployment (values already resolved)."""

    #: the deployment's litellm_params (rin.config.model_entry.LiteLLMParams)
    params: Any
    env: Mapping[str, str]
    provider_model: str
    #: the config's api_base (or the provider's base variable), "" when neither is set
    api_base: str
    #: the config's litellm_settings (values resolved): switches read at load, such as Azure's
    #: enable_azure_ad_token_refresh
    settings: Mapping[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class SetupResult:
    """A provider's load-time setup of one deployment: runs once at load, never per request."""

    #: where requests go, when the setup computes it (a region's or project's URL); None keeps api_base
    api_base: str | None = None
    #: rin.credentials.Credential refreshed in the background, or None
    credential: Any = None
    #: Deployment.options
    options: dict[str, Any] = field(default_factory=dict)
    #: why the deployment cannot be used (an optional package missing, a variable unset), or None
    disabled_reason: str | None = None
    #: (litellm_params key, message): config errors, reported at the key's file line
    errors: list[tuple[str, str]] = field(default_factory=list)
    #: ModelInfo fields the provider knows for this model (capabilities), used where model_info is silent
    info: dict[str, Any] = field(default_factory=dict)
    #: (litellm_params key, message): warnings (a default LiteLLM also assumes), at the key's line
    warnings: list[tuple[str, str]] = field(default_factory=list)


#: a provider's load-time setup (ProviderSpec.setup): credentials, computed endpoints, options
Setup = Callable[[SetupInput], SetupResult]


def json_object(body: bytes, answered: str) -> dict[str, Any]:
    """A 2xx body that must be a JSON object; `answered` says who ("Gemini answered") in the
    UpstreamProtocolError (retryable: garbage where JSON was expected) when it is not."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise UpstreamProtocolError(f"{answered} with a body that is not JSON") from None
    if not isinstance(data, dict):
        raise UpstreamProtocolError(f"{answered} with JSON that is not an object")
    return data
