"""The resolved config: what the running gateway reads. Built once by `rin.config.load_config`,
secrets filled in, references checked; nothing reads `os.environ` after this. Reload builds a new
one and swaps it whole."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from rin.types import Deployment, ModelInfo, Secret


@dataclass(slots=True)
class RouterSettings:
    routing_strategy: str = "simple-shuffle"
    num_retries: int = 2
    #: per-attempt timeout and the whole request's deadline, seconds
    timeout: float = 600.0
    stream_timeout: float | None = None
    allowed_fails: int = 3
    cooldown_time: float = 5.0
    disable_cooldowns: bool = False
    #: {"gpt-4o": ["openrouter/gpt-4o", ...]}
    fallbacks: dict[str, list[str]] = field(default_factory=dict)
    default_fallbacks: list[str] = field(default_factory=list)
    context_window_fallbacks: dict[str, list[str]] = field(default_factory=dict)
    content_policy_fallbacks: dict[str, list[str]] = field(default_factory=dict)
    max_fallbacks: int = 5
    #: LiteLLM names, e.g. {"RateLimitErrorRetries": 3, "TimeoutErrorRetries": 1}
    retry_policy: dict[str, int] = field(default_factory=dict)
    allowed_fails_policy: dict[str, int] = field(default_factory=dict)
    redis_host: str | None = None
    redis_port: int | None = None
    redis_password: Secret | None = None
    #: {"openai": {"budget_limit": Decimal, "time_period": "1d"}}
    provider_budget_config: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(slots=True)
class GeneralSettings:
    master_key: Secret | None = None
    #: kept out of repr: a PostgreSQL URL may embed a password
    database_url: str = field(default="sqlite:///data/litellm/litellm_cost_tracking.db", repr=False)
    #: the base every relative data path resolves from, absolute once loaded (rin.config.paths)
    data_dir: Path = Path(".")
    max_budget: Decimal | None = None
    budget_duration: str | None = None
    enforce_budget: bool = False
    #: fraction of a budget at which one warning per window is logged
    budget_alert_threshold: float = 0.8
    #: kept out of repr: webhook URLs (Slack, Discord) embed their token
    alert_webhook_url: str | None = field(default=None, repr=False)
    #: per-model prices from general_settings.model_cost, USD per token
    model_cost: dict[str, ModelInfo] = field(default_factory=dict)
    max_request_size_mb: float = 10.0
    #: uploads (audio, images to edit) may be this large: OpenAI's own limit by default
    max_upload_size_mb: float = 25.0
    #: header naming the end user (Open WebUI: X-OpenWebUI-User-Email / -Id)
    user_header_name: str | None = None
    max_end_user_budget: Decimal | None = None
    #: requests in flight at once before RIN answers 503 at once (LiteLLM's name)
    global_max_parallel_requests: int = 1000
    #: LiteLLM's switch: no spend_log rows at all (budgets then only count this process's spend)
    disable_spend_logs: bool = False
    #: seconds between the ledger's batched writes (LiteLLM's name): the most a hard kill can lose
    proxy_batch_write_at: float = 0.25


@dataclass(slots=True)
class LiteLLMSettings:
    drop_params: bool = False
    cache: bool = False
    #: kept out of repr: may hold the Redis password
    cache_params: dict[str, Any] = field(default_factory=dict, repr=False)
    #: seconds between keep-alive comments while a stream waits for its first token
    stream_keepalive: float = 10.0
    #: seconds a stream whose client disconnected is still read, so its usage can be billed
    stream_drain_timeout: float = 5.0
    #: Azure deployments without a key or token fetch Entra ID tokens from the AZURE_* variables
    enable_azure_ad_token_refresh: bool = False


@dataclass(slots=True, frozen=True)
class OtlpExport:
    """Where OpenTelemetry spans go: an OTLP endpoint, as the standard OTEL_EXPORTER_OTLP_* say."""

    #: the full traces URL for http/protobuf (…/v1/traces); the collector's address for grpc
    endpoint: str
    protocol: str = "http/protobuf"
    #: OTEL_EXPORTER_OTLP_(TRACES_)HEADERS: often a collector's API key, so never shown
    headers: dict[str, str] = field(default_factory=dict, repr=False)


@dataclass(slots=True, frozen=True)
class LangfuseExport:
    """Langfuse's OpenTelemetry endpoint, with Basic auth from its public and secret keys."""

    endpoint: str
    public_key: str
    secret_key: Secret
    #: which requests it receives: success_callback (or callbacks) and failure_callback (or callbacks)
    on_success: bool = True
    on_failure: bool = True


@dataclass(slots=True, frozen=True)
class TelemetrySettings:
    """Tracing (rin.telemetry): off unless an OTLP endpoint or a Langfuse key pair is configured."""

    otlp: OtlpExport | None = None
    langfuse: LangfuseExport | None = None
    service_name: str = "rin"
    #: OTEL_RESOURCE_ATTRIBUTES, service.name aside
    resource: dict[str, str] = field(default_factory=dict)
    #: prompts and answers in spans: general_settings.otel_log_content and not turn_off_message_logging
    log_content: bool = False
    #: litellm_settings.langfuse_default_tags
    tags: tuple[str, ...] = ()
    #: callback names LiteLLM knows that RIN does not implement (named once each in the warnings)
    unsupported: tuple[str, ...] = ()
    #: OTEL_BSP_MAX_QUEUE_SIZE: spans that may wait per destination before new ones are dropped
    queue_size: int = 2048
    #: OTEL_BSP_SCHEDULE_DELAY: milliseconds between exports
    schedule_delay_ms: int = 5000
    #: OTEL_TRACES_SAMPLER (one of rin.config.telemetry.SAMPLERS) and, for the ratio samplers,
    #: OTEL_TRACES_SAMPLER_ARG: which requests are traced
    sampler: str = "parentbased_always_on"
    ratio: float = 1.0

    @property
    def enabled(self) -> bool:
        return self.otlp is not None or self.langfuse is not None


OPENROUTER_API_BASE = "https://openrouter.ai/api/v1"


@dataclass(slots=True)
class CatalogSettings:
    """`catalog:`: how the synced OpenRouter catalogue (rin.catalog) becomes `openrouter/<id>` models."""

    enabled: bool = True
    #: relative to general_settings.data_dir once loaded (rin.config.paths)
    path: Path = Path("data/openrouter/models.json")
    #: sync in the background at startup (only when OPENROUTER_API_KEY is set)
    sync_on_startup: bool = True
    #: seconds between background syncs; None: only at startup and on demand
    sync_interval: float | None = None
    #: list synced models in /v1/models (False: routable but unlisted)
    expose: bool = True
    #: fnmatch patterns on the model id ("anthropic/*"); empty include means every model
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    free_only: bool = False
    #: USD per million tokens
    max_prompt_price: Decimal | None = None
    max_completion_price: Decimal | None = None
    min_context: int | None = None


@dataclass(slots=True)
class OpenRouterAccess:
    """How to reach OpenRouter when no model_list entry says: OPENROUTER_API_BASE / _API_KEY and the
    attribution headers, resolved at load time."""

    api_base: str = OPENROUTER_API_BASE
    api_key: Secret | None = None
    headers: dict[str, str] = field(default_factory=dict, repr=False)


@dataclass(slots=True)
class Config:
    path: Path | None
    deployments: list[Deployment]
    router: RouterSettings = field(default_factory=RouterSettings)
    general: GeneralSettings = field(default_factory=GeneralSettings)
    litellm: LiteLLMSettings = field(default_factory=LiteLLMSettings)
    #: non-fatal findings from loading: unknown keys, disabled models (one line each, no secret values)
    warnings: list[str] = field(default_factory=list)
    #: model group name -> its deployments (enabled and disabled), in config order
    groups: dict[str, list[Deployment]] = field(default_factory=dict)
    catalog: CatalogSettings = field(default_factory=CatalogSettings)
    openrouter: OpenRouterAccess = field(default_factory=OpenRouterAccess)
    telemetry: TelemetrySettings = field(default_factory=TelemetrySettings)

    def __post_init__(self) -> None:
        if not self.groups:
            for dep in self.deployments:
                self.groups.setdefault(dep.model_name, []).append(dep)

    def enabled(self, model_name: str) -> list[Deployment]:
        return [d for d in self.groups.get(model_name, ()) if d.enabled]

    @property
    def missing_env(self) -> list[str]:
        """Variables whose absence disabled at least one model (names only)."""
        names: set[str] = set()
        for dep in self.deployments:
            reason = dep.disabled_reason or ""
            if reason.endswith(" is not set"):
                names.add(reason.split()[0])
        return sorted(names)
