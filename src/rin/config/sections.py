"""Typed models of the YAML's settings sections: `router_settings`, `general_settings`,
`litellm_settings` and `catalog`.

Unknown keys never reach these models: `Problems.sort_keys` filters them out (with a warning) first,
so they forbid extras. Their value types and `validate` are in `fields`; a `model_list` entry's
models in `model_entry`.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field

from rin.config.fields import (
    Duration, Money, NonEmpty, NonNegFloat, NonNegInt, Port, Positive, PositiveInt, Strategy, Strict, Text,
    between, duration_seconds, not_bool, positive,
)


class ProviderBudget(Strict):
    budget_limit: Money
    time_period: Duration


class RouterSection(Strict):
    """`router_settings`. Fallback maps stay raw here: `rin.config.settings` checks their shape and targets."""

    routing_strategy: Strategy | None = None
    num_retries: NonNegInt | None = None
    timeout: Positive | None = None
    stream_timeout: Positive | None = None
    allowed_fails: NonNegInt | None = None
    cooldown_time: NonNegFloat | None = None
    disable_cooldowns: bool | None = None
    fallbacks: Any = None
    default_fallbacks: Any = None
    context_window_fallbacks: Any = None
    content_policy_fallbacks: Any = None
    max_fallbacks: NonNegInt | None = None
    retry_policy: dict[str, NonNegInt] | None = None
    allowed_fails_policy: dict[str, NonNegInt] | None = None
    redis_host: Text | None = None
    redis_port: Port | None = None
    redis_password: Text | None = None
    provider_budget_config: dict[str, ProviderBudget] | None = None


class LiteLLMRouterSection(RouterSection):
    """The router keys LiteLLM also reads from `litellm_settings` (`request_timeout` is its timeout)."""

    request_timeout: Positive | None = None


class GeneralSection(Strict):
    master_key: Text | None = None
    database_url: Text | None = None
    #: RIN's: the base of relative data paths (rin.config.paths); relative to the config file's folder
    data_dir: NonEmpty | None = None
    max_budget: Money | None = None
    budget_duration: Duration | None = None
    enforce_budget: bool | None = None
    budget_alert_threshold: Annotated[float, BeforeValidator(not_bool), AfterValidator(positive),
                                      between(0, 1)] | None = None
    alert_webhook_url: Text | None = None
    model_cost: dict[str, Any] | None = None
    max_request_size_mb: Positive | None = None
    #: RIN's: the limit of an upload (audio to transcribe, an image to edit); OpenAI's is 25 MB
    max_upload_size_mb: Positive | None = None
    user_header_name: NonEmpty | None = None
    max_end_user_budget: Money | None = None
    disable_spend_logs: bool | None = None
    #: LiteLLM's name: seconds between batched spend writes (RIN: 0.25; what a hard kill can lose).
    #: Any value LiteLLM takes loads; rin.config.settings warns about the unusual ones.
    proxy_batch_write_at: NonNegFloat | None = None
    global_max_parallel_requests: Annotated[int, BeforeValidator(not_bool), Field(ge=1)] | None = None


class LiteLLMSection(Strict):
    drop_params: bool | None = None
    cache: bool | None = None
    cache_params: dict[str, Any] | None = None
    #: RIN extension: seconds between keep-alive comments while a stream waits
    stream_keepalive: Positive | None = None
    #: RIN extension: how long a stream whose client left is still read for its usage
    stream_drain_timeout: Positive | None = None
    #: Azure deployments without a key or token fetch Entra ID tokens with AZURE_TENANT_ID,
    #: AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (read at load by rin.providers.azure_entra)
    enable_azure_ad_token_refresh: bool | None = None


def _listify(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _min_interval(value: str) -> str:
    if duration_seconds(value) < 60:
        raise ValueError("is too short: sync at most once a minute (e.g. 1h, 6h, 1d)")
    return value


Patterns = Annotated[list[NonEmpty], BeforeValidator(_listify)]


class CatalogSection(Strict):
    """`catalog:` (RIN extension): the synced OpenRouter catalogue. Prices are USD per million tokens."""

    enabled: bool | None = None
    path: NonEmpty | None = None
    sync_on_startup: bool | None = None
    sync_interval: Annotated[Duration, AfterValidator(_min_interval)] | None = None
    expose: bool | None = None
    include: Patterns | None = None
    exclude: Patterns | None = None
    free_only: bool | None = None
    max_prompt_price: Money | None = None
    max_completion_price: Money | None = None
    min_context: PositiveInt | None = None


#: keys of `litellm_settings` that belong to the router or to budgets (router/general sections win)
LITELLM_ROUTER_KEYS = frozenset({
    "num_retries", "request_timeout", "timeout", "stream_timeout", "allowed_fails", "cooldown_time",
    "disable_cooldowns", "fallbacks", "default_fallbacks", "context_window_fallbacks",
    "content_policy_fallbacks", "max_fallbacks", "retry_policy", "allowed_fails_policy",
})
LITELLM_BUDGET_KEYS = frozenset({"max_budget", "budget_duration", "max_end_user_budget"})
