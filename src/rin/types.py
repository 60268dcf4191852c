"""The typed values that travel between the stages of the request flow (see ARCHITECTURE.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from collections.abc import Mapping
from typing import Any, Literal, Protocol


class Secret:
    """A credential that never shows itself in repr, str, logs or error bodies."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What RIN knows about a deployment's model: limits, capabilities, prices (USD per token, or
    per the unit in the name: second of audio, character, image, rerank query; LiteLLM's names)."""

    context_length: int | None = None
    max_output_tokens: int | None = None
    supports_vision: bool | None = None
    supports_function_calling: bool | None = None
    supports_reasoning: bool | None = None
    supports_response_format: bool | None = None
    input_cost_per_token: Decimal | None = None
    output_cost_per_token: Decimal | None = None
    cache_read_cost_per_token: Decimal | None = None
    cache_write_cost_per_token: Decimal | None = None
    cost_per_request: Decimal | None = None
    #: audio seconds (transcription / translation: Usage.seconds)
    input_cost_per_second: Decimal | None = None
    #: audio seconds too, used only when input_cost_per_second is unset (LiteLLM lists whisper-1 at
    #: both, the same rate: one request's seconds are billed once)
    output_cost_per_second: Decimal | None = None
    #: speech input characters (Usage.characters)
    input_cost_per_character: Decimal | None = None
    #: an image generated, when its size / quality has no price of its own (Usage.images)
    output_cost_per_image: Decimal | None = None
    #: an image generated, by variant: "quality/size" ("hd/1024x1792", "high/1024x1536") or "size"
    #: ("256x256"); lower case, sizes as WxH (rin.cost.image_price)
    output_cost_per_image_by_size: Mapping[str, Decimal] | None = None
    #: a rerank search unit (Usage.search_units); LiteLLM's name for Cohere's per-search price
    input_cost_per_query: Decimal | None = None
    display_name: str | None = None
    mode: str = "chat"
    #: where the prices came from: "config", "catalog", "builtin" or None
    price_source: str | None = None


@dataclass(slots=True)
class Deployment:
    """One resolved `model_list` entry: a model group name bound to a provider endpoint."""

    model_name: str
    provider: str
    provider_model: str
    api_base: str
    id: str
    api_key: Secret | None = None
    #: kept out of repr: a header may carry a token
    extra_headers: dict[str, str] = field(default_factory=dict, repr=False)
    #: request parameters from litellm_params (temperature, top_p, max_tokens, ...): defaults only
    defaults: dict[str, Any] = field(default_factory=dict)
    info: ModelInfo = field(default_factory=ModelInfo)
    timeout: float | None = None
    stream_timeout: float | None = None
    weight: float = 1.0
    rpm: int | None = None
    tpm: int | None = None
    order: int | None = None
    max_budget: Decimal | None = None
    budget_duration: str | None = None
    drop_params: bool = False
    #: request parameters removed before every call to this deployment (LiteLLM's
    #: additional_drop_params, or drop_params given as a list)
    additional_drop_params: tuple[str, ...] = ()
    api_version: str | None = None
    #: this deployment's own cooldown_time (litellm_params), overriding router_settings.cooldown_time
    cooldown_time: float | None = None
    #: None when usable; otherwise why not (e.g. "OPENAI_API_KEY is not set")
    disabled_reason: str | None = None
    #: a credential RIN refreshes in the background (rin.credentials.Credential): Google and AWS
    #: tokens, Entra ID tokens; adapters read `credential.current()`, which does no I/O
    credential: Any = field(default=None, repr=False, compare=False)
    #: provider-specific settings resolved at load (Vertex project/location, Bedrock region, ...)
    options: dict[str, Any] = field(default_factory=dict)
    #: shown in /v1/models; False for synced catalogue models when `catalog.expose` is false
    listed: bool = True
    #: an OpenRouter model the synced catalogue no longer lists (rin.catalog.expand)
    catalog_missing: bool = False

    @property
    def enabled(self) -> bool:
        return self.disabled_reason is None

    @property
    def label(self) -> str:
        return f"{self.provider}/{self.provider_model}"


@dataclass(slots=True)
class ChatRequest:
    """A client's chat request: the parsed JSON body plus the few fields RIN acts on."""

    body: dict[str, Any]
    model: str
    stream: bool = False
    #: the client asked for the usage chunk (stream_options.include_usage)
    include_usage: bool = False
    user: str | None = None
    request_id: str = ""
    #: size of the request body in bytes: a cheap upper bound for the prompt's size
    body_size: int = 0
    #: sha256 of the virtual key that sent it (None for the master key or an open gateway)
    api_key_hash: str | None = None
    #: that virtual key (rin.keys.VirtualKey), for its limits and budget
    virtual_key: Any = None
    #: (has images, has tools), worked out only when a candidate model lacks a capability
    needs: tuple[bool, bool] | None = None
    #: the client protocol it came in (rin.codecs): "chat", "messages", "responses", ...; the ledger's
    #: `endpoint` column
    endpoint: str = "chat"
    #: the client's body in its own protocol, passed through to a deployment that speaks it natively
    native: dict[str, Any] | None = None
    #: protocol headers forwarded to such a deployment (anthropic-version, anthropic-beta)
    forward_headers: dict[str, str] | None = None
    #: what a codec keeps between decoding and answering (e.g. the Responses API's id and history)
    context: Any = None
    #: what a media request will be billed by, known before the call (characters to speak, images
    #: to make, seconds of audio): budgets reserve its worst case (rin.cost.estimate_max_cost)
    expected: "Usage | None" = None
    #: its spans (rin.telemetry.tracing.RequestTrace) while tracing is on, else None
    trace: Any = None
    #: True once the client has disconnected (rin.server.http publishes it; None under another server)
    client_gone: Any = None


@dataclass(slots=True)
class UpstreamRequest:
    """Everything the transport needs to make one HTTP call. Built by an adapter, never by I/O code."""

    method: str
    url: str
    headers: dict[str, str]
    #: the body, or pieces of it sent in order without joining them (uploads: rin.transport._body)
    body: "bytes | tuple[bytes | memoryview, ...]"
    stream: bool = False


@dataclass(slots=True)
class Usage:
    """What one request consumed: tokens, and for the media endpoints the quantity they are billed
    by (seconds, characters, images, search units). New fields go at the end: the cache entry
    (rin.cache.entry) and a few callers build it positionally."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    #: prompt tokens read from the provider's prompt cache (a subset of prompt_tokens)
    cached_tokens: int = 0
    #: prompt tokens written to the provider's prompt cache (Anthropic cache_creation_input_tokens)
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    #: cost the provider reported itself (OpenRouter usage.cost), USD
    provider_cost: Decimal | None = None
    #: seconds of audio billed (transcriptions, translations)
    seconds: float = 0.0
    #: input characters billed (speech)
    characters: int = 0
    #: images generated
    images: int = 0
    #: rerank search units
    search_units: int = 0
    #: the images' price variant, "quality/size" or "size" ("hd/1024x1792", "1024x1024"): picks
    #: ModelInfo.output_cost_per_image_by_size (rin.cost.image_price)
    image_variant: str | None = None


#: where a request's price came from (rin.cost), recorded with its cost (spend_log.cost_source)
CostSource = Literal["config", "provider", "catalog", "builtin", "unpriced"]


@dataclass(slots=True)
class ChatResult:
    """A finished non-streaming answer, already in OpenAI's JSON shape."""

    body: bytes
    usage: Usage | None
    provider_model: str | None = None
    #: `body` parsed, when the adapter had it at hand: codecs that translate it need not parse again
    data: dict[str, Any] | None = None
    #: the body's content type when it is not JSON (a transcript as text, srt or vtt)
    content_type: str | None = None


class StreamParser(Protocol):
    """Turns one upstream stream, event by event, into OpenAI `chat.completion.chunk` payloads."""

    usage: Usage | None
    #: the usage-only chunk (`choices: []`), held back: RIN sends it last, and only if the client
    #: asked for it with stream_options.include_usage
    usage_chunk: bytes | None
    #: True once the upstream said the answer is complete ([DONE] or message_stop)
    done: bool

    def feed(self, event: "SSEEvent") -> list[bytes]:
        """JSON payloads to send as `data:` lines. Raises UpstreamError for an in-stream error."""
        ...

    def finish(self) -> list[bytes]:
        """Called when the upstream closes; raises UpstreamProtocolError if it closed too early."""
        ...


@dataclass(slots=True)
class SSEEvent:
    data: str
    event: str | None = None
