"""Typed models of the YAML sections (pydantic v2), and the one place validation errors become
`FILE:LINE: key.path: what is wrong and what is allowed` lines.

Unknown keys never reach these models: `Problems.sort_keys` filters them out (with a warning) first,
so the section models forbid extras. `litellm_params` and `model_info` allow extras because LiteLLM
does: request defaults (reasoning_effort, thinking, ...) and free-form metadata.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from rin.config.problems import KeyPath, Problems, is_sensitive

ROUTING_STRATEGIES = (
    "simple-shuffle", "least-busy", "latency-based-routing", "usage-based-routing",
    "usage-based-routing-v2", "cost-based-routing",
)
_DURATION = re.compile(r"^\d+(s|m|h|d|w|mo)$")


def _not_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("is not a number")
    return value


def _between(low: float, high: float) -> AfterValidator:
    def check(value: float) -> float:
        if not low <= value <= high:
            raise ValueError(f"is out of range, must be between {low:g} and {high:g}")
        return value
    return AfterValidator(check)


def _at_least(low: float) -> AfterValidator:
    def check(value: Any) -> Any:
        if value < low:
            raise ValueError(f"is too small, must be {low:g} or more")
        return value
    return AfterValidator(check)


def _positive(value: float) -> float:
    if value <= 0:
        raise ValueError("must be greater than 0")
    return value


def _decimal_input(value: Any) -> Any:
    _not_bool(value)
    # str() of a float is its shortest exact decimal form: 0.0000025 stays 0.0000025
    return str(value) if isinstance(value, float) else value


def _money(value: Decimal) -> Decimal:
    if not value.is_finite() or value < 0:
        raise ValueError("must be a number of 0 or more (USD)")
    return value


def _duration(value: str) -> str:
    value = value.strip()
    if not _DURATION.match(value):
        raise ValueError("is not a duration: use a whole number followed by s, m, h, d, w or mo "
                         "(e.g. 30s, 60m, 24h, 7d, 30d, 1mo)")
    return value


def _strategy(value: str) -> str:
    if value not in ROUTING_STRATEGIES:
        raise ValueError(f"is not a routing strategy, must be one of: {', '.join(ROUTING_STRATEGIES)}")
    return value


def _text(value: Any) -> Any:
    """Numbers become text (a numeric password is still a password); anything else is checked as str."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return value.strip() if isinstance(value, str) else value


def _non_empty(value: str) -> str:
    if not value.strip():
        raise ValueError("is empty, must be a non-empty string")
    return value.strip()


Float = Annotated[float, BeforeValidator(_not_bool)]
Int = Annotated[int, BeforeValidator(_not_bool)]
NonNegInt = Annotated[int, BeforeValidator(_not_bool), _at_least(0)]
PositiveInt = Annotated[int, BeforeValidator(_not_bool), _at_least(1)]
NonNegFloat = Annotated[float, BeforeValidator(_not_bool), _at_least(0)]
Positive = Annotated[float, BeforeValidator(_not_bool), AfterValidator(_positive)]
Temperature = Annotated[float, BeforeValidator(_not_bool), _between(0, 2)]
Unit = Annotated[float, BeforeValidator(_not_bool), _between(0, 1)]
Penalty = Annotated[float, BeforeValidator(_not_bool), _between(-2, 2)]
Port = Annotated[int, BeforeValidator(_not_bool), _between(1, 65535)]
Money = Annotated[Decimal, BeforeValidator(_decimal_input), AfterValidator(_money)]
Duration = Annotated[str, AfterValidator(_duration)]
Strategy = Annotated[str, AfterValidator(_strategy)]
Text = Annotated[str, BeforeValidator(_text)]
NonEmpty = Annotated[str, AfterValidator(_non_empty)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Prices(_Strict):
    """USD per token, or per the unit in the name; LiteLLM's names, but for
    `output_cost_per_image_by_size` (RIN's): {"quality/size" or "size": USD per image}, e.g.
    {"hd/1024x1792": 0.12, "1024x1024": 0.04} (rin.cost.image_price)."""

    input_cost_per_token: Money | None = None
    output_cost_per_token: Money | None = None
    cache_read_input_token_cost: Money | None = None
    cache_creation_input_token_cost: Money | None = None
    input_cost_per_request: Money | None = None
    input_cost_per_second: Money | None = None
    output_cost_per_second: Money | None = None
    input_cost_per_character: Money | None = None
    output_cost_per_image: Money | None = None
    output_cost_per_image_by_size: dict[str, Money] | None = None
    input_cost_per_query: Money | None = None


class LiteLLMParams(Prices):
    """A deployment's `litellm_params`. Extra keys are request defaults passed to the provider."""

    model_config = ConfigDict(extra="allow")

    model: NonEmpty
    api_key: Text | None = None
    api_base: Text | None = None
    api_version: Text | None = None
    custom_llm_provider: NonEmpty | None = None
    extra_headers: dict[str, Text] | None = None
    timeout: Positive | None = None
    stream_timeout: Positive | None = None
    rpm: NonNegInt | None = None
    tpm: NonNegInt | None = None
    weight: NonNegFloat | None = None
    order: Int | None = None
    max_budget: Money | None = None
    budget_duration: Duration | None = None
    #: true: LiteLLM's "drop unsupported params"; a list of names: LiteLLM's additional_drop_params
    drop_params: bool | list[NonEmpty] | None = None
    #: request parameters never sent to this deployment (LiteLLM's name)
    additional_drop_params: list[NonEmpty] | None = None
    #: an Entra ID (Azure AD) token, sent as `Authorization: Bearer` instead of an `api-key`
    azure_ad_token: Text | None = None
    cooldown_time: NonNegFloat | None = None
    # cloud providers' own settings: Google Vertex AI, AWS Bedrock, Azure Entra ID (client secret)
    vertex_project: Text | None = None
    vertex_location: Text | None = None
    #: a service-account JSON file's path, or its contents (a JSON string or mapping)
    vertex_credentials: Text | dict[str, Any] | None = None
    #: LiteLLM's other spellings of the three above
    vertex_ai_project: Text | None = None
    vertex_ai_location: Text | None = None
    vertex_ai_credentials: Text | dict[str, Any] | None = None
    aws_region_name: Text | None = None
    aws_access_key_id: Text | None = None
    aws_secret_access_key: Text | None = None
    aws_session_token: Text | None = None
    aws_profile_name: Text | None = None
    aws_role_name: Text | None = None
    aws_session_name: Text | None = None
    aws_bedrock_runtime_endpoint: Text | None = None
    tenant_id: Text | None = None
    client_id: Text | None = None
    client_secret: Text | None = None
    #: what the Entra ID token is for (default https://cognitiveservices.azure.com/.default, or AZURE_SCOPE)
    azure_scope: Text | None = None
    # request defaults that are range-checked here and passed on in Deployment.defaults
    temperature: Temperature | None = None
    top_p: Unit | None = None
    max_tokens: PositiveInt | None = None
    max_completion_tokens: PositiveInt | None = None
    presence_penalty: Penalty | None = None
    frequency_penalty: Penalty | None = None
    n: PositiveInt | None = None


#: litellm_params fields that configure the deployment; everything else is a request default
DEPLOYMENT_PARAMS = frozenset(set(LiteLLMParams.model_fields) - {
    "temperature", "top_p", "max_tokens", "max_completion_tokens", "presence_penalty",
    "frequency_penalty", "n",
})


class ModelInfoSection(Prices):
    """`model_info`: free-form in LiteLLM, so extra keys are kept (and ignored)."""

    model_config = ConfigDict(extra="allow")

    id: Text | None = None
    mode: NonEmpty | None = None
    max_input_tokens: PositiveInt | None = None
    context_length: PositiveInt | None = None
    context_window: PositiveInt | None = None
    max_output_tokens: PositiveInt | None = None
    max_tokens: PositiveInt | None = None
    supports_vision: bool | None = None
    supports_function_calling: bool | None = None
    supports_reasoning: bool | None = None
    supports_response_format: bool | None = None
    display_name: str | None = None
    description: str | None = None


class ModelEntry(_Strict):
    model_name: NonEmpty
    litellm_params: LiteLLMParams
    model_info: ModelInfoSection | None = None


class ProviderBudget(_Strict):
    budget_limit: Money
    time_period: Duration


class RouterSection(_Strict):
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


class GeneralSection(_Strict):
    master_key: Text | None = None
    database_url: Text | None = None
    #: RIN's: the base of relative data paths (rin.config.paths); relative to the config file's folder
    data_dir: NonEmpty | None = None
    max_budget: Money | None = None
    budget_duration: Duration | None = None
    enforce_budget: bool | None = None
    budget_alert_threshold: Annotated[float, BeforeValidator(_not_bool), AfterValidator(_positive),
                                      _between(0, 1)] | None = None
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
    global_max_parallel_requests: Annotated[int, BeforeValidator(_not_bool), Field(ge=1)] | None = None


class LiteLLMSection(_Strict):
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


def duration_seconds(value: str) -> float:
    """`6h` -> 21600.0; a month counts as 30 days. `value` must already be a valid Duration."""
    match = re.match(r"^(\d+)(mo|s|m|h|d|w)$", value.strip())
    if match is None:
        raise ValueError(f"{value!r} is not a duration")
    unit = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "mo": 2592000}[match.group(2)]
    return float(int(match.group(1)) * unit)


Patterns = Annotated[list[NonEmpty], BeforeValidator(_listify)]


class CatalogSection(_Strict):
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

M = TypeVar("M", bound=BaseModel)

_PHRASES = {
    "float_parsing": "is not a number", "float_type": "is not a number",
    "int_parsing": "is not a whole number", "int_type": "is not a whole number",
    "int_from_float": "is not a whole number",
    "decimal_parsing": "is not a number", "decimal_type": "is not a number",
    "finite_number": "is not a finite number",
    "bool_parsing": "is not true or false", "bool_type": "is not true or false",
    "string_type": "is not a string", "dict_type": "is not a mapping", "model_type": "is not a mapping",
    "model_attributes_type": "is not a mapping", "list_type": "is not a list",
    "extra_forbidden": "is not a known key",
}


def validate(
    model: type[M], data: Any, path: KeyPath, problems: Problems, from_env: dict[KeyPath, str]
) -> M | None:
    """`model` built from `data`, or None after recording one error line per invalid value."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            at = (*path, *err["loc"])
            problems.error(at, describe(err["type"], err.get("ctx"), err["msg"],
                                        _shown(err.get("input"), at, from_env)))
        return None


def describe(kind: str, ctx: dict[str, Any] | None, msg: str, shown: str) -> str:
    if kind == "missing":
        return "is required but missing"
    if kind == "value_error" and ctx and "error" in ctx:
        return f"{shown} {ctx['error']}"
    return f"{shown} {_PHRASES.get(kind, msg[:1].lower() + msg[1:])}"


def _shown(value: Any, at: KeyPath, from_env: dict[KeyPath, str]) -> str:
    """How a value appears in a message: never a secret, never a value that came from the environment."""
    if at in from_env:
        return f"the value of {from_env[at]}"
    if is_sensitive(at):
        return "the value"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = value if len(value) <= 40 else value[:37] + "..."
        return repr(text)
    return str(value)

